"""Phase 05: candidate algorithms against a dummy baseline, by cross-validation on the
training set, and the stated rule that picks one. Also builds the estimators every
modeling phase uses, for binary, multiclass and regression tasks alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from lifecycle.core import files, paths
from lifecycle.core.metrics import METRICS
from lifecycle.data.features import preprocessor

CHOICE = paths.DATA / "training" / "selection.json"

FAMILIES: dict[str, tuple[type, type]] = {  # family -> (classifier, regressor)
    "dummy": (DummyClassifier, DummyRegressor),
    "linear": (LogisticRegression, Ridge),
    "random_forest": (RandomForestClassifier, RandomForestRegressor),
    "hist_gradient_boosting": (HistGradientBoostingClassifier, HistGradientBoostingRegressor),
}
DEFAULTS = {  # settings that suit this template's sizes, overridable from params
    LogisticRegression: {"max_iter": 2000},
    DummyClassifier: {"strategy": "prior"},
    DummyRegressor: {"strategy": "mean"},
}


def estimator(family: str, task: str, settings: dict | None = None, seed: int = 0) -> BaseEstimator:
    """An unfitted estimator of ``family`` for ``task``; a wrong setting is named clearly."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family '{family}'; choose one of {', '.join(FAMILIES)}")
    cls = FAMILIES[family][1 if task == "regression" else 0]
    chosen = {**DEFAULTS.get(cls, {}), **(settings or {})}
    unknown = set(chosen) - set(cls().get_params())
    if unknown:
        raise ValueError(
            f"{family}: {cls.__name__} has no setting {', '.join(sorted(unknown))}; see its scikit-learn documentation"
        )
    if "random_state" in cls().get_params():
        chosen.setdefault("random_state", seed)
    return cls(**chosen)


def pipeline(preprocessor: ColumnTransformer, model: BaseEstimator) -> Pipeline:
    """Preprocessing and model as one object: fitted together, saved together, served together."""
    return Pipeline([("preprocess", preprocessor), ("model", model)])


SMALL_ROWS = 1000  # fewer rows than this: cross-validation is repeated, so no verdict rests on one cut of them
MAX_REPEATS = 3


def repeats(rows: int | None) -> int:
    """How many times cross-validation is repeated on ``rows`` rows: once from ``SMALL_ROWS`` up; on
    fewer, enough new shuffles to score about ``SMALL_ROWS`` held-out rows in all (at most ``MAX_REPEATS``)."""
    return 1 if rows is None or rows >= SMALL_ROWS else min(MAX_REPEATS, -(-SMALL_ROWS // max(rows, 1)))


def folds(task: str, n_splits: int, seed: int, rows: int | None = None):
    """The cross-validation folds; stratified for classification, repeated on small tables (``repeats``).
    Same seed and rows, same folds."""
    n_repeats = repeats(rows)
    if n_repeats == 1:
        return (KFold if task == "regression" else StratifiedKFold)(n_splits=n_splits, shuffle=True, random_state=seed)
    splitter = RepeatedKFold if task == "regression" else RepeatedStratifiedKFold
    return splitter(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)


def folds_text(n_splits: int, rows: int) -> str:
    """The cross-validation in words, e.g. '5-fold cross-validation repeated 4 times'."""
    n_repeats = repeats(rows)
    return f"{n_splits}-fold cross-validation" + (f" repeated {n_repeats} times" if n_repeats > 1 else "")


def metric_sign(metric: str) -> int:
    """+1 when scikit-learn's score is the metric itself, -1 when it is negated (errors, losses)."""
    return 1 if METRICS[metric].greater_is_better else -1


def compare(
    candidates: dict[str, dict],
    schema: pd.DataFrame,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: str,
    metric: str,
    cv_folds: int,
    seed: int,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Cross-validate every candidate plus the dummy baseline on the same folds.

    Returns one row per candidate, in the order given (dummy first): the metric per fold,
    its mean, standard deviation and standard error, in the metric's own units.
    """
    cv = folds(task, cv_folds, seed, len(X))
    rows = {}
    for family, settings in {"dummy": {}, **{k: v for k, v in candidates.items() if k != "dummy"}}.items():
        model = pipeline(preprocessor(schema, task, seed), estimator(family, task, settings, seed))
        result = cross_validate(model, X, y, cv=cv, scoring=METRICS[metric].scorer, n_jobs=n_jobs)
        scores = metric_sign(metric) * result["test_score"]
        rows[family] = {
            **{f"fold {i + 1}": s for i, s in enumerate(scores)},
            "mean": scores.mean(),
            "std": scores.std(ddof=1),
            "sem": scores.std(ddof=1) / np.sqrt(len(scores)),
        }
    table = pd.DataFrame(rows).T.rename_axis("candidate").round(4)
    table.attrs["folds"] = cv_folds  # per repeat: the paired rule's correction needs it
    return table


RULES = {
    "best_mean": "the candidate with the best mean cross-validated {metric}",
    "one_standard_error": "the simplest candidate (earliest in params) whose mean {metric} is within one standard "
    "error of the best, the error of their difference on the same folds",
}


def paired_error(scores: pd.DataFrame, best: str, other: str) -> float:
    """The standard error of the difference between two candidates' mean scores on the same folds, with
    Nadeau and Bengio's correction for folds that share training rows (1/k + 1/(k-1) times the variance
    of the fold differences, for k folds in all and k-1 training folds per test fold)."""
    columns = [c for c in scores.columns if c.startswith("fold ")]
    if len(columns) < 2:  # no fold scores: the best mean's own standard error
        return float(scores.loc[best, "sem"])
    gaps = (scores.loc[best, columns] - scores.loc[other, columns]).astype(float)
    per_repeat = scores.attrs.get("folds", len(columns))
    return float(np.sqrt(gaps.var(ddof=1) * (1 / len(columns) + 1 / (per_repeat - 1))))


def choose(scores: pd.DataFrame, rule: str, metric: str) -> tuple[str, str]:
    """Apply the choice rule to the scores; return the chosen family and a sentence saying why.

    One standard error is that of the paired difference: folds that are hard for one candidate are hard for
    all, so the difference varies far less than each mean, and a candidate that is better on the same folds
    gets its chance on a table large enough to show it."""
    contenders = scores.drop(index="dummy")
    better = METRICS[metric].greater_is_better
    best = contenders["mean"].idxmax() if better else contenders["mean"].idxmin()
    chosen = best
    if rule == "one_standard_error":
        sign = 1 if better else -1
        close = [
            name
            for name in contenders.index
            if sign * (contenders.loc[best, "mean"] - contenders.loc[name, "mean"])
            <= paired_error(scores, best, name) + 1e-12
        ]  # within it, rounding aside
        chosen = close[0]
    baseline = scores.loc["dummy", "mean"]
    reason = (
        f"Rule: {RULES[rule].format(metric=metric)}. Chosen: {chosen} "
        f"({metric} {scores.loc[chosen, 'mean']:.3f} ± {scores.loc[chosen, 'std']:.3f}; best {best} "
        f"{scores.loc[best, 'mean']:.3f}; dummy baseline {baseline:.3f})."
    )
    return chosen, reason


def write_choice(family: str, candidates: dict[str, dict], scores: pd.DataFrame, reason: str) -> str:
    files.write_json(
        CHOICE,
        {
            "family": family,
            "settings": candidates.get(family, {}),
            "reason": reason,
            "scores": scores[["mean", "std"]].to_dict(orient="index"),
        },
    )
    return paths.relative(CHOICE)


def read_choice() -> dict:
    return files.read_json(CHOICE, "the model choice", "05_model_selection")


def chosen_pipeline(choice: dict, schema: pd.DataFrame, task: str, seed: int) -> Pipeline:
    """The unfitted pipeline 05 chose: preprocessing from the schema, then the chosen model."""
    return pipeline(preprocessor(schema, task, seed), estimator(choice["family"], task, choice["settings"], seed))
