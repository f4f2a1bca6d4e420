"""The service's scoring process: the same answers as scoring in-process, and what happens when it breaks."""

from __future__ import annotations

import asyncio
import copy
import os
import signal

import numpy as np
import pandas as pd
import pytest
from support import dying_model
from support.dying_model import DiesOnMarkedRecord
from support.serving import Toy

from lifecycle.modeling import scoring, select
from lifecycle.serving.batching import TimedOut
from lifecycle.serving.request_schema import Contract
from lifecycle.serving.scoring_process import DeadlinePassed, ScoringFailed, ScoringProcess


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Toy:
    return Toy(tmp_path_factory.mktemp("scoring-process") / "project")


def run(coroutine):
    return asyncio.run(coroutine)


def test_answers_equal_scoring_in_this_process_to_the_last_bit(toy):
    contract = Contract(toy.schema)
    records = toy.records[:50] + [{**toy.records[0], "plan": "unheard-of", "spend": 1e9}, dict.fromkeys(toy.X)]
    for scorer in (toy.scorer, toy.shadow):  # linear, gradient boosting

        async def main(scorer=scorer):
            child = ScoringProcess(scorer)
            try:
                await child.start()
                return [await child.predict(records), await child.predict(records[:1])]
            finally:
                await child.close()

        (prediction, proba), (one, one_proba) = run(main())
        expected, expected_proba = scoring.predict(scorer, contract.frame(records))
        assert np.array_equal(prediction, expected) and np.array_equal(proba, expected_proba)
        assert np.array_equal(one, expected[:1]) and np.array_equal(one_proba, expected_proba[:1])


def test_a_model_with_a_boolean_input_scores_frames_in_the_process_and_the_same_numbers(toy):
    trial = pd.array(np.where(np.arange(len(toy.X)) % 7 == 0, None, toy.X["visits"] > 2), dtype="boolean")
    X = toy.X.assign(trial=trial)
    schema = pd.concat(
        [
            toy.schema,
            pd.DataFrame(
                [
                    {
                        "kind": "boolean",
                        "dtype": "boolean",
                        "n_unique": 2,
                        "missing": float(trial.isna().mean()),
                        "min": None,
                        "max": None,
                        "categories": None,
                    }
                ],
                index=["trial"],
            ),
        ]
    )
    model = select.chosen_pipeline({"family": "linear", "settings": {}}, schema, "binary", 0).fit(X, toy.y)
    scorer = toy.scorer._replace(pipeline=scoring.lean(model), schema=schema)
    scoring.row_stable(model[-1])
    contract = Contract(schema)
    records = [dict(r, trial=t) for r, t in zip(toy.records[:40], trial[:40].astype(object).tolist())]
    records = [{k: (None if v is pd.NA else v) for k, v in r.items()} for r in records]

    async def main():
        child = ScoringProcess(scorer)
        try:
            await child.start()
            return await child.predict(records)
        finally:
            await child.close()

    prediction, proba = run(main())
    expected, expected_proba = scoring.predict(scorer, contract.frame(records))  # no direct path here
    assert np.array_equal(prediction, expected) and np.array_equal(proba, expected_proba)
    probe = contract.frame([contract.example(), dict.fromkeys(contract.columns)])
    assert scoring.direct(copy.deepcopy(model), probe) == "frames"  # a branch of booleans takes its frame


def test_a_batch_the_model_fails_on_is_refused_and_the_process_goes_on(toy):
    async def main():
        child = ScoringProcess(toy.scorer)
        try:
            await child.start()
            pid = child.pid
            with pytest.raises(ScoringFailed) as failed:
                await child.predict([{"not": "a record"}])
            answer = await child.predict(toy.records[:3])
            return failed.value, pid, child.pid, child.starts, answer
        finally:
            await child.close()

    failure, before, after, starts, (prediction, _) = run(main())
    assert failure.kind == "KeyError" and str(failure).startswith("KeyError: ")
    assert before == after and starts == 1 and len(prediction) == 3


def test_a_killed_process_is_replaced_and_the_batch_scored_again(toy, caplog):
    async def main():
        child = ScoringProcess(toy.scorer)
        try:
            await child.start()
            os.kill(child.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group: ignored
            first = await child.predict(toy.records[:2])
            os.kill(child.pid, signal.SIGKILL)
            return first, await child.predict(toy.records[:2]), child.starts
        finally:
            await child.close()

    first, again, starts = run(main())
    assert starts == 2 and np.array_equal(first[1], again[1])
    assert "stopped (exit code -9); scoring the batch again in a new one" in caplog.text


def test_a_batch_that_stops_two_processes_in_a_row_fails_and_the_next_one_is_scored(toy, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([dying_model.ON_PATH, os.environ.get("PYTHONPATH", "")]))
    scorer = toy.scorer._replace(pipeline=DiesOnMarkedRecord())
    marked = dict(toy.records[0], spend=-1)

    async def main():
        child = ScoringProcess(scorer)
        try:
            await child.start()
            with pytest.raises(ScoringFailed) as failed:
                await child.predict([toy.records[1], marked])
            return failed.value, await child.predict(toy.records[:3]), child.starts
        finally:
            await child.close()

    failure, (prediction, proba), starts = run(main())
    assert "stopped twice (exit code 3) on this batch; a new one starts for the next batch" in str(failure)
    assert starts == 3 and len(prediction) == 3 and (proba == 0.5).all()


async def _healthy(child: ScoringProcess, wait_s: float = 120) -> bool:
    """Whether ``child`` has a ready scoring process again within ``wait_s`` (a hang guard, not a speed check)."""
    for _ in range(int(wait_s / 0.05)):
        if child.healthy:
            return True
        await asyncio.sleep(0.05)
    return False


def test_a_stopped_process_is_killed_at_the_deadline_and_replaced(toy):
    async def main():
        child = ScoringProcess(toy.scorer, deadline_s=0.5)
        try:
            await child.start()
            stopped = child._process
            os.kill(stopped.pid, signal.SIGSTOP)  # hangs as a deadlocked model would
            with pytest.raises(DeadlinePassed) as late:
                await child.predict(toy.records[:2])
            unhealthy = child.healthy
            replaced = await _healthy(child)
            again = await child.predict(toy.records[:2])
            return late.value, unhealthy, replaced, stopped.returncode, again, child.starts
        finally:
            await child.close()

    late, unhealthy, replaced, code, (prediction, _), starts = run(main())
    assert isinstance(late, TimedOut) and late.kind == "DeadlinePassed"  # the service answers 504
    assert "did not score the batch within 500 ms (serving.scoring_deadline_ms)" in str(late)
    assert unhealthy is False and replaced and code == -signal.SIGKILL
    assert starts == 2 and len(prediction) == 2


def test_closing_kills_a_hung_process(toy):
    async def main():
        child = ScoringProcess(toy.scorer)  # no deadline: closing alone must end it
        await child.start()
        process = child._process
        os.kill(process.pid, signal.SIGSTOP)
        await asyncio.wait_for(child.close(timeout_s=0.5), 60)  # a hang guard, far above the 0.5 s
        return process.returncode, child.healthy

    assert run(main()) == (-signal.SIGKILL, False)


def test_a_model_that_cannot_score_a_valid_record_is_refused_at_start(toy):
    broken = toy.scorer._replace(schema=toy.scorer.schema.iloc[1:])  # the pipeline needs the column left out

    async def main():
        child = ScoringProcess(broken)
        try:
            await child.start()
        finally:
            await child.close()

    with pytest.raises(ScoringFailed) as failed:
        run(main())
    message = str(failed.value)
    assert "cannot score a valid record" in message and "\n" not in message


def test_closing_lets_the_process_exit_on_its_own(toy):
    async def main():
        child = ScoringProcess(toy.scorer)
        await child.start()
        process = child._process
        await child.close()
        return process.returncode, child.pid

    code, pid = run(main())
    assert code == 0 and pid is None
