"""Percentile-bootstrap confidence intervals for the held-out metrics a model card shows.

``compute`` gives a task's metrics on one sample (equal to scikit-learn's); ``bootstrap`` adds
each metric's percentile-bootstrap interval; ``pooled`` does the same for repeated
cross-validation, where every repeat has out-of-fold outputs for the same rows.

Speed: a resample is a row of multinomial weights (how often each row was drawn), and every
metric is a small numpy kernel over a block of such rows at once, so a thousand resamples of a
thousand rows take a fraction of a second. Ties in scores are grouped once, on the sorted
original sample (``metric_inputs``). A metric that a resample leaves undefined (an AUC with one
class present, R² with constant truth) is NaN there and ignored; with fewer than half the
resamples defined, the interval is NaN.

Where the definitions differ from scikit-learn's: average precision without positives and R²
with constant truth are NaN (undefined), not 0 or 1; ``roc_auc_ovr`` averages over the classes
present (scikit-learn raises when one is absent). The log loss clips probabilities to
[eps, 1 - eps] as scikit-learn 1.9 does, and like it does not renormalise the rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle.modeling import metric_inputs
from lifecycle.modeling.metric_inputs import Prepared, Ranked

METRICS_BY_TASK = {
    "binary": (
        "roc_auc",
        "average_precision",
        "log_loss",
        "brier",
        "precision",
        "recall",
        "f1",
        "accuracy",
        "balanced_accuracy",
    ),
    "multiclass": ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr", "log_loss"),
    "regression": ("mae", "rmse", "r2"),
}
_BLOCK = 2**21  # weights per block of resamples (resamples x rows): bounds the memory


def compute(task: str, truth, output, *, threshold: float = 0.5, classes=None) -> dict[str, float]:
    """The task's metrics on one sample (values equal scikit-learn's).

    Parameters
    ----------
    task : str
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    truth : array-like
        Binary: whether each row is positive (bool or 0/1). Multiclass: labels. Regression: values.
    output : array-like
        Binary: probability of the positive class. Multiclass: probabilities (rows x classes), columns
        following ``classes``. Regression: predicted values.
    threshold : float, default 0.5
        Binary only: a row is predicted positive when ``output >= threshold``.
    classes : array-like, optional
        Multiclass only: the labels of the columns of ``output`` (``model.classes_``); default the sorted
        labels in ``truth``.

    Returns
    -------
    dict of str to float
        Metric name to value, in ``METRICS_BY_TASK[task]`` order; NaN where undefined.
    """
    prepared = _prepare(task, truth, output, threshold, classes)
    values = _KERNELS[task](prepared, np.ones((1, prepared.n)))
    return {name: float(value) for name, value in zip(METRICS_BY_TASK[task], values[0])}


def bootstrap(
    task: str,
    truth,
    output,
    *,
    threshold: float = 0.5,
    classes=None,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Each metric's value on the sample and its percentile-bootstrap interval.

    Parameters
    ----------
    task, truth, output, threshold, classes
        As for `compute`.
    level : float, default 0.95
        Coverage of the interval.
    resamples : int, default 1000
        Bootstrap resamples (rows drawn with replacement).
    seed : int, default 0
        Seed of the numpy random generator: the same seed gives the same intervals.

    Returns
    -------
    pandas.DataFrame
        Index: metric names in ``METRICS_BY_TASK[task]`` order. Columns ``value``, ``low``, ``high``
        (not rounded). ``low`` and ``high`` are NaN when fewer than half the resamples define the metric.
    """
    return _frame(task, [_prepare(task, truth, output, threshold, classes)], level, resamples, seed)


def pooled(
    task: str,
    truth,
    outputs: list,
    *,
    threshold: float = 0.5,
    classes=None,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The same for repeated cross-validation: metrics averaged over repeats of out-of-fold outputs.

    Parameters
    ----------
    task, truth, threshold, classes, level, resamples, seed
        As for `bootstrap`.
    outputs : list of array-like
        One out-of-fold output per repeat, each for the rows of ``truth`` (as ``output`` of `compute`).

    Returns
    -------
    pandas.DataFrame
        As for `bootstrap`; ``value`` is the mean over repeats of the metric, and each resample draws one
        set of rows and averages the metric over the repeats on those rows.
    """
    if not len(outputs):
        raise ValueError("pooled needs at least one output")
    prepared = [_prepare(task, truth, output, threshold, classes) for output in outputs]
    return _frame(task, prepared, level, resamples, seed)


def _frame(task: str, prepared: list[Prepared], level: float, resamples: int, seed: int) -> pd.DataFrame:
    """Value and interval of each metric, the metric averaged over the prepared samples."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    n = prepared[0].n
    kernel = _KERNELS[task]

    def mean_metrics(weights: np.ndarray) -> np.ndarray:
        return sum(kernel(sample, weights) for sample in prepared) / len(prepared)

    value = mean_metrics(np.ones((1, n)))[0]
    draws = np.vstack([mean_metrics(weights) for weights in _weights(n, resamples, seed)])
    low, high = _percentiles(draws, level)
    return pd.DataFrame(
        {"value": value, "low": low, "high": high}, index=pd.Index(METRICS_BY_TASK[task], name="metric")
    )


def _weights(n: int, resamples: int, seed: int):
    """Blocks of bootstrap weights: how many times each row is drawn in each resample (resamples x rows)."""
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK // n)
    for start in range(0, resamples, block):
        size = min(block, resamples - start)
        drawn = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
        yield np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n).astype(float)


def _percentiles(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Low and high percentiles of each column's defined draws; NaN for columns defined in under half."""
    low, high = np.full(draws.shape[1], np.nan), np.full(draws.shape[1], np.nan)
    enough = 2 * np.count_nonzero(~np.isnan(draws), axis=0) >= draws.shape[0]
    if enough.any():
        tail = 50 * (1 - level)
        low[enough], high[enough] = np.nanpercentile(draws[:, enough], [tail, 100 - tail], axis=0)
    return low, high


# ---- preparing a sample -------------------------------------------------------------------------------------


def _prepare(task: str, truth, output, threshold: float, classes) -> Prepared:
    """The sample reduced for its task's kernel (``metric_inputs``), after checking its shape."""
    if task not in METRICS_BY_TASK:
        raise ValueError(f"task must be one of {', '.join(METRICS_BY_TASK)}, not {task!r}")
    truth, output = np.asarray(truth), np.asarray(output)
    if truth.ndim != 1 or len(truth) == 0 or len(output) != len(truth):
        raise ValueError(f"truth must be 1-D, not empty, with one output per row ({len(truth)} vs {len(output)})")
    if task == "binary":
        return metric_inputs.binary(truth, output, threshold)
    if task == "multiclass":
        return metric_inputs.multiclass(truth, output, classes)
    return metric_inputs.regression(truth.astype(float), output.astype(float))


# ---- kernels: metrics for each row of weights (resamples x rows) -> (resamples x metrics) ------------------


def _ratio(numerator: np.ndarray, denominator: np.ndarray, undefined: float = np.nan) -> np.ndarray:
    """numerator / denominator, ``undefined`` where the denominator is 0."""
    out = np.full(np.broadcast(numerator, denominator).shape, undefined)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _grouped(ranked: Ranked, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights of positive and of negative rows in each group of tied scores (resamples x groups)."""
    ordered = np.take(weights, ranked.order, axis=1)  # C order, as the row-wise sums below want
    positive = ordered * ranked.positive
    if len(ranked.starts) < len(ranked.order):  # ties: sum each group's columns
        positive, ordered = (np.add.reduceat(part, ranked.starts, axis=1) for part in (positive, ordered))
    return positive, ordered - positive


def _auc(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC from grouped weights (ascending score): ties count one half; NaN with one class."""
    up_to = np.cumsum(negative, axis=1)
    pairs = positive.sum(axis=1) * up_to[:, -1]
    up_to -= 0.5 * negative  # negatives below each group, and half of those tied with it
    return _ratio(np.einsum("ij,ij->i", positive, up_to), pairs)


def _average_precision(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Step-wise average precision from grouped weights (ascending score): sum of recall steps x precision."""
    everyone = positive + negative
    up_to, true_up_to = np.cumsum(everyone, axis=1), np.cumsum(positive, axis=1)
    at_or_above = up_to[:, -1:] - up_to + everyone  # rows scored at or above each group's score
    true_at_or_above = true_up_to[:, -1:] - true_up_to + positive
    precision = true_at_or_above / np.maximum(at_or_above, np.finfo(float).tiny)  # 0 / 0 -> 0
    return _ratio(np.einsum("ij,ij->i", positive, precision), true_up_to[:, -1])


def _binary(sample: Prepared, weights: np.ndarray) -> np.ndarray:
    """The binary metrics for each row of weights."""
    n = sample.n
    tp, positives, predicted, log_loss, brier = (weights @ sample.rows).T
    negatives, tn = n - positives, n - positives - predicted + tp
    grouped = _grouped(sample.ranked[0], weights)
    recall, specificity = _ratio(tp, positives), _ratio(tn, negatives)
    present = (positives > 0).astype(float) + (negatives > 0)
    balanced = (np.nan_to_num(recall) + np.nan_to_num(specificity)) / present
    return np.column_stack(
        [
            _auc(*grouped),
            _average_precision(*grouped),
            log_loss / n,
            brier / n,
            _ratio(tp, predicted, 0.0),
            np.nan_to_num(recall),
            _ratio(2 * tp, positives + predicted, 0.0),
            (tp + tn) / n,
            balanced,
        ]
    )


def _multiclass(sample: Prepared, weights: np.ndarray) -> np.ndarray:
    """The multiclass metrics for each row of weights."""
    n, k = sample.n, len(sample.ranked)
    sums = weights @ sample.rows
    support, predicted, tp = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k : 3 * k]
    correct, log_loss = sums[:, 3 * k], sums[:, 3 * k + 1]
    recall = _ratio(tp, support)
    present = support > 0
    balanced = np.nansum(recall, axis=1) / present.sum(axis=1)
    f1 = _ratio(2 * tp, support + predicted, 0.0)
    f1_macro = f1.sum(axis=1) / ((support + predicted) > 0).sum(axis=1)
    aucs = np.column_stack([_auc(*_grouped(ranked, weights)) for ranked in sample.ranked])
    defined = ~np.isnan(aucs)
    ovr = _ratio(np.nansum(aucs, axis=1), defined.sum(axis=1).astype(float))
    return np.column_stack([correct / n, balanced, f1_macro, (support * f1).sum(axis=1) / n, ovr, log_loss / n])


def _regression(sample: Prepared, weights: np.ndarray) -> np.ndarray:
    """The regression metrics for each row of weights; R² is NaN where the weighted truth is constant."""
    n = sample.n
    absolute, squared, centred, centred_squared = (weights @ sample.rows).T
    _, per_value = _grouped(sample.ranked[0], weights)  # weight of each distinct true value
    constant = per_value.max(axis=1) == n
    total = np.where(constant, 0.0, centred_squared - centred**2 / n)
    return np.column_stack([absolute / n, np.sqrt(squared / n), 1 - _ratio(squared, total)])


_KERNELS = {"binary": _binary, "multiclass": _multiclass, "regression": _regression}
