"""``POST /predict``: one record (a JSON object) or a batch (a JSON array), scored and answered.

The handler answers every outcome itself, with the request id in the body and the ``X-Request-ID``
header: a refusal with its status (``request_body.RequestError``), a full queue 503 with ``Retry-After``,
a request not answered in time 504, an answer that cannot be recorded in the prediction log 503, a model
failure 500. ``serving.app`` also hands it ``POST /predict`` past the router (``Shortcut``). Its OpenAPI
document states this service's contract and limits, so its router is made per app (``router_for``).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.requests import ClientDisconnect

from lifecycle.serving import guard as serve_guard
from lifecycle.serving.batching import Overloaded, TimedOut
from lifecycle.serving.request_body import ErrorBody, RequestError, read_body
from lifecycle.serving.request_schema import Contract
from lifecycle.serving.scoring_process import ScoringFailed
from lifecycle.serving.service import Service
from lifecycle.store.spool import SpoolRefused

log = logging.getLogger("lifecycle.serving.serve")  # the service's log lines keep the name they always had


class Prediction(BaseModel):
    """One record's answer; classification adds ``probability_<class>`` for each class."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"record": 0, "prediction": 1, "probability_0": 0.27, "probability_1": 0.73, "warnings": []}]
        },
    )
    record: int
    prediction: Any
    warnings: list[str] = []
    flags: list[str] = []  # inputs outside the training domain (scored because their rule is "flag")


class PredictResponse(BaseModel):
    request_id: str
    model: str
    version: int
    predictions: list[Prediction]


async def predict(request: Request) -> JSONResponse:
    started = time.perf_counter()
    service = request.app.state.service
    request_id = str(uuid.uuid4())
    headers = {"X-Request-ID": request_id}
    service.count("requests")
    try:
        answer = JSONResponse(await service.predict(await _body(request, service), request_id), headers=headers)
    except RequestError as exc:
        answer = JSONResponse({**exc.body(), "request_id": request_id}, exc.status, headers=headers)
    except Overloaded as exc:
        service.count("overloaded")
        answer = _failed(503, str(exc), request_id, {**headers, "Retry-After": str(exc.retry_after)})
    except TimedOut as exc:
        service.count("timed_out")
        answer = _failed(504, str(exc), request_id, headers)
    except SpoolRefused as exc:
        detail = (
            f"the answer could not be recorded in the prediction log ({exc}), so it is not returned: every "
            "answer is logged first. This is a server-side problem (free disk space for the spool); try again later"
        )
        answer = _failed(503, detail, request_id, headers)
    except ClientDisconnect:
        answer = _failed(400, "the client disconnected before sending the whole body", request_id, headers)
    except Exception as exc:
        service.count("score_failures")
        log.exception("request %s failed while scoring", request_id)
        kind = exc.kind if isinstance(exc, ScoringFailed) else type(exc).__name__
        detail = f"the model failed to score this request ({kind}); this is a server-side problem, see the service log"
        answer = _failed(500, detail, request_id, headers)
    service.metrics.requests.labels("/predict", str(answer.status_code)).inc()
    service.metrics.latency.observe(time.perf_counter() - started)
    return answer


async def _body(request: Request, service: Service) -> bytes:
    """The request's body, once it is declared JSON, within ``max_body_bytes`` and in within ``body_timeout_s``
    (else a ``RequestError`` with its status)."""
    serve_guard.require_json(request.headers)
    with anyio.move_on_after(service.body_timeout_s) as reading:
        body = await read_body(request, service.max_body_bytes)
    if reading.cancelled_caught:
        raise RequestError(
            408,
            f"the request body did not arrive within {service.body_timeout_s:g} s "
            "(serving.body_timeout_s); send it at once",
        )
    return body


def _failed(status: int, detail: str, request_id: str, headers: dict[str, str]) -> JSONResponse:
    """An answer of ``status`` that says ``detail`` (no field errors) and carries the request id."""
    return JSONResponse({"detail": detail, "errors": [], "request_id": request_id}, status, headers=headers)


def router_for(service: Service) -> APIRouter:
    """The router of ``POST /predict``, documented with ``service``'s request contract and limits."""
    contract = service.contract
    router = APIRouter()
    router.add_api_route(
        "/predict",
        predict,
        methods=["POST"],
        response_model=PredictResponse,
        summary="predict one record (a JSON object) or a batch (a JSON array of objects)",
        openapi_extra={"requestBody": _body_doc(contract)},
        responses=_error_docs(contract, service.max_body_bytes, service.batching["timeout_ms"], service.body_timeout_s),
        description=(
            "The body is **one record** (a JSON object) or **a list of records** (a JSON array of 1 to "
            f"{contract.max_records} objects), sent with `Content-Type: application/json`. A record has every model "
            "input (see the `Record` schema), each key once; other fields are ignored with a warning. A value "
            "outside the training domain (a number beyond the training range widened by its span, an unseen "
            "category) is refused or scored and flagged, per input (`/metadata` shows the rules); a number "
            "far beyond it is always refused. The answer holds, per record in order, the `prediction`, "
            "`probability_<class>` per class (classification), `warnings` and `flags` (the inputs outside the "
            "training domain), plus the model version and a request id, also in the `X-Request-ID` header. "
            "Concurrent requests are scored together; each gets exactly its own records' answers. An output "
            "that is not a finite number is never answered: the request is refused (422)."
        ),
    )
    return router


def _body_doc(contract: Contract) -> dict:
    """The OpenAPI request body of ``/predict``: a record or a list of them (examples only when the
    training domain is published: an example record shows it)."""
    record_ref = {"$ref": "#/components/schemas/Record"}
    example = contract.example()
    examples = {"one record": {"value": example}, "a list of records": {"value": [example, example]}}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        record_ref,
                        {"type": "array", "items": record_ref, "minItems": 1, "maxItems": contract.max_records},
                    ]
                },
                **({"examples": examples} if contract.publish_domain else {}),
            }
        },
    }


def _error_docs(contract: Contract, max_body_bytes: int, timeout_ms: float, body_timeout_s: float) -> dict:
    """The OpenAPI responses of ``/predict``'s refusals and failures."""
    errors = {
        400: "malformed JSON, or a Host header the service does not answer to",
        408: f"the body did not arrive within {body_timeout_s:g} s",
        413: f"body over {max_body_bytes} bytes or over {contract.max_records} records",
        415: "the body is not declared JSON (send Content-Type: application/json)",
        422: (
            "a record is invalid (each problem names the record index, the field and what is wrong), an "
            "object has the same key twice, or the model's output for a record is not a finite number "
            "(its inputs far outside the training domain; nothing is logged)"
        ),
        500: "the model failed on this request: a server-side problem, in the service log",
        503: "the queue is full (see Retry-After), the service is stopping, or the answer could not be "
        "recorded in the prediction log (it is never returned unlogged)",
        504: f"not answered within {timeout_ms:g} ms",
    }
    return {code: {"model": ErrorBody, "description": text} for code, text in errors.items()}
