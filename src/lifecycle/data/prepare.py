"""Phase 02: clean the raw table, make the label when the source has none, and keep
every rejected row aside with its reason.

Each cleaning step returns the fixed table and a line for the report, so the notebook
can show exactly what changed; nothing is dropped without a row saying why. The fixes of
one column (dates and numbers written as text, categories' spellings) are ``column_fixes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from lifecycle.core import files, paths
from lifecycle.core.settings import ProjectParams
from lifecycle.data.column_fixes import fix_column, normalised_categories, read_as_dates
from lifecycle.data.sources import Dataset, SourceError

__all__ = [
    "InvalidData",
    "Prepared",
    "events_file",
    "make_labels",
    "normalised_categories",
    "prepare",
    "read_as_dates",
    "read_prepared",
    "read_rules",
    "require_valid",
    "validate",
    "write",
]

TABLE = paths.INTERIM / "table.parquet"
EVENTS = paths.INTERIM / "events.parquet"
REJECTED = paths.INTERIM / "rejected.parquet"
REPORT = paths.REPORTS / "preparation.json"


REJECT_REASONS = ("missing target", "missing id", "id appears on rows that disagree")


class Prepared(NamedTuple):
    table: pd.DataFrame
    events: pd.DataFrame | None
    rejected: pd.DataFrame  # the rejected rows of the main table, with a `reason` column
    report: pd.DataFrame  # one line per fix: step, column, rows affected, what was done


def make_labels(dataset: Dataset, params: ProjectParams) -> pd.Series:
    """The target made from events: 1 when an id has a ``labels.event_type`` event within
    ``labels.window_days`` after ``labels.cutoff``, else 0. Indexed by id."""
    table, events = dataset
    if params.target in table.columns:
        return table.set_index(params.id_column)[params.target] if params.id_column else table[params.target]
    if params.task != "binary":
        raise SourceError(
            f"target '{params.target}' is not in the table, and making it from events works for task 'binary' "
            f"only (task is '{params.task}'); add the target column to your table"
        )
    rule, roles = params.labels, params.events
    cutoff = pd.Timestamp(rule.cutoff)
    end = cutoff + pd.Timedelta(days=rule.window_days)
    when = pd.to_datetime(events[roles.time_column], errors="coerce")
    kind = normalised_categories(events[roles.type_column])
    hits = events.loc[(kind == rule.event_type.casefold()) & (when > cutoff) & (when <= end), params.id_column]
    ids = pd.Index(table[params.id_column].dropna().unique(), name=params.id_column)
    return pd.Series(ids.isin(hits.unique()).astype("int64"), index=ids, name=params.target)


def prepare(
    dataset: Dataset,
    params: ProjectParams,
    valid_ranges: dict[str, tuple[float, float]],
    numeric_text_share: float = 0.9,
) -> Prepared:
    """Clean the main table and the events; return them with the rejected rows and a report."""
    table, events = dataset
    notes: list[tuple[str, str, int, str]] = []
    protected = {c for c in (params.id_column, params.target) if c}

    table = table.copy()
    for column in table.columns:
        if column in protected:
            continue
        table[column], note = fix_column(table[column], column, column == params.time_column, numeric_text_share)
        if note:
            notes.append(note)
    # After normalising, so rows that differed only in spelling count as the same row.
    table, removed = _drop_exact_duplicates(table)
    notes.append(("duplicates", "(all)", removed, "exact duplicate rows removed"))
    for column, (low, high) in valid_ranges.items():
        if column not in table.columns:
            raise SourceError(
                f"valid_ranges names column '{column}', which the table does not have; "
                "fix params/02_data_preparation.yaml"
            )
        values = pd.to_numeric(table[column], errors="coerce")
        outside = values.notna() & ~values.between(low, high)
        table.loc[outside, column] = np.nan
        notes.append(("outliers", column, int(outside.sum()), f"values outside [{low:g}, {high:g}] set to missing"))

    if params.target not in table.columns:
        labels = make_labels(Dataset(table, events), params)
        table = table.merge(labels.rename(params.target).reset_index(), on=params.id_column, how="left")
        notes.append(
            (
                "label",
                params.target,
                int(labels.sum()),
                f"positives made from '{params.labels.event_type}' events in the {params.labels.window_days} "
                "days after the cutoff",
            )
        )
    table, rejected = _reject(table, params)
    counts = rejected["reason"].value_counts()
    for reason in REJECT_REASONS:
        notes.append(("rejected", "(rows)", int(counts.get(reason, 0)), f"rows set aside: {reason}"))
    if events is not None:
        events, event_notes = _clean_events(events, params, set(table[params.id_column]))
        notes += event_notes
    report = pd.DataFrame(notes, columns=["step", "column", "rows", "action"])
    return Prepared(table.reset_index(drop=True), events, rejected.reset_index(drop=True), report)


def _drop_exact_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    duplicated = frame.duplicated()
    return frame.loc[~duplicated].copy(), int(duplicated.sum())


def _reject(table: pd.DataFrame, params: ProjectParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows that cannot be used go aside with a reason, never silently away."""
    reasons = pd.Series(pd.NA, index=table.index, dtype="string")
    reasons[table[params.target].isna()] = "missing target"
    if params.id_column:
        ids = table[params.id_column]
        reasons[ids.isna()] = "missing id"
        conflicting = ids.notna() & ids.duplicated(keep=False)
        reasons[conflicting & reasons.isna()] = "id appears on rows that disagree"
    bad = reasons.notna()
    return table.loc[~bad].copy(), table.loc[bad].assign(reason=reasons[bad].astype(str))


def _clean_events(events: pd.DataFrame, params: ProjectParams, ids: set):
    roles = params.events
    events, removed = _drop_exact_duplicates(events)
    notes = [("duplicates", "events", removed, "exact duplicate events removed")]
    when = pd.to_datetime(events[roles.time_column], errors="coerce")
    events[roles.time_column] = when
    events[roles.type_column] = normalised_categories(events[roles.type_column])
    unusable = when.isna() | ~events[params.id_column].isin(ids)
    notes.append(("rejected", "events", int(unusable.sum()), "events with no readable time or no matching id"))
    events = events.loc[~unusable]
    ids, times = events[params.id_column].to_numpy(), events[roles.time_column].to_numpy()
    in_order = (ids[1:] > ids[:-1]) | ((ids[1:] == ids[:-1]) & (times[1:] >= times[:-1]))
    if not in_order.all():  # sorting tens of millions of rows costs seconds: only when needed
        events = events.iloc[np.lexsort((times, ids))]
    return events.reset_index(drop=True), notes


def validate(
    prepared: Prepared, raw_schema: pd.DataFrame, params: ProjectParams, valid_ranges: dict[str, tuple[float, float]]
) -> pd.DataFrame:
    """Check the prepared table against the raw schema and the parameters; one row per check."""
    table = prepared.table
    checks = [("every raw column kept", set(raw_schema.index) <= set(map(str, table.columns)), "")]
    if params.id_column:
        dupes = int(table[params.id_column].duplicated().sum())
        checks.append((f"{params.id_column} unique", dupes == 0, f"{dupes} duplicated"))
    target = table[params.target]
    checks.append(
        (f"{params.target} present on every row", bool(target.notna().all()), f"{int(target.isna().sum())} missing")
    )
    if params.task == "binary":
        checks.append((f"{params.target} has two classes", target.nunique() == 2, f"{target.nunique()} classes"))
    elif params.task == "regression":
        checks.append((f"{params.target} is numeric", pd.api.types.is_numeric_dtype(target), str(target.dtype)))
    for column, (low, high) in valid_ranges.items():
        values = table[column].dropna()
        checks.append((f"{column} within [{low:g}, {high:g}]", bool(values.between(low, high).all()), ""))
    if params.time_column:
        checks.append(
            (f"{params.time_column} is a date", pd.api.types.is_datetime64_any_dtype(table[params.time_column]), "")
        )
    empty = [str(c) for c in table.columns if table[c].isna().all()]
    checks.append(("no empty column", not empty, ", ".join(empty)))
    return pd.DataFrame(checks, columns=["check", "ok", "detail"]).set_index("check")


class InvalidData(RuntimeError):
    """The prepared table fails a validation check; the message lists which."""


def require_valid(checks: pd.DataFrame) -> str:
    failing = checks[~checks["ok"].astype(bool)]
    if len(failing):
        listed = "; ".join(f"{name} ({row.detail})" if row.detail else name for name, row in failing.iterrows())
        raise InvalidData(
            f"the prepared table fails {len(failing)} check(s): {listed}. "
            "Fix the source data or the rules in params/02_data_preparation.yaml."
        )
    return f"Valid: all {len(checks)} checks pass."


def write(prepared: Prepared, checks: pd.DataFrame, lineage: dict, params) -> list[str]:
    """Write the prepared tables under data/interim/ and the report (with the rules of
    ``params`` it applied, so new data can be prepared the same way later); return their paths."""
    rules = {"valid_ranges": params.valid_ranges, "numeric_text_share": params.numeric_text_share}
    written = [files.write_parquet(TABLE, prepared.table), files.write_parquet(REJECTED, prepared.rejected)]
    if prepared.events is not None:
        written.append(files.write_parquet(EVENTS, prepared.events))
    else:
        EVENTS.unlink(missing_ok=True)
    written.append(
        files.write_json(
            REPORT,
            {
                "data_version": lineage["data_version"],
                "rows": {"prepared": len(prepared.table), "rejected": len(prepared.rejected)},
                "fixes": prepared.report.to_dict(orient="records"),
                "checks": {name: {"ok": bool(row.ok), "detail": row.detail} for name, row in checks.iterrows()},
                "rules": rules,
            },
        )
    )
    return [paths.relative(p) for p in written]


def events_file() -> Path | None:
    """The prepared events as Parquet on disk (an engine in ``compute`` reads it itself), or None."""
    return EVENTS if EVENTS.is_file() else None


def read_prepared() -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The prepared table and events, as 02_data_preparation wrote them."""
    table = files.read_parquet(TABLE, "the prepared table", "02_data_preparation")
    return table, (files.read_parquet(EVENTS) if EVENTS.is_file() else None)


def read_rules() -> dict:
    """The cleaning rules 02 applied: ``valid_ranges`` and ``numeric_text_share``."""
    return files.read_json(REPORT, "the preparation report", "02_data_preparation")["rules"]
