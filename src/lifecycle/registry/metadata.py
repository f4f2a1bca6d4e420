"""A registered version's ``metadata.json``: what the caller gives (checked to be plain JSON and to
leave the registry's own keys alone), reading it back, and the main metric a listing shows."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from lifecycle.core import files
from lifecycle.registry.store import RegistryError, shown

METADATA = "metadata.json"
RESERVED = (
    "name",
    "version",
    "created",
    "stage",
    "aliases",
    "sha256",
    "artifact",
    "code",
    "environment",
    "types",
    "registered_at",
)


def from_caller(metadata: dict) -> dict:
    """The caller's ``metadata`` as plain JSON values; a key the registry sets itself is refused."""
    record = _plain(metadata)
    clash = sorted(set(record) & set(RESERVED))
    if clash:
        raise RegistryError(
            f"metadata key(s) {', '.join(clash)} are set by the registry; rename them "
            "(e.g. data_version for the version of the data)"
        )
    return record


def _plain(metadata: dict) -> dict:
    """``metadata`` as plain JSON values; a value that has no JSON form is named."""
    if not isinstance(metadata, dict):
        raise RegistryError(f"metadata must be a dict, not {type(metadata).__name__}")

    def convert(value):
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            return value.item()  # numpy scalar
        if hasattr(value, "tolist"):
            return value.tolist()
        if isinstance(value, (date, datetime)):
            return value.isoformat()
        if isinstance(value, Path):
            return value.as_posix()
        if isinstance(value, (set, frozenset)):
            return sorted(value)
        raise TypeError(type(value).__name__)

    try:
        return json.loads(json.dumps(metadata, default=convert, allow_nan=True))
    except (TypeError, ValueError) as exc:
        raise RegistryError(
            f"metadata cannot be stored as JSON ({exc}); pass plain values (numbers, strings, lists, dicts)"
        ) from None


def read(folder: Path) -> dict:
    """The metadata of the version in ``folder``; a missing or unreadable file is a damaged version."""
    path = folder / METADATA
    try:
        data = files.read_json(path, "metadata")
    except (FileNotFoundError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise RegistryError(
            f"{shown(path)} is missing or not valid JSON; the version is damaged: register the model again"
        )
    return data


def main_metric(metadata: dict) -> dict:
    """``metadata["metric"]`` from ``metrics``: flat ``{metric: value}`` or per set ``{set: {metric: value}}``."""
    metrics = metadata.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        return {}
    metric = metadata.get("metric") or next(iter(metrics))
    if isinstance(metrics.get(metric), (int, float)):
        return {metric: metrics[metric]}
    return {
        f"{part} {metric}": values[metric]
        for part, values in metrics.items()
        if isinstance(values, dict) and isinstance(values.get(metric), (int, float))
    }
