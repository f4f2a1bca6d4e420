"""The prediction service's guards: who may call it, what it takes, what it answers, how the server is bounded.

- **Who**: an optional bearer token, read at start-up from the environment variable named by
  ``serving.token_env``. When it is set, every endpoint but the probes (``/health``, ``/ready``)
  and the docs (when published) answers 401 without ``Authorization: Bearer <token>``. Binding
  to an address other machines can reach (not loopback) needs the token, unless
  ``serving.allow_unauthenticated`` says a gateway in front authenticates callers.
- **Which Host**: only the names in ``serving.allowed_hosts`` (400 otherwise); by default the
  loopback names when bound to loopback (a web page cannot reach a local service through DNS
  rebinding), any name otherwise.
- **What it takes**: ``POST /predict`` needs ``Content-Type: application/json`` (415 otherwise).
- **What it answers**: a prediction or probability that is not a finite number (a model's
  arithmetic overflowing on extreme inputs) is refused with 422 naming the record, before
  anything is logged, never a 500.
- **The server's bounds** (uvicorn's own): connections per worker (``max_connections``, beyond:
  503), idle keep-alive (``keep_alive_s``), headers (``max_header_bytes``: the most uvicorn's h11
  parser buffers of a header block still arriving, beyond: 400; null runs httptools, a little
  faster and with no limit at all). A body not received in ``body_timeout_s`` is 408 (``routes.predict``).
"""

from __future__ import annotations

import hmac
import ipaddress
import math
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from lifecycle.serving.request_body import RequestError, short

LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"]
PROBES = ("/health", "/ready")
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the service on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to any address


def token_from(environ: dict, serving: dict) -> str | None:
    """The bearer token in the variable ``serving.token_env`` names (None when unset or empty)."""
    return environ.get(serving["token_env"]) or None


def exposure_problem(host: str, token: str | None, serving: dict) -> str | None:
    """Why the service must not start with this token on this host (None: it may)."""
    variable = serving["token_env"]
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        return (
            f"the token in {variable} has {len(token)} characters; use at least {MIN_TOKEN_LENGTH}, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if token is None and not is_loopback(host) and not serving["allow_unauthenticated"]:
        return (
            f"refusing to serve on {host}, reachable from other machines, without a bearer token: set the "
            f"environment variable {variable} (serving.token_env) to a secret of {MIN_TOKEN_LENGTH}+ characters, "
            "or serve on 127.0.0.1, or set serving.allow_unauthenticated: true if a gateway in front "
            "authenticates callers"
        )
    return None


def allowed_hosts(host: str, serving: dict) -> list[str] | None:
    """The Host header values to answer (None: any), from ``serving.allowed_hosts`` or the bound host."""
    if serving["allowed_hosts"] is not None:
        return None if "*" in serving["allowed_hosts"] else [h.lower() for h in serving["allowed_hosts"]]
    return LOOPBACK_NAMES if is_loopback(host) else None


def server_options(serving: dict) -> dict:
    """uvicorn's settings for the server's bounds."""
    options: dict[str, Any] = {
        "limit_concurrency": serving["max_connections"],
        "timeout_keep_alive": serving["keep_alive_s"],
    }
    if serving["max_header_bytes"] is None:
        return {**options, "http": "httptools"}
    return {**options, "http": "h11", "h11_max_incomplete_event_size": serving["max_header_bytes"]}


class Guard:
    """ASGI middleware in front of the app: the Host check, then the token check (module doc)."""

    def __init__(self, app: Any, *, token: str | None, hosts: list[str] | None, open_paths: set[str]):
        self.app, self.hosts, self.open_paths = app, hosts, set(PROBES) | open_paths
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (self.hosts is not None or self.expected is not None):
            refusal = self.refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: dict) -> JSONResponse | None:
        headers = Headers(scope=scope)
        if self.hosts is not None:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if not any(name.lower() == h or (h.startswith("*.") and name.lower().endswith(h[1:])) for h in self.hosts):
                return _refused(
                    400,
                    f"the Host header {short(host)} is not a name this service answers to "
                    "(serving.allowed_hosts); call it by one of its names",
                )
        if self.expected is None or scope["path"] in self.open_paths:
            return None
        given = headers.get("authorization")
        if given is None:
            return _refused(
                401,
                "this service needs a bearer token: send the header 'Authorization: Bearer "
                "<token>' with the token the service was started with",
            )
        scheme, _, value = given.partition(" ")
        if not hmac.compare_digest(f"{scheme.capitalize()} {value.strip()}".encode(), self.expected):
            return _refused(
                401,
                "the bearer token is not the one this service was started with (or the header "
                "is not 'Authorization: Bearer <token>')",
            )
        return None


def _refused(status: int, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": detail, "errors": []}, status, headers=headers)


def require_json(headers: Any) -> None:
    """Refuse (415) a body that is not declared JSON."""
    declared = headers.get("content-type")
    media = (declared or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        what = f"Content-Type {short(declared)}" if declared else "no Content-Type"
        raise RequestError(
            415, f"the request has {what}; send the records as JSON with 'Content-Type: application/json'"
        )


def non_finite(outputs: list[dict]) -> RequestError | None:
    """The refusal (422, naming each record) of a request the model answered with a number that is
    not finite for any of its records; None when every output is a finite number."""
    problems = []
    for index, output in enumerate(outputs):
        odd = [
            f"{key} {'nan' if value is None else value}"
            for key, value in output.items()
            if (key == "prediction" and value is None) or (isinstance(value, float) and not math.isfinite(value))
        ]
        if odd:
            problems.append(
                {
                    "record": index,
                    "field": None,
                    "problem": (
                        f"the model's output for this record is not a finite number ({', '.join(odd)}); its inputs are "
                        "probably far outside the training domain"
                    ),
                }
            )
    if not problems:
        return None
    more = f" (and {len(problems) - 1} more record(s))" if len(problems) > 1 else ""
    return RequestError(
        422,
        f"cannot answer: record {problems[0]['record']}: {problems[0]['problem']}{more}; check its values",
        problems[:50],
    )
