"""The online prediction service's settings (``serving`` in params/project.yaml): ``Serving`` and the
out-of-domain rules ``Domain``."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from lifecycle.core.settings._base import Name, Strict

Rule = Literal["reject", "flag"]


class Domain(Strict):
    """Values training never saw (``lifecycle.serving.request_schema``): a number outside the training range
    widened by ``tolerance`` spans on each side, or an unseen category."""

    tolerance: Annotated[float, Field(ge=0)] = 1.0
    default: Rule = "flag"  # reject: 422 naming the field; flag: scored, flagged in the answer and the log
    features: dict[str, Rule] = {}  # per-input exceptions, e.g. {age: reject}
    # a flagged number more than this many spans outside the training range is refused (422 naming the field):
    # it is an entry or unit error, and the model's arithmetic overflows on numbers near the float limit
    refuse_beyond: Annotated[float, Field(gt=0)] = 1e12

    @model_validator(mode="after")
    def _refuse_beyond_the_tolerance(self) -> Domain:
        if self.refuse_beyond <= self.tolerance:
            raise ValueError(
                f"refuse_beyond ({self.refuse_beyond:g}) must be more than tolerance "
                f"({self.tolerance:g}): a number inside the accepted range would be refused"
            )
        return self


class Serving(Strict):
    """The online prediction service (``lifecycle serve``)."""

    model: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "churn"
    host: Name = "127.0.0.1"
    port: Annotated[StrictInt, Field(ge=1, le=65535)] = 8000
    max_records: Annotated[StrictInt, Field(ge=1)] = 1000  # records per request; more is refused with 413
    max_body_bytes: Annotated[StrictInt, Field(ge=1024)] = 2_000_000
    # a version scored alongside, never returned: its number, an alias (challenger) or latest
    shadow: StrictInt | Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")] | None = None
    domain: Domain = Domain()
    workers: Annotated[StrictInt, Field(ge=1, le=64)] = 1  # HTTP processes, each with a scoring process
    max_batch_rows: Annotated[StrictInt, Field(ge=1)] = 64  # records scored together in one call
    max_wait_ms: Annotated[float, Field(ge=0, le=1000)] = 2.0  # the longest wait for a batch to fill
    max_queue_rows: Annotated[StrictInt, Field(ge=1)] = 2000  # records waiting; beyond: 503 with Retry-After
    timeout_ms: Annotated[float, Field(gt=0)] = 5000.0  # a request not answered in this time: 504
    scoring_deadline_ms: Annotated[float, Field(gt=0)] = 10000.0  # a batch still scoring: 504, process replaced
    # the guards (lifecycle.serving.guard)
    token_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "LIFECYCLE_SERVE_TOKEN"
    allow_unauthenticated: StrictBool = False  # true: serve on a non-loopback host without a token
    allowed_hosts: list[Name] | None = None  # Host header values answered; null: loopback names on loopback, any else
    max_string_length: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1000  # longer strings: 422
    docs: StrictBool = True  # false: no /docs, /redoc, /openapi.json
    publish_domain: StrictBool = True  # false: training ranges and categories never leave the service
    max_connections: Annotated[StrictInt, Field(ge=1)] = 1000  # per worker; beyond: 503 (uvicorn limit_concurrency)
    keep_alive_s: Annotated[StrictInt, Field(ge=1, le=3600)] = 5  # an idle connection is closed after this
    max_header_bytes: Annotated[StrictInt, Field(ge=1024)] | None = 16384  # h11's limit; null: httptools, none
    body_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 30.0  # a body not received in this time: 408

    @model_validator(mode="after")
    def _queue_holds_a_request(self) -> Serving:
        if self.max_queue_rows < self.max_records:
            raise ValueError(
                f"max_queue_rows ({self.max_queue_rows}) must be at least max_records "
                f"({self.max_records}), or a full-size request could never be queued"
            )
        return self

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, hosts: list[str] | None) -> list[str] | None:
        for host in hosts or []:
            if not re.fullmatch(r"\*|(\*\.)?[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]", host):
                raise ValueError(
                    f"'{host}' is not a host name: give names as a client writes them in the "
                    "Host header, without port (api.example.com, *.example.com, 10.0.0.5, [::1]), "
                    "or * for any"
                )
        return hosts
