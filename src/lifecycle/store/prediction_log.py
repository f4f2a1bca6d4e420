"""The prediction log: every prediction the service makes, recorded at once and moved to the store.

``PredictionLog`` records rows from the request path in a spool on local disk
(``spool``: nothing it acknowledged is lost to a crash, a locked or unreachable store, or
a close) and moves them to the store from one background thread, in batches, retrying
with backoff. The store's table (one row per record and model, each written once), its
engine and ``read``, how monitoring gets the rows back, are in ``tables`` and importable
from here too.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL

from lifecycle.core import paths
from lifecycle.store.drainer import Drainer
from lifecycle.store.spool import Spool, SpoolRefused
from lifecycle.store.tables import (
    COLUMNS,
    LOCK_WAIT_S,
    ROLES,
    absolute_url,
    engine,
    predictions_table,
    prepare,
    read,
    resolve_url,
    sqlite_file,
    write,
)

__all__ = [
    "COLUMNS",
    "LOCK_WAIT_S",
    "ROLES",
    "PredictionLog",
    "SpoolRefused",
    "absolute_url",
    "engine",
    "predictions_table",
    "read",
    "resolve_url",
    "row",
    "spool_folder",
    "sqlite_file",
    "write",
]

log = logging.getLogger(__name__)


def spool_folder(url: URL, table: str) -> Path:
    """Where the spool of ``table`` in the store at ``url`` lives: ``data/spool/<table>-<hash of both>``."""
    key = hashlib.sha256(f"{url.render_as_string(hide_password=True)}\n{table}".encode()).hexdigest()[:12]
    return paths.DATA / "spool" / f"{table}-{key}"


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
        prepare(self.engine, self.table)
        self._ready = True

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
    *,
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
