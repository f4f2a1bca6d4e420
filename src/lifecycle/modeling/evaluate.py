"""Phase 07: how good the model is, and where it fails -- for binary, multiclass and regression.

Binary scores are the probability of the problem card's positive class; a decision
threshold turns them into decisions by the rule in params (costs, best F1, or fixed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as m
from sklearn.calibration import calibration_curve
from sklearn.inspection import partial_dependence, permutation_importance

from lifecycle.core import files, paths
from lifecycle.core.metrics import METRICS
from lifecycle.core.settings import Threshold
from lifecycle.modeling import intervals

EVALUATION = paths.DATA / "training" / "evaluation.json"


def positive_scores(model, X: pd.DataFrame, positive) -> np.ndarray:
    """The probability of the positive class, whatever position it has in ``model.classes_``."""
    classes = list(model.classes_)
    if positive not in classes:
        quote = (
            " (in quotes: YAML reads yes, no, on and off unquoted as true or false)"
            if isinstance(positive, bool) and all(isinstance(c, str) for c in classes)
            else ""
        )
        raise ValueError(
            f"positive_class {positive!r} is not a class the model learned ({classes}); "
            f"fix positive_class in params/00_problem_definition.yaml{quote}"
        )
    return model.predict_proba(X)[:, classes.index(positive)]


def headline(model, X: pd.DataFrame, y: pd.Series, task: str, positive=None, threshold: float = 0.5) -> pd.Series:
    """The figures the task calls for, on one data set, rounded for display."""
    if task == "regression":
        predicted = model.predict(X)
        values = {
            "mae": m.mean_absolute_error(y, predicted),
            "rmse": m.root_mean_squared_error(y, predicted),
            "r2": m.r2_score(y, predicted),
        }
    elif task == "binary":
        scores = positive_scores(model, X, positive)
        truth = (y == positive).to_numpy()
        decided = scores >= threshold
        values = {
            "roc_auc": m.roc_auc_score(truth, scores),
            "average_precision": m.average_precision_score(truth, scores),
            "log_loss": m.log_loss(truth, scores, labels=[False, True]),
            "brier": m.brier_score_loss(truth, scores),
            "threshold": threshold,
            "precision": m.precision_score(truth, decided, zero_division=0),
            "recall": m.recall_score(truth, decided),
            "f1": m.f1_score(truth, decided),
            "accuracy": m.accuracy_score(truth, decided),
            "balanced_accuracy": m.balanced_accuracy_score(truth, decided),
        }
    else:
        proba, predicted = model.predict_proba(X), model.predict(X)
        values = {
            "accuracy": m.accuracy_score(y, predicted),
            "balanced_accuracy": m.balanced_accuracy_score(y, predicted),
            "f1_macro": m.f1_score(y, predicted, average="macro"),
            "f1_weighted": m.f1_score(y, predicted, average="weighted"),
            "roc_auc_ovr": m.roc_auc_score(y, proba, multi_class="ovr", labels=model.classes_),
            "log_loss": m.log_loss(y, proba, labels=model.classes_),
        }
    return pd.Series(values, name="value").round(4)


def truth_and_output(model, X: pd.DataFrame, y: pd.Series, task: str, positive=None) -> tuple[np.ndarray, np.ndarray]:
    """What ``modeling.intervals`` scores: for binary, whether each row is positive and its positive score; for
    multiclass, the labels and the class probabilities (columns in ``model.classes_`` order); for regression,
    the values and the predictions."""
    if task == "binary":
        return truth(y, task, positive), positive_scores(model, X, positive)
    return truth(y, task, positive), model.predict_proba(X) if task == "multiclass" else model.predict(X)


def truth(y: pd.Series, task: str, positive=None) -> np.ndarray:
    """The labels as ``lifecycle.modeling.intervals`` takes them: is-positive for binary, as they are otherwise."""
    if task == "binary":
        return (y == positive).to_numpy()
    return y.to_numpy(dtype=float) if task == "regression" else y.to_numpy()


def with_interval(
    model,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: str,
    positive=None,
    threshold: float = 0.5,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The headline figures with a percentile-bootstrap interval each (rows resampled ``resamples`` times)."""
    figures = headline(model, X, y, task, positive, threshold)
    truth, output = truth_and_output(model, X, y, task, positive)
    table = intervals.bootstrap(
        task,
        truth,
        output,
        threshold=threshold,
        classes=getattr(model, "classes_", None),
        level=level,
        resamples=resamples,
        seed=seed,
    ).reindex(figures.index)
    return interval_columns(table.assign(value=figures), level)  # the threshold is a setting: no interval


def interval_columns(table: pd.DataFrame, level: float) -> pd.DataFrame:
    """``value, low, high`` as the notebooks show them: rounded, the interval's level in its column names."""
    percent = f"{100 * level:g}%"
    return table[["value", "low", "high"]].rename(columns={"low": f"{percent} low", "high": f"{percent} high"}).round(4)


def decisions(model, X: pd.DataFrame, task: str, positive=None, threshold: float = 0.5) -> np.ndarray:
    """Predicted labels: thresholded for binary, the likeliest class for multiclass, values for regression."""
    if task != "binary":
        return model.predict(X)
    negative = next(c for c in model.classes_ if c != positive)
    return np.where(positive_scores(model, X, positive) >= threshold, positive, negative)


def per_class(model, X: pd.DataFrame, y: pd.Series, task: str, positive=None, threshold: float = 0.5) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, with the macro and weighted averages."""
    report = m.classification_report(
        y, decisions(model, X, task, positive, threshold), output_dict=True, zero_division=0
    )
    report.pop("accuracy", None)
    return pd.DataFrame(report).T.round(3).rename_axis("class")


def confusion(model, X: pd.DataFrame, y: pd.Series, task: str, positive=None, threshold: float = 0.5) -> pd.DataFrame:
    labels = list(model.classes_)
    matrix = m.confusion_matrix(y, decisions(model, X, task, positive, threshold), labels=labels)
    return pd.DataFrame(matrix, index=pd.Index(labels, name="actual"), columns=pd.Index(labels, name="predicted"))


def threshold_costs(truth: np.ndarray, scores: np.ndarray, rule: Threshold) -> pd.DataFrame:
    """For thresholds 0.01..0.99: false positives, false negatives, their cost and F1."""
    grid = np.round(np.linspace(0.01, 0.99, 99), 2)
    rows = []
    for t in grid:
        decided = scores >= t
        fp, fn = int((decided & ~truth).sum()), int((~decided & truth).sum())
        rows.append(
            (
                t,
                fp,
                fn,
                fp * rule.cost_false_positive + fn * rule.cost_false_negative,
                m.f1_score(truth, decided, zero_division=0),
            )
        )
    return pd.DataFrame(rows, columns=["threshold", "false_positives", "false_negatives", "cost", "f1"])


def choose_threshold(model, X: pd.DataFrame, y: pd.Series, positive, rule: Threshold) -> tuple[float, str]:
    """The decision threshold by the rule in params, on this (validation) data; and why."""
    if rule.rule == "fixed":
        return rule.fixed, f"Threshold {rule.fixed:.2f}, fixed in params."
    table = threshold_costs((y == positive).to_numpy(), positive_scores(model, X, positive), rule)
    if rule.rule == "max_f1":
        row = table.loc[table["f1"].idxmax()]
        return float(row.threshold), f"Threshold {row.threshold:.2f}: the highest F1 ({row.f1:.3f}) on validation."
    row = table.loc[table["cost"].idxmin()]
    return float(row.threshold), (
        f"Threshold {row.threshold:.2f}: the lowest cost on validation ({row.cost:,.0f}, with a false positive "
        f"costing {rule.cost_false_positive:g} and a false negative {rule.cost_false_negative:g})."
    )


def calibration(model, X: pd.DataFrame, y: pd.Series, positive, bins: int) -> pd.DataFrame:
    """Observed positive rate against mean predicted probability, per quantile bin."""
    truth, scores = (y == positive).to_numpy(), positive_scores(model, X, positive)
    observed, predicted = calibration_curve(truth, scores, n_bins=bins, strategy="quantile")
    return pd.DataFrame({"mean predicted": predicted, "observed rate": observed}).round(3)


def importance(
    model, X: pd.DataFrame, y: pd.Series, metric: str, repeats: int, seed: int, n_jobs: int = 1
) -> pd.DataFrame:
    """Permutation importance of each input column: how much the metric drops when it is shuffled."""
    result = permutation_importance(
        model, X, y, scoring=METRICS[metric].scorer, n_repeats=repeats, random_state=seed, n_jobs=n_jobs
    )
    table = pd.DataFrame({"importance": result.importances_mean, "std": result.importances_std}, index=X.columns)
    return table.sort_values("importance", ascending=False, kind="stable").round(4).rename_axis("feature")


def dependence(model, X: pd.DataFrame, features: list[str]) -> dict[str, pd.DataFrame]:
    """Partial dependence: the average prediction as each feature varies (per class for multiclass)."""
    curves = {}
    # scikit-learn refuses integer columns here (counts are integers): the same values as floats.
    X = X.astype({f: "float64" for f in features if pd.api.types.is_integer_dtype(X[f])})
    for feature in features:
        result = partial_dependence(model, X, [feature], kind="average", grid_resolution=20)
        average = np.atleast_2d(result["average"])
        names = [str(c) for c in model.classes_] if average.shape[0] > 1 else ["prediction"]
        curves[feature] = pd.DataFrame(average.T, index=pd.Index(result["grid_values"][0], name=feature), columns=names)
    return curves


def numeric_top(importances: pd.DataFrame, X: pd.DataFrame, k: int) -> list[str]:
    """The ``k`` most important numeric inputs (partial dependence is drawn for them)."""
    numeric = [c for c in importances.index if pd.api.types.is_numeric_dtype(X[c]) and X[c].nunique() > 2]
    return numeric[:k]


def segments(
    model,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: str,
    positive=None,
    threshold: float = 0.5,
    max_categories: int = 12,
    top: int = 10,
) -> pd.DataFrame:
    """Error by segment of each categorical input: where the model is worst, with row counts."""
    predicted = decisions(model, X, task, positive, threshold)
    error = np.abs(y.to_numpy() - predicted) if task == "regression" else (y.to_numpy() != predicted).astype(float)
    name = "mean absolute error" if task == "regression" else "error rate"
    frames = []
    for column in X.columns:
        values = X[column]
        if pd.api.types.is_numeric_dtype(values) or values.nunique() > max_categories:
            continue
        grouped = pd.Series(error, index=X.index).groupby(values.astype("string").fillna("(missing)").to_numpy())
        frames.append(
            pd.DataFrame(
                {
                    "feature": column,
                    "segment": grouped.mean().index,
                    "rows": grouped.size().to_numpy(),
                    name: grouped.mean().to_numpy(),
                }
            )
        )
    overall = pd.DataFrame({"feature": ["(all)"], "segment": ["(all)"], "rows": [len(error)], name: [error.mean()]})
    table = pd.concat([overall, *frames], ignore_index=True)
    table = table[(table["rows"] >= 20) | (table["feature"] == "(all)")]
    return table.sort_values(name, ascending=False, kind="stable").head(top).round(3).reset_index(drop=True)


def threshold_for(model, X: pd.DataFrame, y: pd.Series, task: str, positive, rule: Threshold) -> tuple[float, str]:
    """The binary decision threshold and why; other tasks need none (and say so)."""
    if task != "binary":
        what = "the likeliest class is predicted" if task == "multiclass" else "the prediction is the value itself"
        return 0.5, f"No threshold: the task is {task}; {what}."
    return choose_threshold(model, X, y, positive, rule)


def breakdown(model, X: pd.DataFrame, y: pd.Series, task: str, positive=None, threshold: float = 0.5) -> pd.DataFrame:
    """Per class for classification; the residuals' quantiles for regression."""
    if task != "regression":
        return per_class(model, X, y, task, positive, threshold)
    residuals = pd.Series(y.to_numpy() - model.predict(X), name="residual (actual - predicted)")
    return residuals.describe(percentiles=[0.05, 0.25, 0.5, 0.75, 0.95]).round(3).to_frame()


def write(figures: pd.Series, threshold: float, rule: Threshold) -> str:
    """Record the validation figures and the threshold rule (09 applies the same rule to the final model)."""
    files.write_json(EVALUATION, {"validation": figures.to_dict(), "threshold": threshold, "rule": rule.model_dump()})
    return paths.relative(EVALUATION)


def read_rule() -> Threshold:
    return Threshold(**files.read_json(EVALUATION, "the evaluation record", "07_model_evaluation")["rule"])
