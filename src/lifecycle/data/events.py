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
from typing import NamedTuple

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


class Plan(NamedTuple):
    """The aggregate columns to build: the windows, and the names of the values that get their own."""

    windows: list[int]
    types: list[str]
    breakdowns: dict[str, list[str]]  # events column -> its value names
    sums: list[str]

    def counted(self) -> list[str]:
        """Columns that add up across parts of the events (counts and sums)."""
        names = [f"events_{w}d" for w in self.windows]
        names += [f"{t}_{w}d" for w in self.windows for t in self.types]
        names += [
            f"{sanitise(c)}_{v}_{w}d" for c, values in self.breakdowns.items() for w in self.windows for v in values
        ]
        return names + [f"{sanitise(c)}_sum_{w}d" for c in self.sums for w in self.windows]

    def earliest(self) -> list[str]:
        """Columns that take the minimum across parts (days since the last event)."""
        return ["days_since_last_event", *(f"days_since_last_{t}" for t in self.types)]

    def partial(self) -> dict[str, str]:
        """Every partial column and how parts combine: ``sum``, ``min`` or ``max``."""
        return {
            **dict.fromkeys(self.counted(), "sum"),
            **dict.fromkeys(self.earliest(), "min"),
            "days_since_first_event": "max",
        }

    def columns(self) -> list[str]:
        """The output columns, in order."""
        w = self.windows
        names = self.counted() + ["days_since_last_event", "days_since_first_event"]
        names += [f"days_since_last_{t}" for t in self.types]
        names += [f"events_{short}d_per_{long}d" for short, long in zip(w, w[1:])]
        return names + ([f"{t}_share_{w[-1]}d" for t in self.types] if w else [])


def aggregate_events(
    events: pd.DataFrame,
    ids: pd.Index,
    *,
    id_column: str,
    time_column: str,
    type_column: str,
    cutoff: pd.Timestamp,
    windows: list[int],
    breakdowns: list[str] = (),
    sums: list[str] = (),
    max_values: int = 20,
) -> pd.DataFrame:
    """Counts, sums, recency and ratios of each id's events before ``cutoff``.

    Window ``w`` holds the events with ``cutoff - w days <= time < cutoff``. Columns:
    ``events_{w}d``; ``{type}_{w}d`` per event type; ``{col}_{value}_{w}d`` per value of
    each ``breakdowns`` column (missing values are not counted); ``{col}_sum_{w}d`` per
    ``sums`` column; ``days_since_last_event``, ``days_since_first_event`` and
    ``days_since_last_{type}`` (NaN when never); ``events_{w1}d_per_{w2}d`` for consecutive
    windows and ``{type}_share_{w}d`` in the longest window (0 when there are no events).
    Names are sanitised; values whose names coincide are counted together, and beyond the
    ``max_values`` most frequent values of a column the rest are counted as ``other``.
    ``lifecycle.event_engines`` computes the same columns from Parquet with DuckDB or Dask.

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
    check_columns(events, id_column, time_column, type_column, breakdowns, sums)
    when = naive_times(events[time_column])
    ids = pd.Index(ids)
    unique = ids.unique()
    cutoff = pd.Timestamp(cutoff)
    position, keep = _counted(events[id_column], (when < cutoff).to_numpy(), ids, unique)
    kept = events.loc[keep]
    types, type_names = _codes(kept[type_column], max_values)
    values = {column: _codes(kept[column], max_values) for column in breakdowns}
    plan = Plan(sorted(set(windows)), type_names, {c: names for c, (_, names) in values.items()}, list(sums))
    refuse_clashes(plan)
    columns = partials(
        plan,
        position[keep],
        ages(when[keep], cutoff),
        types,
        {c: codes for c, (codes, _) in values.items()},
        {c: kept[c].to_numpy(dtype="float64", na_value=np.nan) for c in sums},
        len(unique),
    )
    result = finish(pd.DataFrame(columns), plan, unique)
    return result if ids.equals(unique) else result.reindex(ids)


def _counted(event_ids: pd.Series, before: np.ndarray, ids: pd.Index, unique: pd.Index) -> tuple:
    """Each event's position among the ``unique`` ids, and whether it counts: dated ``before`` the cutoff (NaT
    compares False: undated events never count) and of an id described. Refuses ids of another type."""
    position = unique.get_indexer(event_ids)
    keep = before & (position >= 0)
    if before.any() and len(unique) and not keep.any() and event_ids.dtype != ids.dtype:
        raise ValueError(
            f"no event matches an id: the events' '{event_ids.name}' holds {event_ids.dtype} "
            f"values and the table's holds {ids.dtype}; give both the same type"
        )
    return position, keep


def check_columns(events: pd.DataFrame, id_column: str, time_column: str, type_column: str, breakdowns, sums) -> None:
    """Refuse an events table (or an empty frame of its schema) that lacks a column or has the wrong types."""
    _require(
        events,
        [id_column, time_column, type_column],
        "is not a column of the events table",
        f"fix events.time_column / events.type_column / id_column in {ROLES_FILE}",
    )
    _require(
        events,
        breakdowns,
        "is in event_breakdowns but not in the events table",
        f"remove it from event_breakdowns in {FEATURES_FILE}",
    )
    _require(
        events, sums, "is in event_sums but not in the events table", f"remove it from event_sums in {FEATURES_FILE}"
    )
    for column in sums:
        if not pd.api.types.is_numeric_dtype(events[column]) or pd.api.types.is_bool_dtype(events[column]):
            raise ValueError(
                f"event_sums column '{column}' holds {events[column].dtype} values, not numbers; "
                f"remove it from event_sums in {FEATURES_FILE} or list it in event_breakdowns"
            )
    when = naive_times(events[time_column])
    if not pd.api.types.is_datetime64_any_dtype(when):
        raise ValueError(
            f"events column '{time_column}' holds {when.dtype} values, not dates; "
            "02_data_preparation parses it: prepare the events before building features"
        )


def ages(when: pd.Series, cutoff: pd.Timestamp) -> np.ndarray:
    """Days from each time to the cutoff, as float64 (the same division in every engine)."""
    return ((cutoff - when) / pd.Timedelta(days=1)).to_numpy(dtype="float64")


def partials(
    plan: Plan,
    position: np.ndarray,
    age: np.ndarray,
    types: np.ndarray,
    values: dict[str, np.ndarray],
    amounts: dict[str, np.ndarray],
    n: int,
) -> dict[str, np.ndarray]:
    """The ``plan.partial()`` columns for ids ``0..n-1`` from their kept events (NaN recency when none).

    ``types`` and each ``values[column]`` are codes into the plan's names (-1: missing).
    Parts of the events give parts that combine exactly by sum, min and max.
    """
    columns: dict[str, np.ndarray] = {}
    in_window = {w: age <= w for w in plan.windows}
    for w, inside in in_window.items():
        columns[f"events_{w}d"] = np.bincount(position[inside], minlength=n)
    for w, inside in in_window.items():
        counts = _per_value(position[inside], types[inside], n, len(plan.types))
        columns.update({f"{name}_{w}d": counts[:, j] for j, name in enumerate(plan.types)})
    for column, names in plan.breakdowns.items():
        codes, prefix = values[column], sanitise(column)
        for w, inside in in_window.items():
            counts = _per_value(position[inside], codes[inside], n, len(names))
            columns.update({f"{prefix}_{name}_{w}d": counts[:, j] for j, name in enumerate(names)})
    for column in plan.sums:
        weights = np.nan_to_num(amounts[column])
        for w, inside in in_window.items():
            columns[f"{sanitise(column)}_sum_{w}d"] = np.bincount(
                position[inside], weights=weights[inside], minlength=n
            ).astype("float64")
    columns["days_since_last_event"] = _extreme(np.minimum, position, age, n)
    columns["days_since_first_event"] = _extreme(np.maximum, position, age, n)
    k = len(plan.types)
    typed = types >= 0
    last = _extreme(np.minimum, position[typed] * k + types[typed], age[typed], n * k).reshape(n, k)
    columns.update({f"days_since_last_{name}": last[:, j] for j, name in enumerate(plan.types)})
    return columns


def finish(parts: pd.DataFrame, plan: Plan, unique: pd.Index) -> pd.DataFrame:
    """The output columns for ``unique`` from combined partials indexed by position (0..n-1; rows may be missing)."""
    n = len(unique)
    if len(parts) != n or not parts.index.equals(pd.RangeIndex(n)):
        parts = parts.reindex(pd.RangeIndex(n))
        counted = plan.counted()
        parts[counted] = parts[counted].fillna(0)
    columns = {name: parts[name].to_numpy() for name in plan.partial()}
    for name in plan.counted():  # counts are whole numbers in every engine; sums are floats
        columns[name] = columns[name].astype("float64" if "_sum_" in name else "int64")
    windows = plan.windows
    for short, long in zip(windows, windows[1:]):
        columns[f"events_{short}d_per_{long}d"] = _ratio(columns[f"events_{short}d"], columns[f"events_{long}d"])
    if windows:
        longest = windows[-1]
        for name in plan.types:
            columns[f"{name}_share_{longest}d"] = _ratio(columns[f"{name}_{longest}d"], columns[f"events_{longest}d"])
    return pd.DataFrame({name: columns[name] for name in plan.columns()}, index=unique)


def _require(events: pd.DataFrame, columns, problem: str, fix: str) -> None:
    for column in columns:
        if column not in events.columns:
            listed = ", ".join(map(str, events.columns))
            raise ValueError(f"'{column}' {problem} (its columns: {listed}); {fix}")


def _codes(values: pd.Series, max_values: int) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1 for missing) and the sorted sanitised names they stand for."""
    raw, uniques = pd.factorize(values)
    lookup, final = vocabulary(uniques, np.bincount(raw[raw >= 0], minlength=len(uniques)), max_values)
    if not final:  # every value missing
        return np.full(len(raw), -1), final
    return np.where(raw >= 0, lookup[raw], -1), final


def vocabulary(uniques, counts: np.ndarray, max_values: int) -> tuple[np.ndarray, list[str]]:
    """For each distinct raw value seen ``counts`` times: its code into the sorted names returned.

    Names are sanitised; beyond the ``max_values`` most frequent names (ties by name) the
    rest become ``other``. The same counts give the same codes in every engine.
    """
    names = pd.Index([sanitise(u) for u in uniques], dtype=object)
    frequency = pd.Series(np.asarray(counts, dtype="int64"), index=names).groupby(level=0).sum()
    if len(frequency) > max_values:
        ranked = frequency.sort_index().sort_values(ascending=False, kind="stable")
        frequency = ranked.iloc[:max_values]
        names = names.where(names.isin(frequency.index), "other")
    final = sorted(set(names))
    return pd.Index(final).get_indexer(names), final


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


def refuse_clashes(plan: Plan) -> None:
    counts = pd.Series(plan.columns()).value_counts()
    clashes = sorted(counts.index[counts > 1])
    if clashes:
        raise ValueError(
            f"two event aggregates would share the name(s) {', '.join(clashes)}: an event type or "
            "value is spelled like another aggregate; rename it in the events table"
        )
