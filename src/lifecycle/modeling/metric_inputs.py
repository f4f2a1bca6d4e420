"""A sample reduced to what the bootstrap's metric kernels read (``intervals``).

Per row, the quantities whose weighted sums make a task's additive metrics (true positives, log
loss, squared error, ...); and the scores sorted with their ties grouped, for the rank metrics (ROC
AUC, average precision) and for R²'s test of constant truth. Reduced once, on the original sample:
every resample only reweights the rows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd


class Ranked(NamedTuple):
    """Scores sorted ascending, with ties grouped: what the AUC and average-precision kernels need."""

    order: np.ndarray  # row order by ascending score
    starts: np.ndarray  # first sorted position of each group of tied scores
    positive: np.ndarray  # whether each sorted row is positive (float)


class Prepared(NamedTuple):
    """One sample, reduced to what its task's kernel needs."""

    n: int
    rows: np.ndarray  # per-row quantities whose weighted sums make the additive metrics (rows x columns)
    ranked: tuple[Ranked, ...]  # binary: one; multiclass: one per class (one-vs-rest); regression: truth's ties


def rank(score: np.ndarray, positive: np.ndarray) -> Ranked:
    """Rows sorted by ascending score, tied scores grouped."""
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return Ranked(order, starts, positive[order].astype(float))


def _eps(output: np.ndarray) -> float:
    """scikit-learn's clipping of probabilities for the log loss: the machine epsilon of their dtype."""
    return float(np.finfo(output.dtype if output.dtype.kind == "f" else np.float64).eps)


def binary(truth: np.ndarray, output: np.ndarray, threshold: float) -> Prepared:
    """Per row: true positive, positive, predicted positive, log loss, squared error; and the ranked scores."""
    if truth.dtype != bool:
        if not np.isin(truth, (0, 1)).all():
            raise ValueError("binary truth must be bool or 0/1 (whether each row is positive)")
        truth = truth.astype(bool)
    if output.ndim != 1:
        raise ValueError("binary output must be 1-D: the probability of the positive class")
    eps, p = _eps(output), output.astype(float)
    decided = p >= threshold
    log_loss = np.where(truth, -np.log(np.clip(p, eps, 1 - eps)), -np.log(np.clip(1 - p, eps, 1 - eps)))
    rows = np.column_stack([truth & decided, truth, decided, log_loss, (p - truth) ** 2]).astype(float)
    return Prepared(len(truth), rows, (rank(p, truth),))


def multiclass(truth: np.ndarray, output: np.ndarray, classes) -> Prepared:
    """Per row: one-hot truth, one-hot prediction, one-hot true positive, correct, log loss; ranked scores per class."""
    classes = np.unique(truth) if classes is None else np.asarray(classes)
    if output.ndim != 2 or output.shape[1] != len(classes):
        raise ValueError(f"multiclass output must have one column per class ({len(classes)})")
    code = pd.Index(classes).get_indexer(truth)
    if (code < 0).any():
        raise ValueError(f"truth has labels not in classes: {sorted(set(truth[code < 0]))[:5]}")
    k = len(classes)
    actual, predicted = np.eye(k)[code], np.eye(k)[np.argmax(output, axis=1)]
    correct = (actual * predicted).sum(axis=1)
    eps = _eps(output)
    log_loss = -np.log(np.clip(output[np.arange(len(code)), code].astype(float), eps, 1 - eps))
    rows = np.column_stack([actual, predicted, actual * correct[:, None], correct, log_loss])
    ranked = tuple(rank(output[:, j].astype(float), code == j) for j in range(k))
    return Prepared(len(truth), rows, ranked)


def regression(truth: np.ndarray, output: np.ndarray) -> Prepared:
    """Per row: absolute error, squared error, centred truth and its square; and the ranked truth (ties)."""
    error, centred = output - truth, truth - truth.mean()
    rows = np.column_stack([np.abs(error), error**2, centred, centred**2])
    return Prepared(len(truth), rows, (rank(truth, np.zeros(len(truth))),))
