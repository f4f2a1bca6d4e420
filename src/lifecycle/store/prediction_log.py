"""The prediction store: every prediction the service makes, one row per record and model.

A SQL table (``store.predictions_table`` in the database at ``store.url``) with columns
``request_id``, ``record`` (index in the request), ``model``, ``version``, ``role``
(``production`` or ``shadow``), ``timestamp`` (UTC), ``inputs`` and ``outputs`` (JSON
text: the validated record; ``prediction`` and ``probability_<class>`` as in
``scoring.score``) and ``flags`` (JSON text: the inputs outside the training domain that
were scored and flagged, ``[]`` for none; a table made before this column existed gets
it added). ``(request_id, record, role)`` is unique, and ``write`` leaves a row already
there as it is, so writing rows twice never repeats them. A relative SQLite path is under
the project root; the folder and the table are created when missing, and SQLite runs in
WAL mode so readers never block the writer. A connection waits at most ``LOCK_WAIT_S`` for a
lock another one holds (SQLite's busy timeout, PostgreSQL's ``lock_timeout``), then fails.

``PredictionLog`` records rows from the request path in a spool on local disk
(``spool``: nothing it acknowledged is lost to a crash, a locked or unreachable store, or
a close) and moves them to the store from one background thread, in batches, retrying
with backoff. ``read`` is how monitoring gets them back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from lifecycle.core import database_url, paths
from lifecycle.store.drainer import Drainer
from lifecycle.store.spool import Spool, SpoolRefused

COLUMNS = ("request_id", "record", "model", "version", "role", "timestamp", "inputs", "outputs", "flags")
ROLES = ("production", "shadow")
LOCK_WAIT_S = 5  # how long a store connection waits for another one's lock (SQLite's busy timeout)
log = logging.getLogger(__name__)


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


def spool_folder(url: URL, table: str) -> Path:
    """Where the spool of ``table`` in the store at ``url`` lives: ``data/spool/<table>-<hash of both>``."""
    key = hashlib.sha256(f"{url.render_as_string(hide_password=True)}\n{table}".encode()).hexdigest()[:12]
    return paths.DATA / "spool" / f"{table}-{key}"


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


class PredictionLog:
    """Records prediction rows on local disk at once, then writes them to the store from a background thread.

    ``submit`` appends rows to this process's spool file (``spool.Spool``, in ``spool`` or
    ``spool_folder(url, table)``) and returns once they are on disk; when the spool cannot
    take them (disk full, folder not writable) it raises ``SpoolRefused``, writes none of them
    and counts them in ``stats()["log_failures"]``. A drainer (``spool_drainer``) moves them to
    the store in batches of up to ``batch_size``; a failed write (store down, locked,
    unreachable) is reported on the ``lifecycle.store.prediction_log`` logger (at most one line per
    ``report_every`` seconds) and tried again with capped backoff (``retry_first`` seconds,
    doubling up to ``retry_max``): rows are delayed, never dropped, never repeated. ``start``
    also drains the spool files of processes that died. ``close`` writes what it can within
    its time limit and returns (and reports) the rows it left in the spool for the next start.
    ``on_written(n)`` / ``on_failed(n)`` see rows written / refused, ``on_state(pending, age)``
    the rows waiting and the oldest one's age in seconds, at least once a second (metrics).
    """

    on_written = on_failed = on_state = None

    def __init__(
        self,
        url: str,
        table: str = "predictions",
        *,
        spool: str | Path | None = None,
        batch_size: int = 500,
        retry_first: float = 0.5,
        retry_max: float = 30.0,
        report_every: float = 30.0,
    ):
        self.url = resolve_url(url)
        self.shown = self.url.render_as_string(hide_password=True)
        self.engine = engine(self.url)
        self.table = predictions_table(table)
        self.folder = Path(spool) if spool is not None else spool_folder(self.url, table)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(
                f"the prediction log's spool folder {self.folder} cannot be made ({exc.strerror}); "
                "it must be a writable folder on local disk"
            ) from None
        self.settings = {"batch_size": batch_size, "retry_first": retry_first, "retry_max": retry_max}
        self.report_every = report_every
        self.spool: Spool | None = None
        self._drainer: Drainer | None = None
        self._ready = self._refusing = self._failing = False
        self._lock = threading.Lock()
        self._last_report = -float("inf")
        self.logged = self.failures = self.left = 0
        self.last_error: str | None = None

    def start(self) -> PredictionLog:
        """Open this process's spool file and start the drainer (``SpoolRefused`` if the file cannot be made)."""
        self.spool = Spool(self.folder)
        self._drainer = Drainer(
            self.spool,
            self._write,
            **self.settings,
            on_written=self._written,
            on_failed=self._write_failed,
            on_tick=self._show_state,
        )
        self._drainer.start()
        return self

    def submit(self, rows: list[dict]) -> None:
        """Record rows (dicts with ``COLUMNS``); returns once they are on disk (an fsync: call it off an event loop)."""
        if not rows:
            return
        drainer = self._drainer
        try:
            if drainer is None:
                raise SpoolRefused("the prediction log is not started, or closed")
            self.spool.append(rows)
        except SpoolRefused as exc:
            self._refused(len(rows), str(exc))
            raise
        self._refusing = False
        drainer.wake()

    def close(self, timeout: float = 10.0) -> int:
        """Write what is spooled for at most ``timeout`` seconds, stop; the rows left in the spool (reported)."""
        if self._drainer is None:
            return self.left
        self._drainer.stop(timeout)
        self._drainer = None
        self.left = self.spool.close()
        self.engine.dispose()
        if self.left:
            log.warning(
                "closing with %d prediction row(s) not yet in table '%s' at %s (%s): they stay in the spool "
                "%s, on disk, and the next start writes them",
                self.left,
                self.table.name,
                self.shown,
                self.last_error or f"not written within {timeout:g} s",
                self.folder,
            )
        return self.left

    def state(self) -> str:
        """``refusing`` (the spool cannot take rows), ``failing`` (the store cannot: rows wait) or ``ok``."""
        return "refusing" if self._refusing else "failing" if self._failing else "ok"

    def stats(self) -> dict:
        running = self._drainer is not None
        oldest = self.spool.oldest() if running else None
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest else 0.0
        return {
            "logged": self.logged,
            "log_spooled": self.spool.spooled if self.spool else 0,
            "log_pending": self.spool.pending() if running else self.left,
            "log_oldest_pending_seconds": round(age, 1),
            "log_failures": self.failures,
            "log_torn": self.spool.torn if self.spool else 0,
            "last_log_error": self.last_error,
        }

    def _write(self, rows: list[dict]) -> None:
        if not self._ready:
            self._prepare()
        write(self.engine, self.table, rows)

    def _written(self, count: int) -> None:
        with self._lock:
            self.logged += count
            recovered, self._failing = self._failing, False
        if recovered:
            log.info(
                "table '%s' at %s takes prediction rows again (%d still in the spool)",
                self.table.name,
                self.shown,
                self.spool.pending(),
            )
        if self.on_written is not None and count:
            self.on_written(count)
        self._show_state()

    def _show_state(self) -> None:
        if self.on_state is not None:
            stats = self.stats()
            self.on_state(stats["log_pending"], stats["log_oldest_pending_seconds"])

    def _prepare(self) -> None:
        found = sqlite_file(self.url)
        if found is not None:
            found.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # workers of one service prepare the same table at the same moment
            try:
                self._create()
                break
            except (sa.exc.OperationalError, sa.exc.IntegrityError):  # PostgreSQL: the other CREATE won the race
                if attempt == 2:
                    raise
                time.sleep(0.1 * (attempt + 1))
        self._ready = True

    def _create(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.schema.CreateTable(self.table, if_not_exists=True))
            if "flags" not in {c["name"] for c in sa.inspect(connection).get_columns(self.table.name)}:
                connection.execute(sa.text(f'ALTER TABLE "{self.table.name}" ADD COLUMN flags TEXT'))  # an older table
            for index in self.table.indexes:
                if not index.unique:
                    connection.execute(sa.schema.CreateIndex(index, if_not_exists=True))
        once = next(index for index in self.table.indexes if index.unique)
        try:  # its own transaction: an older table holding repeated rows cannot take it
            with self.engine.begin() as connection:
                connection.execute(sa.schema.CreateIndex(once, if_not_exists=True))
        except sa.exc.IntegrityError:
            with self.engine.connect() as connection:  # another worker may have made it at the same moment
                if once.name in {i["name"] for i in sa.inspect(connection).get_indexes(self.table.name)}:
                    return
            log.warning(
                "table '%s' at %s already holds rows repeated under one (request_id, record, role), so it "
                "cannot get the unique index %s: a row written again after a crash may be repeated; "
                "delete the repeats to get it",
                self.table.name,
                self.shown,
                once.name,
            )

    def _write_failed(self, exc: Exception, delay: float) -> None:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        with self._lock:
            self.last_error, self._failing = reason, True
        if self._due():
            log.error(
                "could not write prediction rows to table '%s' at %s: %s; they wait in the spool %s "
                "(%d row(s) pending), trying again in %.1f s; predictions are still served",
                self.table.name,
                self.shown,
                reason,
                self.folder,
                self.spool.pending(),
                delay,
            )

    def _refused(self, count: int, reason: str) -> None:
        if self.on_failed is not None:
            self.on_failed(count)
        with self._lock:
            self.failures += count
            self.last_error, self._refusing = reason, True
            total = self.failures
        if self._due():
            log.error(
                "could not record %d prediction row(s): %s (%d refused so far); the spool is in %s",
                count,
                reason,
                total,
                self.folder,
            )

    def _due(self) -> bool:
        """Whether a report is due (at most one per ``report_every`` seconds)."""
        with self._lock:
            now = time.monotonic()
            if now - self._last_report < self.report_every:
                return False
            self._last_report = now
            return True


def row(
    request_id: str,
    record: int,
    model: str,
    version: int,
    role: str,
    inputs: dict,
    outputs: dict,
    timestamp: datetime | None = None,
    flags: list[str] | None = None,
) -> dict:
    """One row for ``PredictionLog.submit``."""
    return {
        "request_id": request_id,
        "record": record,
        "model": model,
        "version": version,
        "role": role,
        "timestamp": timestamp or datetime.now(UTC),
        "inputs": inputs,
        "outputs": outputs,
        "flags": flags or [],
    }
