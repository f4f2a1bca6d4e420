"""The online prediction service (``lifecycle serve``): a FastAPI app over a registered model.

Endpoints: ``GET /health`` (the process is up; log counters), ``GET /ready`` (200 once the
model is loaded, else 503), ``GET /metadata`` (model, version, task, classes, threshold,
feature schema, request limits) and ``POST /predict``. The request contract is in
``request_schema`` and in the OpenAPI docs at ``/docs``: a JSON object is one record, a
JSON array is a batch. Every answer of ``/predict`` carries a request id (also in the
``X-Request-ID`` header); every prediction is logged to the prediction store
(``prediction_log``) off the request path. An optional shadow version scores the same
records after the answer is computed; it is logged with role ``shadow``, never returned.

    python -m lifecycle.serve [--model NAME] [--version V | --stage STAGE] [--shadow V]
                              [--host HOST] [--port N]
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.requests import ClientDisconnect

from lifecycle import prediction_log, scoring
from lifecycle.request_schema import Contract, ErrorBody, RequestError, UnknownCategories, read_body

log = logging.getLogger("lifecycle.serve")
SHADOW_BACKLOG = 64  # shadow jobs waiting beyond this are skipped (counted), so a slow shadow cannot pile up


class Prediction(BaseModel):
    """One record's answer; classification adds ``probability_<class>`` for each class."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"record": 0, "prediction": 1, "probability_0": 0.27, "probability_1": 0.73, "warnings": []}]})
    record: int
    prediction: Any
    warnings: list[str] = []


class PredictResponse(BaseModel):
    request_id: str
    model: str
    version: int
    predictions: list[Prediction]


class Service:
    """What the endpoints share: the scorers, the request contract, the log and the counters."""

    def __init__(self, scorer: scoring.Scorer, contract: Contract, store: prediction_log.PredictionLog,
                 shadow: scoring.Scorer | None, max_body_bytes: int):
        self.scorer, self.contract, self.store, self.shadow = scorer, contract, store, shadow
        self.max_body_bytes = max_body_bytes
        self.ready = False
        self.started = time.monotonic()
        self.counts = {"requests": 0, "score_failures": 0, "shadow_failures": 0, "shadow_skipped": 0}
        self._lock = threading.Lock()
        self._shadow_pending = 0
        self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix="shadow") if shadow else None

    def count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def handle(self, body: bytes, request_id: str) -> dict:
        """Validate, score, queue the log rows and the shadow job; the response body (runs in a worker thread)."""
        records, warnings = self.contract.parse(body)
        frame = self.contract.frame(records)
        outputs = outputs_of(scoring.score(self.scorer, frame), self.scorer)
        now = datetime.now(UTC)
        self.store.submit([prediction_log.row(request_id, i, self.scorer.name, self.scorer.version, "production",
                                              records[i], outputs[i], now) for i in range(len(records))])
        if self._shadow_pool is not None:
            self._submit_shadow(request_id, records, frame, now)
        return {"request_id": request_id, "model": self.scorer.name, "version": self.scorer.version,
                "predictions": [{"record": i, **outputs[i], "warnings": warnings[i]} for i in range(len(records))]}

    def _submit_shadow(self, request_id: str, records: list[dict], frame: pd.DataFrame, now: datetime) -> None:
        with self._lock:
            if self._shadow_pending >= SHADOW_BACKLOG:
                self.counts["shadow_skipped"] += 1
                return
            self._shadow_pending += 1
        self._shadow_pool.submit(self._score_shadow, request_id, records, frame, now)

    def _score_shadow(self, request_id: str, records: list[dict], frame: pd.DataFrame, now: datetime) -> None:
        try:
            outputs = outputs_of(scoring.score(self.shadow, frame), self.shadow)
            self.store.submit([prediction_log.row(request_id, i, self.shadow.name, self.shadow.version, "shadow",
                                                  records[i], outputs[i], now) for i in range(len(records))])
        except Exception as exc:  # noqa: BLE001  (a shadow failure never reaches the client)
            self.count("shadow_failures")
            log.warning("shadow version %s failed on request %s (%s: %s)", self.shadow.version, request_id,
                        type(exc).__name__, exc)
        finally:
            with self._lock:
                self._shadow_pending -= 1

    def close(self) -> None:
        if self._shadow_pool is not None:
            self._shadow_pool.shutdown(wait=True)
        self.store.close()

    def health(self) -> dict:
        return {"status": "ok", "uptime_seconds": round(time.monotonic() - self.started, 1), **self.counts,
                **self.store.stats()}

    def metadata(self) -> dict:
        scorer = self.scorer
        return {
            "model": scorer.name, "version": scorer.version, "data_version": scorer.metadata.get("data_version"),
            "task": scorer.task, "target": scorer.metadata.get("target"), "classes": [plain(c) for c in scorer.classes],
            "positive_class": plain(scorer.positive_class), "threshold": scorer.threshold,
            "shadow": {"model": self.shadow.name, "version": self.shadow.version} if self.shadow else None,
            "limits": {"max_records": self.contract.max_records, "max_body_bytes": self.max_body_bytes,
                       "unknown_categories": self.contract.unknown_categories},
            "feature_schema": {column: {k: plain(v) for k, v in spec.items()}
                               for column, spec in self.contract.inputs.items()},
            **self.store.stats()}


def plain(value: Any) -> Any:
    """A numpy scalar (or NaN) as a plain JSON value."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def outputs_of(result: pd.DataFrame, scorer: scoring.Scorer) -> list[dict]:
    """Per row of ``scoring.score``'s result, in plain types: ``prediction`` and ``probability_<class>``."""
    predictions = [plain(v) for v in result["prediction"].tolist()]
    columns = [str(c) for c in result.columns if c != "prediction"]
    values = result[columns].to_numpy(dtype=float).tolist() if columns else [[]] * len(result)
    return [{"prediction": p, **dict(zip(columns, row))} for p, row in zip(predictions, values)]


def create_app(scorer: scoring.Scorer, *, shadow: scoring.Scorer | None = None,
               store_url: str = "sqlite:///data/predictions.db", table: str = "predictions",
               max_records: int = 1000, max_body_bytes: int = 2_000_000,
               unknown_categories: UnknownCategories = "accept", workers: int = 2) -> FastAPI:
    """The service for a loaded model (``scoring.load``); see the module doc for the endpoints.

    Scores an example record first: a ``ValueError`` if the model (or the shadow) cannot.

    ``unknown_categories``: ``"accept"`` scores a categorical value unseen in training and
    reports it in the record's ``warnings``; ``"reject"`` answers 422. ``workers``: requests
    scored at once, in threads; more wait their turn without holding a thread (scoring a few
    records is mostly Python, so more threads than cores only fight over the GIL and the
    event loop, which answers /health, would wait behind them).
    """
    contract = Contract(scorer.schema, unknown_categories, max_records)
    for model in filter(None, (scorer, shadow)):  # warm up; a model that cannot score a valid record is refused
        try:
            scoring.score(model, contract.frame([contract.example()]))
        except Exception as exc:
            raise ValueError(f"version {model.version} cannot score a valid record ({type(exc).__name__}: {exc}); "
                             "it is incompatible with this environment or its own feature schema") from exc
    service = Service(scorer, contract, prediction_log.PredictionLog(store_url, table), shadow, max_body_bytes)

    limiter = None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal limiter
        limiter = anyio.CapacityLimiter(workers)
        service.store.start()
        service.ready = True
        yield
        service.ready = False
        await anyio.to_thread.run_sync(service.close)

    app = FastAPI(title=f"lifecycle: {scorer.name}", version=str(scorer.version), lifespan=lifespan,
                  description=f"Predictions of model **{scorer.name}** version {scorer.version} ({scorer.task}).")
    app.state.service = service

    @app.get("/health", summary="the process is up; prediction-log and failure counters")
    async def health() -> dict:
        return service.health()

    @app.get("/ready", summary="200 once the model is loaded and the service accepts predictions, else 503")
    async def ready() -> JSONResponse:
        if not service.ready or service.scorer is None:
            return JSONResponse({"status": "not ready", "detail": "the model is not loaded yet"}, 503)
        return JSONResponse({"status": "ready", "model": service.scorer.name, "version": service.scorer.version})

    @app.get("/metadata", summary="the served model: version, data version, task, classes, threshold, inputs")
    async def metadata() -> dict:
        return service.metadata()

    example = contract.example()
    record_ref = {"$ref": "#/components/schemas/Record"}
    body_doc = {"required": True, "content": {"application/json": {
        "schema": {"oneOf": [record_ref, {"type": "array", "items": record_ref, "minItems": 1,
                                          "maxItems": max_records}]},
        "examples": {"one record": {"value": example}, "a list of records": {"value": [example, example]}}}}}
    errors = {400: "malformed JSON", 413: f"body over {max_body_bytes} bytes or over {max_records} records",
              422: "a record is invalid: each problem names the record index, the field and what is wrong"}

    @app.post("/predict", summary="predict one record (a JSON object) or a batch (a JSON array of objects)",
              response_model=PredictResponse, openapi_extra={"requestBody": body_doc},
              responses={code: {"model": ErrorBody, "description": text} for code, text in errors.items()},
              description=(
                  "The body is **one record** (a JSON object) or **a list of records** (a JSON array of 1 to "
                  f"{max_records} objects). A record has every model input (see the `Record` schema: numbers within "
                  "the training range widened by its span, never below 0 when training never was; categories as "
                  "strings; `null` only where training had missing values); other fields are ignored with a "
                  "warning. The answer holds, per record in order, the `prediction`, `probability_<class>` per "
                  "class (classification), and `warnings` (e.g. an unknown category), plus the model version and a "
                  "request id, also in the `X-Request-ID` header."))
    async def predict(request: Request) -> JSONResponse:
        request_id = str(uuid.uuid4())
        headers = {"X-Request-ID": request_id}
        service.count("requests")
        try:
            body = await read_body(request, service.max_body_bytes)
            answer = await anyio.to_thread.run_sync(service.handle, body, request_id, limiter=limiter)
        except RequestError as exc:
            return JSONResponse({**exc.body(), "request_id": request_id}, exc.status, headers=headers)
        except ClientDisconnect:
            return JSONResponse({"detail": "the client disconnected before sending the whole body"}, 400,
                                headers=headers)
        except Exception as exc:
            service.count("score_failures")
            log.exception("request %s failed while scoring", request_id)
            return JSONResponse({"detail": f"the model failed to score this request ({type(exc).__name__}); "
                                           "this is a server-side problem, see the service log",
                                 "errors": [], "request_id": request_id}, 500, headers=headers)
        return JSONResponse(answer, headers=headers)

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            schema.setdefault("components", {}).setdefault("schemas", {})["Record"] = contract.json_schema()
        return app.openapi_schema

    app.openapi = openapi
    return app


# --- the command -------------------------------------------------------------------------


def _parser(serving: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifecycle serve", description="Serve a registered model over HTTP "
                                     "(defaults from serving: in params/project.yaml).")
    parser.add_argument("--model", default=serving["model"], metavar="NAME", help="registered model to serve")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="V", help="a version number (default: the production version)")
    which.add_argument("--stage", metavar="STAGE", help="the latest version in this stage (production, candidate)")
    parser.add_argument("--shadow", default=serving["shadow"], metavar="V",
                        help="a version, candidate, latest or none: scored alongside and logged, never returned")
    parser.add_argument("--host", default=serving["host"])
    parser.add_argument("--port", type=int, default=serving["port"])
    parser.add_argument("--unknown-categories", choices=("accept", "reject"), default=serving["unknown_categories"],
                        help="a category unseen in training: score it with a warning, or refuse it (422)")
    parser.add_argument("--workers", type=lambda v: max(1, int(v)), default=serving["workers"], metavar="N",
                        help="requests scored at once, in threads")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--no-access-log", dest="access_log", action="store_false", help="no line per request")
    return parser


def _shadow(name: str, choice: Any, served: scoring.Scorer) -> scoring.Scorer | None:
    """The shadow scorer, or None (with a warning) when it is unset, not found, the served version,
    or cannot score a record the served model accepts: a shadow never stops the service."""
    if choice in (None, "none", "None", ""):
        return None
    try:
        if str(choice) == "candidate":
            shadow = scoring.load(name, stage="candidate")
        elif str(choice) == "latest":
            from lifecycle import registry

            shadow = scoring.load(name, version=int(registry.versions(name).index.max()))
        else:
            shadow = scoring.load(name, version=choice)
        contract = Contract(served.schema)
        scoring.score(shadow, contract.frame([contract.example()]))
    except Exception as exc:  # noqa: BLE001
        log.warning("no shadow: %s (shadow: %s); serving without one", " ".join(str(exc).split()), choice)
        return None
    if shadow.version == served.version:
        log.warning("no shadow: shadow %s is version %d, the served version itself", choice, served.version)
        return None
    return shadow


def main(argv: list[str] | None = None) -> int:
    """Run the service until interrupted; 2 (one line on stderr) when the model cannot be served."""
    import uvicorn

    from lifecycle.params import ParamsError, resolve

    try:
        settings = resolve(["00_problem_definition"])["00_problem_definition"]
    except ParamsError as exc:
        print(f"lifecycle serve: bad parameters\n{exc}", file=sys.stderr)
        return 2
    serving, store = settings["serving"], settings["store"]
    args = _parser(serving).parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)-9s %(name)s: %(message)s")
    stage = args.stage or (None if args.version is not None else "production")
    try:
        scorer = scoring.load(args.model, version=args.version, stage=stage)
        shadow = _shadow(args.model, args.shadow, scorer)
        app = create_app(scorer, shadow=shadow, store_url=store["url"], table=store["predictions_table"],
                         max_records=serving["max_records"], max_body_bytes=serving["max_body_bytes"],
                         unknown_categories=args.unknown_categories, workers=args.workers)
    except (ValueError, OSError, KeyError) as exc:  # RegistryError is a ValueError
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(f"lifecycle serve: cannot serve model '{args.model}': {reason}", file=sys.stderr)
        return 2
    shadowed = f", shadow version {shadow.version}" if shadow else ""
    log.info("serving %s version %d%s on http://%s:%d (docs at /docs); predictions logged to table '%s' at %s",
             scorer.name, scorer.version, shadowed, args.host, args.port, store["predictions_table"],
             app.state.service.store.shown)
    gc.collect()
    gc.freeze()  # the model and libraries are permanent: a full collection then takes ~10 ms, not ~200 ms
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
