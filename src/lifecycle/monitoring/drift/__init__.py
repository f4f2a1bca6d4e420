"""Drift statistics: a small table of named functions, each comparing one column of a window
with the same column of the reference, and one result record per (feature, window, statistic).

The statistics are effect sizes -- how far apart two distributions are -- never a p-value, which
on a large sample calls any difference drift: Jensen-Shannon distance over categories (numbers in
quantile bins of the reference), Wasserstein distance of numbers in units of the reference's
standard deviation, PSI as an option; Kolmogorov-Smirnov is kept for comparison. Their alert
thresholds are learned from the reference (``drift_thresholds``).

Every statistic returns a number, never NaN: a constant column has a single bin, an empty or
all-missing side is a bin of its own (``(missing)``), and what could not be measured says so
in the record's ``note``. Add a statistic by writing a function ``(reference, current) -> (value, note)``
and listing it in ``STATISTICS`` with the kinds of column it suits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

MISSING = "(missing)"
EPSILON = 1e-4  # floor of a bin's share, so an empty bin gives a large but finite PSI
BINS = 10


class Result(NamedTuple):
    """One statistic of one feature in one window, against its threshold."""

    feature: str
    window: str
    statistic: str
    value: float
    threshold: float
    alert: bool
    rows: int
    note: str = ""


def _numeric_bins(reference: pd.Series, bins: int) -> np.ndarray:
    """Inner edges at the reference's quantiles (duplicates dropped: a constant column has none)."""
    values = pd.to_numeric(reference, errors="coerce").dropna().to_numpy(float)
    if values.size == 0:
        return np.array([])
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))


def _binned(values: pd.Series, edges: np.ndarray) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(float)
    labels = np.searchsorted(edges, numbers, side="right").astype(object)
    labels[np.isnan(numbers)] = MISSING
    return pd.Series(labels, dtype=object)


def _categories(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), MISSING).astype(str)


def _shares(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The share of each bin on both sides, over the union of bins, floored at ``EPSILON``."""
    ref, cur = reference.value_counts(normalize=True), current.value_counts(normalize=True)
    index = ref.index.union(cur.index)
    expected = ref.reindex(index, fill_value=0).to_numpy(float)
    actual = cur.reindex(index, fill_value=0).to_numpy(float)
    return np.maximum(expected, EPSILON), np.maximum(actual, EPSILON)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors: sum((a - e) * ln(a / e))."""
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_numeric(reference: pd.Series, current: pd.Series) -> tuple[float, str]:
    """PSI over ten quantile bins of the reference, plus a bin for missing values."""
    if current.empty:
        return 0.0, "no rows"
    edges = _numeric_bins(reference, BINS)
    return psi(*_shares(_binned(reference, edges), _binned(current, edges))), ""


def psi_categorical(reference: pd.Series, current: pd.Series) -> tuple[float, str]:
    """PSI over the categories (missing is a category; an unseen one gets a bin of its own)."""
    if current.empty:
        return 0.0, "no rows"
    return psi(*_shares(_categories(reference), _categories(current))), ""


def ks(reference: pd.Series, current: pd.Series) -> tuple[float, str]:
    """The Kolmogorov-Smirnov distance between the non-missing values (0 when a side has none)."""
    a = pd.to_numeric(reference, errors="coerce").dropna().to_numpy(float)
    b = pd.to_numeric(current, errors="coerce").dropna().to_numpy(float)
    if a.size == 0 or b.size == 0:
        return 0.0, "no values to compare on one side (missing values count in psi)"
    result = stats.ks_2samp(a, b)
    return float(result.statistic), f"p={result.pvalue:.2g}"


class Profile(NamedTuple):
    """What the effect-size statistics need of a reference column, computed once and reused per window."""

    numeric: bool
    edges: np.ndarray  # inner bin edges (numbers)
    shares: pd.Series  # the share of each category, missing values a category of their own (not numeric)
    bin_shares: np.ndarray  # the share of each bin, the last for missing values (numeric)
    quantiles: np.ndarray  # the non-missing numbers at ``QUANTILES`` (empty: none, or not numeric)
    scale: float  # their standard deviation
    first: float  # a value, to name a constant column
    sorted: np.ndarray = np.array([])  # the non-missing numbers, sorted (the null's resamples draw from them)


QUANTILES = (np.arange(2000) + 0.5) / 2000  # the grid the Wasserstein distance is integrated on


def profile(reference: pd.Series) -> Profile:
    """``reference``'s bins, shares and quantiles (see ``Profile``)."""
    if not _is_numeric(reference):
        return Profile(
            False,
            np.array([]),
            _categories(reference).value_counts(normalize=True),
            np.array([]),
            np.array([]),
            0.0,
            0.0,
        )
    edges = _numeric_bins(reference, BINS)
    values = pd.to_numeric(reference, errors="coerce").dropna().to_numpy(float)
    ordered = np.sort(values)
    return Profile(
        True,
        edges,
        pd.Series(dtype=float),
        _bin_shares(reference, edges),
        ordered[np.ceil(QUANTILES * values.size).astype(int) - 1] if values.size else np.array([]),
        float(values.std()) if values.size else 0.0,
        float(values[0]) if values.size else 0.0,
        ordered,
    )


def _numbers(values: pd.Series) -> np.ndarray:
    """As floats, missing as NaN (text that is not a number too)."""
    if _is_numeric(values):
        return values.to_numpy(float, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(float)


def _quantiles(values: np.ndarray) -> np.ndarray:
    """The empirical quantile function (inverse of the step CDF) at ``QUANTILES``; empty for no values."""
    if values.size == 0:
        return np.array([])
    return np.sort(values)[np.ceil(QUANTILES * values.size).astype(int) - 1]


def _bin_shares(values: pd.Series, edges: np.ndarray) -> np.ndarray:
    """The share of ``values`` in each bin between ``edges``, then the share missing."""
    numbers = _numbers(values)
    missing = np.isnan(numbers)
    counts = np.bincount(np.searchsorted(edges, numbers[~missing], side="right"), minlength=edges.size + 1)
    return np.r_[counts, missing.sum()] / max(numbers.size, 1)


def _profile(reference: pd.Series | Profile) -> Profile:
    return reference if isinstance(reference, Profile) else profile(reference)


def jensen_shannon(reference: pd.Series | Profile, current: pd.Series) -> tuple[float, str]:
    """Jensen-Shannon distance (base 2, in [0, 1]) between the shares of categories, or of ten quantile
    bins of the reference for numbers; missing values and unseen categories are bins of their own."""
    if current.empty:
        return 0.0, "no rows"
    ref = _profile(reference)
    if ref.numeric:
        q = _bin_shares(current, ref.edges)
        value = float(np.nan_to_num(distance.jensenshannon(ref.bin_shares, q, base=2)))
        return value, ("all values missing in this window" if q[-1] == 1.0 else "")
    shares_ref = ref.shares
    shares_cur = _categories(current).value_counts(normalize=True)
    index = shares_ref.index.union(shares_cur.index)
    p = shares_ref.reindex(index, fill_value=0).to_numpy(float)
    q = shares_cur.reindex(index, fill_value=0).to_numpy(float)
    value = float(np.nan_to_num(distance.jensenshannon(p, q, base=2)))
    notes = []
    unseen = shares_cur[~shares_cur.index.isin(shares_ref.index) & (shares_cur.index != MISSING)]
    if len(unseen):
        notes.append("unseen: " + ", ".join(f"{name} ({share:.0%})" for name, share in unseen.head(3).items()))
    if shares_cur.get(MISSING, 0.0) == 1.0:
        notes.append("all values missing in this window")
    return value, "; ".join(notes)


def wasserstein(reference: pd.Series | Profile, current: pd.Series) -> tuple[float, str]:
    """Wasserstein (earth mover's) distance between the non-missing numbers, in units of the
    reference's standard deviation (of the column's own units when the reference is constant).

    Integrated over 2,000 quantiles of each side: exact to a 2,000th of the distributions' mass, and
    one sort of the window's numbers per call, so a million-row window costs what a small one does.
    """
    ref = _profile(reference)
    b = _numbers(current)
    b = b[~np.isnan(b)]
    if ref.quantiles.size == 0 or b.size == 0:
        side = "this window" if ref.quantiles.size else "the reference"
        return 0.0, f"all values missing in {side}: no numbers to compare (jensen_shannon counts missing values)"
    value = np.mean(np.abs(ref.quantiles - _quantiles(b)))
    value /= ref.scale if ref.scale > 0 else 1.0
    note = "" if ref.scale > 0 else f"constant in the reference ({ref.first:g}): distance in the column's units"
    return float(value), note


def new_categories(reference: pd.Series, current: pd.Series) -> tuple[float, str]:
    """The share of the window's rows whose category never appears in the reference."""
    if current.empty:
        return 0.0, "no rows"
    seen = set(_categories(reference))
    labels = _categories(current)
    unseen = ~labels.isin(seen)
    names = sorted(labels[unseen].unique())
    return float(unseen.mean()), (f"new: {', '.join(names[:3])}" if names else "")


Statistic = Callable[[pd.Series, pd.Series], tuple[float, str]]
PROFILED = ("jensen_shannon", "wasserstein")  # take a ``Profile`` of the reference as well as the column
# name -> (function, the column kinds it suits). Thresholds come from params, by name.
STATISTICS: dict[str, tuple[Statistic, tuple[str, ...]]] = {
    "psi": (lambda r, c: (psi_numeric if _is_numeric(r) else psi_categorical)(r, c), ("numeric", "categorical")),
    "jensen_shannon": (jensen_shannon, ("numeric", "categorical")),
    "wasserstein": (wasserstein, ("numeric",)),
    "ks": (ks, ("numeric",)),
    "new_categories": (new_categories, ("categorical",)),
}


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def kind(values: pd.Series) -> str:
    return "numeric" if _is_numeric(values) else "categorical"


def table(results: list[Result]) -> pd.DataFrame:
    """Result records as a DataFrame (one row per record)."""
    return pd.DataFrame(results, columns=Result._fields)
