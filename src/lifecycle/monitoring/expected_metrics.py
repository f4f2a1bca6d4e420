"""A classifier's expected ROC AUC, F1 and accuracy on rows whose labels are not known yet, from calibrated
probabilities, and how far the realized values can fall from them.

With row ``i`` of class ``c`` with probability ``p[i, c]`` (calibrated), the expected confusion matrix of
class ``c`` one-vs-rest is the sum of ``p[:, c]`` and ``1 - p[:, c]`` over the rows predicted ``c`` and
the rest: hence expected F1 and accuracy, and -- from the expected true and false positive rates at every
score threshold -- expected ROC AUC.

The realized metric on these rows varies around that expectation, because each row's label is a draw
from its probabilities. Each metric is a smooth function ``f(y)`` of the label indicators; to first order
``f(y) - f(p) = sum_i g_i . (y_i - p_i)`` with ``g_i = df/dy_i`` at ``y = p``, and rows are independent,
so (delta method)

    Var f = sum_i [ sum_c p_ic g_ic**2 - (sum_c p_ic g_ic)**2 ]     (binary: sum_i p_i (1 - p_i) g_i**2).

For ROC AUC written as a Mann-Whitney count, ``A = U / (P N)`` with ``U = sum_{i != j} y_i (1 - y_j) H_ij``
(``H`` 1 when ``i`` is scored above ``j``, 1/2 on a tie): ``dU/dy_k`` is the expected negatives scored
below ``k`` minus the expected positives scored above it, and ``d(PN)/dy_k = N - P``. For F1
``= 2 TP / (predicted + P)``, ``dF1/dy_k = 2 (d_k (predicted + P) - TP) / (predicted + P)**2``. One sort of
the scores gives all of it. This is the sampling error of the realized metric *given the window's
scores*: the scores are known before the labels, so their own chunk-to-chunk variation (which a band
learned from reference chunks carries) is no uncertainty here.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Ranking(NamedTuple):
    """The rows grouped by equal score, groups in ascending order of score (one sort, reused)."""

    order: np.ndarray  # the rows in ascending order of score
    starts: np.ndarray  # where each group of equal scores starts in that order
    group: np.ndarray  # each row's group


def ranking(scores: np.ndarray) -> Ranking:
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if ordered.size else np.array([], bool)
    group = np.empty(scores.size, int)
    group[order] = np.cumsum(first) - 1
    return Ranking(order, np.flatnonzero(first), group)


def _by_group(rank: Ranking, values: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (..., rows) over each group of equal scores."""
    return np.add.reduceat(values[..., rank.order], rank.starts, axis=-1)


def auc(rank: Ranking, p: np.ndarray, gradient: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Expected ROC AUC of scores ranked as ``rank`` with positive probabilities ``p`` (rows, or draws x rows),
    and its gradient in the labels (one set of ``p`` only); NaN when fewer than one row of a class is expected."""
    q = 1 - p
    in_group_p, in_group_q = _by_group(rank, p), _by_group(rank, q)
    positives, negatives = in_group_p.sum(axis=-1), in_group_q.sum(axis=-1)
    # Expected negatives below each row (ties half), and expected positives above it, itself left out.
    below = (np.cumsum(in_group_q, axis=-1) - in_group_q)[..., rank.group] + 0.5 * (in_group_q[..., rank.group] - q)
    pairs = positives * negatives
    measurable = (positives >= 1) & (negatives >= 1)
    # The area under the expected ROC curve: each row's own (p, 1 - p) pair counts as a tie.
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(measurable, (np.sum(p * below, axis=-1) + 0.5 * np.sum(p * q, axis=-1)) / pairs, np.nan)
    if not gradient or not measurable.all():
        return value, None
    above = (positives - np.cumsum(in_group_p))[rank.group] + 0.5 * (in_group_p[rank.group] - p)
    return value, (below - above - value * (negatives - positives)) / pairs


def f1(predicted: np.ndarray, p: np.ndarray, gradient: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Expected F1 of the class predicted where ``predicted`` (rows, or draws x rows of ``p``), and its
    gradient in the labels (one set of ``p`` only)."""
    tp, denominator = np.sum(p * predicted, axis=-1), predicted.sum() + p.sum(axis=-1)
    value = np.where(denominator > 1e-12, 2 * tp / np.maximum(denominator, 1e-12), 0.0)
    if not gradient:
        return value, None
    if denominator < 1e-12:
        return value, np.zeros_like(p)
    return value, 2 * (predicted * denominator - tp) / denominator**2


def expected(
    ranks: list[Ranking], p: np.ndarray, predicted: np.ndarray, scored: list[int], gradient: bool = True
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """ROC AUC and F1 averaged over the classes ``scored`` (one-vs-rest), and accuracy, with gradients;
    with more than one class scored, each class's ROC AUC and F1 too (``roc_auc[c]``, ``f1[c]``).

    Parameters
    ----------
    ranks : ``ranking`` of each class's score (rows x classes); only the ``scored`` ones are used.
    p : calibrated probabilities, rows x classes (or draws x rows x classes), each row summing to 1.
    predicted : whether each row was predicted each class (rows x classes, one True per row).
    scored : the classes averaged: the positive class alone for a binary model, all for a multiclass one.
    gradient : also each metric's gradient in the labels (rows x classes; one set of ``p`` only).
    """
    found, each = {}, {}
    for name, function in (
        ("roc_auc", lambda c, g: auc(ranks[c], p[..., c], g)),
        ("f1", lambda c, g: f1(predicted[:, c], p[..., c], g)),
    ):
        values, grad = [], np.zeros_like(p) if gradient else None
        for c in scored:
            value, g = function(c, gradient)
            values.append(value)
            one = None
            if gradient and g is not None:
                grad[:, c] = g / len(scored)
                one = np.zeros_like(p)
                one[:, c] = g
            each[f"{name}[{c}]"] = (value, one)
        found[name] = (np.mean(values, axis=0), grad)
    if len(scored) > 1:  # a multiclass model's classes, each one-vs-rest: ``roc_auc[c]``, ``f1[c]``
        found |= each
    rows = p.shape[-2]
    found["accuracy"] = (np.sum(p * predicted, axis=(-2, -1)) / rows, predicted / rows if gradient else None)
    return found


def variance(p: np.ndarray, gradient: np.ndarray) -> float:
    """The variance of a metric with ``gradient`` in the labels when each row's class is drawn from ``p``."""
    return float(np.sum(p * gradient**2) - np.sum(np.sum(p * gradient, axis=1) ** 2))
