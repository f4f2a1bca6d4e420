"""The body of a ``POST /predict``: read within its limits, decoded into the records it holds.

A body over ``max_body_bytes``, declared or read, is 413; one not received within the body
timeout is 408 (``routes.predict``); malformed JSON is 400; an object with the same key twice is 422
naming the key (JSON parsers disagree on which value wins, so the service takes neither); a
body that is neither one JSON object (one record) nor a JSON array of 1 to ``max_records``
values is 422 (more: 413). What each record must hold is ``request_schema``'s to check.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from starlette.requests import Request


class Problem(BaseModel):
    """One problem of a refused request (the OpenAPI docs of the error body)."""

    record: int | None
    field: str | None
    problem: str


class ErrorBody(BaseModel):
    """The body of every refusal (4xx) and of a 5xx answer of ``/predict``."""

    detail: str
    errors: list[Problem] = []
    request_id: str | None = None


class RequestError(ValueError):
    """A request the service refuses: an HTTP status, a sentence, and the problems found.

    Each problem is ``{"record": index or None, "field": name or None, "problem": text}``.
    """

    def __init__(self, status: int, detail: str, errors: list[dict] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors or []

    def body(self) -> dict:
        return {"detail": self.detail, "errors": self.errors}


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object's pairs as a dict, refusing a key given twice."""
    decoded = dict(pairs)
    if len(decoded) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return decoded


def decode(body: bytes, max_records: int) -> list:
    """The records of a body: its one JSON object, or the values of its JSON array (checked by the caller).

    Raises ``RequestError`` (400 malformed, 413 too many, 422 a duplicate key, an empty list or no object).
    """
    try:
        data = json.loads(body, object_pairs_hook=_unique)
    except _DuplicateKey as exc:
        raise RequestError(
            422,
            f"invalid request: the key {short(exc.key)} appears twice in one object; send each field once",
            [{"record": None, "field": clip(exc.key), "problem": "appears more than once in one object"}],
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise RequestError(
            400,
            f"the request body is not valid JSON{where}: {reason}; send one record as a "
            "JSON object or several as a JSON array of objects",
        ) from None
    except RecursionError:
        raise RequestError(
            400,
            "the request body is nested too deeply to be a record; send one record as "
            "a JSON object or several as a JSON array of objects",
        ) from None
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise RequestError(
            422,
            f"the request body is a JSON {json_type(data)}; send one record as a JSON "
            "object or several as a JSON array of objects",
        )
    if not data:
        raise RequestError(422, "the request holds an empty list; send at least one record")
    if len(data) > max_records:
        raise RequestError(
            413,
            f"the request holds {len(data)} records, more than the {max_records} "
            "allowed (serving.max_records); split it into smaller requests",
        )
    return data


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) one declared or found to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError(400, f"the Content-Length header {declared[:20]!r} is not a byte count")
        if int(declared) > limit:
            raise RequestError(
                413,
                f"the request body has {int(declared)} bytes, more than the {limit} allowed "
                "(serving.max_body_bytes); send fewer records per request",
            )
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise RequestError(
                413,
                f"the request body exceeds the {limit} bytes allowed (serving.max_body_bytes); "
                "send fewer records per request",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def short(value: Any) -> str:
    """A value as JSON, cut to 40 characters (a message never echoes a long input)."""
    text = json.dumps(value) if isinstance(value, (str, int, float, bool)) else json_type(value)
    return text if len(text) <= 40 else text[:37] + "..."


def clip(name: str) -> str:
    """A field name cut to 40 characters."""
    return name if len(name) <= 40 else name[:37] + "..."
