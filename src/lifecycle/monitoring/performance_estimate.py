"""A classifier's performance before its labels arrive, from its own confidence (as NannyML's CBPE).

If the probabilities are calibrated, a row scored ``p`` for a class is of that class with probability
``p``: summed over a window's rows that gives the expected confusion matrix of each class one-vs-rest,
hence expected ROC AUC, F1 and accuracy (``expected_metrics``; a multiclass model's ROC AUC and F1 are
averaged over its classes). Probabilities are calibrated first, on the validation split, by isotonic
regression of the label on the score (rows are still ranked by the raw score); a multiclass model's
classes one-vs-rest, then renormalized to sum to one per row.

The interval is that of the *realized* metric, the one the labels will give: it varies around the
expectation because each label is a draw from its probability (its variance to first order, given the
window's scores: ``expected_metrics``), and the calibration learned from a few hundred rows is itself
uncertain (the estimate's variance over calibrations fitted on bootstrap samples). The two add; the
interval is the estimate +- ``z`` standard deviations for the level asked.

It holds while the *inputs* move (covariate drift): the model is still right about what its scores
mean. It fails, silently, when the *meaning* moves (concept drift): the model's confidence is then
wrong, and so is every estimate made from it. Only labels reveal that.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from lifecycle.monitoring import expected_metrics
from lifecycle.monitoring.drift import Result

# The metrics estimated, by task, in the names of ``lifecycle.core.metrics`` (card metrics).
METRICS = {"binary": ("roc_auc", "f1", "accuracy"), "multiclass": ("roc_auc_ovr", "f1_macro", "accuracy")}
FOLDS = 5  # "auto" calibrates when isotonic regression lowers the Brier score out of fold
COLUMNS = ["window", "metric", "rows", "estimate", "low", "high", "note"]
REGRESSION = (
    "No label-free estimate for regression: the model gives one number per row, not a distribution "
    "of the target, so nothing in its outputs says how wrong it is; its error is known once labels "
    "arrive (performance as labels arrive, above)."
)


class Calibration(NamedTuple):
    """The map from the model's score to a probability of the positive class (None: the score as it is)."""

    isotonic: tuple | None  # the isotonic fit's (scores, probabilities) knots; None: the score as it is
    error_before: float  # expected calibration error of the raw score on the validation split
    sentence: str
    resampled: tuple = ()  # knots of isotonic fits on bootstrap samples: the calibration's own uncertainty

    def __call__(self, scores: np.ndarray, resample: int | None = None) -> np.ndarray:
        """Probabilities of ``scores``: by the calibration, or by its ``resample``-th bootstrap fit."""
        scores = np.asarray(scores, float)
        knots = self.resampled[resample] if resample is not None and self.resampled else self.isotonic
        return scores if knots is None else np.interp(scores, *knots)


def calibration_error(scores: np.ndarray, positive: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the row-weighted gap between mean score and positive share in score deciles."""
    edges = np.unique(np.quantile(scores, np.linspace(0, 1, bins + 1)[1:-1]))
    groups = np.searchsorted(edges, scores, side="right")
    rows = np.bincount(groups, minlength=edges.size + 1)
    gaps = np.abs(
        np.bincount(groups, scores, edges.size + 1) - np.bincount(groups, positive.astype(float), edges.size + 1)
    )
    return float(gaps[rows > 0].sum() / len(scores))


def _isotonic(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The knots of an isotonic regression of ``positive`` on ``scores`` (``np.interp`` between them clips
    beyond the ends, as ``out_of_bounds="clip"`` does, without scikit-learn's per-call checks)."""
    fit = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(scores, positive)
    return fit.X_thresholds_, fit.y_thresholds_


def needs_calibration(scores: np.ndarray, positive: np.ndarray, seed: int) -> tuple[bool, float, float]:
    """Whether isotonic regression lowers the Brier score on rows it was not fitted on (``FOLDS``-fold; a
    proper score, steadier than binned calibration error on a few hundred rows), with both scores."""
    folds = np.random.default_rng(seed).permutation(len(scores)) % FOLDS
    before, after = [], []
    for fold in range(FOLDS):
        fit, held = folds != fold, folds == fold
        before.append(np.mean((scores[held] - positive[held]) ** 2))
        after.append(np.mean((np.interp(scores[held], *_isotonic(scores[fit], positive[fit])) - positive[held]) ** 2))
    return float(np.mean(after)) < float(np.mean(before)), float(np.mean(before)), float(np.mean(after))


def calibrate(scores: np.ndarray, positive: np.ndarray, rule: str, resamples: int = 20, seed: int = 0) -> Calibration:
    """Calibration on labelled validation rows: ``always``, ``never``, or ``auto`` (when it helps out of fold).

    A calibration learned from a few hundred rows is itself uncertain: ``resamples`` fits on bootstrap
    samples of the rows carry that uncertainty into the estimate's interval.
    """
    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    before = calibration_error(scores, positive)
    helps, out_before, out_after = needs_calibration(scores, positive, seed) if rule == "auto" else (True, 0, 0)
    if rule == "never" or not helps:
        why = (
            ""
            if rule == "never"
            else (
                f"; isotonic regression would not lower the Brier score out of fold: "
                f"{out_after:.4f} against {out_before:.4f}"
            )
        )
        return Calibration(
            None,
            before,
            f"The model's probabilities are used as they are (calibration error "
            f"{before:.3f} on {len(scores):,} validation rows{why}).",
        )
    rng = np.random.default_rng(seed)
    samples = [rng.integers(0, len(scores), len(scores)) for _ in range(resamples)]
    return Calibration(
        _isotonic(scores, positive),
        before,
        f"The model's probabilities are calibrated by isotonic regression on {len(scores):,} "
        f"validation rows (calibration error {before:.3f} before); the interval carries the "
        f"calibration's own uncertainty ({resamples} bootstrap fits).",
        tuple(_isotonic(scores[k], positive[k]) for k in samples),
    )


def calibrate_classes(probabilities: pd.DataFrame, truth: pd.Series, rule: str, seed: int = 0) -> list[Calibration]:
    """One calibration per class (``probabilities``' columns, named by class), each one-vs-rest, on the same
    bootstrap samples; the first's sentence says what was done for them all."""
    classes = [str(c) for c in probabilities.columns]
    truth = truth.astype(str).to_numpy()
    found = [
        calibrate(probabilities[column].to_numpy(float), truth == name, rule, seed=seed)
        for column, name in zip(probabilities.columns, classes)
    ]
    done = [name for name, c in zip(classes, found) if c.isotonic is not None]
    errors = ", ".join(f"{name} {c.error_before:.3f}" for name, c in zip(classes, found))
    how = f"calibrated one-vs-rest by isotonic regression for {', '.join(done)}" if done else "used as they are"
    sentence = (
        f"The model's probabilities of each class are {how} on {len(truth):,} validation rows and "
        f"renormalized to sum to one per row (calibration error before: {errors})"
        + ("; the interval carries the calibration's own uncertainty (bootstrap fits)." if done else ".")
    )
    return [found[0]._replace(sentence=sentence), *found[1:]]


def _probabilities(
    calibrations: list[Calibration],
    scores: np.ndarray,
    ranks: list[expected_metrics.Ranking],
    resample: int | None = None,
) -> np.ndarray:
    """Calibrated probabilities, rows x classes: a binary model's [negative, positive] from its positive
    score, a multiclass model's each class calibrated, then renormalized (uniform where all are zero).
    Each column is calibrated in the order of its ``ranks`` (interpolation is fastest on sorted scores)."""
    p = np.empty(scores.shape)
    for k, (c, rank) in enumerate(zip(calibrations, ranks)):
        p[rank.order, k] = np.clip(c(scores[rank.order, k], resample), 0, 1)
    if len(calibrations) == 1:
        return np.column_stack([1 - p[:, 0], p[:, 0]])
    total = p.sum(axis=1, keepdims=True)
    return np.divide(p, total, out=np.full_like(p, 1 / p.shape[1]), where=total > 0)


def estimate_classes(
    scores: np.ndarray, predicted: np.ndarray, calibrations: list[Calibration], interval: float
) -> dict[str, tuple[float, float, float]]:
    """Estimated ROC AUC, F1 and accuracy of one window: ``{metric: (estimate, low, high)}``.

    Parameters
    ----------
    scores : rows x classes, each class's score; a binary model: one column, the positive class's score.
    predicted : the class predicted per row, as a column of ``scores`` (a binary model: 1 positive, 0 not).
    calibrations : one per column of ``scores`` (``calibrate``).
    interval : the level of the interval of the realized metric, e.g. 0.95.
    """
    scores = np.asarray(scores, float).reshape(len(predicted), -1)
    binary = len(calibrations) == 1
    ranks = [expected_metrics.ranking(scores[:, c]) for c in range(scores.shape[1])]
    p = _probabilities(calibrations, scores, ranks)
    ranks = ranks * 2 if binary else ranks  # a binary model's classes [negative, positive], ranked by one score
    onehot = np.asarray(predicted)[:, None] == np.arange(p.shape[1])
    scored = [1] if binary else list(range(p.shape[1]))
    found = expected_metrics.expected(ranks, p, onehot, scored)
    resamples = max(len(c.resampled) for c in calibrations)
    again = (
        expected_metrics.expected(
            ranks,
            np.stack([_probabilities(calibrations, scores, ranks, b) for b in range(resamples)]),
            onehot,
            scored,
            False,
        )
        if resamples > 1
        else {}
    )
    z = NormalDist().inv_cdf(0.5 + interval / 2)
    result = {}
    for name, (metric, (value, gradient)) in zip(METRICS["binary" if binary else "multiclass"], found.items()):
        value = float(value)
        if gradient is None or not np.isfinite(value):
            result[name] = (value, float("nan"), float("nan"))
            continue
        spread = float(np.nanvar(again[metric][0], ddof=1)) if again else 0.0
        sd = np.sqrt(expected_metrics.variance(p, gradient) + spread)
        result[name] = (value, float(max(value - z * sd, 0.0)), float(min(value + z * sd, 1.0)))
    return result


def estimate(
    scores: np.ndarray, predicted: np.ndarray, calibration: Calibration, interval: float
) -> dict[str, tuple[float, float, float]]:
    """``estimate_classes`` of a binary model: ``scores`` the positive class's, ``predicted`` whether positive."""
    return estimate_classes(
        np.asarray(scores, float)[:, None], np.asarray(predicted, bool).astype(int), [calibration], interval
    )


def by_window(
    frame: pd.DataFrame,
    window: pd.Series,
    scores: list[str],
    prediction: str,
    classes: list,
    calibrations: list[Calibration],
    interval: float,
    min_rows: int,
) -> pd.DataFrame:
    """``estimate_classes`` for each window with at least ``min_rows`` rows: one row per (window, metric).

    ``scores`` are the columns of the classes ``classes`` (a binary model: the positive class's alone),
    ``prediction`` the column of the predicted class.
    """
    names = [str(c) for c in classes]
    said = frame[prediction].astype(str).to_numpy()
    predicted = (
        (said == names[0]).astype(int)
        if len(names) == 1
        else np.select([said == c for c in names], range(len(names)), -1)
    )
    matrix = frame[scores].to_numpy(float)
    codes, windows = pd.factorize(window, sort=True)
    counts = np.bincount(codes, minlength=len(windows))
    # Each window's rows at once from one stable sort, without a pandas group per window.
    parts = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
    rows = []
    for name, part in zip(windows, parts):
        if len(part) < min_rows:
            continue
        found = estimate_classes(matrix[part], predicted[part], calibrations, interval)
        rows += [
            (
                name,
                metric,
                len(part),
                *values,
                "" if np.isfinite(values[0]) else "not measurable: one class expected in this window",
            )
            for metric, values in found.items()
        ]
    return pd.DataFrame(rows, columns=COLUMNS)


def alerts(estimates: pd.DataFrame, metric: str, floor: float, greater_is_better: bool) -> list:
    """The card's metric estimated per window as ``drift.Result`` records: an alert when the whole
    interval lies beyond the floor (confidently worse), none for a metric not estimated here."""
    rows = estimates[estimates["metric"] == metric]
    return [
        Result(
            f"estimated performance ({metric})",
            r.window,
            metric,
            round(r.estimate, 4),
            round(floor, 4),
            bool(r.high < floor if greater_is_better else r.low > floor),
            int(r.rows),
            r.note or f"interval {r.low:.3f} to {r.high:.3f}",
        )
        for r in rows.itertuples()
        if np.isfinite(r.estimate)
    ]


def against_realized(estimates: pd.DataFrame, results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per window: the estimate of the card's metric, its interval, the realized value once labels have
    arrived, the estimate's error and whether the interval held it."""
    table = estimates[estimates["metric"] == metric].set_index("window")[["rows", "estimate", "low", "high"]]
    realized = results[results["feature"] == f"performance ({metric})"].set_index("window")
    table["labelled rows"] = realized["rows"].reindex(table.index).fillna(0).astype(int)
    table["realized"] = realized["value"].reindex(table.index)
    table["error"] = (table["estimate"] - table["realized"]).round(4)
    table["held"] = ((table["low"] <= table["realized"]) & (table["realized"] <= table["high"])).where(
        table["realized"].notna(), None
    )
    return table.round(4)


def for_production(
    production: pd.DataFrame,
    window: pd.Series,
    task: str,
    positive_class,
    validation_scores,
    validation_truth,
    settings,
    seed: int,
    min_rows: int,
) -> tuple[pd.DataFrame, str]:
    """The estimate for each window of ``production`` (``read_log`` rows), calibrated on the validation split
    (``settings``: ``Estimate`` from params), and how it was made; for regression, why there is none.

    ``validation_scores``: a binary model's positive score, whose ``validation_truth`` is whether positive;
    a multiclass model's ``output_probability_<class>`` columns, whose ``validation_truth`` is the class.
    """
    if task == "regression":
        return pd.DataFrame(columns=COLUMNS), REGRESSION
    if task == "binary":
        calibrations = [calibrate(validation_scores, validation_truth, settings.calibrate, seed=seed)]
        columns, classes = [f"output_probability_{positive_class}"], [positive_class]
    else:
        columns = [c for c in validation_scores.columns if c.startswith("output_probability_")]
        classes = [c.removeprefix("output_probability_") for c in columns]
        calibrations = calibrate_classes(
            validation_scores[columns].set_axis(classes, axis=1), validation_truth, settings.calibrate, seed=seed
        )
    table = by_window(
        production, window, columns, "output_prediction", classes, calibrations, settings.interval, min_rows
    )
    return table, calibrations[0].sentence


def verdict(table: pd.DataFrame, metric: str) -> str:
    """One sentence on ``against_realized``: how often the interval held the realized value, the largest miss."""
    if table.empty:
        estimated = sorted({m for names in METRICS.values() for m in names})
        why = (
            "why: above"
            if metric in ("mae", "rmse", "r2")
            else "no window had enough rows"
            if metric in estimated
            else f"it is estimated for {', '.join(estimated)}"
        )
        return (
            f"No label-free estimate of {metric} for this model ({why}); its performance is known once labels arrive."
        )
    known = table[table["realized"].notna()]
    if known.empty:
        return f"No labels yet: the estimated {metric} is all there is until they arrive."
    held = known["held"].astype(bool)
    sentence = (
        f"The interval held the realized {metric} in {int(held.sum())} of {len(known)} labelled windows "
        f"(mean absolute error {known['error'].abs().mean():.3f})."
    )
    if held.all():
        return sentence
    missed = known[~held.to_numpy()]
    shown = ", ".join(f"{w} ({e:+.3f})" for w, e in missed["error"].head(6).items())
    return (
        f"{sentence} It missed in {len(missed)}: {shown}{', ...' if len(missed) > 6 else ''}. A miss beyond the "
        "interval means the model's confidence no longer matches what happens -- concept drift, which an "
        "estimate made from the model's own scores cannot see; only labels reveal it."
    )
