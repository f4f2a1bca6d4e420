"""The service's guards (``serve_guard``, the request body's and contract's limits): in-process, and live.

The model is the serving tests' toy (``support.serving.Toy``) with two inputs of tiny scale (``share``,
``rate``): standardized, a number near 1e306 overflows, which is how extreme inputs once gave a 500.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings

import pytest
import yaml
from pydantic import ValidationError

with warnings.catch_warnings():  # starlette 1.x would rather have httpx2 than httpx for its test client
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from support.serving import Service, Toy, tiny_scaled_table

from lifecycle.core.settings import Domain, Serving
from lifecycle.serving import guard as serve_guard
from lifecycle.serving.app import create_app

TOKEN = "a-secret-of-twenty-four!"
JSON = {"content-type": "application/json"}
DOMAIN = {"features": {"balance": "reject"}}
SERVING = Serving().model_dump()


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Toy:
    return Toy(tmp_path_factory.mktemp("guard") / "project", table=tiny_scaled_table(), rejected=("balance",))


@pytest.fixture
def app(toy, tmp_path):
    def make(**options) -> TestClient:
        options = {"domain": DOMAIN, **options}
        return TestClient(create_app(toy.scorer, store_url=f"sqlite:///{tmp_path / 'p.db'}", **options))

    return make


def _logged(client: TestClient) -> int:
    return client.app.state.service.store.stats()["logged"]


# --- extreme numbers and outputs that are not finite ---------------------------------------------


def test_extreme_finite_numbers_are_refused_before_scoring_naming_the_field(app, toy):
    record = toy.records[0]
    with app() as client:
        refused = client.post("/predict", json={**record, "share": 1e306, "rate": -1.7976931348623157e308})
        flagged = client.post("/predict", json={**record, "share": 5.0})  # thousands of spans out: scored, flagged
        health = client.get("/health").json()
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["rate", "share"]
    problem = refused.json()["errors"][1]["problem"]
    assert (
        problem.startswith("= 1e+306 is more than 1e+12 spans outside the training range [")
        and "(serving.domain.refuse_beyond); check its unit" in problem
    )
    assert flagged.status_code == 200 and flagged.json()["predictions"][0]["flags"] == ["share"]
    assert health["score_failures"] == 0 and _logged(client) == 1  # the answered request only


def test_a_model_output_that_is_not_finite_is_refused_and_never_logged(app, toy):
    record = toy.records[0]
    with app(domain={**DOMAIN, "refuse_beyond": 1e308}) as client:  # +-1e305 reach the model, 9e304 overflows
        refused = client.post("/predict", json=[record, {**record, "share": 9e304, "rate": 9e304}])
        health = client.get("/health").json()
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["errors"]
    assert (problem["record"], problem["field"]) == (1, None)
    assert "not a finite number (probability_0 nan, probability_1 nan)" in problem["problem"]
    assert refused.json()["detail"].startswith("cannot answer: record 1: the model's output")
    assert health["non_finite_outputs"] == 1 and health["score_failures"] == 0
    assert _logged(client) == 0  # not even the finite record 0: the caller got neither


def test_outputs_that_are_not_finite_are_named_per_record():
    good = {"prediction": 1, "probability_0": 0.2, "probability_1": 0.8}
    assert serve_guard.non_finite([good, {"prediction": 3.5}]) is None
    refused = serve_guard.non_finite(
        [good, {"prediction": None}, {"prediction": float("-inf")}, {**good, "probability_1": float("nan")}]
    )
    assert refused.status == 422 and [e["record"] for e in refused.errors] == [1, 2, 3]
    assert [
        "prediction nan" in refused.errors[0]["problem"],
        "prediction -inf" in refused.errors[1]["problem"],
        "(probability_1 nan)" in refused.errors[2]["problem"],
    ] == [True, True, True]
    assert "(and 2 more record(s))" in refused.detail


# --- who may call, and what it may send ------------------------------------------------------------


def test_a_bearer_token_guards_every_endpoint_but_the_probes_and_the_docs(app, toy):
    with app(token=TOKEN) as client:
        bare = client.post("/predict", json=toy.records[0])
        wrong = client.post("/predict", json=toy.records[0], headers={"authorization": "Bearer not-the-token"})
        right = client.post("/predict", json=toy.records[0], headers={"authorization": f"bearer {TOKEN}"})
        codes = {
            path: client.get(path).status_code
            for path in ("/health", "/ready", "/metadata", "/metrics", "/docs", "/openapi.json")
        }
        spec = client.get("/openapi.json").json()
    assert bare.status_code == wrong.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
    assert "send the header 'Authorization: Bearer <token>'" in bare.json()["detail"]
    assert "not the one this service was started with" in wrong.json()["detail"]
    assert right.status_code == 200 and _logged(client) == 1
    assert codes == {
        "/health": 200,
        "/ready": 200,
        "/metadata": 401,
        "/metrics": 401,
        "/docs": 200,
        "/openapi.json": 200,
    }
    assert spec["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    predict = spec["paths"]["/predict"]["post"]
    assert predict["security"] == [{"bearer": []}] and "401" in predict["responses"] and TOKEN not in json.dumps(spec)


def test_serving_beyond_loopback_needs_a_token_or_an_explicit_waiver(toy):
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert serve_guard.exposure_problem(host, None, SERVING) is None, host
    problem = serve_guard.exposure_problem("0.0.0.0", None, SERVING)
    assert "set the environment variable LIFECYCLE_SERVE_TOKEN (serving.token_env)" in problem
    assert "serving.allow_unauthenticated: true" in problem
    assert serve_guard.exposure_problem("0.0.0.0", TOKEN, SERVING) is None
    assert serve_guard.exposure_problem("service.example.com", None, {**SERVING, "allow_unauthenticated": True}) is None
    assert "has 5 characters; use at least 16" in serve_guard.exposure_problem("127.0.0.1", "short", SERVING)
    env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_SERVE_TOKEN"}
    env["PYTHONPATH"] = str(toy.project / "src")
    command = [sys.executable, "-m", "lifecycle.serving.serve", "--model", "toy", "--host", "0.0.0.0", "--port", "1"]
    for extra, words in (
        ({}, "refusing to serve on 0.0.0.0, reachable from other machines, without a bearer token"),
        ({"LIFECYCLE_SERVE_TOKEN": "short"}, "the token in LIFECYCLE_SERVE_TOKEN has 5 characters"),
    ):
        run = subprocess.run(
            command, cwd=toy.project, env={**env, **extra}, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
        assert run.stderr.startswith(f"lifecycle serve: {words}"), run.stderr


def test_only_the_allowed_host_names_are_answered(app):
    assert serve_guard.allowed_hosts("127.0.0.1", SERVING) == ["localhost", "127.0.0.1", "[::1]"]
    assert serve_guard.allowed_hosts("0.0.0.0", SERVING) is None  # the public names are the operator's to give
    named = {**SERVING, "allowed_hosts": ["API.example.com", "*.internal"]}
    assert serve_guard.allowed_hosts("0.0.0.0", named) == ["api.example.com", "*.internal"]
    assert serve_guard.allowed_hosts("127.0.0.1", {**SERVING, "allowed_hosts": ["*"]}) is None
    with app(allowed_hosts=["localhost", "127.0.0.1", "[::1]", "*.example.com"]) as client:
        codes = {
            host: client.get("/health", headers={"host": host}).status_code
            for host in (
                "localhost:8000",
                "127.0.0.1",
                "[::1]:8000",
                "api.example.com",
                "evil.test",
                "localhost.evil.test",
                "example.com",
            )
        }
        refused = client.get("/metadata", headers={"host": "evil.test"})
    assert codes == {
        "localhost:8000": 200,
        "127.0.0.1": 200,
        "[::1]:8000": 200,
        "api.example.com": 200,
        "evil.test": 400,
        "localhost.evil.test": 400,
        "example.com": 400,
    }
    assert (
        refused.status_code == 400
        and "is not a name this service answers to (serving.allowed_hosts)" in refused.json()["detail"]
    )


def test_only_a_body_declared_json_is_read(app, toy):
    body = json.dumps(toy.records[0]).encode()
    cases = {
        None: 415,
        "text/plain": 415,
        "application/x-www-form-urlencoded": 415,
        "application/jsonp": 415,
        "application/json": 200,
        "application/json; charset=utf-8": 200,
        "Application/JSON": 200,
        "application/vnd.api+json": 200,
    }
    with app() as client:
        answers = {
            kind: client.post("/predict", content=body, headers={"content-type": kind} if kind else {})
            for kind in cases
        }
    assert {kind: answer.status_code for kind, answer in answers.items()} == cases
    assert (
        "has no Content-Type; send the records as JSON with 'Content-Type: application/json'"
        in answers[None].json()["detail"]
    )
    assert answers["text/plain"].json()["detail"].startswith('the request has Content-Type "text/plain"')
    assert _logged(client) == 4


def test_strings_longer_than_the_cap_are_refused_naming_the_field(app, toy):
    record = toy.records[0]
    with app(max_string_length=12) as client:
        long_city = client.post("/predict", json={**record, "city": "c" * 100_000})
        long_plan = client.post("/predict", json=[record, {**record, "plan": "p" * 13}])
        at_the_cap = client.post("/predict", json={**record, "city": "c" * 12, "k" * 1000: 1})
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    assert long_city.status_code == long_plan.status_code == 422
    assert long_city.json()["errors"] == [
        {
            "record": 0,
            "field": "city",
            "problem": "is a string of 100000 characters, more than the 12 allowed (serving.max_string_length)",
        }
    ]
    assert "c" * 41 not in long_city.text  # the value is never echoed
    assert [(e["record"], e["field"]) for e in long_plan.json()["errors"]] == [(1, "plan")]
    assert at_the_cap.status_code == 200 and len(at_the_cap.text) < 1000  # a long ignored key is cut in the warning
    (warned,) = at_the_cap.json()["predictions"][0]["warnings"]
    assert warned == f"ignored field(s) the model does not use: {'k' * 37}..."
    assert schema["properties"]["city"]["anyOf"][0]["maxLength"] == 12
    assert _logged(client) == 1


def test_a_key_given_twice_is_refused_naming_it(app, toy):
    record = json.dumps(toy.records[0])
    twice = record[:-1] + ', "plan": "pro"}'
    nested = f'[{record}, {record[:-1]}, "extra": {{"a": 1, "a": 2}}}}]'
    with app() as client:
        answers = [client.post("/predict", content=body, headers=JSON) for body in (twice, nested)]
    for answer, key in zip(answers, ("plan", "a")):
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == [
            {"record": None, "field": key, "problem": "appears more than once in one object"}
        ]
        assert f'the key "{key}" appears twice in one object; send each field once' in answer.json()["detail"]
    assert _logged(client) == 0


def test_the_docs_and_the_training_domain_can_be_kept_private(app, toy):
    record = toy.records[0]
    with app(docs=False, publish_domain=False, domain={"features": {"balance": "reject", "plan": "reject"}}) as client:
        pages = {path: client.get(path).status_code for path in ("/docs", "/redoc", "/openapi.json")}
        meta = client.get("/metadata").json()
        answers = [
            client.post("/predict", json={**record, "balance": 1e6}),  # rejected: out of range
            client.post("/predict", json={**record, "plan": "gold"}),  # rejected: unknown category
            client.post("/predict", json={**record, "share": 5.0}),  # flagged: out of range
            client.post("/predict", json={**record, "share": 1e306}),
        ]  # refused: far out
        spec = client.app.openapi()  # built, never served
    assert pages == {"/docs": 404, "/redoc": 404, "/openapi.json": 404}
    assert meta["feature_schema"]["share"] == {"kind": "numeric", "nullable": True, "out_of_domain": "flag"}
    assert [a.status_code for a in answers] == [422, 422, 200, 422]
    assert "outside the accepted range (the training range widened by its span)" in answers[0].text
    assert "send a category seen in training" in answers[1].text
    (warned,) = answers[2].json()["predictions"][0]["warnings"]
    assert warned == "share: 5 is outside the training domain (scored, flagged)"
    published = json.dumps(meta) + "".join(a.text for a in answers) + json.dumps(spec)
    secrets = ["basic", "plus, pro", "minimum", "maximum"] + [
        f"{toy.schema.loc[c, bound]:g}" for c in ("balance", "share", "spend") for bound in ("min", "max")
    ]
    assert [s for s in secrets if s in published] == []


def test_the_guard_settings_are_validated_with_clear_messages():
    with pytest.raises(ValidationError, match="refuse_beyond \\(0.5\\) must be more than tolerance \\(1\\)"):
        Domain(refuse_beyond=0.5)
    with pytest.raises(ValidationError, match="'api.example.com:8000' is not a host name: .* without port"):
        Serving(allowed_hosts=["api.example.com:8000"])
    with pytest.raises(ValidationError, match="token_env"):
        Serving(token_env="MY TOKEN")
    with pytest.raises(ValidationError, match="max_header_bytes"):
        Serving(max_header_bytes=10)
    assert serve_guard.server_options(SERVING) == {
        "limit_concurrency": 1000,
        "timeout_keep_alive": 5,
        "http": "h11",
        "h11_max_incomplete_event_size": 16384,
    }
    assert serve_guard.server_options({**SERVING, "max_header_bytes": None})["http"] == "httptools"


# --- the live service: the server's own limits -----------------------------------------------------


def _send(port: int, data: bytes, *, keep: list | None = None) -> bytes:
    """Send raw bytes to the service; what it answers until it closes the connection (30 s at most).
    With ``keep``, the open socket is appended there instead of waiting for an answer."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(data)
    if keep is not None:
        keep.append(connection)
        return b""
    answer = b""
    with connection:
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_the_live_service_bounds_connections_headers_slow_bodies_and_idle_clients(toy):
    settings_file = toy.project / "params" / "project.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["serving"].update(max_connections=4, keep_alive_s=1, max_header_bytes=4096, body_timeout_s=1.0)
    settings_file.write_text(yaml.safe_dump(settings))
    service = Service(toy.project, "--model", "toy", env={"LIFECYCLE_SERVE_TOKEN": TOKEN})
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()
    idle: list[socket.socket] = []
    try:
        assert service.client.post("/predict", json=toy.records[0]).status_code == 401
        assert (
            service.client.post(
                "/predict", json=toy.records[0], headers={"authorization": f"Bearer {TOKEN}"}
            ).status_code
            == 200
        )
        evil = _send(service.port, b"GET /health HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n")
        endless = _send(service.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 8000)  # unfinished
        slow = _send(
            service.port,
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + auth
            + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )  # and nothing more
        kept = _send(service.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # keep-alive, then idle
        for _ in range(4):
            _send(service.port, b"GET /health HTTP/1.1\r\n", keep=idle)  # slow clients holding connections
        crowded = _send(service.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    finally:
        for connection in idle:
            connection.close()
        assert service.stop() == 0
    assert evil.startswith(b"HTTP/1.1 400 ") and b"serving.allowed_hosts" in evil  # loopback names only
    assert endless.startswith(b"HTTP/1.1 400 ")  # h11's limit on headers still arriving (max_header_bytes)
    assert slow.startswith(b"HTTP/1.1 408 ") and b"within 1 s (serving.body_timeout_s)" in slow
    assert kept.startswith(b"HTTP/1.1 200 ")  # answered, then closed by the server once idle (keep_alive_s)
    assert crowded.startswith(b"HTTP/1.1 503 ")  # max_connections
    assert "a bearer token" in service.stderr()
