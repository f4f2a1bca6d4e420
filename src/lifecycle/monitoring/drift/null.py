"""What each drift statistic measures between two samples of the same population: its null distribution,
drawn by resampling the reference, at the size of the window it is compared with.

A window of ``n`` rows is compared with a reference of ``N``; if nothing moved, both are samples of one
population, which the reference stands in for (a bootstrap). The draws are made from what the statistic
sees, never row by row, so a draw costs the same for a million rows as for a hundred:

- Jensen-Shannon distance: the reference's bin (or category) shares ``p`` drawn again as
  ``multinomial(N, p) / N``, the window's as ``multinomial(n, p) / n`` (missing values and rare levels are
  bins like any other, ties fall in the bin they fall in);
- Wasserstein distance: each side's quantiles at ``GRID``, as values of the sorted reference at the
  order statistics of ``n`` (``N``) uniform draws, which cumulative sums of gamma draws give directly
  (``order_uniforms``): exact for a resample of that size, without drawing its rows;
- PSI: as the Jensen-Shannon distance, from the same bins;
- ``ks`` and ``new_categories`` (kept for comparison): the statistic itself on rows drawn from the
  reference (a tenth of the draws: slower).

The threshold is the draws' upper ``1 - rate`` quantile. A rate of 1 in 1,000 lies beyond the largest of a
few hundred draws, so the tail is fitted (``upper``): above the draws' 90% quantile, a power of the
statistic whose tail is exponential -- the Jensen-Shannon distance squared (a divergence: for small
differences a quadratic form, a weighted sum of chi-squares), the Wasserstein distance as it is (an L1
norm) -- is taken as exponential with the draws' mean excess, and the quantile read off it. Checked
against 100,000 draws on log-normal, Poisson, zero-inflated, bimodal, part-missing and rare-level columns
at 500 and 5,000 rows: the fitted quantile at 1 in 2,000 is exceeded 0.7 to 1.3 times as often as asked
(the empirical quantile of 1,000 draws: about twice).
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import rel_entr

from lifecycle.monitoring import drift
from lifecycle.monitoring.drift import QUANTILES, Profile

TAIL = 0.9  # the tail is fitted above the draws' quantile at this level
# The Wasserstein null is integrated on every fourth point of the statistic's own grid: neighbouring
# quantiles move together, so its thresholds stay within about 2% (a little higher), at a quarter of the cost.
GRID = QUANTILES[2::4]


def window_size(rows: int, chunk_rows: int) -> int:
    """The size a window's null is learned at: its own, at most ``chunk_rows``, rounded down to two
    significant digits (so windows of similar size share one null, at a slightly higher threshold)."""
    rows = max(1, min(int(rows), chunk_rows))
    unit = 10 ** max(0, len(str(rows)) - 2)
    return rows // unit * unit


def rng(seed: int, *keys) -> np.random.Generator:
    """A generator for ``keys`` (numbers, names): the same draws whatever order thresholds are asked in."""
    return np.random.default_rng([seed, *(k if isinstance(k, int) else zlib.crc32(str(k).encode()) for k in keys)])


def order_uniforms(rows: int, draws: int, generator: np.random.Generator) -> np.ndarray:
    """draws x len(GRID): the order statistics of ``rows`` uniform draws at ranks ``ceil(GRID * rows)``
    (the empirical quantiles of a resample), from gamma spacings: the ``k``-th of ``rows`` uniforms is
    ``S_k / S_{rows+1}`` for ``S`` the cumulative sum of ``rows + 1`` unit exponentials."""
    ranks = np.ceil(GRID * rows).astype(int)
    unique, position = np.unique(ranks, return_inverse=True)
    shapes = np.diff(np.r_[0, unique, rows + 1]).astype(float)
    sums = np.cumsum(generator.standard_gamma(shapes, size=(draws, shapes.size)), axis=1)
    return (sums[:, :-1] / sums[:, -1:])[:, position]


@lru_cache(maxsize=16)
def uniforms(seed: int, rows: int, draws: int) -> np.ndarray:
    """``order_uniforms`` of ``rows`` for ``draws`` resamples (float32, read only), shared by every column
    with about ``rows`` numbers (``window_size`` rounds the count)."""
    found = np.ascontiguousarray(order_uniforms(rows, draws, rng(seed, "uniforms", rows)), dtype=np.float32)
    found.flags.writeable = False
    return found


def _js(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) between matching rows of ``p`` and ``q``."""
    m = (p + q) / 2
    value = np.sum(rel_entr(p, m) + rel_entr(q, m), axis=1) / np.log(2) / 2
    return np.sqrt(np.maximum(value, 0.0))


def _shares(ref: Profile, rows: int, reference_rows: int, draws: int, generator) -> tuple[np.ndarray, np.ndarray]:
    """Resampled bin (category) shares of the reference and of a window of ``rows``: draws x bins each."""
    shares = ref.bin_shares if ref.numeric else ref.shares.to_numpy(float)
    shares = shares / shares.sum()
    again = generator.multinomial(reference_rows, shares, size=draws) / reference_rows
    return again, generator.multinomial(rows, shares, size=draws) / rows


def jensen_shannon(ref: Profile, rows: int, reference_rows: int, draws: int, generator) -> np.ndarray:
    """Null draws of the Jensen-Shannon distance between a window of ``rows`` and the reference."""
    return _js(*_shares(ref, rows, reference_rows, draws, generator))


def psi(ref: Profile, rows: int, reference_rows: int, draws: int, generator) -> np.ndarray:
    """Null draws of the PSI between a window of ``rows`` and the reference (shares floored as ``drift.psi``)."""
    expected, actual = (np.maximum(s, drift.EPSILON) for s in _shares(ref, rows, reference_rows, draws, generator))
    return np.sum((actual - expected) * np.log(actual / expected), axis=1)


def wasserstein(ref: Profile, window_u: np.ndarray, reference_u: np.ndarray) -> np.ndarray:
    """Null draws of the Wasserstein distance (in the reference's sd) from order uniforms of each side: the
    sorted reference at ``floor(u * size)`` is its empirical quantile function at ``u`` (``u`` in (0, 1))."""
    values = ref.sorted
    if values.size == 0:
        return np.zeros(len(window_u))
    last = np.int32(values.size - 1)  # a float32 u just below 1 can round to 1
    window = values[np.minimum((window_u * values.size).astype(np.int32), last)]
    again = values[np.minimum((reference_u * values.size).astype(np.int32), last)]
    return np.mean(np.abs(window - again), axis=1) / (ref.scale if ref.scale > 0 else 1.0)


def by_rows(name: str, reference: pd.Series, rows: int, draws: int, generator) -> np.ndarray:
    """Null draws of any statistic in ``drift.STATISTICS``: the statistic on resampled rows of each side."""
    function, _ = drift.STATISTICS[name]
    found = []
    for _ in range(draws):
        again = reference.iloc[generator.integers(0, len(reference), len(reference))].reset_index(drop=True)
        window = reference.iloc[generator.integers(0, len(reference), rows)].reset_index(drop=True)
        found.append(function(again, window)[0])
    return np.array(found, float)


def upper(draws: np.ndarray, rate: float, power: float = 1.0) -> float:
    """The ``1 - rate`` quantile of the distribution ``draws`` come from: empirical down to ``1 - TAIL``;
    beyond, ``draws ** power`` taken as exponential above their ``TAIL`` quantile, with the draws' mean
    excess (peaks over a threshold, shape 0)."""
    draws = np.asarray(draws, float)
    if rate >= 1 - TAIL or draws.size < 20:
        return float(np.quantile(draws, 1 - rate))
    powered = draws**power
    start = float(np.quantile(powered, TAIL))
    excess = powered[powered > start] - start
    scale = float(excess.mean()) if excess.size else 0.0
    return float((start + scale * np.log((1 - TAIL) / rate)) ** (1 / power))
