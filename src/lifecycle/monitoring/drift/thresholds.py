"""Alert thresholds learned from the reference, at a false-alert rate stated in params.

Each statistic's null distribution -- what it measures between a window and the reference when nothing
moved -- is drawn by resampling the reference at the window's own size (``drift.null``, ``resamples``
draws), and the threshold is its upper quantile at the rate ``false_alert_rate`` per feature and window:
a feature checked by ``m`` statistics gives each ``rate / m``, so all of them together alert on at most
that share of undrifted windows. Ties, zero-inflation, missing values and rare levels are in the draws
as they are in the reference, so the rate holds on awkward columns too, not only on smooth ones.

A window larger than a chunk (``1 / chunks`` of the reference) keeps the chunk's threshold: a million
undrifted rows differ from the reference by effects no model cares about, which a null learned at a
million rows would call drift. Sizes are rounded down to two significant digits (a slightly higher
threshold), so windows of similar size share one learned null. A reference too small to give ``chunks``
parts of ``min_rows`` is refused.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from lifecycle.monitoring import drift
from lifecycle.monitoring.drift import Result, null
from lifecycle.monitoring.drift import windows as drift_windows

# The power of a statistic whose tail is exponential: a distance's square is a divergence (a quadratic
# form of the shares' differences), a divergence or an L1 norm (Wasserstein) as it is (``null.upper``).
TAIL_POWER = {"jensen_shannon": 2.0, "ks": 2.0, "wasserstein": 1.0, "psi": 1.0, "new_categories": 1.0}


class CalibrationError(ValueError):
    """The reference cannot calibrate thresholds; the message says what to change."""


class Baseline(NamedTuple):
    """The reference, its profiles, and the thresholds learned so far (``threshold``)."""

    reference: pd.DataFrame
    thresholds: pd.DataFrame  # feature, statistic, kind, rows, mean, sd, threshold: the null at a chunk's size
    chunk_rows: int  # a larger window keeps this size's threshold
    rate: float  # false alerts per feature and undrifted window
    profiles: dict  # column -> ``drift.Profile`` of the whole reference
    resamples: int
    seed: int
    learned: dict  # (feature, statistic, rows) -> (mean, sd, threshold) of the null


def chunks_of(rows: int, chunks: int, seed: int, min_rows: int, what: str = "reference") -> list[np.ndarray]:
    """``chunks`` random, equal (within one row) parts of ``range(rows)``; refuses parts below ``min_rows``."""
    if rows // chunks < min_rows:
        raise CalibrationError(
            f"the {what} has {rows:,} rows, too few to learn drift thresholds from: {chunks} chunks of at least "
            f"min_rows={min_rows} need {chunks * min_rows:,}. Use a longer reference (reference_split: all), "
            "or lower drift.chunks or min_rows"
        )
    return np.array_split(np.random.default_rng(seed).permutation(rows), chunks)


def fit(
    reference: pd.DataFrame, settings, *, seed: int, min_rows: int, statistics: list[str] | None = None
) -> Baseline:
    """Thresholds for every column of ``reference`` and every statistic that suits it.

    Parameters
    ----------
    reference : the rows production is compared with (model inputs, or the model's score).
    settings : ``DriftSettings`` (``chunks``, ``false_alert_rate``, ``resamples``).
    seed : seeds the draws, so thresholds are reproducible.
    min_rows : the smallest window that gets a verdict.
    statistics : names in ``drift.STATISTICS`` (default: ``settings.statistics``).
    """
    reference = reference.reset_index(drop=True)
    chunks_of(len(reference), settings.chunks, seed, min_rows)
    profiles = {str(c): drift.profile(reference[c]) for c in reference.columns}
    baseline = Baseline(
        reference.set_axis([str(c) for c in reference.columns], axis=1),
        pd.DataFrame(),
        len(reference) // settings.chunks,
        settings.false_alert_rate,
        profiles,
        settings.resamples,
        seed,
        {},
    )
    names = statistics if statistics is not None else settings.statistics
    pairs = [
        (str(c), name, drift.kind(reference[c]))
        for c in reference.columns
        for name in names
        if drift.kind(reference[c]) in drift.STATISTICS[name][1]
    ]
    table = pd.DataFrame(pairs, columns=["feature", "statistic", "kind"])
    table["rows"] = window_rows(baseline, len(reference))
    for feature, statistic in zip(table["feature"], table["statistic"]):
        threshold(baseline, feature, statistic, len(reference), table)
    learned = [baseline.learned[key] for key in zip(table["feature"], table["statistic"], table["rows"])]
    table[["mean", "sd", "threshold"]] = np.array(learned, float).reshape(-1, 3)
    return baseline._replace(thresholds=table)


def window_rows(baseline: Baseline, rows: int) -> int:
    """The size a window's null is learned at (``null.window_size``)."""
    return null.window_size(rows, baseline.chunk_rows)


def _share(baseline: Baseline, feature: str, statistics: pd.DataFrame) -> float:
    """The rate of each statistic of ``feature``: the feature's rate split among its statistics."""
    return baseline.rate / max(1, int((statistics["feature"] == feature).sum()))


def threshold(baseline: Baseline, feature: str, statistic: str, rows: int, statistics: pd.DataFrame) -> float:
    """The threshold of ``statistic`` on ``feature`` for a window of ``rows`` (learned once per size)."""
    size = window_rows(baseline, rows)
    key = (feature, statistic, size)
    if key not in baseline.learned:
        draws = _null(baseline, feature, statistic, size)
        limit = null.upper(draws, _share(baseline, feature, statistics), TAIL_POWER.get(statistic, 1.0))
        baseline.learned[key] = (float(draws.mean()), float(draws.std(ddof=1)), limit)
    return baseline.learned[key][2]


def _null(baseline: Baseline, feature: str, statistic: str, rows: int) -> np.ndarray:
    """Draws of ``statistic``'s null distribution on ``feature`` for a window of ``rows``."""
    ref, draws = baseline.profiles[feature], baseline.resamples
    generator = null.rng(baseline.seed, feature, statistic, rows)
    if statistic in ("jensen_shannon", "psi"):
        function = null.jensen_shannon if statistic == "jensen_shannon" else null.psi
        return function(ref, rows, len(baseline.reference), draws, generator)
    if statistic == "wasserstein":
        # Each side's count of numbers, rounded down to two digits as window sizes are (one draw of order
        # uniforms serves every column with about as many numbers).
        present = 1 - (ref.bin_shares[-1] if ref.bin_shares.size else 0.0)
        return null.wasserstein(
            ref,
            null.uniforms(baseline.seed, null.window_size(round(rows * present), rows), draws),
            null.uniforms(baseline.seed, null.window_size(ref.sorted.size, ref.sorted.size), draws),
        )
    return null.by_rows(statistic, baseline.reference[feature], rows, max(50, draws // 10), generator)


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
            limit = round(threshold(baseline, row.feature, row.statistic, int(rows[w]), baseline.thresholds), 4)
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
