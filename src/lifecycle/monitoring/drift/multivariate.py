"""Multivariate drift: how well a PCA fitted on the reference reconstructs a window's rows.

The features are preprocessed (numbers: median-imputed with a missing flag, standardized;
categories: one-hot, unseen ones all zeros) and projected on the principal components that keep
``variance_share`` of the reference's variance. A row that moves the way reference rows do is
reconstructed well; when features stop moving together as they did -- a correlation changes
sign while each feature's own distribution stays put -- the mean reconstruction error rises,
though no single feature shows it. The threshold is learned like the univariate ones: each
reference chunk's error under a PCA fitted on the rest, mean + k * sd.
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
from lifecycle.monitoring.drift import Result
from lifecycle.monitoring.drift.thresholds import chunks_of

FEATURE = "(all features)"
STATISTIC = "reconstruction_error"


class Multivariate(NamedTuple):
    """The fitted preprocessing and PCA, with the chunks' error mean, sd and threshold."""

    preprocess: object
    pca: PCA
    mean: float
    sd: float
    threshold: float
    chunk_rows: int
    features: list[str]


def _preprocessor(reference: pd.DataFrame) -> ColumnTransformer:
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


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
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
    preprocess = _preprocessor(reference).fit(reference)
    pca = PCA(n_components=variance_share, svd_solver="full", random_state=seed).fit(preprocess.transform(reference))
    return preprocess, pca


def errors(preprocess, pca: PCA, frame: pd.DataFrame) -> np.ndarray:
    """Each row's mean squared reconstruction error in the preprocessed space."""
    z = preprocess.transform(frame)
    return np.mean((z - pca.inverse_transform(pca.transform(z))) ** 2, axis=1)


def fit(
    reference: pd.DataFrame, variance_share: float, chunks: int, k: float, seed: int, min_rows: int
) -> Multivariate:
    """The PCA on the whole reference, and the threshold from chunk-vs-rest errors (see the module)."""
    reference = _as_text(reference.reset_index(drop=True))
    found = []
    for part in chunks_of(len(reference), chunks, seed, min_rows):
        mask = np.zeros(len(reference), bool)
        mask[part] = True
        preprocess, pca = _fit(reference[~mask], variance_share, seed)
        found.append(float(errors(preprocess, pca, reference[mask]).mean()))
    mean, sd = float(np.mean(found)), float(np.std(found, ddof=1))
    preprocess, pca = _fit(reference, variance_share, seed)
    return Multivariate(preprocess, pca, mean, sd, mean + k * sd, len(reference) // chunks, list(reference.columns))


def measure(model: Multivariate, current: pd.DataFrame, window: str, min_rows: int) -> Result:
    """The window's mean reconstruction error against the threshold (raised for a window smaller than a chunk)."""
    rows = len(current)
    k_sd = model.threshold - model.mean
    limit = round(model.mean + k_sd * max(1.0, np.sqrt(model.chunk_rows / max(rows, 1))), 4)
    if rows < min_rows:
        value = (
            0.0 if rows == 0 else float(errors(model.preprocess, model.pca, _as_text(current[model.features])).mean())
        )
        return Result(FEATURE, window, STATISTIC, round(value, 4), limit, False, rows, f"too few rows (< {min_rows})")
    value = round(float(errors(model.preprocess, model.pca, _as_text(current[model.features])).mean()), 4)
    note = f"{model.pca.n_components_} components; reference chunks {model.mean:.3f} ± {model.sd:.3f}"
    return Result(FEATURE, window, STATISTIC, value, limit, value > limit, rows, note)
