"""Read the data a project starts from: the simulated product, a file (CSV, Parquet or another format in
``core.table_formats``), or SQL.

Every source gives a ``Dataset``: the main table (one row per id; the target, or a way to
make it from events) and, optionally, an events table joined to it by the id column.
A problem with the source is a ``SourceError`` that says what is missing and how to fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd
import sqlalchemy

from lifecycle.core import database_url, files, paths, table_formats
from lifecycle.core.settings import ProjectParams, Source
from lifecycle.data import tables
from lifecycle.simulation.simulate import simulate_product


class SourceError(ValueError):
    """The source cannot give a usable table; the message names what is missing."""


class Dataset(NamedTuple):
    table: pd.DataFrame
    events: pd.DataFrame | None


def read_source(params: ProjectParams) -> Dataset:
    """Read the configured source and check that its columns can play their roles."""
    source = params.source
    if source.kind == "simulated":
        dataset = _simulated(params)
    elif source.kind == "sql":
        dataset = _read_sql(source)
    else:
        events = _read_file(source.events_path, source.kind, "source.events_path") if source.events_path else None
        dataset = Dataset(_read_file(source.path, source.kind, "source.path"), events)
    if source.make_id:
        dataset = dataset._replace(table=with_row_id(dataset.table, params.id_column, params.target))
    check_roles(dataset, params, describe(source))
    return dataset


def with_row_id(table: pd.DataFrame, id_column: str, target: str) -> pd.DataFrame:
    """``table`` with a stable row id first: a hash of the row's values but the target (a row scored before
    its label is known keeps its id). Rows that repeat those values are numbered ``-2``, ``-3``, ... in the
    order the table holds them: without an id nothing tells a copied row from another observation with the
    same values (survey answers, coarse measurements), so each is kept as an observation of its own. Ids
    depend on the values alone, never on the row's position, and rows appended later never change them."""
    if id_column in table.columns:
        raise SourceError(
            f"source.make_id: the table already has a column '{id_column}'; use it as id_column "
            "and set source.make_id to false, or name the made id differently"
        )
    digest = pd.util.hash_pandas_object(table.drop(columns=[target], errors="ignore"), index=False).to_numpy()
    n = pd.Series(digest).groupby(digest).cumcount().to_numpy()
    ids = pd.Series(
        [f"{v:016x}" + (f"-{k + 1}" if k else "") for v, k in zip(digest, n)],
        index=table.index,
        name=id_column,
        dtype="string",
    )
    return pd.concat([ids, table], axis=1)


def describe(source: Source) -> str:
    """The source in a few words, without credentials (for messages and lineage)."""
    if source.kind == "simulated":
        return "the simulated product"
    if source.kind == "sql":
        return f"SQL '{source.query}' at {_hide_password(source.url)}"
    return f"{source.kind.upper()} file '{source.path}'"


def summary(dataset: Dataset, source: Source) -> str:
    """What was read, in one sentence."""
    table, events = dataset
    text = f"Read {describe(source)}: {len(table):,} rows x {table.shape[1]} columns"
    if source.make_id:
        text += (
            f" (the first, '{table.columns[0]}', made here: the table has no id column, and monitoring and "
            "retraining join labels to predictions by id; a hash of each row's values, the target aside, "
            "so it is stable, and never a model input; rows that repeat another's values are numbered -2, -3, ... and "
            "kept, as nothing tells a copy from another observation)"
        )
    if events is None:
        return text + "; no events table (event features and label-making are skipped)."
    return text + f", and {len(events):,} events."


def _simulated(params: ProjectParams) -> Dataset:
    sim = params.simulation
    product = simulate_product(
        n_users=sim.n_users,
        start=sim.start.isoformat(),
        cutoff=params.labels.cutoff.isoformat(),
        label_window_days=params.labels.window_days,
        seed=params.seed,
    )
    # The product's labels are the hidden truth: 02 makes the target from the events, as
    # a team would from its own logs (tests check the two agree).
    return Dataset(product.users, product.events)


def _read_file(relative: str, kind: str, key: str) -> pd.DataFrame:
    path = paths.ROOT / relative
    if not path.is_file():
        raise SourceError(f"{key}: file '{relative}' does not exist (paths are relative to the project root)")
    files.record_read(path)
    try:
        return table_formats.FORMATS[kind].read(path)
    except Exception as exc:  # noqa: BLE001  (pandas and pyarrow raise many types for a bad file)
        raise SourceError(
            f"{key}: cannot read '{relative}' as {kind.upper()} ({tables.reason(exc)}); check the file and source.kind"
        ) from None


def _read_sql(source: Source) -> Dataset:
    url = source.url
    try:
        parsed = database_url.parse(url)  # ${VAR} read from the environment; postgresql:// is psycopg 3
    except database_url.UnsetVariable as exc:
        raise SourceError(f"source.url: {exc}") from None
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise SourceError(
            f"source.url: '{database_url.shown(url)}' is not a SQLAlchemy URL, e.g. sqlite:///data/shop.db"
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database = Path(parsed.database)
        database = database if database.is_absolute() else paths.ROOT / database
        if not database.is_file():
            raise SourceError(f"source.url: the SQLite file '{parsed.database}' does not exist")
        parsed = parsed.set(database=str(database))
        files.record_read(database)
    engine = sqlalchemy.create_engine(parsed)
    try:
        with engine.connect() as connection:
            table = pd.read_sql(tables.statement(source.query), connection)
            events = pd.read_sql(tables.statement(source.events_query), connection) if source.events_query else None
    except (sqlalchemy.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        raise SourceError(f"source: cannot read from {_hide_password(url)}: {tables.reason(exc)}") from None
    finally:
        engine.dispose()
    return Dataset(table, events)


def _hide_password(url: str | None) -> str:
    return database_url.shown(url) if url else "the configured URL"


def check_roles(dataset: Dataset, params: ProjectParams, where: str) -> None:
    """Fail with one message when a column role names a column the data does not have."""
    table, events = dataset
    if table.empty:
        raise SourceError(f"{where} has no rows; point params/project.yaml at a table with data")
    _require(table, params.id_column, "id_column", where)
    _require(table, params.time_column, "time_column", where)
    if events is None:
        if params.target not in table.columns:
            raise SourceError(
                f"target column '{params.target}' is not in {where} (columns: {_columns(table)}); "
                "set target in params/project.yaml, or add an events table to make it from (source.events_path)"
            )
        return
    where_events = f"the events table of {where}"
    if params.id_column is None:
        raise SourceError("an events table needs id_column in params/project.yaml to join it to the main table")
    _require(events, params.id_column, "id_column", where_events)
    _require(events, params.events.time_column, "events.time_column", where_events)
    _require(events, params.events.type_column, "events.type_column", where_events)


def _require(table: pd.DataFrame, column: str | None, role: str, where: str) -> None:
    if column is not None and column not in table.columns:
        raise SourceError(
            f"{role} '{column}' is not a column of {where} (columns: {_columns(table)}); fix it in params/project.yaml"
        )


def _columns(table: pd.DataFrame) -> str:
    names = [str(c) for c in table.columns]
    return ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
