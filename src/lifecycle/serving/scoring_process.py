"""The service's model runs in a child process, so HTTP and scoring never share a GIL.

A worker of the service receives, validates and answers requests on its event loop; the
model scores in a child process of its own (one per worker, one more for a shadow
version). On 2 cores that is the difference between the event loop waiting for the
scoring thread's GIL and both running at once. The two talk over the child's stdin and
stdout with length-prefixed pickles: the records of a batch one way, the arrays of
``scoring.predict`` the other. The micro-batcher sends the next batch when the answer is
back, so the child never queues and a batch takes whatever arrived meanwhile.

The child gets the parent's loaded and verified scorer (pickled at start: the registry is
read once), checks that it scores a valid record, then scores each batch: the records as
one array (``Contract.rows``) when ``scoring.direct`` allows it, else as a frame. A batch
the model fails on gets a ``ScoringFailed`` naming the error, and the child goes on. If
the child dies (killed, out of memory), a new one scores the batch again; a batch that
stops two children in a row fails. A batch not answered within the deadline
(``serving.scoring_deadline_ms``: a hung model, a stopped process) gets ``DeadlinePassed``
(a ``batching.TimedOut``: HTTP 504); the child is killed and a new one started at once, in
the background, and ``healthy`` is false until it is ready. The child ignores SIGINT and
SIGTERM (Ctrl-C reaches the whole process group): the parent finishes its queue through it,
then closes its stdin, and the child exits.

    python -m lifecycle.serving.scoring_process   (started by ``ScoringProcess``, never by hand)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import struct
import sys
from typing import Any, BinaryIO

from lifecycle.modeling import scoring
from lifecycle.serving.batching import TimedOut
from lifecycle.serving.request_schema import Contract

HEADER = struct.Struct("!Q")  # the length of the pickle that follows
log = logging.getLogger(__name__)


class ScoringFailed(RuntimeError):
    """The model could not score a batch (``kind``: the error's type), or its process stopped."""

    def __init__(self, detail: str, kind: str = "ScoringFailed"):
        super().__init__(detail)
        self.kind = kind


class DeadlinePassed(ScoringFailed, TimedOut):
    """A batch was not scored within the deadline: its process was killed and is being replaced."""


class ScoringProcess:
    """A child process scoring batches with ``scorer``; ``await predict(records)`` from one event loop.

    ``start`` raises ``ScoringFailed`` (with the child's reason) when the model cannot score a
    valid record there. Calls are served one at a time, in order; one not answered within
    ``deadline_s`` (None: no deadline) raises ``DeadlinePassed``.
    """

    def __init__(self, scorer: Any, start_timeout_s: float = 120.0, deadline_s: float | None = None):
        self.scorer, self.start_timeout_s, self.deadline_s = scorer, start_timeout_s, deadline_s
        self.starts = 0  # children started: 1 plus the restarts
        self.healthy = False  # a child is ready to score (false while one starts, e.g. replacing a hung one)
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._replacing: asyncio.Task | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        async with self._lock:
            await self._start()

    async def predict(self, records: list[dict]) -> tuple:
        """``scoring.predict``'s arrays for ``records`` (validated dicts), scored in the child."""
        async with self._lock:
            for attempt in (1, 2):
                if self._process is None:
                    await self._start()
                try:
                    status, answer = await asyncio.wait_for(self._exchange(records), self.deadline_s)
                    break
                except TimeoutError:
                    await self._kill()
                    self._replacing = asyncio.get_running_loop().create_task(self._replace())
                    raise DeadlinePassed(
                        f"version {self.scorer.version} did not score the batch within "
                        f"{self.deadline_s * 1000:g} ms (serving.scoring_deadline_ms); its scoring "
                        "process was stopped and a new one is starting: send the request again",
                        "DeadlinePassed",
                    ) from None
                except (ConnectionError, asyncio.IncompleteReadError):
                    code = await self._reap()
                    if attempt == 2:
                        raise ScoringFailed(
                            f"the scoring process of version {self.scorer.version} stopped twice "
                            f"(exit code {code}) on this batch; a new one starts for the next "
                            "batch"
                        ) from None
                    log.warning(
                        "the scoring process of version %s stopped (exit code %s); scoring the batch "
                        "again in a new one",
                        self.scorer.version,
                        code,
                    )
            if status != "ok":
                kind, detail = answer
                raise ScoringFailed(f"{kind}: {detail}", kind)
            return answer

    async def close(self, timeout_s: float = 10.0) -> None:
        """Close the child's stdin (it exits when it has answered); kill it after ``timeout_s``."""
        self._closed = True
        if self._replacing is not None:  # a replacement still starting is not waited for
            self._replacing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replacing
        async with self._lock:
            process, self._process, self.healthy = self._process, None, False
            if process is None:
                return
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), timeout_s)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def _exchange(self, records: list[dict]) -> tuple:
        await self._send(records)
        return await self._receive()

    async def _kill(self) -> None:
        process, self._process, self.healthy = self._process, None, False
        with contextlib.suppress(ProcessLookupError):  # it may have ended on its own meanwhile
            process.kill()
        code = await process.wait()
        log.error(
            "the scoring process of version %s did not answer within %g ms; killed (exit code %s)",
            self.scorer.version,
            self.deadline_s * 1000,
            code,
        )

    async def _replace(self) -> None:
        """A new child in place of a killed one, unless a batch started one first (or the service stops)."""
        async with self._lock:
            if self._process is not None or self._closed:
                return
            try:
                await self._start()
            except (ScoringFailed, OSError) as exc:
                log.error(
                    "no new scoring process of version %s (%s); the next batch tries again", self.scorer.version, exc
                )

    async def _start(self) -> None:
        self.starts += 1
        self.healthy = False
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lifecycle.serving.scoring_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            await self._send(self.scorer)
            status, detail = await asyncio.wait_for(self._receive(), self.start_timeout_s)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError) as exc:
            code = await self._reap()
            raise ScoringFailed(
                f"the scoring process of version {self.scorer.version} did not start "
                f"({type(exc).__name__}, exit code {code}); see the service log"
            ) from None
        if status != "ready":
            await self._reap()
            raise ScoringFailed(
                f"version {self.scorer.version} cannot score a valid record ({detail}); it is "
                "incompatible with this environment or its own feature schema"
            )
        self.healthy = True

    async def _send(self, value: Any) -> None:
        self._process.stdin.write(_framed(value))
        await self._process.stdin.drain()

    async def _receive(self) -> tuple:
        stdout = self._process.stdout
        (size,) = HEADER.unpack(await stdout.readexactly(HEADER.size))
        return pickle.loads(await stdout.readexactly(size))

    async def _reap(self) -> int | None:
        """Stop a child that broke the conversation; its exit code."""
        process, self._process, self.healthy = self._process, None, False
        if process is None:
            return None
        try:  # usually it is gone already; killing first would reap it under asyncio's child watcher
            return await asyncio.wait_for(process.wait(), 2.0)
        except TimeoutError:
            process.kill()
            return await process.wait()


# --- the child ------------------------------------------------------------------------------


def _framed(value: Any) -> bytes:
    """One message, either way: its length, then its pickle."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def _read(stream: BinaryIO) -> Any:
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None  # the parent closed the pipe: done
    (size,) = HEADER.unpack(head)
    return pickle.loads(stream.read(size))


def _ready(scorer: Any) -> Any:
    """How to score a batch of validated records, once the scorer has scored a valid one that way."""
    contract = Contract(scorer.schema)
    probe = contract.frame([contract.example(), dict.fromkeys(contract.columns)])
    scoring.predict(scorer, probe.head(1))
    if scoring.direct(scorer.pipeline, probe) == "rows":  # no frame at all

        def score(records: list[dict]) -> tuple:
            return scoring.answers(scorer, contract.rows(records))
    else:

        def score(records: list[dict]) -> tuple:
            return scoring.predict(scorer, contract.frame(records))

    score([contract.example()])  # the path taken from now on works, and is warm
    return score


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # a stray print goes to the log, never into the answers
    requests = sys.stdin.buffer
    scorer = _read(requests)
    if scorer is None:
        return 0
    try:
        score = _ready(scorer)
    except Exception as exc:  # noqa: BLE001  (the parent says it in one line)
        answers.write(_framed(("failed", f"{type(exc).__name__}: {' '.join(str(exc).split())}")))
        return 1
    import gc

    gc.collect()
    gc.freeze()  # the model and libraries are permanent: collections stay short
    answers.write(_framed(("ready", None)))
    while (records := _read(requests)) is not None:
        try:
            answer = ("ok", score(records))
        except Exception as exc:  # noqa: BLE001  (the batch fails; the process goes on)
            answer = ("error", (type(exc).__name__, str(exc)))
        answers.write(_framed(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
