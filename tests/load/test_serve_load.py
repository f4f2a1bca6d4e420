"""The service under load: micro-batching, backpressure, timeouts, workers, shutdown (the API fuzz: test_serve_fuzz).

The batcher is tested in-process with scoring functions the tests control (blocked, slow,
failing); the rest runs the real service (``python -m lifecycle.serving.serve``) on loopback over
the serving tests' toy model (``support.serving.Toy``); its store fault tests run with the toy's
store on SQLite and on PostgreSQL (``toy_store``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from support.serving import Service, Toy, logged_rows
from support.store_faults import make_store, write_lock

from lifecycle.modeling import scoring, select
from lifecycle.serving.batching import MicroBatcher, Overloaded, TimedOut
from lifecycle.serving.request_schema import Contract
from lifecycle.serving.serve import WORKER_START_S

# --- the batcher, in-process -----------------------------------------------------------------


def run(coroutine):
    return asyncio.run(coroutine)


class Recorder:
    """A scoring function that records its batches; ``gate`` (when set) holds it until opened."""

    def __init__(self, gate: threading.Event | None = None, fail: bool = False):
        self.batches: list[list] = []
        self.gate, self.fail = gate, fail

    async def __call__(self, records: list) -> list:
        return await asyncio.to_thread(self.blocking, records)

    def blocking(self, records: list) -> list:
        if self.gate is not None:
            assert self.gate.wait(10)
        self.batches.append(list(records))
        if self.fail:
            raise RuntimeError("the model broke")
        return [record * 10 for record in records]


def test_each_caller_gets_exactly_its_own_answers_from_shared_batches():
    async def main():
        recorder = Recorder()
        batcher = MicroBatcher(recorder, max_batch_rows=16, max_wait_ms=5)
        batcher.start()
        requests = [list(range(i * 3, i * 3 + 1 + i % 3)) for i in range(60)]
        answers = await asyncio.gather(*(batcher.score(r) for r in requests))
        await batcher.close()
        return recorder, requests, answers

    recorder, requests, answers = run(main())
    assert answers == [[x * 10 for x in r] for r in requests]
    assert len(recorder.batches) < 60 and max(map(len, recorder.batches)) <= 16  # scored together, within the cap
    assert sorted(x for batch in recorder.batches for x in batch) == sorted(x for r in requests for x in r)


def test_a_lone_request_is_scored_at_once_and_waiting_happens_only_for_arriving_requests():
    async def main():
        recorder = Recorder()
        batcher = MicroBatcher(recorder, max_wait_ms=60_000)
        batcher.start()
        alone = await asyncio.wait_for(batcher.score([1]), 5)  # would time out if it waited max_wait_ms
        with batcher.arriving():  # a second request is being received: the batcher waits for it
            first = asyncio.ensure_future(batcher.score([2]))
            await asyncio.sleep(0.05)
            assert not first.done()
            second = asyncio.ensure_future(batcher.score([3]))
        both = await asyncio.wait_for(asyncio.gather(first, second), 5)
        await batcher.close()
        return recorder, alone, both

    recorder, alone, both = run(main())
    assert alone == [10] and both == [[20], [30]]
    assert recorder.batches == [[1], [2, 3]]


def test_a_full_queue_is_refused_at_once_with_a_retry_delay():
    async def main():
        gate = threading.Event()
        batcher = MicroBatcher(Recorder(gate), max_batch_rows=2, max_queue_rows=4)
        batcher.start()
        scoring_now = asyncio.ensure_future(batcher.score([1, 2]))
        await asyncio.sleep(0.05)  # taken by the (blocked) scoring thread
        queued = [asyncio.ensure_future(batcher.score([i, i])) for i in (3, 4)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as refused:
            await asyncio.wait_for(batcher.score([5]), 1)  # refused at once, never a hang
        gate.set()
        done = await asyncio.gather(scoring_now, *queued)
        await batcher.close()
        return refused.value, done

    refused, done = run(main())
    assert refused.retry_after >= 1 and "max_queue_rows" in str(refused)
    assert done == [[10, 20], [30, 30], [40, 40]]


def test_a_request_not_answered_in_time_gets_a_timeout_and_is_not_scored_later():
    async def main():
        gate = threading.Event()
        recorder = Recorder(gate)
        batcher = MicroBatcher(recorder, max_batch_rows=1, timeout_ms=100)
        batcher.start()
        first = asyncio.ensure_future(batcher.score([1]))
        await asyncio.sleep(0.02)
        with pytest.raises(TimedOut, match="timeout_ms"):
            await batcher.score([2])  # queued behind the blocked batch: times out, then dropped
        gate.set()
        with pytest.raises(TimedOut):
            await first  # it was being scored when its time ran out: the caller still gets a timeout
        assert await batcher.score([3]) == [30]
        await batcher.close()
        return recorder

    assert run(main()).batches == [[1], [3]]


def test_closing_finishes_what_is_queued_and_refuses_new_requests():
    async def main():
        gate = threading.Event()
        batcher = MicroBatcher(Recorder(gate), max_batch_rows=2)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.score([i])) for i in range(5)]
        await asyncio.sleep(0.02)
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0.02)
        with pytest.raises(Overloaded, match="stopping"):
            await batcher.score([9])
        gate.set()
        await closing
        return await asyncio.gather(*pending)

    assert run(main()) == [[0], [10], [20], [30], [40]]


def test_closing_with_a_limit_stops_a_batch_that_never_ends_and_refuses_what_is_left():
    async def never(records: list) -> list:
        await asyncio.Event().wait()  # a hung model

    async def main():
        batcher = MicroBatcher(never, max_batch_rows=2)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.score([i])) for i in range(5)]
        await asyncio.sleep(0.02)  # the first batch is being scored, the rest queued
        await asyncio.wait_for(batcher.close(limit_s=0.2), 60)  # a hang guard, far above the limit
        return await asyncio.gather(*pending, return_exceptions=True), batcher.queued_rows

    answers, queued = run(main())
    assert queued == 0 and all(isinstance(a, Overloaded) and "stopped before" in str(a) for a in answers)


def test_a_scoring_failure_reaches_every_caller_of_that_batch_only():
    async def main():
        batcher = MicroBatcher(Recorder(fail=True))
        batcher.start()
        results = await asyncio.gather(batcher.score([1]), batcher.score([2]), return_exceptions=True)
        await batcher.close()
        return results

    assert all(isinstance(r, RuntimeError) for r in run(main()))


def test_linear_scores_do_not_depend_on_the_batch(toy):
    """BLAS sums in an order that depends on the batch size and alignment; scoring must not."""
    X = toy.X
    for family in ("linear", "random_forest", "hist_gradient_boosting"):
        model = select.chosen_pipeline({"family": family, "settings": {}}, toy.schema, "binary", 0).fit(X, toy.y)
        scorer = toy.scorer._replace(pipeline=model)
        scoring.row_stable(model[-1])
        batch = scoring.score(scorer, X.iloc[:97])
        alone = pd.concat([scoring.score(scorer, X.iloc[[i]]) for i in range(97)])
        assert (batch.to_numpy() == alone.to_numpy()).all(), family
        np.testing.assert_allclose(batch["probability_1"], model.predict_proba(X.iloc[:97])[:, 1], rtol=1e-12)


# --- the real service ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Toy:
    return Toy(tmp_path_factory.mktemp("load") / "project")


def _serving(toy: Toy, **changes) -> None:
    settings_file = toy.project / "params" / "project.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["serving"].update(changes)
    settings_file.write_text(yaml.safe_dump(settings))


@pytest.fixture
def toy_store(toy: Toy, store_url: str) -> str:
    """The toy project's prediction store at ``store_url`` (SQLite or PostgreSQL) for one test, its own after."""
    settings_file = toy.project / "params" / "project.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    own, settings["store"]["url"] = settings["store"]["url"], store_url
    settings_file.write_text(yaml.safe_dump(settings))
    yield store_url
    settings = yaml.safe_load(settings_file.read_text())
    settings["store"]["url"] = own
    settings_file.write_text(yaml.safe_dump(settings))


def _metric(text: str, name: str) -> float:
    return float(re.search(rf"^{name} (\S+)$", text, re.MULTILINE).group(1))


def test_records_scored_in_concurrent_batches_equal_the_same_records_alone(toy):
    _serving(toy, max_wait_ms=20, workers=1)
    service = Service(toy.project, "--model", "toy")
    try:
        records = toy.records[:120]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda r: service.client.post("/predict", json=r).json(), records))
        metrics = service.client.get("/metrics").text
        alone = [service.client.post("/predict", json=r).json() for r in records[:20]]
    finally:
        assert service.stop() == 0
    assert _metric(metrics, "lifecycle_batch_rows_sum") > _metric(metrics, "lifecycle_batch_rows_count")  # batched
    contract = Contract(toy.schema)
    for record, answer in zip(records, answers):  # to the last bit, against scoring the record alone
        expected = scoring.score(toy.scorer, contract.frame([record])).iloc[0]
        assert answer["predictions"][0]["probability_1"] == expected["probability_1"]
        assert answer["predictions"][0]["prediction"] == expected["prediction"]
    for one, answer in zip(alone, answers):
        assert one["predictions"][0]["probability_1"] == answer["predictions"][0]["probability_1"]


def test_a_full_queue_answers_503_with_retry_after_and_never_hangs(toy):
    _serving(toy, max_queue_rows=20, max_records=20, workers=1)
    service = Service(toy.project, "--model", "toy")
    body = json.dumps(toy.records[:20])
    try:

        def send(_) -> httpx.Response:
            with httpx.Client(base_url=service.url, timeout=30) as client:
                return client.post("/predict", content=body, headers={"content-type": "application/json"})

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(send, range(200)))
        health = service.client.get("/health").json()
        metrics = service.client.get("/metrics").text
    finally:
        assert service.stop() == 0
        _serving(toy, max_queue_rows=2000)
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503} and codes.count(503) > 0 and codes.count(200) > 0, codes
    refused = next(r for r in responses if r.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1 and "max_queue_rows" in refused.json()["detail"]
    assert health["overloaded"] == codes.count(503)
    assert _metric(metrics, 'lifecycle_requests_total{endpoint="/predict",status="503"}') == codes.count(503)
    for response in responses:
        if response.status_code == 200:
            assert [p["probability_1"] for p in response.json()["predictions"]] == toy.expected["probability_1"].iloc[
                :20
            ].tolist()


def _client(service: Service, toy: Toy, k: int, answered: list, stop: threading.Event, through_errors: bool) -> None:
    """One of eight clients: the k-th of every eight records, one per request, until ``stop``; the ids of
    the answered requests into ``answered``. A connection error ends it, or is passed over with
    ``through_errors`` (a killed worker's connections: not answered, so nothing is owed)."""
    with httpx.Client(base_url=service.url, timeout=30) as http:
        i = k
        while not stop.is_set():
            try:
                response = http.post("/predict", json=toy.records[i % len(toy.records)])
            except httpx.TransportError:
                if through_errors:
                    continue
                return  # the service stopped accepting
            if response.status_code == 200:
                answered.append(response.json()["request_id"])
            i += 8


def _clients(
    service: Service, toy: Toy, answered: list, stop: threading.Event, *, through_errors: bool
) -> list[threading.Thread]:
    """Eight ``_client`` threads, started."""
    threads = [
        threading.Thread(target=_client, args=(service, toy, k, answered, stop, through_errors)) for k in range(8)
    ]
    for thread in threads:
        thread.start()
    return threads


def test_sigterm_under_load_with_workers_loses_no_answered_prediction(toy):
    _serving(toy, workers=2, max_wait_ms=2)
    service = Service(toy.project, "--model", "toy")
    answered, stop = [], threading.Event()

    metrics = service.client.get("/metrics").text
    assert _metric(metrics, 'lifecycle_model_info{model="toy",role="production",version="1"}') == 1
    deadline = time.monotonic() + 60  # the first worker answers while the second may still be starting
    while len(scorers := _scoring_processes(service.process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(scorers) == 2  # one per worker
    threads = _clients(service, toy, answered, stop, through_errors=False)
    deadline = time.monotonic() + 30
    while len(answered) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    service.process.send_signal(signal.SIGTERM)
    code = service.process.wait(60)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert code == 0, service.stderr()
    assert len(answered) >= 200
    logged = logged_rows(toy, set(answered), "production", len(answered), wait=0)
    assert set(logged["request_id"]) == set(answered)  # every answered prediction is in the store
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in scorers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in scorers)  # the scoring processes exited too


def _scoring_processes(pid: int) -> list[int]:
    """The ``lifecycle.serving.scoring_process`` processes under ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    under, found = {pid}, []
    for _ in range(3):  # the service, its workers, their children
        under |= {child for child, parent in parents.items() if parent in under}
    for child in under - {pid}:
        try:
            if b"lifecycle.serving.scoring_process" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue
    return found


def test_a_killed_scoring_process_is_replaced_and_no_request_fails(toy):
    _serving(toy, workers=1)
    service = Service(toy.project, "--model", "toy")
    try:
        first = service.client.post("/predict", json=toy.records[:3])
        (killed,) = _scoring_processes(service.process.pid)
        os.kill(killed, signal.SIGKILL)
        again = service.client.post("/predict", json=toy.records[:3])
        replaced = _scoring_processes(service.process.pid)
        health = service.client.get("/health").json()
    finally:
        assert service.stop() == 0
    assert first.status_code == again.status_code == 200 and first.json()["predictions"] == again.json()["predictions"]
    assert len(replaced) == 1 and replaced != [killed] and health["scoring_restarts"] == 1
    assert "stopped (exit code -9); scoring the batch again in a new one" in service.stderr()


def test_sigterm_with_a_stalled_store_keeps_every_answer_for_the_next_start(toy, toy_store):
    """The store's write lock held by another connection for the whole life of a service: it answers, stops on
    SIGTERM within its limits saying how many rows it could not write, and the next start writes each once."""
    _serving(toy, workers=1, max_wait_ms=2)
    make_store(toy_store)  # the store and its table exist, as in production
    with write_lock(toy_store):  # a batch job, a backup, a stuck migration...
        service = Service(toy.project, "--model", "toy")
        answered = [
            service.client.post("/predict", json=toy.records[i % len(toy.records)]).json()["request_id"]
            for i in range(40)
        ]
        service.process.send_signal(signal.SIGTERM)
        # a hang guard (the log's own limit is 10 s); one worker: uvicorn ends by re-raising the signal it caught
        assert service.process.wait(120) == -signal.SIGTERM, service.stderr()
        assert "Application shutdown complete" in service.stderr()
        assert re.search(r"closing with 40 prediction row\(s\) not yet in table 'predictions'", service.stderr())
    after = Service(toy.project, "--model", "toy")  # drains the spool the stopped one left
    try:
        logged = logged_rows(toy, set(answered), "production", len(answered), wait=60, url=toy_store)
    finally:
        after.stop()
    assert sorted(logged["request_id"]) == sorted(answered)  # every answer once: none lost, none repeated


def test_an_http_worker_killed_mid_traffic_loses_no_answered_prediction(toy, toy_store):
    """SIGKILL of one of two workers while eight clients send: what it answered is in its spool, which the
    other worker or the next start writes; every answered prediction reaches the store exactly once."""
    _serving(toy, workers=2, max_wait_ms=2)
    service = Service(toy.project, "--model", "toy")
    answered, stop = [], threading.Event()

    deadline = time.monotonic() + 120
    while len(scorers := _scoring_processes(service.process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(scorers) == 2  # both workers are up
    worker = int(Path(f"/proc/{scorers[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])  # its parent
    threads = _clients(service, toy, answered, stop, through_errors=True)
    deadline = time.monotonic() + 60
    while len(answered) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(worker, signal.SIGKILL)
    killed_at = len(answered)
    deadline = time.monotonic() + 60
    while len(answered) < killed_at + 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(30)
    service.process.send_signal(signal.SIGTERM)
    # uvicorn's supervisor reads signals between health checks, and one on the restarted worker waits
    # until it has imported (up to WORKER_START_S on a busy machine); then both workers drain their logs
    assert service.process.wait(WORKER_START_S + 120) == 0, service.stderr()
    assert len(answered) >= killed_at + 200  # the service went on answering
    after = Service(toy.project, "--model", "toy")  # drains what the killed worker left in its spool
    try:
        logged = logged_rows(toy, set(answered), "production", len(answered), wait=60, url=toy_store)
    finally:
        after.stop()
    assert sorted(logged["request_id"]) == sorted(answered)  # none lost, none repeated
