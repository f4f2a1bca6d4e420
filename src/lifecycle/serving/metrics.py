"""The prediction service's ``GET /metrics``, in Prometheus text format (prometheus_client).

Requests by endpoint and status, ``/predict`` latency, batch sizes and scoring time, queue
depth, prediction-log rows spooled (on disk), written to the store, refused and pending, the
oldest pending row's age, and the served model's version. With several
worker processes (``lifecycle serve --workers N``) every worker writes its values to
``PROMETHEUS_MULTIPROC_DIR`` (set by the parent before the workers start) and a scrape of
any worker reports the sum over all of them: prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """The service's metrics, registered in a registry of their own (several apps can live in one process)."""

    def __init__(self, model: str, version: int, shadow_version: int | None = None):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "lifecycle_requests",
            "HTTP requests answered, by endpoint and status code",
            ["endpoint", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "lifecycle_predict_seconds", "time to answer POST /predict (seconds)", buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_rows = Histogram(
            "lifecycle_batch_rows", "records scored together in one pipeline call", buckets=ROW_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "lifecycle_batch_seconds", "time to score one batch (seconds)", buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_rows = Gauge(
            "lifecycle_queue_rows", "records waiting to be scored", registry=r, multiprocess_mode="livesum"
        )
        self.spooled = Counter(
            "lifecycle_log_spooled_rows", "prediction rows recorded in the spool (on disk)", registry=r
        )
        self.logged = Counter("lifecycle_log_rows", "prediction rows written to the prediction store", registry=r)
        self.log_failures = Counter(
            "lifecycle_log_failures",
            "prediction rows the spool could not take (their request answered 503; a shadow's rows not logged)",
            registry=r,
        )
        self.log_pending = Gauge(
            "lifecycle_log_pending_rows",
            "prediction rows in the spool, not yet in the store",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.log_oldest = Gauge(
            "lifecycle_log_oldest_pending_seconds",
            "age of the oldest prediction row not yet in the store (0 when none waits)",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.shadow_failures = Counter(
            "lifecycle_shadow_failures", "shadow batches that failed or were skipped", registry=r
        )
        self.model = Gauge(
            "lifecycle_model_info",
            "the served model (value 1), by name, version and role",
            ["model", "version", "role"],
            registry=r,
            multiprocess_mode="max",
        )
        self.model.labels(model, str(version), "production").set(1)
        if shadow_version is not None:
            self.model.labels(model, str(shadow_version), "shadow").set(1)

    def log_state(self, pending: int, oldest_seconds: float) -> None:
        self.log_pending.set(pending)
        self.log_oldest.set(oldest_seconds)

    def render(self) -> bytes:
        if multiprocess_mode():
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (multiprocess mode only)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid)
