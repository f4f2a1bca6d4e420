"""The training domain of a model's inputs (see ``request_schema``'s module doc): the range a number
is accepted in, the range a flagged one may still be scored in, and the words a refused record's
problem uses."""

from __future__ import annotations

import math
import sys

from lifecycle.serving.request_body import json_type, short


def accepted_range(low: float | None, high: float | None, tolerance: float = 1.0) -> tuple[float | None, float | None]:
    """The numeric range inside the training domain, from the training ``[low, high]`` (see the module doc)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None, None
    span = (high - low or max(abs(low), 1.0)) * tolerance
    lower = low - span
    return (max(lower, 0.0) if low >= 0 else lower), high + span


def scored_range(low: float | None, high: float | None, refuse_beyond: float) -> tuple[float | None, float | None]:
    """The numeric range a flagged number is scored in: ``refuse_beyond`` spans either side of the training
    ``[low, high]``, never clipped at 0 (a negative count is flagged, not refused)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None, None
    span = (high - low or max(abs(low), 1.0)) * refuse_beyond
    return max(low - span, -sys.float_info.max), min(high + span, sys.float_info.max)  # a bound JSON can hold


def number(value) -> float | None:
    """A schema's bound as a float; None for a missing (or NaN) one."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def problem(
    index: int, error: dict, inputs: dict, *, max_string_length: int, publish_domain: bool, refuse_beyond: float
) -> dict:
    """The entry of a 422's problems for one of pydantic's validation errors of record ``index``."""
    loc, kind, value = error["loc"], error["type"], error.get("input")
    column = str(loc[0]) if loc else None
    spec = inputs.get(column, {})
    if not loc:
        text = f"is a JSON {json_type(value)}, not an object with the model's inputs"
    elif kind == "missing":
        text = "is missing; every model input is required" + (" (send null if unknown)" if spec.get("nullable") else "")
    elif value is None:
        text = "is null, but it had no missing values in training; send a value"
    elif kind in ("greater_than_equal", "less_than_equal"):
        text = _beyond(value, spec, publish_domain, refuse_beyond)
    elif kind == "finite_number" or (kind == "float_type" and type(value) is int):  # beyond float range
        text = f"= {short(value)} is not a finite number a float can hold"
    elif kind == "string_too_long":
        text = (
            f"is a string of {len(value)} characters, more than the {max_string_length} allowed "
            "(serving.max_string_length)"
        )
    else:
        wanted = {"numeric": "a number", "boolean": "true or false"}.get(spec.get("kind"), "a string")
        text = f"must be {wanted}, got {json_type(value)} {short(value)}"
    return {"record": index, "field": column, "problem": text}


def _beyond(value: float, spec: dict, publish_domain: bool, refuse_beyond: float) -> str:
    """Why a number outside the range its input may be scored in is refused."""
    if spec["out_of_domain"] == "reject":
        where = (
            f" {bounds(spec, 'accepted')} (the training range {bounds(spec, 'training')} widened by its span)"
            if publish_domain
            else " (the training range widened by its span)"
        )
        return f"= {value!r} is outside the accepted range{where}"
    where = f" {bounds(spec, 'training')}" if publish_domain else ""
    return (
        f"= {value!r} is more than {refuse_beyond:g} spans outside the training range{where}: "
        "too far to be scored even flagged (serving.domain.refuse_beyond); check its unit"
    )


def bounds(spec: dict, which: str) -> str:
    """``[min, max]`` of one of an input's ranges (training, accepted, scored)."""
    return f"[{spec[which + '_min']:g}, {spec[which + '_max']:g}]"


def listed(known: set) -> str:
    """The known categories, the first 20 of them named."""
    values = sorted(map(str, known))
    return ", ".join(values[:20]) + (f" and {len(values) - 20} more" if len(values) > 20 else "")
