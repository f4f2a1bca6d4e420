"""The prediction service's app (``create_app``): a FastAPI app over a registered model.

Endpoints (one module each in ``routes/``): ``GET /health`` (the process is up; counters), ``GET /ready``
(200 once the model is loaded, its scoring process ready and requests accepted, else 503; the prediction
log's state), ``GET /metadata`` (model, version, task, classes, threshold, feature schema, limits, domain
rules), ``GET /metrics`` (Prometheus) and ``POST /predict``. The request contract is in ``request_schema``
and in the OpenAPI docs at ``/docs``: a JSON object is one record, a JSON array is a batch. The running
state the endpoints share is the ``Service`` (``service``) on ``app.state.service``; ``serve_guard`` sits
in front of them all: the optional bearer token, the Host and Content-Type checks.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from lifecycle.modeling import scoring
from lifecycle.serving import guard as serve_guard
from lifecycle.serving.request_body import ErrorBody
from lifecycle.serving.request_schema import Contract, Domain
from lifecycle.serving.routes import health, metadata, metrics, predict, ready
from lifecycle.serving.service import Service
from lifecycle.store import prediction_log

UNAUTHORIZED = {401: {"model": ErrorBody, "description": "no bearer token, or not the service's"}}


def routers(service: Service) -> list[APIRouter]:
    """The endpoints, in the order the docs list them: a new endpoint is a module in ``routes/`` and a line here."""
    return [health.router, ready.router, metadata.router, metrics.router, predict.router_for(service)]


def create_app(
    scorer: scoring.Scorer,
    *,
    shadow: scoring.Scorer | None = None,
    store_url: str = "sqlite:///data/predictions.db",
    table: str = "predictions",
    max_records: int = 1000,
    max_body_bytes: int = 2_000_000,
    domain: Domain | dict | None = None,
    max_batch_rows: int = 64,
    max_wait_ms: float = 2.0,
    max_queue_rows: int = 2000,
    timeout_ms: float = 5000.0,
    spool: str | os.PathLike | None = None,
    scoring_deadline_ms: float = 10000.0,
    max_string_length: int = 1000,
    publish_domain: bool = True,
    docs: bool = True,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    body_timeout_s: float = 30.0,
) -> FastAPI:
    """The service for a loaded model (``scoring.load``); see the module doc for the endpoints.

    Scores an example record first: a ``ValueError`` if the model (or the shadow) cannot.
    ``domain``: the out-of-domain rules (``request_schema.Domain``); the batching and
    backpressure settings are ``batching.MicroBatcher``'s; a batch not scored within
    ``scoring_deadline_ms`` gets 504 and its scoring process is replaced (``scoring_process``); ``spool``:
    the prediction log's spool folder (default ``prediction_log.spool_folder``); ``token``,
    ``allowed_hosts`` (None: any) and the rest are the ``serving:`` settings of the same names
    (``serve_guard``).
    """
    contract = Contract(
        scorer.schema, domain, max_records, max_string_length=max_string_length, publish_domain=publish_domain
    )
    _require_scoring(contract, scorer, shadow)
    _require_queue_room(max_queue_rows, max_records)
    batching = {
        "max_batch_rows": max_batch_rows,
        "max_wait_ms": max_wait_ms,
        "max_queue_rows": max_queue_rows,
        "timeout_ms": timeout_ms,
    }
    service = Service(
        scorer,
        contract=contract,
        store=prediction_log.PredictionLog(store_url, table, spool=spool),
        shadow=shadow,
        max_body_bytes=max_body_bytes,
        batching=batching,
        scoring_deadline_ms=scoring_deadline_ms,
        body_timeout_s=body_timeout_s,
    )
    app = _app(service, docs=docs, guarded=bool(token))
    _add_middleware(app, token=token, allowed_hosts=allowed_hosts, docs=docs)
    return app


def _app(service: Service, *, docs: bool, guarded: bool) -> FastAPI:
    """The FastAPI app of ``service``: its pages (none without ``docs``), its routes and their OpenAPI
    document; ``guarded`` (a token is set): every endpoint but the probes documents its 401 and the token."""
    scorer = service.scorer
    pages = {"docs_url": "/docs", "redoc_url": "/redoc", "openapi_url": "/openapi.json"}
    app = FastAPI(
        title=f"lifecycle: {scorer.name}",
        version=str(scorer.version),
        lifespan=_lifespan,
        description=f"Predictions of model **{scorer.name}** version {scorer.version} ({scorer.task}).",
        **(pages if docs else dict.fromkeys(pages)),
    )
    app.state.service = service
    for router in routers(service):  # with a token, every endpoint but the probes documents its 401
        documented = guarded and any(route.path not in serve_guard.PROBES for route in router.routes)
        app.include_router(router, responses=UNAUTHORIZED if documented else None)
    app.openapi = partial(_document, app, service.contract, guarded=guarded)
    return app


def _add_middleware(app: FastAPI, *, token: str | None, allowed_hosts: list[str] | None, docs: bool) -> None:
    """``POST /predict`` past the router (``Shortcut``), and the guard in front of everything (outermost):
    the token, the Host header; the docs' pages open when they are served."""
    app.add_middleware(Shortcut, path="/predict", endpoint=predict.predict)
    app.add_middleware(
        serve_guard.Guard,
        token=token,
        hosts=allowed_hosts,  # outermost: before the shortcut
        open_paths={
            path
            for path in (app.docs_url, app.redoc_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url)
            if path and docs
        },
    )


def _require_queue_room(max_queue_rows: int, max_records: int) -> None:
    """Refuse (``ValueError``) a queue smaller than the largest request."""
    if max_queue_rows < max_records:
        raise ValueError(
            f"serving.max_queue_rows ({max_queue_rows}) is below serving.max_records ({max_records}): "
            "a full-size request could never be queued; raise max_queue_rows"
        )


def _require_scoring(contract: Contract, scorer: scoring.Scorer, shadow: scoring.Scorer | None) -> None:
    """Refuse (``ValueError``) a model, or a shadow, that cannot score a valid record."""
    probe = contract.frame([contract.example(), dict.fromkeys(contract.columns)])  # a valid record, an empty one
    for model in filter(None, (scorer, shadow)):
        try:
            scoring.score(model, probe.head(1))
        except Exception as exc:
            raise ValueError(
                f"version {model.version} cannot score a valid record ({type(exc).__name__}: {exc}); "
                "it is incompatible with this environment or its own feature schema"
            ) from exc


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Start the service (scoring processes, log writer); at shutdown, finish what is queued and drain the log."""
    await app.state.service.start()
    yield
    await app.state.service.close()


def _document(app: FastAPI, contract: Contract, *, guarded: bool) -> dict:
    """The OpenAPI document: FastAPI's, with the ``Record`` schema of ``contract`` and, when ``guarded``
    (a token is set), the bearer scheme on every endpoint but the probes."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Record"] = contract.json_schema()
        if guarded:
            components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            for path, operations in schema["paths"].items():
                if path not in serve_guard.PROBES:
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
    return app.openapi_schema


class Shortcut:
    """``POST path`` straight to its endpoint, past the router and FastAPI's per-request machinery
    (about a third of a small request's time in the service's process); the route stays in the
    app, for the docs and every other method. The endpoint takes the request and answers every
    outcome itself."""

    def __init__(self, app: Any, path: str, endpoint: Any):
        self.app, self.path, self.endpoint = app, path, endpoint

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            response = await self.endpoint(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)
