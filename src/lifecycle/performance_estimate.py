"""A binary classifier's performance before its labels arrive, from its own confidence (as NannyML's CBPE).

If the probabilities are calibrated, a row scored ``p`` is positive with probability ``p``: the
expected confusion matrix of a window is the sum of ``p`` and ``1 - p`` over its predicted positives
and negatives, hence expected accuracy, F1 and (from the expected true and false positive rates at
every score) ROC AUC. The interval is that of the realized metric when each label is drawn from its
probability (``draws`` simulated windows). Probabilities are calibrated first, on the validation
split, by isotonic regression of the label on the score (rows are still ranked by the raw score).

It holds while the *inputs* move (covariate drift): the model is still right about what its scores
mean. It fails, silently, when the *meaning* moves (concept drift): the model's confidence is then
wrong, and so is every estimate made from it. Only labels reveal that.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.isotonic import IsotonicRegression

METRICS = ("roc_auc", "f1", "accuracy")
FOLDS = 5  # "auto" calibrates when isotonic regression lowers the Brier score out of fold
REGRESSION = ("No label-free estimate for regression: the model gives one number per row, not a distribution "
              "of the target, so nothing in its outputs says how wrong it is; its error is known once labels "
              "arrive (performance as labels arrive, above).")
MULTICLASS = ("No label-free estimate for multiclass models yet: it needs each class's probability calibrated "
              "jointly; its performance is known once labels arrive.")


class Calibration(NamedTuple):
    """The map from the model's score to a probability of the positive class (None: the score as it is)."""

    isotonic: tuple | None  # the isotonic fit's (scores, probabilities) knots; None: the score as it is
    error_before: float  # expected calibration error of the raw score on the validation split
    sentence: str
    resampled: tuple = ()  # knots of isotonic fits on bootstrap samples: the calibration's own uncertainty

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, float)
        return scores if self.isotonic is None else np.interp(scores, *self.isotonic)


def calibration_error(scores: np.ndarray, positive: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the row-weighted gap between mean score and positive share in score deciles."""
    edges = np.unique(np.quantile(scores, np.linspace(0, 1, bins + 1)[1:-1]))
    groups = np.searchsorted(edges, scores, side="right")
    frame = pd.DataFrame({"g": groups, "s": scores, "y": positive.astype(float)}).groupby("g")
    gaps = (frame["s"].mean() - frame["y"].mean()).abs() * frame.size() / len(scores)
    return float(gaps.sum())


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
        why = "" if rule == "never" else (f"; isotonic regression would not lower the Brier score out of fold: "
                                          f"{out_after:.4f} against {out_before:.4f}")
        return Calibration(None, before, f"The model's probabilities are used as they are (calibration error "
                                         f"{before:.3f} on {len(scores):,} validation rows{why}).")
    rng = np.random.default_rng(seed)
    samples = [rng.integers(0, len(scores), len(scores)) for _ in range(resamples)]
    return Calibration(_isotonic(scores, positive), before,
                       f"The model's probabilities are calibrated by isotonic regression on {len(scores):,} "
                       f"validation rows (calibration error {before:.3f} before); the interval carries the "
                       f"calibration's own uncertainty ({resamples} bootstrap fits).",
                       tuple(_isotonic(scores[k], positive[k]) for k in samples))


def expected_auc(scores: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC from the expected true and false positive rates at every score threshold."""
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], p[order]
    last = np.r_[s[1:] != s[:-1], True]  # a threshold between distinct scores only: ties move together
    tp, fp = np.cumsum(p)[last], np.cumsum(1 - p)[last]
    if tp[-1] < 1 or fp[-1] < 1:  # fewer than one expected row of a class: no AUC to speak of
        return float("nan")
    tpr, fpr = np.r_[0, tp / tp[-1]], np.r_[0, fp / fp[-1]]
    return float(np.trapezoid(tpr, fpr))


def _realized(draws: np.ndarray, ranks: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """ROC AUC, F1 and accuracy of each row of simulated labels ``draws`` (draws x rows)."""
    n = draws.shape[1]
    positives = draws.sum(axis=1)
    negatives = n - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (draws @ ranks - positives * (positives + 1) / 2) / (positives * negatives)
        tp = draws[:, predicted].sum(axis=1)
        fp, fn = predicted.sum() - tp, positives - tp
        f1 = 2 * tp / (2 * tp + fp + fn)
    accuracy = (tp + (n - predicted.sum() - fn)) / n
    return np.column_stack([auc, f1, accuracy])


def estimate(scores: np.ndarray, predicted: np.ndarray, calibration: Calibration, draws: int, interval: float,
             seed: int) -> dict[str, tuple[float, float, float]]:
    """Estimated ROC AUC, F1 and accuracy of one window: ``{metric: (estimate, low, high)}``.

    Parameters
    ----------
    scores : the model's score for the positive class, per row.
    predicted : whether the model predicted the positive class, per row.
    calibration : ``calibrate``'s map from score to probability.
    draws, interval, seed : simulated label draws behind the ``interval`` (e.g. 0.95) and their seed.
    """
    scores, predicted = np.asarray(scores, float), np.asarray(predicted, bool)
    p = np.clip(calibration(scores), 0, 1)
    tp, fp = p[predicted].sum(), (1 - p[predicted]).sum()
    fn, tn = p[~predicted].sum(), (1 - p[~predicted]).sum()
    point = {"roc_auc": expected_auc(scores, p), "f1": 2 * tp / max(2 * tp + fp + fn, 1e-12),
             "accuracy": (tp + tn) / len(p)}
    rng = np.random.default_rng(seed)
    ranks = rankdata(scores)
    # Each group of draws takes its probabilities from one bootstrap calibration (all: the one calibration).
    groups = np.array([np.clip(np.interp(scores, *knots), 0, 1) for knots in calibration.resampled] or [p])
    per_group = -(-draws // len(groups))
    per_batch = max(1, 20_000_000 // max(len(p) * len(groups), 1))  # bounds memory: draws x rows at a time
    found = np.vstack([_realized((rng.random((len(groups), min(per_batch, per_group - start), len(p)))
                                  < groups[:, None, :]).reshape(-1, len(p)), ranks, predicted)
                       for start in range(0, per_group, per_batch)])
    tail = (1 - interval) / 2 * 100
    with warnings.catch_warnings():  # a window of one expected class has no AUC: NaN, said in by_window's note
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(found, [tail, 100 - tail], axis=0)
    return {name: (float(point[name]), float(low[k]), float(high[k])) for k, name in enumerate(METRICS)}


def by_window(frame: pd.DataFrame, window: pd.Series, score: str, prediction: str, positive_class,
              calibration: Calibration, draws: int, interval: float, seed: int, min_rows: int) -> pd.DataFrame:
    """``estimate`` for each window with at least ``min_rows`` rows: one row per (window, metric)."""
    rows = []
    for number, (name, part) in enumerate(frame.groupby(window, sort=True)):
        if len(part) < min_rows:
            continue
        predicted = (part[prediction].astype(str) == str(positive_class)).to_numpy()
        found = estimate(part[score].to_numpy(float), predicted, calibration, draws, interval, seed + number)
        rows += [(name, metric, len(part), *values, "" if np.isfinite(values[0]) else
                  "not measurable: one class expected in this window") for metric, values in found.items()]
    return pd.DataFrame(rows, columns=["window", "metric", "rows", "estimate", "low", "high", "note"])


def alerts(estimates: pd.DataFrame, metric: str, floor: float, greater_is_better: bool) -> list:
    """The card's metric estimated per window as ``drift.Result`` records: an alert when the whole
    interval lies beyond the floor (confidently worse), none for a metric not estimated here."""
    from lifecycle.drift import Result

    rows = estimates[estimates["metric"] == metric]
    return [Result(f"estimated performance ({metric})", r.window, metric, round(r.estimate, 4), round(floor, 4),
                   bool(r.high < floor if greater_is_better else r.low > floor), int(r.rows),
                   r.note or f"interval {r.low:.3f} to {r.high:.3f}")
            for r in rows.itertuples() if np.isfinite(r.estimate)]


def against_realized(estimates: pd.DataFrame, results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per window: the estimate of the card's metric, its interval, the realized value once labels have
    arrived, the estimate's error and whether the interval held it."""
    table = estimates[estimates["metric"] == metric].set_index("window")[["rows", "estimate", "low", "high"]]
    realized = results[results["feature"] == f"performance ({metric})"].set_index("window")
    table["labelled rows"] = realized["rows"].reindex(table.index).fillna(0).astype(int)
    table["realized"] = realized["value"].reindex(table.index)
    table["error"] = (table["estimate"] - table["realized"]).round(4)
    table["held"] = ((table["low"] <= table["realized"]) & (table["realized"] <= table["high"])).where(
        table["realized"].notna(), None)
    return table.round(4)


def for_production(production: pd.DataFrame, window: pd.Series, task: str, positive_class, validation_scores,
                   validation_positive, settings, seed: int, min_rows: int) -> tuple[pd.DataFrame, str]:
    """The estimate for each window of ``production`` (``read_log`` rows), calibrated on the validation
    split's scores and labels (``settings``: ``Estimate`` from params); for other tasks, why there is none."""
    if task != "binary":
        empty = pd.DataFrame(columns=["window", "metric", "rows", "estimate", "low", "high", "note"])
        return empty, REGRESSION if task == "regression" else MULTICLASS
    calibration = calibrate(validation_scores, validation_positive, settings.calibrate, seed=seed)
    table = by_window(production, window, f"output_probability_{positive_class}", "output_prediction",
                      positive_class, calibration, settings.draws, settings.interval, seed, min_rows)
    return table, calibration.sentence


def verdict(table: pd.DataFrame, metric: str) -> str:
    """One sentence on ``against_realized``: how often the interval held the realized value, the largest miss."""
    if table.empty:
        return "No label-free estimate for this model (why: above); its performance is known once labels arrive."
    known = table[table["realized"].notna()]
    if known.empty:
        return f"No labels yet: the estimated {metric} is all there is until they arrive."
    held = known["held"].astype(bool)
    sentence = (f"The interval held the realized {metric} in {int(held.sum())} of {len(known)} labelled windows "
                f"(mean absolute error {known['error'].abs().mean():.3f}).")
    if held.all():
        return sentence
    missed = known[~held.to_numpy()]
    shown = ", ".join(f"{w} ({e:+.3f})" for w, e in missed["error"].head(6).items())
    return (f"{sentence} It missed in {len(missed)}: {shown}{', ...' if len(missed) > 6 else ''}. A miss beyond the "
            "interval means the model's confidence no longer matches what happens -- concept drift, which an "
            "estimate made from the model's own scores cannot see; only labels reveal it.")
