"""The prediction store's table: where it is, how to connect, its definition, and writing and reading rows.

A SQL table (``store.predictions_table`` in the database at ``store.url``) with columns
``request_id``, ``record`` (index in the request), ``model``, ``version``, ``role``
(``production`` or ``shadow``), ``timestamp`` (UTC), ``inputs`` and ``outputs`` (JSON
text: the validated record; ``prediction`` and ``probability_<class>`` as in
``scoring.score``) and ``flags`` (JSON text: the inputs outside the training domain that
were scored and flagged, ``[]`` for none; a table made before this column existed gets
it added). ``(request_id, record, role)`` is unique, and ``write`` leaves a row already
there as it is, so writing rows twice never repeats them. A relative SQLite path is under
the project root; the folder and the table are created when missing (``prepare``), and SQLite
runs in WAL mode so readers never block the writer. A connection waits at most ``LOCK_WAIT_S``
for a lock another one holds (SQLite's busy timeout, PostgreSQL's ``lock_timeout``), then fails.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from lifecycle.core import database_url, paths

COLUMNS = ("request_id", "record", "model", "version", "role", "timestamp", "inputs", "outputs", "flags")
ROLES = ("production", "shadow")
LOCK_WAIT_S = 5  # how long a store connection waits for another one's lock (SQLite's busy timeout)
log = logging.getLogger("lifecycle.store.prediction_log")  # the store's log lines keep the name they always had


def resolve_url(url: str) -> URL:
    """``url`` as a SQLAlchemy URL, its ``${VAR}`` read (``database_url.parse``); a relative SQLite path is
    made absolute under the project root."""
    try:
        parsed = database_url.parse(url)
    except database_url.UnsetVariable as exc:
        raise ValueError(f"store.url {database_url.shown(url)!r}: {exc}") from None
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ValueError(
            f"store.url {database_url.shown(url)!r} is not a SQLAlchemy database URL ({exc}); "
            "use e.g. sqlite:///data/predictions.db"
        ) from None
    database = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
        and not Path(database).is_absolute()
    ):
        parsed = parsed.set(database=str(paths.ROOT / database))
    return parsed


def absolute_url(url: str) -> str:
    """``url`` as text, a relative SQLite path made absolute under the project root (for the batch job)."""
    return resolve_url(url).render_as_string(hide_password=False)


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory ones)."""
    if (
        url.get_backend_name() != "sqlite"
        or not url.database
        or url.database == ":memory:"
        or url.database.startswith("file:")
    ):
        return None
    return Path(url.database)


def engine(url: str | URL) -> sa.Engine:
    """An engine for the store (creates nothing yet); SQLite connections use WAL mode. A connection waits
    at most ``LOCK_WAIT_S`` for a lock another one holds, then fails (and the log's writer tries again)."""
    url = resolve_url(url) if isinstance(url, str) else url
    try:
        waits = {"timeout": LOCK_WAIT_S} if url.get_backend_name() == "sqlite" else {}
        made = sa.create_engine(url, connect_args=waits)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ValueError(
            f"store.url {url.render_as_string(hide_password=True)!r} cannot be used "
            f"({type(exc).__name__}: {exc}); check the driver name and install its package"
        ) from None
    if url.get_backend_name() == "sqlite":

        @sa.event.listens_for(made, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    if url.get_backend_name() == "postgresql":  # else a table locked for hours stalls the writer, unreported

        @sa.event.listens_for(made, "connect")
        def _lock_wait(connection, _record):
            autocommit, connection.autocommit = connection.autocommit, True
            cursor = connection.cursor()
            cursor.execute(f"SET lock_timeout = '{LOCK_WAIT_S}s'")
            cursor.close()
            connection.autocommit = autocommit

    return made


def predictions_table(name: str = "predictions", metadata: sa.MetaData | None = None) -> sa.Table:
    """The table's definition (one row per record and model)."""
    return sa.Table(
        name,
        metadata or sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36), nullable=False, index=True),
        sa.Column("record", sa.Integer, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("flags", sa.Text, nullable=True),
        sa.Index(f"uq_{name}_request_record_role", "request_id", "record", "role", unique=True),
    )


def prepare(store: sa.Engine, table: sa.Table) -> None:
    """Make what is missing of ``table`` in ``store``: a SQLite file's folder, the table, its indexes."""
    found = sqlite_file(store.url)
    if found is not None:
        found.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):  # workers of one service prepare the same table at the same moment
        try:
            _create(store, table)
            break
        except (sa.exc.OperationalError, sa.exc.IntegrityError):  # PostgreSQL: the other CREATE won the race
            if attempt == 2:
                raise
            time.sleep(0.1 * (attempt + 1))


def _create(store: sa.Engine, table: sa.Table) -> None:
    with store.begin() as connection:
        connection.execute(sa.schema.CreateTable(table, if_not_exists=True))
        if "flags" not in {c["name"] for c in sa.inspect(connection).get_columns(table.name)}:
            connection.execute(sa.text(f'ALTER TABLE "{table.name}" ADD COLUMN flags TEXT'))  # an older table
        for index in table.indexes:
            if not index.unique:
                connection.execute(sa.schema.CreateIndex(index, if_not_exists=True))
    once = next(index for index in table.indexes if index.unique)
    try:  # its own transaction: an older table holding repeated rows cannot take it
        with store.begin() as connection:
            connection.execute(sa.schema.CreateIndex(once, if_not_exists=True))
    except sa.exc.IntegrityError:
        with store.connect() as connection:  # another worker may have made it at the same moment
            if once.name in {i["name"] for i in sa.inspect(connection).get_indexes(table.name)}:
                return
        log.warning(
            "table '%s' at %s already holds rows repeated under one (request_id, record, role), so it "
            "cannot get the unique index %s: a row written again after a crash may be repeated; "
            "delete the repeats to get it",
            table.name,
            store.url.render_as_string(hide_password=True),
            once.name,
        )


def write(store: sa.Engine, table: sa.Table, rows: list[dict]) -> int:
    """Insert ``rows`` (dicts with ``COLUMNS``; inputs and outputs as dicts) in one transaction.

    A row whose ``(request_id, record, role)`` the table already holds is left as it is
    (SQLite, PostgreSQL, MySQL; other databases refuse the batch). Returns ``len(rows)``.
    """
    prepared = [
        {
            **row,
            "inputs": json.dumps(row["inputs"]),
            "outputs": json.dumps(row["outputs"]),
            "flags": json.dumps(row.get("flags") or []),
        }
        for row in rows
    ]
    with store.begin() as connection:
        connection.execute(_insert_new(table, connection.dialect.name), prepared)
    return len(prepared)


def _insert_new(table: sa.Table, dialect: str):
    """An insert that skips rows the table's unique index already holds."""
    if dialect in ("sqlite", "postgresql"):
        return (sqlite if dialect == "sqlite" else postgresql).insert(table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        return table.insert().prefix_with("IGNORE")
    return table.insert()


def read(url: str, table: str = "predictions", since: datetime | str | None = None) -> pd.DataFrame:
    """The logged predictions (oldest first), optionally only those at or after ``since`` (UTC if naive).

    Columns are ``COLUMNS``; ``timestamp`` is a UTC datetime column; ``inputs`` and ``outputs``
    are the stored JSON text (``json.loads`` each, or ``pd.json_normalize`` a column of them).
    A store or table that does not exist yet gives an empty frame.
    """
    resolved = resolve_url(url)
    empty = pd.DataFrame({c: pd.Series(dtype="datetime64[us, UTC]" if c == "timestamp" else object) for c in COLUMNS})
    found = sqlite_file(resolved)
    if found is not None and not found.is_file():
        return empty
    store = engine(resolved)
    try:
        with store.connect() as connection:
            inspector = sa.inspect(connection)
            if not inspector.has_table(table):
                return empty
            defined = predictions_table(table)
            stored = {column["name"] for column in inspector.get_columns(table)}
            query = sa.select(*[defined.c[c] if c in stored else sa.null().label(c) for c in COLUMNS])
            query = query.order_by(defined.c.id)
            if since is not None:
                moment = pd.Timestamp(since)
                moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
                query = query.where(defined.c.timestamp >= moment.to_pydatetime())
            frame = pd.DataFrame(connection.execute(query).all(), columns=list(COLUMNS))
    finally:
        store.dispose()
    if frame.empty:
        return empty
    stamps = pd.to_datetime(frame["timestamp"])
    frame["timestamp"] = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    frame["flags"] = frame["flags"].fillna("[]")
    return frame
