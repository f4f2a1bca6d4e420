"""The starting bar ``lifecycle init`` proposes: what the obvious model (a depth-2 decision tree) scores on
the user's table out of fold, and how precisely a test split of this table's size will know a metric."""

from __future__ import annotations

from typing import Any

import pandas as pd

from lifecycle.core.params import resolve
from lifecycle.data.features import near_unique
from lifecycle.data.prepare import read_as_dates
from lifecycle.modeling import intervals
from lifecycle.modeling.select import folds

OBVIOUS_MODEL = "a depth-2 decision tree (the obvious if-then rule) scores in 5-fold cross-validation on this table"


def starting_bar(
    table: pd.DataFrame, target: str, task: str, overlay: dict[str, Any], roles: list, seed: int = 42
) -> tuple[float, str, float]:
    """The bar, from the table itself: the metric of the obvious model (a depth-2 decision tree on the columns
    as they are), out of fold; with how to say it and the half-width of its 95% bootstrap interval on all rows
    (``precision`` scales it to other sizes)."""
    from sklearn.model_selection import cross_val_predict
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    labelled = table[table[target].notna()]
    X, y = _tree_inputs(labelled.drop(columns=[target]), roles), labelled[target]
    tree = (DecisionTreeRegressor if task == "regression" else DecisionTreeClassifier)(max_depth=2, random_state=seed)
    cv = folds(task, 5, seed)
    if task == "regression":
        truth, output, classes = y.to_numpy(dtype=float), cross_val_predict(tree, X, y, cv=cv), None
    else:
        proba, classes = cross_val_predict(tree, X, y, cv=cv, method="predict_proba"), sorted(y.unique())
        positive = overlay.get("positive_class")
        truth, output = (
            ((y == positive).to_numpy(), proba[:, classes.index(positive)])
            if task == "binary"
            else (y.to_numpy(), proba)
        )
    found = intervals.bootstrap(task, truth, output, classes=classes, resamples=400, seed=seed).loc[overlay["metric"]]
    return round(float(found["value"]), 3), OBVIOUS_MODEL, float(found["high"] - found["low"]) / 2


def _tree_inputs(table: pd.DataFrame, roles: list) -> pd.DataFrame:
    """The columns as a tree takes them: numbers as they are, dates as days, text as category codes (missing
    stays missing); ids, roles and near-unique text left out."""
    skip = set(roles) | set(near_unique(table, set(roles)))
    out = {}
    for column in [c for c in table.columns if c not in skip]:
        values, dates = table[column], read_as_dates(table[column])
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            out[column] = values.astype("float64")
        elif dates is not None:
            out[column] = (dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        else:
            codes = pd.Series(pd.factorize(values)[0], index=values.index).astype("float64")
            out[column] = codes.where(codes >= 0)
    return pd.DataFrame(out, index=table.index) if out else pd.DataFrame({"constant": 0.0}, index=table.index)


def precision(rows: int, dated: bool, metric: str, half_width: float) -> str:
    """What precision the held-out metric will have at this table's size, in a sentence."""
    settings = resolve(["04_feature_engineering", "09_model_testing"])
    features, testing = settings["04_feature_engineering"], settings["09_model_testing"]
    in_time = round(rows * (1 - (features["out_of_time_share"] if dated else 0)))
    test = round(in_time * features["test_size"])
    at = lambda n: half_width * (rows / max(n, 1)) ** 0.5  # noqa: E731  (an interval narrows as 1/sqrt(rows))
    said = f"precision: the test split will hold about {test:,} rows, where {metric} is known to about ±{at(test):.3f}"
    if test < testing["small_test_rows"]:
        said += (
            f"; fewer than small_test_rows ({testing['small_test_rows']:,}), so 09 judges the model by repeated "
            f"cross-validation on all {in_time:,} in-time rows instead, about ±{at(in_time):.3f}"
        )
    return said + " (95% intervals, from the obvious model's errors)"
