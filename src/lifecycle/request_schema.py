"""The requests the prediction service accepts, derived from a model's feature schema.

A body is one record (a JSON object) or a JSON array of 1 to ``max_records`` records
(more: 413); a body over ``max_body_bytes``, declared or read, is 413; malformed JSON is
400; an invalid record is 422, each problem naming the record index, field and problem.

A record is a JSON object with one key per model input (other keys are ignored and
reported in the record's ``warnings``). Each input must be present and of its kind:

- numeric: a JSON number, finite, inside the accepted range (below);
- boolean: ``true`` or ``false``;
- categorical / high_cardinality: a string.

``null`` is allowed for every input: the pipeline imputes each column as in training. A
null where training never had a missing value is scored and reported in ``warnings``
(in production it often means drift: e.g. a user with no events has no recency).

**The training domain.** A value training never saw is *out of domain*: a number outside
the training range widened by ``tolerance`` times its span on both sides (``[min - t *
span, max + t * span]``, ``span = max - min``, or ``max(|min|, 1)`` for a column constant
in training; the lower bound never below 0 when the training minimum was >= 0: counts,
durations and amounts stay non-negative), or a category not seen in training. Each input
follows a rule (``settings.Domain``, ``serving.domain`` in params): ``reject`` answers 422 naming the field; ``flag`` scores the
record (an unseen category as the encoder's unknown / infrequent bucket), reports it in
the record's ``warnings`` and returns the field in its ``flags``, which the service logs so
monitoring sees it. MLflow-style signatures check types only; these checks see values.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from typing_extensions import TypedDict

from lifecycle.settings import Domain

if TYPE_CHECKING:
    from starlette.requests import Request

MAX_LISTED = 50  # problems listed in one error response


class Problem(BaseModel):
    """One problem of a refused request (the OpenAPI docs of the error body)."""

    record: int | None
    field: str | None
    problem: str


class ErrorBody(BaseModel):
    """The body of a 400, 413 or 422 answer."""

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


def accepted_range(low: float | None, high: float | None, tolerance: float = 1.0) -> tuple[float | None, float | None]:
    """The numeric range inside the training domain, from the training ``[low, high]`` (see the module doc)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None, None
    span = (high - low or max(abs(low), 1.0)) * tolerance
    lower = low - span
    return (max(lower, 0.0) if low >= 0 else lower), high + span


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


class Contract:
    """Validates request bodies against a model's feature schema and builds the frame to score.

    Parameters
    ----------
    schema : the model's feature schema (``Scorer.schema``): one row per input with
        ``kind``, ``missing``, ``min``, ``max``, ``categories``.
    domain : the out-of-domain rules (``Domain`` or its dict); default: flag everything.
    max_records : the most records one request may hold (more: 413).
    """

    def __init__(self, schema: pd.DataFrame, domain: Domain | dict | None = None, max_records: int = 1000):
        domain = Domain.model_validate(domain or {}) if not isinstance(domain, Domain) else domain
        unknown = sorted(set(domain.features) - set(schema.index))
        if unknown:
            raise ValueError(f"serving.domain.features names {', '.join(unknown)}, not input(s) of this model; "
                             f"its inputs are {_listed(set(map(str, schema.index)))}")
        kinds = {"numeric", "boolean", "categorical", "high_cardinality"}
        odd = sorted(set(schema["kind"]) - kinds)
        if odd:
            raise ValueError(f"the feature schema has input kind(s) {', '.join(odd)} the service cannot validate; "
                             f"kinds are {', '.join(sorted(kinds))}")
        self.schema, self.domain, self.max_records = schema, domain, max_records
        self.columns = list(schema.index)
        self.inputs: dict[str, dict] = {}
        for column, row in schema.iterrows():
            low, high = _number(row.get("min")), _number(row.get("max"))
            accepted = accepted_range(low, high, domain.tolerance) if row["kind"] == "numeric" else (None, None)
            categories = row.get("categories") if row["kind"] == "categorical" else None
            self.inputs[column] = {
                "kind": row["kind"], "missing": _number(row.get("missing")) or 0.0,
                "nullable": True,  # every column is imputed; nulls where training had none are warned about
                "training_min": low, "training_max": high, "accepted_min": accepted[0], "accepted_max": accepted[1],
                "categories": list(categories) if isinstance(categories, (list, tuple, np.ndarray)) else None,
                "out_of_domain": domain.features.get(column, domain.default)}
        self._known = {c: set(i["categories"]) for c, i in self.inputs.items() if i["categories"] is not None}
        self._numeric = [c for c, i in self.inputs.items() if i["kind"] == "numeric"]
        self._booleans = [c for c, i in self.inputs.items() if i["kind"] == "boolean"]
        self._texts = [c for c, i in self.inputs.items() if i["kind"] in ("categorical", "high_cardinality")]
        self._ranges = {c: (i["accepted_min"], i["accepted_max"]) for c, i in self.inputs.items()
                        if i["accepted_min"] is not None and i["out_of_domain"] == "flag"}
        record = TypedDict("Record", {c: self._field(c, i) for c, i in self.inputs.items()})
        record.__pydantic_config__ = ConfigDict(extra="ignore", title="Record")
        self._adapter = TypeAdapter(record)

    def _field(self, column: str, spec: dict):
        kind, nullable = spec["kind"], spec["nullable"]
        if kind == "numeric":
            text, bounds = "a number", {}
            if spec["accepted_min"] is not None:
                text += (f" in [{spec['accepted_min']:g}, {spec['accepted_max']:g}] "
                         f"(training range [{spec['training_min']:g}, {spec['training_max']:g}]); outside it "
                         + ("refused" if spec["out_of_domain"] == "reject" else "scored and flagged"))
                if spec["out_of_domain"] == "reject":  # flagged values are checked after validation
                    bounds = {"ge": spec["accepted_min"], "le": spec["accepted_max"]}
            base = Annotated[float, Field(strict=True, allow_inf_nan=False, **bounds)]
        elif kind == "boolean":
            text, base = "true or false", StrictBool
        else:
            known = spec["categories"]
            text = (f"a string, one of {', '.join(map(str, known))}" if known is not None else "a string")
            if known is not None:
                text += "; unknown values are " + ("refused" if spec["out_of_domain"] == "reject"
                                                   else "scored as the infrequent bucket and flagged")
            base = StrictStr
        text += "; null allowed (imputed)" + ("" if spec["missing"] > 0 else ", though never missing in training")
        typ = base | None if nullable else base
        return Annotated[typ, Field(description=f"{kind}: {text}")]

    # --- validation ------------------------------------------------------------------------

    def parse(self, body: bytes) -> tuple[list[dict], list[list[str]], list[list[str]]]:
        """The validated records of a request body, each record's warnings and its flags
        (the inputs outside the training domain whose rule is ``flag``).

        The body is one JSON object (one record) or a JSON array of 1..``max_records``
        records. Raises ``RequestError`` (400 malformed, 413 too many, 422 invalid).
        """
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise RequestError(400, f"the request body is not valid JSON{where}: {reason}; send one record as a "
                                    "JSON object or several as a JSON array of objects") from None
        except RecursionError:
            raise RequestError(400, "the request body is nested too deeply to be a record; send one record as "
                                    "a JSON object or several as a JSON array of objects") from None
        if isinstance(data, dict):
            records = [data]
        elif isinstance(data, list):
            records = data
            if not records:
                raise RequestError(422, "the request holds an empty list; send at least one record")
            if len(records) > self.max_records:
                raise RequestError(413, f"the request holds {len(records)} records, more than the {self.max_records} "
                                        "allowed (serving.max_records); split it into smaller requests")
        else:
            raise RequestError(422, f"the request body is a JSON {_json_type(data)}; send one record as a JSON "
                                    "object or several as a JSON array of objects")
        valid, warnings, flags, problems = [], [], [], []
        for index, record in enumerate(records):
            try:
                checked = self._adapter.validate_python(record)
            except ValidationError as exc:
                problems += [self._problem(index, error) for error in exc.errors(include_url=False)]
                continue
            flagged: list[str] = []
            found = self._categories(index, checked, problems, flagged) + self._ranges_of(checked, flagged)
            never = [c for c, spec in self.inputs.items() if checked[c] is None and spec["missing"] == 0]
            if never:
                found.append(f"null in {', '.join(never[:5])}{' and more' if len(never) > 5 else ''}: never missing "
                             "in training, imputed")
            extra = sorted(str(k) for k in set(record) - set(self.inputs))
            if extra:
                found.append(f"ignored field(s) the model does not use: {', '.join(extra[:10])}"
                             + (f" and {len(extra) - 10} more" if len(extra) > 10 else ""))
            valid.append(checked)
            warnings.append(found)
            flags.append(flagged)
        if problems:
            first = problems[0]
            where = [f"record {first['record']}"] if len(records) > 1 else []
            where += [f"field '{first['field']}'"] if first["field"] is not None else []
            subject = ", ".join(where) or "the body"
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            raise RequestError(422, f"invalid request: {subject} {first['problem']}{more}", problems[:MAX_LISTED])
        return valid, warnings, flags

    def _categories(self, index: int, record: dict, problems: list[dict], flagged: list[str]) -> list[str]:
        warnings = []
        for column, known in self._known.items():
            value = record[column]
            if value is None or value in known:
                continue
            if self.inputs[column]["out_of_domain"] == "reject":
                problems.append({"record": index, "field": column,
                                 "problem": f"has unknown category {_short(value)}; known: {_listed(known)}"})
            else:
                flagged.append(column)
                warnings.append(f"{column}: unknown category {_short(value)} (not seen in training; scored as "
                                "the encoder's infrequent / unknown bucket, flagged)")
        return warnings

    def _ranges_of(self, record: dict, flagged: list[str]) -> list[str]:
        """Warnings for numbers outside the training domain whose rule is ``flag`` (the others were refused)."""
        warnings = []
        for column, (low, high) in self._ranges.items():
            value = record[column]
            if value is not None and not low <= value <= high:
                flagged.append(column)
                warnings.append(f"{column}: {value:g} is outside the training domain [{low:g}, {high:g}] "
                                "(scored, flagged)")
        return warnings

    def _problem(self, index: int, error: dict) -> dict:
        loc, kind, value = error["loc"], error["type"], error.get("input")
        column = str(loc[0]) if loc else None
        spec = self.inputs.get(column, {})
        if not loc:
            text = f"is a JSON {_json_type(value)}, not an object with the model's inputs"
        elif kind == "missing":
            text = "is missing; every model input is required" + (" (send null if unknown)" if spec.get("nullable") else "")
        elif value is None:
            text = "is null, but it had no missing values in training; send a value"
        elif kind in ("greater_than_equal", "less_than_equal"):
            text = (f"= {value!r} is outside the accepted range [{spec['accepted_min']:g}, {spec['accepted_max']:g}] "
                    f"(the training range [{spec['training_min']:g}, {spec['training_max']:g}] widened by its span)")
        elif kind == "finite_number" or (kind == "float_type" and type(value) is int):  # beyond float range
            text = f"= {_short(value)} is not a finite number a float can hold"
        else:
            wanted = {"numeric": "a number", "boolean": "true or false"}.get(spec.get("kind"), "a string")
            text = f"must be {wanted}, got {_json_type(value)} {_short(value)}"
        return {"record": index, "field": column, "problem": text}

    # --- scoring input ---------------------------------------------------------------------

    def frame(self, records: list[dict]) -> pd.DataFrame:
        """The validated records as a frame in the training layout (missing values as NaN).

        Numbers are float64 and texts Python strings, each kind in one block (scoring selects
        columns many times: one block per column would make each selection a walk over all of
        them); booleans are pandas' nullable ``boolean``.
        """
        n, parts = len(records), []
        if self._numeric:
            values = np.array([[r[c] for c in self._numeric] for r in records], dtype=float)  # None -> NaN
            parts.append(pd.DataFrame(values.reshape(n, len(self._numeric)), columns=self._numeric))
        if self._texts:
            values = np.array([[np.nan if r[c] is None else r[c] for c in self._texts] for r in records], dtype=object)
            parts.append(pd.DataFrame(values.reshape(n, len(self._texts)), columns=self._texts, dtype=object))
        if self._booleans:
            parts.append(pd.DataFrame({c: pd.array([r[c] for r in records], dtype="boolean") for c in self._booleans}))
        return pd.concat(parts, axis=1)[self.columns] if len(parts) > 1 else parts[0][self.columns]

    def rows(self, records: list[dict]) -> np.ndarray:
        """The validated records as one object array in the training layout (a missing text as
        NaN, a missing number as None): what a pipeline takes after ``scoring.direct`` said "rows"."""
        texts = set(self._texts)
        return np.array([[np.nan if r[c] is None and c in texts else r[c] for c in self.columns] for r in records],
                        dtype=object).reshape(len(records), len(self.columns))

    def example(self) -> dict:
        """A valid record (the middle of each training range, the first known category)."""
        record = {}
        for column, spec in self.inputs.items():
            if spec["kind"] == "numeric":
                low, high = spec["training_min"], spec["training_max"]
                record[column] = round((low + high) / 2, 3) if low is not None else (None if spec["nullable"] else 0.0)
            elif spec["kind"] == "boolean":
                record[column] = False
            else:
                record[column] = spec["categories"][0] if spec["categories"] else "example"
        return record

    def json_schema(self) -> dict:
        """The JSON schema of one record (for the OpenAPI docs)."""
        return self._adapter.json_schema()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) one declared or found to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError(400, f"the Content-Length header {declared[:20]!r} is not a byte count")
        if int(declared) > limit:
            raise RequestError(413, f"the request body has {int(declared)} bytes, more than the {limit} allowed "
                                    "(serving.max_body_bytes); send fewer records per request")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise RequestError(413, f"the request body exceeds the {limit} bytes allowed (serving.max_body_bytes); "
                                    "send fewer records per request")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool)) else _json_type(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _listed(known: set) -> str:
    values = sorted(map(str, known))
    return ", ".join(values[:20]) + (f" and {len(values) - 20} more" if len(values) > 20 else "")
