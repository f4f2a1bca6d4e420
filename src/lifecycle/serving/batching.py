"""Adaptive micro-batching for the prediction service: concurrent requests scored in one call.

Scoring one record with a scikit-learn pipeline is nearly all fixed overhead (a few
milliseconds), while a batch of a hundred costs about the same. So requests are queued and
one batch at a time takes everything waiting — up to ``max_batch_rows`` — in one call. A
request that arrives while a batch is being scored waits for that batch, then goes in
the next one with whatever else arrived meanwhile; a lone request on an idle service is
scored at once. The batcher waits (at most ``max_wait_ms``) for more only while other
requests are already being received, so waiting can fill the batch.

Backpressure: the queue holds at most ``max_queue_rows`` records; a request that would
overflow it is refused at once (``Overloaded``, HTTP 503 with ``Retry-After``) instead of
letting latency grow without bound, and a request not answered within ``timeout_ms`` gets
``TimedOut`` (HTTP 504; its records are dropped from the queue if not yet scored).
``close`` refuses new requests and finishes the queued ones, within a time limit when given.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


class Overloaded(Exception):
    """The queue is full (or the service is stopping): refuse now; ``retry_after`` in seconds."""

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.retry_after = retry_after


class TimedOut(Exception):
    """The request was not answered within ``timeout_ms``."""


@dataclass(eq=False)
class _Job:
    records: list[Any]
    future: asyncio.Future
    abandoned: bool = False  # timed out before it was scored: skipped
    queued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Queue records from many requests and score them together, one batch at a time.

    ``await score(records)`` gets the records of several requests concatenated and must
    return one output per record, in order; it must not block the event loop (the service
    scores in a process of its own: ``scoring_process``).
    ``on_batch(rows, seconds)`` (optional) sees every batch's size and scoring time.
    Create and use it on one event loop (``start`` there, ``close`` at shutdown).
    """

    def __init__(
        self,
        score: Callable[[list[Any]], Awaitable[list[Any]]],
        *,
        max_batch_rows: int = 64,
        max_wait_ms: float = 2.0,
        max_queue_rows: int = 2000,
        timeout_ms: float = 5000.0,
        on_batch: Callable[[int, float], None] | None = None,
    ):
        if max_batch_rows < 1 or max_queue_rows < 1 or max_wait_ms < 0 or timeout_ms <= 0:
            raise ValueError("max_batch_rows and max_queue_rows must be >= 1, max_wait_ms >= 0, timeout_ms > 0")
        self._score, self._on_batch = score, on_batch
        self.max_batch_rows, self.max_queue_rows = max_batch_rows, max_queue_rows
        self.max_wait, self.timeout = max_wait_ms / 1000, timeout_ms / 1000
        self.queued_rows = 0  # records waiting, not yet being scored
        self._pending: deque[_Job] = deque()
        self._arriving = 0  # requests being received or validated: more records are on the way
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self._batch_seconds = 0.01  # a running estimate of one batch's scoring time (for Retry-After)

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def close(self, limit_s: float | None = None) -> None:
        """Refuse new requests and score everything queued; after ``limit_s`` seconds (None: no limit)
        stop scoring, and what is left gets ``Overloaded``."""
        self._closing = True
        if self._task is not None:
            self._wakeup.set()
            try:
                await asyncio.wait_for(self._task, limit_s)
            except TimeoutError:  # the task was cancelled, and the batch it was scoring with it
                _fail(self._take(self.queued_rows), _stopped())  # every job still queued
            self._task = None

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Around receiving and validating a request: the batcher may wait for its records."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1
            if self._wakeup is not None:
                self._wakeup.set()

    async def score(self, records: list[Any]) -> list[Any]:
        """The outputs for ``records``, scored in a batch with whatever else is queued."""
        if self._closing or self._task is None:
            raise Overloaded("the service is stopping (or not started); send the request again", 1)
        if self.queued_rows + len(records) > self.max_queue_rows:
            wait = math.ceil(self._batch_seconds * (self.queued_rows / self.max_batch_rows + 1))
            raise Overloaded(
                f"the service is at capacity ({self.queued_rows} records queued, at most "
                f"{self.max_queue_rows}: serving.max_queue_rows); retry in a moment",
                max(1, wait),
            )
        job = _Job(records, asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self.queued_rows += len(records)
        self._wakeup.set()
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), self.timeout)
        except TimeoutError:
            job.abandoned = True
            raise TimedOut(
                f"no answer within {self.timeout * 1000:g} ms (serving.timeout_ms); the service is "
                "overloaded or the request too large"
            ) from None

    def _take(self, room: int, at_least_one: bool = True) -> list[_Job]:
        """Queued jobs, oldest first, up to ``room`` records (and at least one job, however large)."""
        taken: list[_Job] = []
        while self._pending and (len(self._pending[0].records) <= room or (at_least_one and not taken)):
            job = self._pending.popleft()
            self.queued_rows -= len(job.records)
            if job.abandoned:
                continue
            taken.append(job)
            room -= len(job.records)
        return taken

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            jobs = self._take(self.max_batch_rows)
            rows = sum(len(job.records) for job in jobs)
            deadline = loop.time() + self.max_wait
            while rows < self.max_batch_rows and self._arriving and not self._closing:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except TimeoutError:
                    break
                more = self._take(self.max_batch_rows - rows, at_least_one=False)
                jobs += more
                rows += sum(len(job.records) for job in more)
            if jobs:
                await self._score_jobs(jobs, rows)

    async def _score_jobs(self, jobs: list[_Job], rows: int) -> None:
        records = [record for job in jobs for record in job.records]
        started = time.perf_counter()
        try:
            outputs = await self._score(records)
            if len(outputs) != rows:
                raise RuntimeError(f"scoring returned {len(outputs)} outputs for {rows} records")
        except asyncio.CancelledError:  # close's time limit passed: these will not be scored
            _fail(jobs, _stopped())
            raise
        except Exception as exc:  # noqa: BLE001  (every waiting request gets the failure)
            _fail(jobs, exc)
            return
        seconds = time.perf_counter() - started
        self._batch_seconds = 0.8 * self._batch_seconds + 0.2 * seconds
        if self._on_batch is not None:
            self._on_batch(rows, seconds)
        start = 0
        for job in jobs:
            if not job.future.done():
                job.future.set_result(outputs[start : start + len(job.records)])
            start += len(job.records)


def _stopped() -> Overloaded:
    return Overloaded("the service stopped before this request was scored; send it again", 1)


def _fail(jobs: list[_Job], error: Exception) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(error)
