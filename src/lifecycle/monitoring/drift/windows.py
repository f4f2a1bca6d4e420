"""The drift statistics of every window at once: one pass over a column for all its windows.

A monitoring run compares hundreds of windows with the same reference. Rather than slicing the table
per window, each column is binned (or sorted) once, and the bins' counts of every window come from one
``np.bincount`` over (window, bin); the Jensen-Shannon distance and the Wasserstein distance are then
computed for all windows as arrays. The values are those of ``drift.jensen_shannon`` and
``drift.wasserstein`` on each window (to float rounding); other statistics are computed window by window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import rel_entr

from lifecycle.monitoring import drift
from lifecycle.monitoring.drift import MISSING, QUANTILES, Profile


def _jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) between ``p`` and each row of ``q``, as ``scipy.spatial.distance``."""
    m = (p + q) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.sqrt(np.sum(rel_entr(p, m) + rel_entr(q, m), axis=1) / np.log(2) / 2)
    return np.nan_to_num(value)


def _counts(codes: np.ndarray, bins: np.ndarray, windows: int, width: int) -> np.ndarray:
    """windows x width: how many rows of each window fall in each bin."""
    return np.bincount(codes * width + bins, minlength=windows * width).reshape(windows, width).astype(float)


def jensen_shannon(ref: Profile, values: pd.Series, codes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, list]:
    """``drift.jensen_shannon`` of each window (``codes``: each row's window; ``rows``: each window's rows)."""
    windows, size = len(rows), np.maximum(rows, 1)[:, None]
    if ref.numeric:
        numbers = drift._numbers(values)
        missing = np.isnan(numbers)
        bins = np.where(
            missing, ref.edges.size + 1, np.searchsorted(ref.edges, np.where(missing, 0, numbers), side="right")
        )
        q = _counts(codes, bins, windows, ref.edges.size + 2) / size
        notes = np.where(q[:, -1] == 1.0, "all values missing in this window", "")
        return _jensen_shannon(ref.bin_shares, q), list(notes)
    found, names = pd.factorize(drift._categories(values))
    names = pd.Index(names.astype(str))
    index = ref.shares.index.union(names)
    p = ref.shares.reindex(index, fill_value=0).to_numpy(float)
    q_names = _counts(codes, found, windows, len(names)) / size
    q = np.zeros((windows, len(index)))
    q[:, index.get_indexer(names)] = q_names
    unseen = ~names.isin(ref.shares.index) & (names != MISSING)
    missing = names == MISSING
    notes = []
    for w in range(windows):
        said = []
        shown = [k for k in np.argsort(-q_names[w], kind="stable") if unseen[k] and q_names[w, k] > 0][:3]
        if shown:
            said.append("unseen: " + ", ".join(f"{names[k]} ({q_names[w, k]:.0%})" for k in shown))
        if missing.any() and q_names[w, missing][0] == 1.0:
            said.append("all values missing in this window")
        notes.append("; ".join(said))
    return _jensen_shannon(p, q), notes


def wasserstein(ref: Profile, values: pd.Series, codes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, list]:
    """``drift.wasserstein`` of each window: every window's numbers sorted at once (by value, then stably by window)."""
    numbers = drift._numbers(values)
    valid = ~np.isnan(numbers)
    numbers, codes = numbers[valid], codes[valid]
    counts = np.bincount(codes, minlength=len(rows))
    by_value = np.argsort(numbers)
    small = codes.astype(np.int16 if len(rows) < 2**15 else np.int64)  # a stable sort of 16-bit keys is a radix sort
    ordered = numbers[by_value[np.argsort(small[by_value], kind="stable")]]
    starts = np.cumsum(counts) - counts
    some = counts > 0
    value = np.zeros(len(rows))
    if ref.quantiles.size and some.any():
        at = starts[some, None] + np.ceil(QUANTILES[None, :] * counts[some, None]).astype(int) - 1
        value[some] = np.mean(np.abs(ref.quantiles[None, :] - ordered[at]), axis=1)
        value /= ref.scale if ref.scale > 0 else 1.0
    constant = "" if ref.scale > 0 else f"constant in the reference ({ref.first:g}): distance in the column's units"
    side = "this window" if ref.quantiles.size else "the reference"
    empty = f"all values missing in {side}: no numbers to compare (jensen_shannon counts missing values)"
    return value, [constant if ref.quantiles.size and has else empty for has in some]


VECTORIZED = {"jensen_shannon": jensen_shannon, "wasserstein": wasserstein}


def statistic(
    name: str, baseline, feature: str, values: pd.Series, codes: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, list]:
    """One statistic of one feature for every window: vectorized where it can be, else window by window."""
    if name in VECTORIZED:
        return VECTORIZED[name](baseline.profiles[feature], values, codes, rows)
    function, _ = drift.STATISTICS[name]
    parts = np.split(np.argsort(codes, kind="stable"), np.cumsum(rows)[:-1])
    found = [function(baseline.reference[feature], values.iloc[part].reset_index(drop=True)) for part in parts]
    return np.array([v for v, _ in found], float), [note for _, note in found]
