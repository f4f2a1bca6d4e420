"""Small generated tables with a target of every task kind, and the parameters to model them, shared by the
modeling tests (test_modeling, test_tune_dask)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle.core.params import resolve
from lifecycle.core.settings import FeatureEngineering, ProblemDefinition
from lifecycle.data.problem import define

# task -> (target, metric, positive class, the metrics its evaluation reports, in order)
TASKS = {
    "binary": (
        "churned",
        "roc_auc",
        1,
        [
            "roc_auc",
            "average_precision",
            "log_loss",
            "brier",
            "threshold",
            "precision",
            "recall",
            "f1",
            "accuracy",
            "balanced_accuracy",
        ],
    ),
    "multiclass": (
        "tier",
        "f1_macro",
        None,
        ["accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr", "log_loss"],
    ),
    "regression": ("revenue", "rmse", None, ["mae", "rmse", "r2"]),
}


def task_table(n: int = 900, seed: int = 0) -> pd.DataFrame:
    """Numeric, categorical, date and missing values, with a target of each kind driven by them."""
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 30.0, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    signal = spend / 60 + (plan == "pro") * 1.0 + rng.normal(0, 0.5, n)
    table = pd.DataFrame(
        {
            "user_id": np.arange(n),
            "signup_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 600, n), unit="D"),
            "plan": pd.Categorical(plan),
            "city": pd.Categorical(rng.choice([f"c{i}" for i in range(40)], n)),  # high cardinality
            "spend": np.where(rng.random(n) < 0.1, np.nan, spend),
            "churned": (signal > np.quantile(signal, 0.7)).astype(int),
            "tier": pd.cut(signal, [-np.inf, 1.0, 2.0, np.inf], labels=["low", "mid", "high"]).astype(str),
            "revenue": 20 * signal + rng.normal(0, 3, n),
        }
    )
    return table


def task_params(task: str):
    target, metric, positive, _ = TASKS[task]
    sets = [
        f"task={task}",
        f"target={target}",
        f"metric={metric}",
        f"positive_class={positive if positive else 'null'}",
        "max_onehot_categories=10",
        "holiday_country=null",
    ]
    resolved = resolve(["00_problem_definition", "04_feature_engineering"], sets=sets)
    card = define(ProblemDefinition.model_validate(resolved["00_problem_definition"]))
    return card, FeatureEngineering.model_validate(resolved["04_feature_engineering"])
