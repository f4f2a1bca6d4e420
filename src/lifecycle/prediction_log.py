"""The prediction store: every prediction the service makes, one row per record and model.

A SQL table (``store.predictions_table`` in the database at ``store.url``) with columns
``request_id``, ``record`` (index in the request), ``model``, ``version``, ``role``
(``production`` or ``shadow``), ``timestamp`` (UTC), ``inputs`` and ``outputs`` (JSON
text: the validated record; ``prediction`` and ``probability_<class>`` as in
``scoring.score``) and ``flags`` (JSON text: the inputs outside the training domain that
were scored and flagged, ``[]`` for none; a table made before this column existed gets
it added). A relative SQLite path is under the project root; the folder and the
table are created when missing, and SQLite runs in WAL mode so readers never block the
writer.

``PredictionLog`` takes rows from the request path without blocking and writes them from
one background thread, in batches; a failed write is counted and reported, never raised
to the caller. ``read`` is how monitoring gets them back.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lifecycle import database_url, paths

COLUMNS = ("request_id", "record", "model", "version", "role", "timestamp", "inputs", "outputs", "flags")
ROLES = ("production", "shadow")
log = logging.getLogger(__name__)


def resolve_url(url: str) -> URL:
    """``url`` as a SQLAlchemy URL, its ``${VAR}`` read (``database_url.parse``); a relative SQLite path is
    made absolute under the project root."""
    try:
        parsed = database_url.parse(url)
    except database_url.UnsetVariable as exc:
        raise ValueError(f"store.url {database_url.shown(url)!r}: {exc}") from None
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ValueError(f"store.url {database_url.shown(url)!r} is not a SQLAlchemy database URL ({exc}); "
                         "use e.g. sqlite:///data/predictions.db") from None
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:" \
            and not database.startswith("file:") and not Path(database).is_absolute():
        parsed = parsed.set(database=str(paths.ROOT / database))
    return parsed


def absolute_url(url: str) -> str:
    """``url`` as text, a relative SQLite path made absolute under the project root (for the batch job)."""
    return resolve_url(url).render_as_string(hide_password=False)


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory ones)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:"):
        return None
    return Path(url.database)


def engine(url: str | URL) -> sa.Engine:
    """An engine for the store (creates nothing yet); SQLite connections use WAL mode."""
    url = resolve_url(url) if isinstance(url, str) else url
    try:
        made = sa.create_engine(url, connect_args={"timeout": 5} if url.get_backend_name() == "sqlite" else {})
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ValueError(f"store.url {url.render_as_string(hide_password=True)!r} cannot be used "
                         f"({type(exc).__name__}: {exc}); check the driver name and install its package") from None
    if url.get_backend_name() == "sqlite":
        @sa.event.listens_for(made, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
    return made


def predictions_table(name: str = "predictions", metadata: sa.MetaData | None = None) -> sa.Table:
    """The table's definition (one row per record and model)."""
    return sa.Table(
        name, metadata or sa.MetaData(),
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
    )


def write(store: sa.Engine, table: sa.Table, rows: list[dict]) -> int:
    """Insert ``rows`` (dicts with ``COLUMNS``; inputs and outputs as dicts) in one transaction."""
    prepared = [{**row, "inputs": json.dumps(row["inputs"]), "outputs": json.dumps(row["outputs"]),
                 "flags": json.dumps(row.get("flags") or [])} for row in rows]
    with store.begin() as connection:
        connection.execute(table.insert(), prepared)
    return len(prepared)


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
    """Writes prediction rows to the store from a background thread, in batches.

    ``submit`` never blocks and never raises; a row that cannot be written (store
    unreachable, disk full, queue full) is counted in ``stats()["log_failures"]`` and
    reported on the ``lifecycle.prediction_log`` logger (at most one line per
    ``report_every`` seconds). ``close`` writes what is queued, then stops the thread.
    ``on_written(n)`` / ``on_failed(n)``, when set, see every batch written or lost (metrics).
    """

    on_written = on_failed = None

    def __init__(self, url: str, table: str = "predictions", batch_size: int = 500, max_queue: int = 20_000,
                 report_every: float = 30.0):
        self.url = resolve_url(url)
        self.shown = self.url.render_as_string(hide_password=True)
        self.engine = engine(self.url)
        self.table = predictions_table(table)
        self.batch_size, self.report_every = batch_size, report_every
        self._queue: queue.Queue = queue.Queue(max_queue)
        self._lock = threading.Lock()
        self._ready = False
        self._thread: threading.Thread | None = None
        self._last_report = -float("inf")
        self.logged = self.failures = 0
        self.last_error: str | None = None

    def start(self) -> PredictionLog:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        return self

    def submit(self, rows: list[dict]) -> None:
        """Queue rows (dicts with ``COLUMNS``) for writing; returns at once."""
        if not rows:
            return
        try:
            self._queue.put_nowait(rows)
        except queue.Full:
            self._failed(len(rows), "the write queue is full (the store is slower than the traffic)")

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, then stop the writer (waits at most ``timeout`` seconds)."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._thread = None
        self.engine.dispose()

    def stats(self) -> dict:
        return {"logged": self.logged, "log_failures": self.failures, "log_pending": self._queue.qsize(),
                "last_log_error": self.last_error}

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch: list[dict] = []
            while True:
                if item is None:
                    stop = True
                else:
                    batch += item
                if stop or len(batch) >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)

    def _write(self, batch: list[dict]) -> None:
        try:
            if not self._ready:
                self._prepare()
            write(self.engine, self.table, batch)
        except Exception as exc:  # noqa: BLE001  (any store failure is counted, never raised)
            self._failed(len(batch), f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        else:
            with self._lock:
                self.logged += len(batch)
            if self.on_written is not None:
                self.on_written(len(batch))

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
            for index in self.table.indexes:
                connection.execute(sa.schema.CreateIndex(index, if_not_exists=True))
            if "flags" not in {c["name"] for c in sa.inspect(connection).get_columns(self.table.name)}:
                connection.execute(sa.text(f'ALTER TABLE "{self.table.name}" ADD COLUMN flags TEXT'))  # an older table

    def _failed(self, count: int, reason: str) -> None:
        if self.on_failed is not None:
            self.on_failed(count)
        with self._lock:
            self.failures += count
            self.last_error = reason
            total = self.failures
            now = time.monotonic()
            due = now - self._last_report >= self.report_every
            if due:
                self._last_report = now
        if due:
            log.error("could not log %d prediction row(s) to table '%s' at %s: %s; predictions are still served "
                      "(%d row(s) lost so far)", count, self.table.name, self.shown, reason, total)


def row(request_id: str, record: int, model: str, version: int, role: str, inputs: dict, outputs: dict,
        timestamp: datetime | None = None, flags: list[str] | None = None) -> dict:
    """One row for ``PredictionLog.submit``."""
    return {"request_id": request_id, "record": record, "model": model, "version": version, "role": role,
            "timestamp": timestamp or datetime.now(UTC), "inputs": inputs, "outputs": outputs, "flags": flags or []}
