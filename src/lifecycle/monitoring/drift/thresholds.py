"""Alert thresholds learned from the reference itself, so a verdict means the same at any sample size.

The reference is cut at random (seeded) into ``chunks`` equal parts; each part is compared with the
rest by every statistic, and a feature alerts beyond ``mean + k * sd`` of those chunk-vs-rest values.
A window larger than a chunk keeps that threshold: it is an effect size the reference's own
variability produces, so a million undrifted rows stay quiet where a p-value would call every
feature drifted. A window smaller than a chunk is noisier, so its threshold grows with the expected
noise: sampling noise of a distance shrinks as ``sqrt(1/n + 1/m)`` (of a divergence such as PSI, as
``1/n + 1/m``). A reference too small to give ``chunks`` parts of ``min_rows`` is refused.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from lifecycle.monitoring import drift
from lifecycle.monitoring.drift import Result
from lifecycle.monitoring.drift import windows as drift_windows

# How a statistic's null value scales with sampling noise: a distance as its square root, a divergence linearly.
NOISE_POWER = {"jensen_shannon": 0.5, "wasserstein": 0.5, "ks": 0.5, "psi": 1.0, "new_categories": 1.0}


class CalibrationError(ValueError):
    """The reference cannot calibrate thresholds; the message says what to change."""


class Baseline(NamedTuple):
    """The reference and, per (feature, statistic), the chunk-vs-rest mean, sd and threshold."""

    reference: pd.DataFrame
    thresholds: pd.DataFrame  # feature, statistic, kind, mean, sd, threshold
    chunk_rows: int
    k: float
    profiles: dict  # column -> ``drift.Profile`` of the whole reference


def chunks_of(rows: int, chunks: int, seed: int, min_rows: int, what: str = "reference") -> list[np.ndarray]:
    """``chunks`` random, equal (within one row) parts of ``range(rows)``; refuses parts below ``min_rows``."""
    if rows // chunks < min_rows:
        raise CalibrationError(
            f"the {what} has {rows:,} rows, too few to learn drift thresholds from: {chunks} chunks of at least "
            f"min_rows={min_rows} need {chunks * min_rows:,}. Use a longer reference (reference_split: all), "
            "or lower drift.chunks or min_rows"
        )
    return np.array_split(np.random.default_rng(seed).permutation(rows), chunks)


def fit(reference: pd.DataFrame, statistics: list[str], chunks: int, k: float, seed: int, min_rows: int) -> Baseline:
    """Thresholds for every column of ``reference`` and every statistic in ``statistics`` that suits it.

    Parameters
    ----------
    reference : the rows production is compared with (model inputs, or the model's score).
    statistics : names in ``drift.STATISTICS``.
    chunks : parts the reference is cut into; each is compared with the rest.
    k : the threshold is the chunk-vs-rest mean plus ``k`` standard deviations.
    seed : seeds the cut, so thresholds are reproducible.
    min_rows : the smallest chunk (and window) that gets a verdict.
    """
    reference = reference.reset_index(drop=True)
    parts = chunks_of(len(reference), chunks, seed, min_rows)
    masks = []
    for part in parts:
        mask = np.zeros(len(reference), bool)
        mask[part] = True
        masks.append(mask)
    rows = []
    for column in reference.columns:
        values, column_kind = reference[column], drift.kind(reference[column])
        chunk_values = [values[mask].reset_index(drop=True) for mask in masks]
        rest_profiles = []  # each chunk's rest, profiled once for all the statistics that take a profile
        for name in statistics:
            function, kinds = drift.STATISTICS[name]
            if column_kind not in kinds:
                continue
            if name in drift.PROFILED and not rest_profiles:
                rest_profiles = [drift.profile(values[~mask]) for mask in masks]
            found = [
                function(
                    rest_profiles[k] if name in drift.PROFILED else values[~mask].reset_index(drop=True),
                    chunk_values[k],
                )[0]
                for k, mask in enumerate(masks)
            ]
            mean, sd = float(np.mean(found)), float(np.std(found, ddof=1))
            rows.append((str(column), name, column_kind, mean, sd, mean + k * sd))
    table = pd.DataFrame(rows, columns=["feature", "statistic", "kind", "mean", "sd", "threshold"])
    profiles = {str(c): drift.profile(reference[c]) for c in reference.columns}
    return Baseline(reference, table, len(reference) // chunks, k, profiles)


def scaled(threshold: float, statistic: str, rows: int, chunk_rows: int, reference_rows: int) -> float:
    """The threshold for a window of ``rows``: as learned for a chunk or larger, raised for a smaller one."""
    chunk_noise = 1 / chunk_rows + 1 / (reference_rows - chunk_rows)
    window_noise = 1 / max(rows, 1) + 1 / reference_rows
    return threshold * max(1.0, window_noise / chunk_noise) ** NOISE_POWER.get(statistic, 0.5)


def measure(baseline: Baseline, current: pd.DataFrame, window: str, min_rows: int) -> list[Result]:
    """Each (feature, statistic) of the baseline on one window, against its threshold.

    A window with fewer than ``min_rows`` rows gets no verdict: "too few rows", no alert.
    """
    return measure_windows(baseline, current, np.zeros(len(current), int), [window], min_rows)[0]


def measure_windows(
    baseline: Baseline, current: pd.DataFrame, codes: np.ndarray, windows: list[str], min_rows: int
) -> list[list[Result]]:
    """``measure`` of every window at once (``drift_windows``): ``codes`` gives each row of ``current`` its
    window, an index into ``windows``; one list of results per window, in the baseline's order."""
    rows = np.bincount(codes, minlength=len(windows))
    found = [[] for _ in windows]
    for row in baseline.thresholds.itertuples(index=False):
        if row.feature not in current.columns:
            continue
        values, notes = drift_windows.statistic(
            row.statistic, baseline, row.feature, current[row.feature].reset_index(drop=True), codes, rows
        )
        for w, window in enumerate(windows):
            few = rows[w] < min_rows
            value, note = (round(float(values[w]), 4), notes[w]) if rows[w] else (0.0, "no rows")
            limit = round(
                scaled(row.threshold, row.statistic, int(rows[w]), baseline.chunk_rows, len(baseline.reference)), 4
            )
            found[w].append(
                Result(
                    row.feature,
                    window,
                    row.statistic,
                    value,
                    limit,
                    not few and value > limit,
                    int(rows[w]),
                    f"too few rows (< {min_rows})" if few else note,
                )
            )
    return found
