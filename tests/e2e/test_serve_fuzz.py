"""A property-based fuzz of the live service from its own OpenAPI schema (schemathesis, stateless).

schemathesis's engine (what ``schemathesis run`` drives) reads ``/openapi.json`` of the real
service (``python -m lifecycle.serving.serve`` on loopback, the default domain rule ``flag`` for every
input) and sends, for every documented operation, the schema's examples, its boundary cases
(coverage phase) and generated valid and invalid requests (fuzzing phase), from a fixed seed
and a bounded number of examples. Every response must pass every check schemathesis has: no
server error, a documented status code, content type, headers and body, invalid data refused,
valid data accepted, unsupported methods answered 405 with ``Allow``. The model has two inputs
of tiny scale (a standardized 1e306 is infinite), the kind on which extreme numbers gave a 500.

(``schemathesis.pytest.from_fixture`` would be the pytest way; in 4.32.5 it reads
``Function._nodeid``, which pytest 9 no longer has.)
"""

from __future__ import annotations

from collections import defaultdict

import pytest
import schemathesis
from schemathesis.engine import Status, events, from_schema
from support.serving import Service, Toy, tiny_scaled_table

OPERATIONS = {"GET /health", "GET /ready", "GET /metadata", "GET /metrics", "POST /predict"}
# A body over serving.max_body_bytes is 413 whatever its records hold: a limit JSON Schema cannot state.
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = {
    "seed": 1,
    "generation": {"max-examples": 20},
    "checks": {
        "positive_data_acceptance": {"expected-statuses": ["2xx", "413"]},
        "negative_data_rejection": {"expected-statuses": REFUSED},
    },
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    toy = Toy(tmp_path_factory.mktemp("fuzz") / "project", table=tiny_scaled_table(), rejected=())
    service = Service(toy.project, "--model", "toy")
    yield service
    assert service.stop() == 0


def fuzz(url: str) -> tuple[list[str], dict[str, set[int]], dict[str, int]]:
    """schemathesis's run of ``CONFIG`` against ``url``: the failures and errors (one line each, with a
    curl command for a failure), the statuses each operation answered, and how many times each check ran."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=schemathesis.Config.from_dict(CONFIG))
    problems, statuses, checked = [], defaultdict(set), defaultdict(int)
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for check in (check for checks in recorder.checks.values() for check in checks):
                checked[check.name] += 1
                if check.status == Status.FAILURE:
                    info = check.failure_info
                    problems.append(f"{recorder.label}: {check.name}: {info.failure.title}\n{info.code_sample}")
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    statuses[recorder.label].add(interaction.response.status_code)
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            problems.append(f"error: {event}")
        elif isinstance(event, events.EngineFinished):
            problems += [f"{failure.operation}: {failure.title}" for failure in event.failures]
    return problems, dict(statuses), dict(checked)


def test_the_fuzz_finds_no_server_error_and_no_undocumented_answer(live):
    problems, statuses, checked = fuzz(live.url)
    assert not problems, "\n\n".join(dict.fromkeys(problems))  # each distinct failure once
    assert set(statuses) == OPERATIONS
    assert {200, 405, 413, 422} <= statuses["POST /predict"], statuses  # scored, wrong method, too many, invalid
    assert max(statuses["POST /predict"]) < 500
    for name in (
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
    ):
        assert checked.get(name, 0) >= 100, (name, checked)
    health = live.client.get("/health").json()
    assert health["score_failures"] == 0 and health["non_finite_outputs"] == 0
