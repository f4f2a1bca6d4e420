"""``GET /health``: the process is up; its request, queue and prediction-log counters (open without the token)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

router = APIRouter()


@router.get("/health", summary="the process is up; request, queue and prediction-log counters")
async def health(request: Request) -> dict:
    service = request.app.state.service
    service.metrics.requests.labels("/health", "200").inc()
    return {
        "status": "ok",
        "uptime_seconds": round(time.monotonic() - service.started, 1),
        **service.counts,
        "scoring_restarts": max(0, service.process.starts - 1),
        "queued_records": service.batcher.queued_rows,
        **service.store.stats(),
    }
