"""The records the prediction service accepts, derived from a model's feature schema.

A body is one record (a JSON object) or a JSON array of 1 to ``max_records`` records
(``request_body`` reads and decodes it: 413, 400, 422 for a duplicate key); an invalid
record is 422, each problem naming the record index, field and problem.

A record is a JSON object with one key per model input (other keys are ignored and
reported in the record's ``warnings``). Each input must be present and of its kind:

- numeric: a JSON number, finite, inside the range it may be scored in (below);
- boolean: ``true`` or ``false``;
- categorical / high_cardinality: a string of at most ``max_string_length`` characters
  (``serving.max_string_length``).

``null`` is allowed for every input: the pipeline imputes each column as in training. A
null where training never had a missing value is scored and reported in ``warnings``
(in production it often means drift: e.g. a user with no events has no recency).

**The training domain.** A value training never saw is *out of domain*: a number outside
the training range widened by ``tolerance`` times its span on both sides (``[min - t *
span, max + t * span]``, ``span = max - min``, or ``max(|min|, 1)`` for a column constant
in training; the lower bound never below 0 when the training minimum was >= 0: counts,
durations and amounts stay non-negative), or a category not seen in training. Each input
follows a rule (``settings.Domain``, ``serving.domain`` in params): ``reject`` answers 422 naming the
field; ``flag`` scores the record (an unseen category as the encoder's unknown / infrequent bucket), reports it in
the record's ``warnings`` and returns the field in its ``flags``, which the service logs so
monitoring sees it. Even under ``flag``, a number more than ``refuse_beyond`` spans outside
the training range (``[min - r * span, max + r * span]``, default 1e12) is refused (422
naming the field): it is an entry or unit error, not an observation, and a model's arithmetic
overflows on numbers near the float limit (a scaled 1e287 is infinite). MLflow-style
signatures check types only; these checks see values.

With ``publish_domain`` off (``serving.publish_domain``), the training ranges and categories
appear nowhere a caller can read them: not in the record's JSON schema (no bounds, plain
descriptions), not in the messages of a refusal or a warning.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, StrictBool, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from lifecycle.core.settings import Domain
from lifecycle.serving.request_body import RequestError, clip, decode, short
from lifecycle.serving.training_domain import accepted_range, bounds, listed, number, problem, scored_range

MAX_LISTED = 50  # problems listed in one error response


class Contract:
    """Validates request bodies against a model's feature schema and builds the frame to score.

    Parameters
    ----------
    schema : the model's feature schema (``Scorer.schema``): one row per input with
        ``kind``, ``missing``, ``min``, ``max``, ``categories``.
    domain : the out-of-domain rules (``Domain`` or its dict); default: flag everything.
    max_records : the most records one request may hold (more: 413).
    max_string_length : the longest string an input may hold (longer: 422).
    publish_domain : False: no training range or category in the JSON schema or in a message.
    """

    def __init__(
        self,
        schema: pd.DataFrame,
        domain: Domain | dict | None = None,
        max_records: int = 1000,
        *,
        max_string_length: int = 1000,
        publish_domain: bool = True,
    ):
        domain = Domain.model_validate(domain or {}) if not isinstance(domain, Domain) else domain
        unknown = sorted(set(domain.features) - set(schema.index))
        if unknown:
            raise ValueError(
                f"serving.domain.features names {', '.join(unknown)}, not input(s) of this model; "
                f"its inputs are {listed(set(map(str, schema.index)))}"
            )
        kinds = {"numeric", "boolean", "categorical", "high_cardinality"}
        odd = sorted(set(schema["kind"]) - kinds)
        if odd:
            raise ValueError(
                f"the feature schema has input kind(s) {', '.join(odd)} the service cannot validate; "
                f"kinds are {', '.join(sorted(kinds))}"
            )
        self.schema, self.domain, self.max_records = schema, domain, max_records
        self.max_string_length, self.publish_domain = max_string_length, publish_domain
        self.columns = list(schema.index)
        self.inputs: dict[str, dict] = {}
        for column, row in schema.iterrows():
            low, high = number(row.get("min")), number(row.get("max"))
            rule = domain.features.get(column, domain.default)
            accepted = accepted_range(low, high, domain.tolerance) if row["kind"] == "numeric" else (None, None)
            scored = scored_range(low, high, domain.refuse_beyond) if rule == "flag" else accepted
            categories = row.get("categories") if row["kind"] == "categorical" else None
            self.inputs[column] = {
                "kind": row["kind"],
                "missing": number(row.get("missing")) or 0.0,
                "nullable": True,  # every column is imputed; nulls where training had none are warned about
                "training_min": low,
                "training_max": high,
                "accepted_min": accepted[0],
                "accepted_max": accepted[1],
                "scored_min": scored[0] if accepted[0] is not None else None,
                "scored_max": scored[1] if accepted[0] is not None else None,
                "categories": list(categories) if isinstance(categories, (list, tuple, np.ndarray)) else None,
                "out_of_domain": rule,
            }
        self._known = {c: set(i["categories"]) for c, i in self.inputs.items() if i["categories"] is not None}
        self._numeric = [c for c, i in self.inputs.items() if i["kind"] == "numeric"]
        self._booleans = [c for c, i in self.inputs.items() if i["kind"] == "boolean"]
        self._texts = [c for c, i in self.inputs.items() if i["kind"] in ("categorical", "high_cardinality")]
        self._ranges = {
            c: (i["accepted_min"], i["accepted_max"])
            for c, i in self.inputs.items()
            if i["accepted_min"] is not None and i["out_of_domain"] == "flag"
        }
        record = TypedDict("Record", {c: self._field(c, i) for c, i in self.inputs.items()})
        record.__pydantic_config__ = ConfigDict(extra="ignore", title="Record")
        self._adapter = TypeAdapter(record)

    def _field(self, column: str, spec: dict):
        kind, nullable, reject = spec["kind"], spec["nullable"], spec["out_of_domain"] == "reject"
        if kind == "numeric":
            text, limits = "a number", {}
            if spec["accepted_min"] is not None:  # bounds: where it may be scored (the flag check comes later)
                text += (
                    f" in {bounds(spec, 'accepted')} (training range {bounds(spec, 'training')}); outside it "
                    if self.publish_domain
                    else "; outside the training domain "
                )
                text += (
                    "refused"
                    if reject
                    else "scored and flagged"
                    + (
                        f", beyond {bounds(spec, 'scored')} refused"
                        if self.publish_domain
                        else " (far outside: refused)"
                    )
                )
                limits = {"ge": spec["scored_min"], "le": spec["scored_max"]}
            base = Annotated[float, Field(strict=True, allow_inf_nan=False, **limits)]
        elif kind == "boolean":
            text, base = "true or false", StrictBool
        else:
            known = spec["categories"]
            text = f"a string of at most {self.max_string_length} characters"
            if known is not None:
                text += f", one of {', '.join(map(str, known))}" if self.publish_domain else ""
                text += "; unknown values are " + (
                    "refused" if reject else "scored as the infrequent bucket and flagged"
                )
            base = Annotated[str, Field(strict=True, max_length=self.max_string_length)]
        text += "; null allowed (imputed)" + ("" if spec["missing"] > 0 else ", though never missing in training")
        typ = base | None if nullable else base
        return Annotated[typ, Field(description=f"{kind}: {text}")]

    # --- validation ------------------------------------------------------------------------

    def parse(self, body: bytes) -> tuple[list[dict], list[list[str]], list[list[str]]]:
        """The validated records of a request body, each record's warnings and its flags
        (the inputs outside the training domain whose rule is ``flag``).

        The body is one JSON object (one record) or a JSON array of 1..``max_records``
        records. Raises ``RequestError`` (400 malformed, 413 too many, 422 invalid or a duplicate key).
        """
        records = decode(body, self.max_records)
        valid, warnings, flags, problems = [], [], [], []
        for index, record in enumerate(records):
            try:
                checked = self._adapter.validate_python(record)
            except ValidationError as exc:
                problems += [_problem_of(self, index, error) for error in exc.errors(include_url=False)]
                continue
            flagged: list[str] = []
            found = self._categories(index, checked, problems, flagged) + self._ranges_of(checked, flagged)
            never = [c for c, spec in self.inputs.items() if checked[c] is None and spec["missing"] == 0]
            if never:
                found.append(
                    f"null in {', '.join(never[:5])}{' and more' if len(never) > 5 else ''}: never missing "
                    "in training, imputed"
                )
            extra = sorted(str(k) for k in set(record) - set(self.inputs))
            if extra:
                found.append(
                    f"ignored field(s) the model does not use: {', '.join(map(clip, extra[:10]))}"
                    + (f" and {len(extra) - 10} more" if len(extra) > 10 else "")
                )
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
                known_text = f"known: {listed(known)}" if self.publish_domain else "send a category seen in training"
                problems.append(
                    {"record": index, "field": column, "problem": f"has unknown category {short(value)}; {known_text}"}
                )
            else:
                flagged.append(column)
                warnings.append(
                    f"{column}: unknown category {short(value)} (not seen in training; scored as "
                    "the encoder's infrequent / unknown bucket, flagged)"
                )
        return warnings

    def _ranges_of(self, record: dict, flagged: list[str]) -> list[str]:
        """Warnings for numbers outside the training domain whose rule is ``flag`` (the others were refused)."""
        warnings = []
        for column, (low, high) in self._ranges.items():
            value = record[column]
            if value is not None and not low <= value <= high:
                flagged.append(column)
                where = f" [{low:g}, {high:g}]" if self.publish_domain else ""
                warnings.append(f"{column}: {value:g} is outside the training domain{where} (scored, flagged)")
        return warnings

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
        return np.array(
            [[np.nan if r[c] is None and c in texts else r[c] for c in self.columns] for r in records], dtype=object
        ).reshape(len(records), len(self.columns))

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
        """The JSON schema of one record (for the OpenAPI docs); without numeric bounds when the
        training domain is not published."""
        schema = self._adapter.json_schema()
        if not self.publish_domain:
            for field in schema["properties"].values():
                for option in field.get("anyOf", [field]):
                    option.pop("minimum", None)
                    option.pop("maximum", None)
        return schema


def _problem_of(contract: Contract, index: int, error: dict) -> dict:
    return problem(
        index,
        error,
        contract.inputs,
        max_string_length=contract.max_string_length,
        publish_domain=contract.publish_domain,
        refuse_beyond=contract.domain.refuse_beyond,
    )
