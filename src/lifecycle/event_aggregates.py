"""Phase 04: per-id aggregates of an events table, seen from the moment of prediction.

Only events strictly before the cutoff count, and the event types and values that get a
column of their own are also chosen from those events alone, so nothing that happens at
or after the cutoff (the label window) can change a feature. Everything is vectorised
over integer codes (``np.bincount``, ``np.minimum.at``): no Python loop runs per id, so a
million ids with tens of millions of events take seconds to minutes.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

FEATURES_FILE = "params/04_feature_engineering.yaml"
ROLES_FILE = "params/project.yaml"


def sanitise(name: object) -> str:
    """A column-name-safe form of ``name``: lowercase ASCII letters, digits and ``_``."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "blank"


def naive_times(values: pd.Series) -> pd.Series:
    """Datetimes without a time zone (time-zone-aware values are converted to UTC first)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values


def aggregate_events(events: pd.DataFrame, ids: pd.Index, *, id_column: str, time_column: str, type_column: str,
                     cutoff: pd.Timestamp, windows: list[int], breakdowns: list[str] = (), sums: list[str] = (),
                     max_values: int = 20) -> pd.DataFrame:
    """Counts, sums, recency and ratios of each id's events before ``cutoff``.

    Window ``w`` holds the events with ``cutoff - w days <= time < cutoff``. Columns:
    ``events_{w}d``; ``{type}_{w}d`` per event type; ``{col}_{value}_{w}d`` per value of
    each ``breakdowns`` column (missing values are not counted); ``{col}_sum_{w}d`` per
    ``sums`` column; ``days_since_last_event``, ``days_since_first_event`` and
    ``days_since_last_{type}`` (NaN when never); ``events_{w1}d_per_{w2}d`` for consecutive
    windows and ``{type}_share_{w}d`` in the longest window (0 when there are no events).
    Names are sanitised; values whose names coincide are counted together, and beyond the
    ``max_values`` most frequent values of a column the rest are counted as ``other``.

    Parameters
    ----------
    events : one row per event, with the id, time and type columns.
    ids : the ids to describe; every id gets a row (0 events when it has none), in this order.
    cutoff : the moment of prediction; events at or after it are ignored.
    windows : lengths in days of the look-back windows.

    Returns
    -------
    pd.DataFrame indexed by ``ids``.
    """
    _require(events, [id_column, time_column, type_column], "is not a column of the events table",
             f"fix events.time_column / events.type_column / id_column in {ROLES_FILE}")
    _require(events, breakdowns, "is in event_breakdowns but not in the events table",
             f"remove it from event_breakdowns in {FEATURES_FILE}")
    _require(events, sums, "is in event_sums but not in the events table",
             f"remove it from event_sums in {FEATURES_FILE}")
    for column in sums:
        if not pd.api.types.is_numeric_dtype(events[column]) or pd.api.types.is_bool_dtype(events[column]):
            raise ValueError(f"event_sums column '{column}' holds {events[column].dtype} values, not numbers; "
                             f"remove it from event_sums in {FEATURES_FILE} or list it in event_breakdowns")
    when = naive_times(events[time_column])
    if not pd.api.types.is_datetime64_any_dtype(when):
        raise ValueError(f"events column '{time_column}' holds {when.dtype} values, not dates; "
                         "02_data_preparation parses it: prepare the events before building features")
    ids = pd.Index(ids)
    unique = ids.unique()
    cutoff = pd.Timestamp(cutoff)
    position = unique.get_indexer(events[id_column])
    before = (when < cutoff).to_numpy()  # NaT compares False: undated events never count
    keep = before & (position >= 0)
    if before.any() and len(unique) and not keep.any() and events[id_column].dtype != ids.dtype:
        raise ValueError(f"no event matches an id: the events' '{id_column}' holds {events[id_column].dtype} "
                         f"values and the table's holds {ids.dtype}; give both the same type")
    position = position[keep]
    age = ((cutoff - when[keep]) / pd.Timedelta(days=1)).to_numpy(dtype="float64")
    n, windows = len(unique), sorted(set(windows))
    types, type_names = _codes(events.loc[keep, type_column], max_values)

    columns: dict[str, np.ndarray] = {}
    in_window = {w: age <= w for w in windows}
    for w, inside in in_window.items():
        columns[f"events_{w}d"] = np.bincount(position[inside], minlength=n)
    for w, inside in in_window.items():
        counts = _per_value(position[inside], types[inside], n, len(type_names))
        columns.update({f"{name}_{w}d": counts[:, j] for j, name in enumerate(type_names)})
    for column in breakdowns:
        values, names = _codes(events.loc[keep, column], max_values)
        prefix = sanitise(column)
        for w, inside in in_window.items():
            counts = _per_value(position[inside], values[inside], n, len(names))
            columns.update({f"{prefix}_{name}_{w}d": counts[:, j] for j, name in enumerate(names)})
    for column in sums:
        amounts = np.nan_to_num(events.loc[keep, column].to_numpy(dtype="float64", na_value=np.nan))
        for w, inside in in_window.items():
            columns[f"{sanitise(column)}_sum_{w}d"] = np.bincount(position[inside], weights=amounts[inside],
                                                                 minlength=n).astype("float64")
    columns["days_since_last_event"] = _extreme(np.minimum, position, age, n)
    columns["days_since_first_event"] = _extreme(np.maximum, position, age, n)
    typed = types >= 0
    last = _extreme(np.minimum, position[typed] * len(type_names) + types[typed], age[typed],
                    n * len(type_names)).reshape(n, len(type_names))
    columns.update({f"days_since_last_{name}": last[:, j] for j, name in enumerate(type_names)})
    for short, long in zip(windows, windows[1:]):
        columns[f"events_{short}d_per_{long}d"] = _ratio(columns[f"events_{short}d"], columns[f"events_{long}d"])
    if windows:
        longest = windows[-1]
        for name in type_names:
            columns[f"{name}_share_{longest}d"] = _ratio(columns[f"{name}_{longest}d"], columns[f"events_{longest}d"])
    _refuse_clashes(list(columns))
    result = pd.DataFrame(columns, index=unique)
    return result if ids.equals(unique) else result.reindex(ids)


def _require(events: pd.DataFrame, columns, problem: str, fix: str) -> None:
    for column in columns:
        if column not in events.columns:
            listed = ", ".join(map(str, events.columns))
            raise ValueError(f"'{column}' {problem} (its columns: {listed}); {fix}")


def _codes(values: pd.Series, max_values: int) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1 for missing) and the sorted sanitised names they stand for."""
    raw, uniques = pd.factorize(values)
    names = pd.Index([sanitise(u) for u in uniques], dtype=object)
    frequency = pd.Series(np.bincount(raw[raw >= 0], minlength=len(uniques)), index=names).groupby(level=0).sum()
    if len(frequency) > max_values:
        ranked = frequency.sort_index().sort_values(ascending=False, kind="stable")
        frequency = ranked.iloc[:max_values]
        names = names.where(names.isin(frequency.index), "other")
    final = sorted(set(names))
    lookup = pd.Index(final).get_indexer(names)
    if not final:  # every value missing
        return np.full(len(raw), -1), final
    return np.where(raw >= 0, lookup[raw], -1), final


def _per_value(position: np.ndarray, codes: np.ndarray, n: int, k: int) -> np.ndarray:
    present = codes >= 0
    return np.bincount(position[present] * k + codes[present], minlength=n * k).reshape(n, k)


def _extreme(ufunc: np.ufunc, index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    start = np.inf if ufunc is np.minimum else -np.inf
    result = np.full(n, start)
    ufunc.at(result, index, values)
    result[np.isinf(result)] = np.nan
    return result


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def _refuse_clashes(names: list[str]) -> None:
    counts = pd.Series(names).value_counts()
    clashes = sorted(counts.index[counts > 1])
    if clashes:
        raise ValueError(f"two event aggregates would share the name(s) {', '.join(clashes)}: an event type or "
                         "value is spelled like another aggregate; rename it in the events table")
