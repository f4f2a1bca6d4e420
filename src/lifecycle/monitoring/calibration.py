"""Calibrating a classifier's scores on labelled validation rows, for the label-free performance estimate.

Isotonic regression of the label on the score maps a score to a probability (``calibrate``; a multiclass
model's classes one-vs-rest, ``calibrate_classes``). ``auto`` calibrates only when that lowers the Brier
score out of fold. Fits on bootstrap samples of the rows carry the calibration's own uncertainty into the
estimate's interval (``performance_estimate``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

FOLDS = 5  # "auto" calibrates when isotonic regression lowers the Brier score out of fold


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
