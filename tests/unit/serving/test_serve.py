"""The prediction service: the real process on loopback, and the request contract in-process.

A small binary model (numeric, categorical and high-cardinality inputs, missing values) is registered
in a copy of the project (``support.serving.Toy``): version 1 the champion, version 2 the challenger that
the service scores as its shadow.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

with warnings.catch_warnings():  # starlette 1.x would rather have httpx2 than httpx for its test client
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import copy_project
from support import dying_model
from support.dying_model import HangsWhileGateExists
from support.serving import MAX_BYTES, MAX_RECORDS, Service, Toy, logged_rows

from lifecycle.core import paths
from lifecycle.modeling import scoring, select
from lifecycle.serving.app import create_app
from lifecycle.serving.request_schema import Contract, RequestError, accepted_range
from lifecycle.serving.service import outputs_of
from lifecycle.store import prediction_log, spool


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Toy:
    return Toy(tmp_path_factory.mktemp("serve") / "project")


@pytest.fixture(scope="module")
def live(toy):
    service = Service(toy.project, "--model", "toy", "--shadow", "challenger")
    yield service
    service.stop()


def _check(answer: dict, expected: pd.DataFrame) -> None:
    assert len(answer["predictions"]) == len(expected)
    for got, (_, want) in zip(answer["predictions"], expected.iterrows()):
        assert got["prediction"] == want["prediction"] and type(got["prediction"]) is int
        assert got["probability_1"] == pytest.approx(want["probability_1"], rel=1e-9, abs=1e-12)
        assert got["probability_0"] + got["probability_1"] == pytest.approx(1)


# --- the real service ------------------------------------------------------------------------


def test_health_ready_metadata_and_docs(live, toy):
    assert live.client.get("/health").json()["status"] == "ok"
    ready = live.client.get("/ready").json()
    assert ready["status"] == "ready" and (ready["model"], ready["version"], ready["prediction_log"]) == (
        "toy",
        1,
        "ok",
    )
    meta = live.client.get("/metadata").json()
    assert (meta["model"], meta["version"], meta["task"], meta["data_version"]) == ("toy", 1, "binary", "toy-data")
    assert meta["classes"] == [0, 1] and meta["threshold"] == 0.4 and meta["shadow"]["version"] == 2
    assert list(meta["feature_schema"]) == list(toy.scorer.schema.index)
    assert meta["feature_schema"]["visits"]["accepted_min"] == 0  # never negative for a count
    assert meta["limits"] == {
        "max_records": MAX_RECORDS,
        "max_body_bytes": MAX_BYTES,
        "max_batch_rows": 64,
        "max_wait_ms": 2.0,
        "max_queue_rows": 2000,
        "timeout_ms": 5000.0,
    }
    assert meta["domain"]["features"] == {"balance": "reject", "visits": "reject"}
    assert "swagger" in live.client.get("/docs").text.lower()
    spec = live.client.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][1]["maxItems"] == MAX_RECORDS
    assert set(spec["components"]["schemas"]["Record"]["required"]) == set(toy.schema.index)
    assert live.client.get("/predict").status_code == 405  # only POST takes the shortcut past the router


def test_one_record_and_a_list(live, toy):
    response = live.client.post("/predict", json=toy.records[0])
    answer = response.json()
    assert response.status_code == 200 and uuid.UUID(answer["request_id"]).version == 4
    assert response.headers["x-request-id"] == answer["request_id"]
    assert (answer["model"], answer["version"], answer["predictions"][0]["record"]) == ("toy", 1, 0)
    _check(answer, toy.expected.iloc[[0]])
    batch = live.client.post("/predict", json=toy.records[1:6]).json()
    assert [p["record"] for p in batch["predictions"]] == [0, 1, 2, 3, 4]
    _check(batch, toy.expected.iloc[1:6])
    extra = live.client.post("/predict", json={**toy.records[0], "user_id": 7}).json()["predictions"][0]
    assert extra["warnings"] == ["ignored field(s) the model does not use: user_id"]
    # The shadow (version 2) scored the same records and was logged, never returned.
    shadow = logged_rows(toy, {answer["request_id"], batch["request_id"]}, "shadow", 6)
    assert len(shadow) == 6 and set(shadow["version"]) == {2} and batch["version"] == 1


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda r: r.pop("spend"), "spend", "is missing"),
        (lambda r: r.update(visits="three"), "visits", "must be a number, got string"),
        (lambda r: r.update(plan=3), "plan", "must be a string"),
        (lambda r: r.update(balance=1e6), "balance", "outside the accepted range"),
        (lambda r: r.update(visits=-1), "visits", "outside the accepted range [0,"),
    ],
)
def test_invalid_records_are_422_naming_the_field_and_record(live, toy, change, field, words):
    bad = dict(toy.records[0])
    change(bad)
    for body, index in ((bad, 0), ([toy.records[1], toy.records[2], bad], 2)):
        response = live.client.post("/predict", json=body)
        assert response.status_code == 422, response.text
        problem = response.json()["errors"][0]
        assert (problem["record"], problem["field"]) == (index, field) and words in problem["problem"]
        assert field in response.json()["detail"]


def test_nulls_and_values_outside_the_training_domain_are_scored_and_flagged(live, toy):
    record = {**toy.records[3], "spend": None, "plan": None}
    answer = live.client.post("/predict", json=record)
    assert answer.status_code == 200 and answer.json()["predictions"][0]["warnings"] == []
    never_missing = live.client.post("/predict", json={**toy.records[3], "visits": None})
    assert never_missing.status_code == 200
    assert "null in visits: never missing in training, imputed" in never_missing.json()["predictions"][0]["warnings"]
    answer = live.client.post("/predict", json={**toy.records[3], "plan": "platinum", "spend": 1e6})
    assert answer.status_code == 200  # plan and spend follow the default rule (flag); balance and visits reject
    flagged = answer.json()["predictions"][0]
    assert flagged["flags"] == ["plan", "spend"] and 'plan: unknown category "platinum"' in flagged["warnings"][0]
    assert "spend: 1e+06 is outside the training domain" in flagged["warnings"][1]
    logged = logged_rows(toy, {answer.json()["request_id"]}, "production", 1)
    assert json.loads(logged["flags"].iloc[0]) == ["plan", "spend"]


def test_malformed_oversized_and_odd_bodies_never_give_500(live, toy):
    def post(path: str, **kwargs) -> httpx.Response:  # raw bodies, declared JSON (undeclared: 415, test_serve_guard)
        return live.client.post(path, headers={"content-type": "application/json"}, **kwargs)

    assert post("/predict", content=b"{not json").status_code == 400
    assert "not valid JSON" in post("/predict", content=b"{not json").json()["detail"]
    too_many = post("/predict", json=[toy.records[0]] * (MAX_RECORDS + 1))
    assert too_many.status_code == 413 and "max_records" in too_many.json()["detail"]
    big = json.dumps([toy.records[0]] * 400).encode()
    assert len(big) > MAX_BYTES and post("/predict", content=big).status_code == 413  # Content-Length
    chunked = post("/predict", content=iter([big[i : i + 8192] for i in range(0, len(big), 8192)]))
    assert chunked.status_code == 413 and "max_body_bytes" in chunked.json()["detail"]  # no Content-Length
    odd = [
        b"",
        b"\x80abc",
        b"[" * 40_000,
        b"NaN",
        b"null",
        b'"text"',
        b"[]",
        b"[1, 2]",
        b'{"a": 1e999}',
        json.dumps({**toy.records[0], "spend": 1e308 * 10}).encode(),
        json.dumps({**toy.records[0], "balance": "NaN"}).encode(),
        json.dumps(toy.records[0]).replace('"balance": ', '"balance": 1' + "0" * 4000 + ', "x": ').encode(),
    ]
    for body in odd:
        assert post("/predict", content=body).status_code in (400, 422), body[:40]
    assert post("/predict", content=b"[" * 40_000).status_code == 400
    assert live.client.get("/health").json()["score_failures"] == 0


def test_a_burst_of_concurrent_requests_is_answered_right_and_logged(live, toy):
    n, rows = 200, len(toy.records)
    lists = {i: [(i + k) % rows for k in range(3)] for i in range(0, n, 10)}  # every tenth asks for three

    def one(i: int) -> tuple[int, dict, list[int]]:
        chosen = lists.get(i, [i % rows])
        body = [toy.records[j] for j in chosen] if i in lists else toy.records[chosen[0]]
        response = live.client.post("/predict", json=body)
        return response.status_code, response.json(), chosen

    with ThreadPoolExecutor(16) as pool:
        started = time.monotonic()
        futures = [pool.submit(one, i) for i in range(n)]
        health = []
        while not all(f.done() for f in futures) and len(health) < 5:
            t = time.monotonic()
            health.append((live.client.get("/health").status_code, time.monotonic() - t))
        results = [f.result() for f in futures]
    assert time.monotonic() - started < 30
    assert all(code == 200 for code, *_ in results)
    assert all(code == 200 and seconds < 1.0 for code, seconds in health), health  # the loop is never blocked
    for _, answer, chosen in results:
        _check(answer, toy.expected.iloc[chosen])
    ids = {answer["request_id"] for _, answer, _ in results}
    expected_rows = sum(len(chosen) for *_, chosen in results)
    logged = logged_rows(toy, ids, "production", expected_rows)
    assert len(logged) == expected_rows and set(logged["request_id"]) == ids
    first = logged[logged["request_id"] == results[0][1]["request_id"]].iloc[0]
    assert json.loads(first["inputs"]) == toy.records[0]
    assert json.loads(first["outputs"])["probability_1"] == results[0][1]["predictions"][0]["probability_1"]
    assert (first["model"], first["version"], first["timestamp"].tzname()) == ("toy", 1, "UTC")
    health = live.client.get("/health").json()
    assert health["log_failures"] == 0 and health["shadow_failures"] == 0


def test_a_store_that_cannot_be_written_loses_no_answer(toy, tmp_path):
    project = copy_project(tmp_path / "project")
    shutil.copytree(toy.project / "models", project / "models")
    (tmp_path / "a-file").write_text("not a folder")
    settings_file = project / "params" / "project.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["store"]["url"] = f"sqlite:///{tmp_path / 'a-file' / 'predictions.db'}"
    settings_file.write_text(yaml.safe_dump(settings))
    settings["serving"]["domain"]["features"]["plan"] = "reject"
    settings_file.write_text(yaml.safe_dump(settings))
    service = Service(project, "--model", "toy")
    try:
        answer = service.client.post("/predict", json=toy.records[:2])
        assert answer.status_code == 200
        _check(answer.json(), toy.expected.iloc[:2])
        refused = service.client.post("/predict", json=[toy.records[0], {**toy.records[1], "plan": "platinum"}])
        assert refused.status_code == 422
        assert refused.json()["errors"][0] == {
            "record": 1,
            "field": "plan",
            "problem": 'has unknown category "platinum"; known: basic, plus, pro',
        }
        deadline = time.monotonic() + 30
        while not service.client.get("/health").json()["last_log_error"] and time.monotonic() < deadline:
            time.sleep(0.1)
        health = service.client.get("/health").json()
        assert health["log_pending"] == 2 and health["log_spooled"] == 2 and health["logged"] == 0
        assert health["log_failures"] == 0 and "FileExistsError" in health["last_log_error"]
        ready = service.client.get("/ready")  # still ready: a failing store never stops predictions
        assert ready.status_code == 200 and ready.json()["prediction_log"] == "failing"
        metrics = service.client.get("/metrics").text
        assert "lifecycle_log_pending_rows 2.0" in metrics and "lifecycle_log_spooled_rows_total 2.0" in metrics
        assert "lifecycle_log_rows_total 0.0" in metrics and "lifecycle_log_failures_total 0.0" in metrics
        assert service.client.post("/predict", json=toy.records[2]).status_code == 200
    finally:
        assert service.stop() == 0
    assert "could not write prediction rows to table 'predictions'" in service.stderr()
    assert "closing with 3 prediction row(s) not yet in table 'predictions'" in service.stderr()
    (tmp_path / "a-file").unlink()  # the store can be written again: the next start writes the 3 rows
    (folder,) = (project / "data" / "spool").iterdir()
    log = prediction_log.PredictionLog(settings["store"]["url"], spool=folder).start()
    deadline = time.monotonic() + 30
    while log.stats()["logged"] < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert log.close() == 0
    assert list(prediction_log.read(settings["store"]["url"])["record"]) == [0, 1, 0]


def test_the_service_logs_to_postgresql_with_its_password_from_the_environment(
    toy, tmp_path, postgres_cluster, monkeypatch
):
    from conftest import POSTGRES_APP_PASSWORD, POSTGRES_APP_ROLE

    project = copy_project(tmp_path / "project")
    shutil.copytree(toy.project / "models", project / "models")
    database = postgres_cluster.new_database()
    url = f"postgresql://{POSTGRES_APP_ROLE}:${{STORE_PASSWORD}}@/{database}?host={postgres_cluster.folder}"
    settings_file = project / "params" / "project.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["store"]["url"] = url
    settings_file.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("STORE_PASSWORD", POSTGRES_APP_PASSWORD)
    service = Service(project, "--model", "toy", "--shadow", "challenger")
    try:
        answers = [service.client.post("/predict", json=toy.records[k : k + 3]).json() for k in (0, 3)]
    finally:
        assert service.stop() == 0  # the log is flushed on the way out
    log = prediction_log.read(url)
    assert set(log["request_id"]) == {a["request_id"] for a in answers} and len(log) == 12  # production + shadow
    served = log[log["role"] == "production"].sort_values(["timestamp", "record"])
    assert [json.loads(o)["prediction"] for o in served["outputs"]] == [
        p["prediction"] for a in answers for p in a["predictions"]
    ]
    assert (
        f"predictions logged to table 'predictions' at postgresql://{POSTGRES_APP_ROLE}:***@/" in service.stderr()
        and POSTGRES_APP_PASSWORD not in service.stderr()
    )


def test_start_up_refuses_a_model_it_cannot_serve_with_one_line(toy):
    models = toy.project / "models"
    shutil.copytree(models / "toy" / "1", models / "tampered" / "1")
    artifact = models / "tampered" / "1" / "model.skops"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    cases = {
        ("--model", "nosuch"): "no model named 'nosuch'",
        ("--model", "tampered", "--version", "1"): "does not match its recorded SHA-256",
        ("--model", "bare", "--version", "1"): "incompatible with scoring",
    }
    env = {**os.environ, "PYTHONPATH": str(toy.project / "src")}
    running = {
        args: subprocess.Popen(
            [sys.executable, "-m", "lifecycle.serving.serve", "--port", "1", *args],
            cwd=toy.project,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for args in cases
    }
    for args, words in cases.items():
        _, err = running[args].communicate(timeout=60)
        assert running[args].returncode == 2, (args, err)
        assert err.count("\n") == 1 and err.startswith("lifecycle serve: cannot serve model") and words in err, err


def test_stopping_the_service_flushes_the_log(live, toy):
    ids = {live.client.post("/predict", json=toy.records[:3]).json()["request_id"] for _ in range(20)}
    assert live.stop() == 0
    assert len(logged_rows(toy, ids, "production", 60, wait=0)) == 60


# --- in-process: the request contract --------------------------------------------------------


@pytest.fixture
def app_client(toy, tmp_path):
    def make(**options) -> TestClient:
        app = create_app(
            toy.scorer,
            store_url=f"sqlite:///{tmp_path / 'p.db'}",
            max_records=5,
            max_body_bytes=4096,
            spool=tmp_path / "spool",
            **options,
        )
        return TestClient(app)

    return make


def test_the_accepted_range_rule():
    assert accepted_range(0, 10) == (0, 20)  # never below 0 when training never was
    assert accepted_range(2, 3) == (1, 4)
    assert accepted_range(-5, 5) == (-15, 15)
    assert accepted_range(5, 5) == (0, 10)  # a constant column: the span is |value|
    assert accepted_range(None, None) == (None, None)
    assert accepted_range(0, 10, tolerance=0.5) == (0, 15) and accepted_range(2, 3, tolerance=0) == (2, 3)


def test_ready_only_once_started_and_the_contract_in_process(app_client, toy):
    client = app_client()
    assert client.get("/ready").status_code == 503  # the lifespan has not run
    with client:
        assert client.get("/ready").status_code == 200
        ok = client.post("/predict", json=toy.records[:5])
        assert ok.status_code == 200
        _check(ok.json(), toy.expected.iloc[:5])
        assert client.post("/predict", json=toy.records[:6]).status_code == 413
        oversized = client.post("/predict", content=b"x" * 5000, headers={"content-type": "application/json"})
        assert oversized.status_code == 413
        missing = client.post("/predict", json=[{**toy.records[0]}, {}]).json()
        assert {e["field"] for e in missing["errors"]} == set(toy.schema.index)
        assert {e["record"] for e in missing["errors"]} == {1}
    assert client.app.state.service.store.stats()["logged"] == 5


def test_out_of_domain_values_follow_the_rule_of_their_input(app_client, toy):
    record = {**toy.records[0], "plan": "gold", "city": "never-seen", "balance": 1e6}  # city: no list to check
    with app_client() as flagging:
        answer = flagging.post("/predict", json=record).json()["predictions"][0]
        assert answer["flags"] == ["plan", "balance"] and len(answer["warnings"]) == 2
    with app_client(domain={"default": "reject", "features": {"balance": "flag"}}) as mixed:
        refused = mixed.post("/predict", json=record)
        assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["plan"]
        assert mixed.post("/predict", json={**record, "plan": "pro"}).json()["predictions"][0]["flags"] == ["balance"]
    with app_client(domain={"tolerance": 0.0, "default": "reject"}) as strict:
        high = float(toy.schema.loc["balance", "max"])
        assert strict.post("/predict", json={**record, "plan": "pro", "balance": high}).status_code == 200
        assert strict.post("/predict", json={**record, "plan": "pro", "balance": high + 1}).status_code == 422
    with pytest.raises(ValueError, match="serving.domain.features names nosuch, not input"):
        Contract(toy.schema, {"features": {"nosuch": "reject"}})


def test_boolean_inputs_take_only_true_false_or_null():
    schema = pd.DataFrame(
        {
            "kind": ["boolean", "boolean"],
            "missing": [0.0, 0.1],
            "min": [None, None],
            "max": [None, None],
            "categories": [None, None],
        },
        index=["paid", "trial"],
    )
    contract = Contract(schema)
    records, _, _ = contract.parse(b'[{"paid": true, "trial": null}, {"paid": false, "trial": true}]')
    assert contract.frame(records)["trial"].dtype == "boolean"
    with pytest.raises(RequestError) as refused:
        contract.parse(b'[{"paid": 1, "trial": true}, {"paid": null, "trial": "yes"}]')
    assert [(e["record"], e["field"]) for e in refused.value.errors] == [(0, "paid"), (1, "trial")]
    assert "must be true or false, got number 1" in refused.value.errors[0]["problem"]
    _, warnings, _ = contract.parse(b'{"paid": null, "trial": null}')
    assert warnings == [["null in paid: never missing in training, imputed"]]


def test_the_frame_scores_like_a_plain_frame_and_outputs_are_plain(toy):
    contract = Contract(toy.schema)
    records, warnings, flags = contract.parse(json.dumps(toy.records[:50]).encode())
    assert warnings == [[]] * 50 and flags == [[]] * 50
    scored = scoring.score(toy.scorer, contract.frame(records))
    pd.testing.assert_frame_equal(scored, toy.expected.iloc[:50], check_dtype=False)
    outputs = outputs_of(scoring.predict(toy.scorer, contract.frame(records)), toy.scorer)
    assert json.loads(json.dumps(outputs)) == outputs and type(outputs[0]["prediction"]) is int
    example = contract.example()
    assert contract.parse(json.dumps(example).encode())[0] == [example]


def test_the_direct_path_gives_the_column_transformers_numbers_exactly(toy):
    contract = Contract(toy.schema)
    probe = contract.frame([contract.example(), dict.fromkeys(contract.columns)])
    for version in (1, 2):  # linear; gradient boosting
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(paths, "MODELS", toy.project / "models")
            untouched, fast = scoring.load("toy", version), scoring.load("toy", version)
        assert scoring.direct(fast.pipeline, probe) == "rows"  # numbers and texts only: it takes rows too
        odd = [dict(r, plan="enterprise", city="nowhere", spend=1e9) for r in toy.records[:5]]
        frame = contract.frame(toy.records + odd)  # missing values, unseen categories, far outliers
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the copies that take arrays do not warn about names
            got = fast.pipeline.predict_proba(frame)
            from_rows = fast.pipeline.predict_proba(contract.rows(toy.records + odd))
        assert np.array_equal(got, untouched.pipeline.predict_proba(frame)) and np.array_equal(from_rows, got)
        shuffled = pd.DataFrame(toy.records).iloc[:, ::-1]  # another layout: the column transformer's own path
        assert np.array_equal(fast.pipeline.predict_proba(shuffled), untouched.pipeline.predict_proba(shuffled))
    bare = select.chosen_pipeline({"family": "linear", "settings": {}}, toy.schema, "binary", 0)
    assert not scoring.direct(bare.fit(toy.X, toy.y)[-1:], probe)  # no column transformer first: left alone
    assert not scoring.direct(bare, probe.drop(columns="plan"))  # a column it needs is not in the layout


def test_metrics_show_the_rows_spooled_written_and_pending(app_client, toy):
    with app_client() as client:
        assert client.post("/predict", json=toy.records[:3]).status_code == 200
        store = client.app.state.service.store
        deadline = time.monotonic() + 30
        while store.stats()["log_pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
        metrics = client.get("/metrics").text
        assert "lifecycle_log_spooled_rows_total 3.0" in metrics and "lifecycle_log_rows_total 3.0" in metrics
        assert "lifecycle_log_pending_rows 0.0" in metrics and "lifecycle_log_oldest_pending_seconds 0.0" in metrics


@pytest.fixture
def importable_test_models(monkeypatch):
    """The scoring process imports the test models (tests/support/dying_model.py) by name."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([dying_model.ON_PATH, os.environ.get("PYTHONPATH", "")]))


def _until(check, wait_s: float = 120) -> bool:
    """Whether ``check()`` holds within ``wait_s`` (a hang guard, not a speed check)."""
    deadline = time.monotonic() + wait_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_hung_model_gets_504_and_the_service_is_not_ready_until_its_process_is_replaced(
    toy, tmp_path, importable_test_models
):
    gate = tmp_path / "hang"
    scorer = toy.scorer._replace(pipeline=HangsWhileGateExists(str(gate)))
    app = create_app(scorer, store_url=f"sqlite:///{tmp_path / 'p.db'}", timeout_ms=60_000, scoring_deadline_ms=500)
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 200
        gate.touch()  # from now on the model hangs, and so does a new process's check that it can score
        hung = client.post("/predict", json=toy.records[:2])
        assert hung.status_code == 504 and hung.headers["X-Request-ID"]
        assert "did not score the batch within 500 ms (serving.scoring_deadline_ms)" in hung.json()["detail"]
        waiting = client.get("/ready")
        assert waiting.status_code == 503 and "scoring process is being replaced" in waiting.json()["detail"]
        gate.unlink()
        assert _until(lambda: client.get("/ready").status_code == 200)
        again = client.post("/predict", json=toy.records[:2])
        assert again.status_code == 200 and [p["probability_1"] for p in again.json()["predictions"]] == [0.5, 0.5]
        health = client.get("/health").json()
        assert (health["timed_out"], health["scoring_restarts"], health["score_failures"]) == (1, 1, 0)


def test_stopping_with_a_hung_scoring_process_ends_within_its_limit(toy, tmp_path, store_url):
    """A SIGSTOPped scoring process: the request it holds gets 504 and is never logged, the one answered
    before is logged once, on SQLite and on PostgreSQL."""
    app = create_app(
        toy.scorer, store_url=store_url, timeout_ms=1000, spool=tmp_path / "spool", scoring_deadline_ms=600_000
    )  # a deadline that never comes: only the stop's own limit
    client = TestClient(app)
    client.__enter__()
    answered = client.post("/predict", json=toy.records[:2])
    assert answered.status_code == 200
    process = app.state.service.process._process
    os.kill(process.pid, signal.SIGSTOP)
    late = client.post("/predict", json=toy.records[:2])
    assert late.status_code == 504 and "serving.timeout_ms" in late.json()["detail"]
    stopping = threading.Thread(target=client.__exit__, args=(None, None, None), daemon=True)
    stopping.start()
    stopping.join(120)  # a hang guard: the stop takes timeout_ms plus a few seconds
    assert not stopping.is_alive(), "stopping the service hung on its stopped scoring process"
    assert process.returncode == -signal.SIGKILL and app.state.service.store.stats()["logged"] == 2
    logged = prediction_log.read(store_url)  # the answer, each of its rows once; nothing of the 504
    assert sorted(zip(logged["request_id"], logged["record"])) == [(answered.json()["request_id"], r) for r in (0, 1)]


def test_an_answer_the_log_cannot_record_is_refused_never_returned_unlogged(app_client, toy, monkeypatch):
    def disk_full(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])  # half of it gets out before the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    with app_client() as client:
        assert client.post("/predict", json=toy.records[0]).status_code == 200
        with monkeypatch.context() as patch:
            patch.setattr(spool, "_write_all", disk_full)
            refused = client.post("/predict", json=toy.records[1:3])
        assert refused.status_code == 503 and refused.json()["request_id"] == refused.headers["x-request-id"]
        detail = refused.json()["detail"]
        assert "could not be recorded in the prediction log" in detail and "No space left on device" in detail
        assert client.get("/ready").json()["prediction_log"] == "refusing"
        assert client.get("/health").json()["log_failures"] == 2
        assert "lifecycle_log_failures_total 2.0" in client.get("/metrics").text
        assert client.post("/predict", json=toy.records[3]).status_code == 200  # space again
        assert client.get("/ready").json()["prediction_log"] == "ok"
    stored = prediction_log.read(client.app.state.service.store.shown)
    assert len(stored) == 2 and refused.json()["request_id"] not in set(stored["request_id"])


def test_an_unreachable_postgresql_store_delays_rows_and_never_shows_its_password(tmp_path, caplog, postgres_cluster):
    """(``postgres_cluster``: run, skipped or failed as every PostgreSQL case is; its server is not used.)"""
    url = f"postgresql://app:hunter2@/store?host={tmp_path}"  # no server listens in tmp_path
    broken = prediction_log.PredictionLog(url, spool=tmp_path / "spool", retry_first=0.05, retry_max=0.2).start()
    broken.submit([prediction_log.row("c", record=0, model="m", version=1, role="production", inputs={}, outputs={})])
    deadline = time.monotonic() + 60
    while broken.state() != "failing" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert broken.state() == "failing" and "hunter2" not in broken.stats()["last_log_error"]
    assert broken.close(timeout=1) == 1  # kept in the spool for the next start, not dropped
    assert "app:***@" in caplog.text and "hunter2" not in caplog.text
    assert broken.engine.dialect.driver == "psycopg"  # postgresql:// is psycopg 3
