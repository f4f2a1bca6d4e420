"""``GET /ready``: 200 once the model is loaded, its scoring process ready and requests accepted, else 503;
the prediction log's state (open without the token: a load balancer's probe)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

READY_STATS = ("logged", "log_failures", "log_pending", "last_log_error")  # of the log's; /health has them all

router = APIRouter()


@router.get(
    "/ready",
    summary="200 once the model is loaded and the service accepts predictions, else 503",
    responses={
        503: {
            "description": "not ready: the model is not loaded yet, the service is stopping, "
            "or its scoring process is being replaced"
        }
    },
)
async def ready(request: Request) -> JSONResponse:
    service = request.app.state.service
    if not service.ready:
        return JSONResponse(
            {"status": "not ready", "detail": "the model is not loaded yet, or the service is stopping"}, 503
        )
    if not service.process.healthy:
        return JSONResponse(
            {
                "status": "not ready",
                "detail": "the scoring process is being replaced (the "
                "last one stopped, or did not score a batch within serving.scoring_deadline_ms)",
            },
            503,
        )
    stats = service.store.stats()
    return JSONResponse(
        {
            "status": "ready",
            "model": service.scorer.name,
            "version": service.scorer.version,
            "prediction_log": service.store.state(),
            **{k: stats[k] for k in READY_STATS},
        }
    )
