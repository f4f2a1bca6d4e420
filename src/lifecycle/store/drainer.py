"""The prediction log's drainer: one thread moving spooled rows into the store, never dropping one.

It takes a batch from the spool (``spool.Spool.take``), hands it to ``write`` and forgets it
only once ``write`` returned. A failed write leaves the batch where it is and is tried
again after ``retry_first`` seconds, then twice as long each time up to ``retry_max``. Every
``ADOPT_EVERY`` seconds (and first thing) it adopts the spool files of processes that died.
``stop`` drains what it can within its time limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from lifecycle.store.spool import Spool

ADOPT_EVERY = 10.0  # seconds between looks for spool files left by processes that died
log = logging.getLogger("lifecycle.store.prediction_log")


class Drainer:
    """``write(rows)`` for every batch of ``spool``; ``on_written(n)`` after each, ``on_failed(exc, delay)``
    after a failed one, ``on_tick()`` at least once a second."""

    def __init__(
        self,
        spool: Spool,
        write: Callable[[list[dict]], None],
        *,
        batch_size: int,
        retry_first: float,
        retry_max: float,
        on_written: Callable[[int], None],
        on_failed: Callable[[Exception, float], None],
        on_tick: Callable[[], None],
    ):
        self.spool, self.write, self.batch_size = spool, write, batch_size
        self.retry_first, self.retry_max = retry_first, retry_max
        self.on_written, self.on_failed, self.on_tick = on_written, on_failed, on_tick
        self._wake, self._nudge, self._stop = threading.Event(), threading.Event(), threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """New rows are in the spool (an idle drainer takes them at once; a waiting retry keeps waiting)."""
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """Drain for at most ``timeout`` seconds (a waiting retry is tried at once), then stop."""
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        self._nudge.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        delay, adopted = 0.0, -float("inf")
        while not (self._stop.is_set() and time.monotonic() >= self._deadline):
            if time.monotonic() - adopted >= ADOPT_EVERY:
                adopted = time.monotonic()
                self._adopt()
            try:
                taken = self.spool.take(self.batch_size)
                if taken is None:
                    self.on_tick()
                    if self._stop.is_set():
                        return
                    self._wake.wait(1.0)
                    self._wake.clear()
                    continue
                if taken.rows:
                    self.write(taken.rows)
                self.spool.done(taken)
            except Exception as exc:  # noqa: BLE001  (the rows stay in the spool and are tried again)
                delay = min(self.retry_max, delay * 2 or self.retry_first)
                self.on_failed(exc, delay)
                self._pause(delay)
                continue
            delay = 0.0
            self.on_written(len(taken.rows))

    def _adopt(self) -> None:
        try:
            found = self.spool.adopt()
        except OSError as exc:
            log.error("could not look for spool files left by stopped processes in %s: %s", self.spool.folder, exc)
            return
        if found:
            log.info(
                "found %d prediction row(s) left in the spool %s by stopped processes; writing them",
                found,
                self.spool.folder,
            )

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` (ticking each second); ``stop`` cuts it short once."""
        until = time.monotonic() + seconds
        while (left := min(until, self._deadline) - time.monotonic()) > 0:
            if self._nudge.wait(min(left, 1.0)):
                self._nudge.clear()
                return
            self.on_tick()
