"""The success metrics a problem card may name, and what each means for its task."""

from __future__ import annotations

from typing import NamedTuple


class Metric(NamedTuple):
    tasks: tuple[str, ...]
    greater_is_better: bool
    scorer: str  # scikit-learn scorer name, for cross-validation and search
    baseline_score: float | None  # what a constant predictor scores, where it is known without data
    meaning: str


METRICS: dict[str, Metric] = {
    "roc_auc": Metric(("binary",), True, "roc_auc", 0.5, "how well the scores rank positives above negatives"),
    "average_precision": Metric(("binary",), True, "average_precision", None, "precision averaged over recall levels"),
    "f1": Metric(("binary",), True, "f1", None, "the balance of precision and recall at the threshold"),
    "accuracy": Metric(("binary", "multiclass"), True, "accuracy", None, "the share of correct predictions"),
    "balanced_accuracy": Metric(
        ("binary", "multiclass"), True, "balanced_accuracy", None, "recall averaged over classes"
    ),
    "f1_macro": Metric(("multiclass",), True, "f1_macro", None, "F1 averaged over classes, each weighing the same"),
    "roc_auc_ovr": Metric(
        ("multiclass",), True, "roc_auc_ovr", 0.5, "one-vs-rest ranking quality averaged over classes"
    ),
    "log_loss": Metric(
        ("binary", "multiclass"), False, "neg_log_loss", None, "how well calibrated the probabilities are"
    ),
    "r2": Metric(("regression",), True, "r2", 0.0, "the share of the target's variance explained"),
    "mae": Metric(("regression",), False, "neg_mean_absolute_error", None, "the mean absolute error, in target units"),
    "rmse": Metric(("regression",), False, "neg_root_mean_squared_error", None, "the root mean squared error"),
}


def metrics_for(task: str) -> list[str]:
    """Names of the metrics that suit ``task``, in a stable order."""
    return [name for name, metric in METRICS.items() if task in metric.tasks]


def baseline_strategy(task: str) -> str:
    """The naive predictor every model must beat, as scikit-learn's Dummy* strategy."""
    return "mean" if task == "regression" else "prior"
