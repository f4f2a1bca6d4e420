"""``GET /metrics``: the service's Prometheus metrics (``serving.metrics``), the prediction log's backlog
brought up to date first."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from lifecycle.serving.metrics import CONTENT_TYPE

router = APIRouter()


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, latency, batch sizes, queue, prediction log, model",
    response_class=PlainTextResponse,
)
async def prometheus(request: Request) -> Response:
    service = request.app.state.service
    stats = service.store.stats()
    service.metrics.log_state(stats["log_pending"], stats["log_oldest_pending_seconds"])
    return Response(service.metrics.render(), media_type=CONTENT_TYPE)
