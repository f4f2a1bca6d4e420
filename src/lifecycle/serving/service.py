"""The prediction service's running state (``app.state.service``): the scorers, the request contract, the
micro-batcher, the scoring process(es), the prediction log, the metrics and the counters the endpoints share.

Concurrent requests are scored together in micro-batches (``batching``) by a scoring process of the
worker's own (``scoring_process``): the event loop never waits for the model's GIL. Every prediction is
recorded on local disk (the prediction log's spool) before it is answered, and written to the prediction
store (``prediction_log``) by a background drainer; predictions that cannot be recorded (disk full) are
never answered (``SpoolRefused``), and an answer refused (a model output that is not a finite number,
``serve_guard``) is never logged. An optional shadow version scores the same batches after the answer is
computed; logged with role ``shadow``, never returned.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

import anyio
import numpy as np

from lifecycle.modeling import scoring
from lifecycle.serving import guard as serve_guard
from lifecycle.serving.batching import MicroBatcher
from lifecycle.serving.metrics import Metrics
from lifecycle.serving.request_schema import Contract
from lifecycle.serving.scoring_process import ScoringFailed, ScoringProcess
from lifecycle.store import prediction_log

log = logging.getLogger("lifecycle.serving.serve")  # the service's log lines keep the name they always had
SHADOW_BACKLOG = 64  # shadow jobs waiting beyond this are skipped (counted), so a slow shadow cannot pile up
CLOSE_S = 5.0  # at shutdown, a scoring process not gone this long after its input closed is killed


class Service:
    """What the endpoints share: the scorers, the request contract, the batcher, the log, the metrics and the
    request limits (``max_body_bytes``, ``body_timeout_s``, the ``batching`` settings)."""

    def __init__(
        self,
        scorer: scoring.Scorer,
        *,
        contract: Contract,
        store: prediction_log.PredictionLog,
        shadow: scoring.Scorer | None,
        max_body_bytes: int,
        batching: dict,
        scoring_deadline_ms: float | None = None,
        body_timeout_s: float = 30.0,
    ):
        self.scorer, self.contract, self.store, self.shadow = scorer, contract, store, shadow
        self.max_body_bytes, self.batching, self.body_timeout_s = max_body_bytes, batching, body_timeout_s
        self.metrics = Metrics(scorer.name, scorer.version, shadow.version if shadow else None)
        store.on_written, store.on_failed = self.metrics.logged.inc, self.metrics.log_failures.inc
        store.on_state = self.metrics.log_state
        self.batcher = MicroBatcher(self.score_batch, on_batch=self._batched, **batching)
        deadline_s = scoring_deadline_ms / 1000 if scoring_deadline_ms else None  # a hung model: 504, replaced
        self.process = ScoringProcess(scorer, deadline_s=deadline_s)
        self.shadow_process = ScoringProcess(shadow, deadline_s=deadline_s) if shadow else None
        self.ready = False
        self.started = time.monotonic()
        self.counts = {
            "requests": 0,
            "score_failures": 0,
            "non_finite_outputs": 0,
            "overloaded": 0,
            "timed_out": 0,
            "shadow_failures": 0,
            "shadow_skipped": 0,
        }
        self._shadow_jobs: set[asyncio.Task] = set()

    def count(self, key: str) -> None:
        self.counts[key] += 1

    def _batched(self, rows: int, seconds: float) -> None:
        self.metrics.batch_rows.observe(rows)
        self.metrics.batch_seconds.observe(seconds)
        self.metrics.queue_rows.set(self.batcher.queued_rows)

    async def score_batch(self, items: list[tuple[str, int, dict]]) -> list[dict]:
        """Outputs for ``(request_id, index, record)`` items of several requests, scored in one call
        in the scoring process; starts the shadow's job for the same records."""
        outputs = outputs_of(await self.process.predict([record for _, _, record in items]), self.scorer)
        if self.shadow_process is not None:
            self._submit_shadow(items, datetime.now(UTC))
        return outputs

    async def predict(self, body: bytes, request_id: str) -> dict:
        """Validate, score in a micro-batch, log; the response body."""
        with self.batcher.arriving():
            if len(body) > 65_536:  # a large request is validated off the event loop
                records, warnings, flags = await anyio.to_thread.run_sync(self.contract.parse, body)
            else:
                records, warnings, flags = self.contract.parse(body)
        self.metrics.queue_rows.set(self.batcher.queued_rows)
        outputs = await self.batcher.score([(request_id, i, record) for i, record in enumerate(records)])
        refused = serve_guard.non_finite(outputs)
        if refused is not None:  # decided before logging: the log holds only answers the caller got
            self.count("non_finite_outputs")
            log.warning("request %s: %s (refused with 422, not logged)", request_id, refused.detail)
            raise refused
        now = datetime.now(UTC)
        await self.record(
            [
                prediction_log.row(
                    request_id,
                    record=i,
                    model=self.scorer.name,
                    version=self.scorer.version,
                    role="production",
                    inputs=records[i],
                    outputs=outputs[i],
                    timestamp=now,
                    flags=flags[i],
                )
                for i in range(len(records))
            ]
        )
        return {
            "request_id": request_id,
            "model": self.scorer.name,
            "version": self.scorer.version,
            "predictions": [
                {"record": i, **outputs[i], "warnings": warnings[i], "flags": flags[i]} for i in range(len(records))
            ],
        }

    async def record(self, rows: list[dict]) -> None:
        """Rows into the prediction log, on disk once this returns (``SpoolRefused`` if they cannot be)."""
        await anyio.to_thread.run_sync(self.store.submit, rows)
        self.metrics.spooled.inc(len(rows))

    def _submit_shadow(self, items: list[tuple[str, int, dict]], now: datetime) -> None:
        if len(self._shadow_jobs) >= SHADOW_BACKLOG:
            self.count("shadow_skipped")
            self.metrics.shadow_failures.inc()
            return
        job = asyncio.get_running_loop().create_task(self._score_shadow(items, now))
        self._shadow_jobs.add(job)
        job.add_done_callback(self._shadow_jobs.discard)

    async def _score_shadow(self, items: list[tuple[str, int, dict]], now: datetime) -> None:
        try:
            outputs = outputs_of(await self.shadow_process.predict([record for _, _, record in items]), self.shadow)
            await self.record(
                [
                    prediction_log.row(
                        request_id,
                        record=i,
                        model=self.shadow.name,
                        version=self.shadow.version,
                        role="shadow",
                        inputs=record,
                        outputs=output,
                        timestamp=now,
                    )
                    for (request_id, i, record), output in zip(items, outputs)
                ]
            )
        except Exception as exc:  # noqa: BLE001  (a shadow failure never reaches the client)
            self.count("shadow_failures")
            self.metrics.shadow_failures.inc()
            log.warning(
                "shadow version %s failed on a batch of %d record(s) (%s: %s)",
                self.shadow.version,
                len(items),
                type(exc).__name__,
                exc,
            )

    async def start(self) -> None:
        """Start the scoring process(es) and the log writer (a ``ScoringFailed`` if the model cannot score)."""
        # Both processes load their model at once (two cores: the service is ready in one start, not two).
        starts = [self.process.start()] + ([self.shadow_process.start()] if self.shadow_process else [])
        served, *shadow = await asyncio.gather(*starts, return_exceptions=True)
        if isinstance(served, BaseException):
            if shadow and not isinstance(shadow[0], BaseException):
                await self.shadow_process.close()
            raise served
        if shadow and isinstance(shadow[0], ScoringFailed):  # a shadow never stops the service
            log.warning("no shadow: %s", shadow[0])
            self.shadow = self.shadow_process = None
        elif shadow and isinstance(shadow[0], BaseException):
            raise shadow[0]
        self.store.start()
        self.batcher.start()
        self.ready = True

    async def close(self) -> None:
        """Finish what is queued (and the shadow's jobs), stop the scoring processes, drain the log (what
        the store does not take within its time limit stays in the spool for the next start). Within
        ``timeout_ms`` every caller has had its answer or its 504, so what is unfinished then is dropped."""
        self.ready = False
        limit_s = self.batching["timeout_ms"] / 1000
        await self.batcher.close(limit_s)
        if self._shadow_jobs:
            _, unfinished = await asyncio.wait(self._shadow_jobs, timeout=limit_s)
            for job in unfinished:
                job.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        await self.process.close(CLOSE_S)
        if self.shadow_process is not None:
            await self.shadow_process.close(CLOSE_S)
        await anyio.to_thread.run_sync(self.store.close)


def plain(value: Any) -> Any:
    """A numpy scalar (or NaN) as a plain JSON value."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def outputs_of(answers: tuple[np.ndarray, np.ndarray | None], scorer: scoring.Scorer) -> list[dict]:
    """Per row of ``scoring.predict``'s answers, in plain types: ``prediction`` and ``probability_<class>``."""
    prediction, proba = answers
    predictions = [plain(v) for v in prediction.tolist()]
    if proba is None:
        return [{"prediction": p} for p in predictions]
    columns = [f"probability_{c}" for c in scorer.classes]
    return [{"prediction": p, **dict(zip(columns, row))} for p, row in zip(predictions, proba.tolist())]
