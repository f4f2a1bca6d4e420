"""Phase 04: the feature table, its schema, the preprocessing pipeline and the splits.

Features describe each row as of ``labels.cutoff``: dates become calendar parts and ages,
events become counts and recencies from before the cutoff only. The preprocessing
pipeline (``preprocessing``, its names re-exported here) is built from the schema, so it
follows the data rather than a hand-kept list, and is made of scikit-learn parts only, so a
saved model loads without trusting code.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lifecycle.core.settings import FeatureEngineering, ProjectParams
from lifecycle.data.events import FEATURES_FILE, aggregate_events, naive_times, sanitise
from lifecycle.data.events_scale import aggregate_with
from lifecycle.data.preprocessing import describe_preprocessor, preprocessor

__all__ = [
    "aggregate_events",
    "build_features",
    "describe_preprocessor",
    "expand_dates",
    "feature_schema",
    "preprocessor",
    "align",
]

NEAR_UNIQUE_SHARE = (
    0.5  # a text column with a distinct value on at least this share of its rows is a name, not a category
)


def expand_dates(
    table: pd.DataFrame, columns: list[str], reference: pd.Timestamp, holiday_country: str | None
) -> pd.DataFrame:
    """Calendar parts and ages of date columns, as of ``reference``.

    For each column ``c``: ``c_year``, ``c_month``, ``c_day_of_week`` (Monday = 0) and
    ``c_days_since`` (``reference - c`` in days). With a ``holiday_country``,
    ``c_days_to_holiday`` and ``c_days_since_holiday`` count whole days to the next and
    since the last public holiday of that country; both are 0 on a holiday. Missing dates
    give NaN.

    Returns
    -------
    pd.DataFrame with the new columns only, on ``table``'s index.
    """
    calendar = _holidays(holiday_country, table, columns) if holiday_country else None
    reference = pd.Timestamp(reference)
    reference = reference.tz_convert("UTC").tz_localize(None) if reference.tz else reference
    out = {}
    for column in columns:
        when = naive_times(table[column])
        if not pd.api.types.is_datetime64_any_dtype(when):
            raise ValueError(f"column '{column}' holds {when.dtype} values, not dates; only date columns expand")
        name = sanitise(column)
        out[f"{name}_year"] = when.dt.year.astype("float64")
        out[f"{name}_month"] = when.dt.month.astype("float64")
        out[f"{name}_day_of_week"] = when.dt.day_of_week.astype("float64")
        out[f"{name}_days_since"] = (reference - when) / pd.Timedelta(days=1)
        if calendar is not None:
            day = when.to_numpy(dtype="datetime64[D]")  # NaT stays NaT
            out[f"{name}_days_to_holiday"] = _days_between(day, calendar, "next")
            out[f"{name}_days_since_holiday"] = _days_between(day, calendar, "previous")
    return pd.DataFrame(out, index=table.index)


def _holidays(country: str, table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The sorted public holidays of ``country`` over the years in the data, one either side."""
    import holidays

    years = set()
    for column in columns:
        seen = naive_times(table[column])
        if pd.api.types.is_datetime64_any_dtype(seen):
            years |= {y + d for y in seen.dt.year.dropna().unique().astype(int) for d in (-1, 0, 1)}
    try:
        days = holidays.country_holidays(country.upper(), years=sorted(years))
    except NotImplementedError:
        raise ValueError(
            f"holiday_country '{country}' is not a country the holidays package knows; set it in "
            f"{FEATURES_FILE} to a two-letter ISO code such as US, GB or DE, or to null to skip "
            "holiday features"
        ) from None
    return np.array(sorted(days), dtype="datetime64[D]")


def _days_between(day: np.ndarray, calendar: np.ndarray, direction: str) -> np.ndarray:
    side = "left" if direction == "next" else "right"
    index = np.searchsorted(calendar, day, side=side) - (direction == "previous")
    inside = ~np.isnat(day) & (index >= 0) & (index < len(calendar))
    result = np.full(len(day), np.nan)
    gap = calendar[index[inside]] - day[inside]
    result[inside] = np.abs(gap.astype("int64"))
    return result


def built(feature_table: pd.DataFrame, schema: pd.DataFrame, table: pd.DataFrame, events) -> str:
    """What 04 built, in a sentence; without an events table, that there are no event aggregates."""
    said = f"{len(feature_table):,} rows, {len(schema)} model inputs built from {table.shape[1]} prepared columns."
    names = feature_table.attrs.get("near_unique") or []
    if names:
        said += (
            f" Left out of the features: {', '.join(names)} (a distinct text on most rows, like a name: "
            "neither an id nor a category a model can learn from)."
        )
    if events is None:
        said += (
            " No events table (source.events_path), so no event aggregates: windows_days, event_breakdowns "
            "and event_sums do not apply."
        )
    return said


def build_features(
    table: pd.DataFrame, events: pd.DataFrame | str | Path | None, params: FeatureEngineering
) -> pd.DataFrame:
    """The feature table: one row per row of ``table``, as of ``params.labels.cutoff``.

    Keeps the id, target and raw time column (the out-of-time split needs it) and the
    other columns; replaces every date column by its expansion (the time column is kept
    and expanded too); joins the event aggregates by id when there are events (a DataFrame,
    or Parquet on disk aggregated by the engine ``params.compute`` calls for). Text and
    categories become ``category`` columns of strings, true/false columns ``boolean``,
    durations numbers of days; Python dates in a text column count as dates.
    """
    roles = [c for c in (params.id_column, params.target, params.time_column) if c]
    for column in roles:
        if column not in table.columns:
            raise ValueError(
                f"column '{column}' (a role in params/project.yaml) is not in the table; "
                "build features from the table 02_data_preparation wrote"
            )
    keys = {params.id_column, params.target}
    as_dates = {c: pd.to_datetime(table[c]) for c in table.columns if c not in keys and _holds_dates(table[c])}
    table = table.assign(**as_dates)
    dates = [c for c in table.columns if c not in keys and pd.api.types.is_datetime64_any_dtype(table[c])]
    names = near_unique(table, set(roles) | set(dates))
    kept = table.drop(columns=[c for c in dates if c != params.time_column] + names)
    for column in kept.columns:
        if column not in roles:
            kept[column] = _model_ready(kept[column])
    parts = [kept, expand_dates(table, dates, pd.Timestamp(params.labels.cutoff), params.holiday_country)]
    if events is not None:
        if not params.id_column:
            raise ValueError("an events table needs id_column in params/project.yaml to join it to the table")
        options = dict(
            id_column=params.id_column,
            time_column=params.events.time_column,
            type_column=params.events.type_column,
            cutoff=pd.Timestamp(params.labels.cutoff),
            windows=params.windows_days,
            breakdowns=params.event_breakdowns,
            sums=params.event_sums,
        )
        ids = pd.Index(table[params.id_column])
        if isinstance(events, pd.DataFrame):
            aggregates = aggregate_events(events, ids, **options)
        else:
            aggregates = aggregate_with(params.compute, events, ids, **options)
        parts.append(aggregates.set_axis(table.index))
    features = pd.concat(parts, axis=1)
    features.attrs["near_unique"] = names
    clashes = sorted(set(features.columns[features.columns.duplicated()].map(str)))
    if clashes:
        raise ValueError(
            f"the table already has column(s) named like generated features: {', '.join(clashes)}; "
            "rename them in the source table"
        )
    return features


def near_unique(table: pd.DataFrame, skip: set[str]) -> list[str]:
    """Text columns with a distinct value on most rows (a name, a free-text note): neither an id nor a category
    a model can learn from, so they are left out of the features."""
    found = []
    for column in table.columns:
        values = table[column].dropna()
        text = (
            pd.api.types.is_string_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype)
        ) and not _holds_dates(values)
        if column not in skip and text and len(values) >= 20 and values.nunique() >= NEAR_UNIQUE_SHARE * len(values):
            found.append(column)
    return found


def _holds_dates(values: pd.Series) -> bool:
    """Python dates or datetimes in an object column (as some SQL drivers return them)."""
    return values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("date", "datetime")


def _model_ready(values: pd.Series) -> pd.Series:
    """One column in a form the preprocessor takes: numbers, booleans or string categories."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")  # the imputer takes the nullable type, not numpy's bool
    if pd.api.types.is_timedelta64_dtype(values):
        return values / pd.Timedelta(days=1)
    if pd.api.types.is_numeric_dtype(values):
        return values
    if len(values.dropna()) and pd.api.types.infer_dtype(values, skipna=True) == "boolean":
        return values.astype("boolean")
    return values.astype("str").astype("category")  # one type per column; missing stays NaN


def _roles(params: ProjectParams) -> set[str]:
    return {c for c in (params.id_column, params.target, params.time_column) if c}


def feature_schema(features: pd.DataFrame, params: FeatureEngineering) -> pd.DataFrame:
    """One row per model input (every column but the id, target and time column).

    ``kind`` is numeric, boolean, categorical, or high_cardinality (a categorical with more
    than ``params.max_onehot_categories`` values); with ``n_unique``, the ``missing`` share,
    the range of numeric columns and the categories of categorical ones (the service
    validates requests against them). Compute it on the training split, so it knows only
    what the model will.
    """
    rows = {}
    for column in [c for c in features.columns if c not in _roles(params)]:
        values = features[column]
        if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
            raise ValueError(
                f"column '{column}' is a date or duration; pass the output of build_features, which expands them"
            )
        n_unique = int(values.nunique())
        if pd.api.types.is_bool_dtype(values):
            kind = "boolean"
        elif pd.api.types.is_numeric_dtype(values):
            kind = "numeric"
        else:
            kind = "high_cardinality" if n_unique > params.max_onehot_categories else "categorical"
        low = high = categories = None
        if kind == "numeric" and values.notna().any():
            low, high = float(values.min()), float(values.max())
        elif kind == "categorical":
            categories = sorted(str(v) for v in values.dropna().unique())
        rows[column] = (kind, str(values.dtype), n_unique, round(float(values.isna().mean()), 4), low, high, categories)
    columns = ["kind", "dtype", "n_unique", "missing", "min", "max", "categories"]
    schema = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    return schema.rename_axis("column")


def align(frame: pd.DataFrame, schema: pd.DataFrame) -> pd.DataFrame:
    """New rows in the training layout: the schema's columns in its order.

    An event aggregate the new data never produced (a type seen in training, absent now)
    takes its no-event value: 0 for counts, sums, ratios and shares, missing for recency.
    Any other absent column is an error naming it.
    """
    if frame.columns.equals(schema.index) and all(
        frame[c].dtype == "boolean" for c in schema.index[schema["kind"].to_numpy() == "boolean"]
    ):
        return frame  # already laid out (the service's frames are)
    kinds = schema["kind"].to_dict()
    flags = [c for c, kind in kinds.items() if kind == "boolean"]
    missing = [c for c in kinds if c not in frame.columns]
    filled = {c: _no_event_value(c) for c in missing if kinds[c] == "numeric"}
    absent = [c for c in missing if c not in filled or filled[c] is None]
    if absent:
        raise ValueError(
            f"the data lacks {len(absent)} model input(s): {', '.join(absent[:10])}; "
            "it must have every column the model was trained on"
        )
    aligned = (frame.assign(**filled) if filled else frame)[list(kinds)]
    return aligned.astype({c: "boolean" for c in flags}) if flags else aligned


def _no_event_value(column: str) -> float | None:
    if column.startswith("days_since_last_"):
        return np.nan
    if re.search(r"_\d+d$", column):  # counts, sums, ratios (a_7d_per_30d) and shares (x_share_90d)
        return 0.0
    return None
