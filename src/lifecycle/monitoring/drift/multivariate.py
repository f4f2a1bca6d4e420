"""Multivariate drift: how well a PCA fitted on the reference reconstructs a window's rows.

The features are preprocessed (numbers: median-imputed with a missing flag, standardized;
categories: one-hot, unseen ones all zeros) and projected on the principal components that keep
``variance_share`` of the reference's variance. A row that moves the way reference rows do is
reconstructed well; when features stop moving together as they did -- a correlation changes
sign while each feature's own distribution stays put -- the mean reconstruction error rises,
though no single feature shows it. The threshold is learned like the univariate ones: each reference
row's error under a PCA fitted without it (the reference cut into ``chunks``, each scored by a PCA fitted on
the rest), and a window's mean error drawn ``resamples`` times from those, at the window's size (at most
a chunk's); the threshold is the tail of those means at ``false_alert_rate`` (``null.upper``). Each row's
error is capped at the reference rows' ``CAP`` quantile: one outlying row (an error a hundred times the
median) would otherwise move a window's mean as much as a real change in how the features go together,
and make the tail of the null that row's chance of being in a window.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from lifecycle.monitoring import drift
from lifecycle.monitoring.drift import Result, null
from lifecycle.monitoring.drift.thresholds import chunks_of

BLOCK = 2_000_000  # draws of row errors at a time, to bound memory on large windows
CAP = 0.99  # each row's error is capped at this quantile of the reference rows' errors

FEATURE = "(all features)"
STATISTIC = "reconstruction_error"


class Multivariate(NamedTuple):
    """The fitted preprocessing and PCA, the reference rows' out-of-fold errors, and the thresholds learned."""

    preprocess: object
    pca: PCA
    errors: np.ndarray  # each reference row's error under a PCA fitted without it, capped at ``cap``
    cap: float  # the reference rows' ``CAP`` quantile of error
    chunk_rows: int  # a larger window keeps this size's threshold
    features: list[str]
    rate: float
    resamples: int
    seed: int
    learned: dict  # rows -> (mean, sd, threshold) of the null of a window's mean error


def preprocessor(reference: pd.DataFrame) -> ColumnTransformer:
    numeric = [c for c in reference.columns if drift.kind(reference[c]) == "numeric"]
    categorical = [c for c in reference.columns if c not in numeric]
    return ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler()
                ),
                numeric,
            ),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=drift.MISSING, keep_empty_features=True),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            ),
        ]
    )


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories as text (missing kept missing), so the encoder sees one type per column."""
    frame = frame.copy()
    for column in frame.columns:
        if drift.kind(frame[column]) == "categorical":
            frame[column] = (
                frame[column]
                .astype(object)
                .where(frame[column].notna(), None)
                .map(lambda v: v if v is None else str(v))
            )
    return frame


def _fit(reference: pd.DataFrame, variance_share: float, seed: int) -> tuple[object, PCA]:
    preprocess = preprocessor(reference).fit(reference)
    pca = PCA(n_components=variance_share, svd_solver="full", random_state=seed).fit(preprocess.transform(reference))
    return preprocess, pca


def errors(preprocess, pca: PCA, frame: pd.DataFrame) -> np.ndarray:
    """Each row's mean squared reconstruction error in the preprocessed space."""
    z = preprocess.transform(frame)
    return np.mean((z - pca.inverse_transform(pca.transform(z))) ** 2, axis=1)


def fit(reference: pd.DataFrame, settings, *, seed: int, min_rows: int) -> Multivariate:
    """The PCA on the whole reference and each row's out-of-fold error (see the module); ``settings``:
    ``DriftSettings``."""
    reference = as_text(reference.reset_index(drop=True))
    found = np.empty(len(reference))
    for part in chunks_of(len(reference), settings.chunks, seed, min_rows):
        mask = np.zeros(len(reference), bool)
        mask[part] = True
        preprocess, pca = _fit(reference[~mask], settings.variance_share, seed)
        found[mask] = errors(preprocess, pca, reference[mask])
    preprocess, pca = _fit(reference, settings.variance_share, seed)
    cap = float(np.quantile(found, CAP))
    return Multivariate(
        preprocess,
        pca,
        np.minimum(found, cap),
        cap,
        len(reference) // settings.chunks,
        list(reference.columns),
        settings.false_alert_rate,
        settings.resamples,
        seed,
        {},
    )


def window_rows(model: Multivariate, rows: int) -> int:
    """The size a window's null is learned at (``null.window_size``)."""
    return null.window_size(rows, model.chunk_rows)


def threshold(model: Multivariate, rows: int) -> tuple[float, float, float]:
    """The null of a window's mean error at ``rows`` (mean, sd) and its threshold, learned once per size."""
    size = window_rows(model, rows)
    if size not in model.learned:
        generator = null.rng(model.seed, FEATURE, size)
        block = max(1, BLOCK // size)
        means = np.concatenate(
            [
                model.errors[
                    generator.integers(0, model.errors.size, (min(block, model.resamples - start), size))
                ].mean(axis=1)
                for start in range(0, model.resamples, block)
            ]
        )
        model.learned[size] = (float(means.mean()), float(means.std(ddof=1)), null.upper(means, model.rate))
    return model.learned[size]


def measure(model: Multivariate, current: pd.DataFrame, window: str, min_rows: int) -> Result:
    """The window's mean reconstruction error (each row's capped) against the threshold learned at its size."""
    rows = len(current)
    mean, sd, limit = threshold(model, rows)
    limit = round(limit, 4)
    found = errors(model.preprocess, model.pca, as_text(current[model.features])) if rows else np.zeros(1)
    value = float(np.minimum(found, model.cap).mean())
    if rows < min_rows:
        return Result(FEATURE, window, STATISTIC, round(value, 4), limit, False, rows, f"too few rows (< {min_rows})")
    value = round(value, 4)
    note = f"{model.pca.n_components_} components; undrifted windows {mean:.3f} ± {sd:.3f}"
    return Result(FEATURE, window, STATISTIC, value, limit, value > limit, rows, note)
