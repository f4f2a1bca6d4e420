"""The prediction log: rows reach the store exactly once through faults (a held write lock, an
unreachable store, a close during a lock, a SIGKILL, a full disk, a torn spool line).

Every fault test counts rows end to end: what was acknowledged (``submit`` returned) is in
the store, each row once. They run on SQLite and on PostgreSQL (``store_url``), each fault made
the way that database meets it (``store_faults``). Waits poll with a generous deadline; nothing
here times speed.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT
from support.store_faults import dialect, make_store, store_down, write_lock

from lifecycle.store import prediction_log, spool

SRC = ROOT / "src"


def _rows(request: str, n: int = 3, role: str = "production") -> list[dict]:
    return [
        prediction_log.row(
            request,
            record=i,
            model="m",
            version=1,
            role=role,
            inputs={"x": i, "request": request},
            outputs={"prediction": i % 2},
        )
        for i in range(n)
    ]


def _until(condition, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not reached within the deadline"
        time.sleep(0.05)


def _keys(url: str) -> list[tuple]:
    return list(prediction_log.read(url)[["request_id", "record", "role"]].itertuples(index=False, name=None))


def _exactly_once(url: str, submitted: list[dict]) -> None:
    """The store holds exactly the ``submitted`` rows, each once."""
    keys = _keys(url)
    assert len(keys) == len(set(keys)), "a row is in the store twice"
    assert sorted(keys) == sorted((r["request_id"], r["record"], r["role"]) for r in submitted)


def _log(url: str, folder: Path, **options) -> prediction_log.PredictionLog:
    return prediction_log.PredictionLog(url, spool=folder, retry_first=0.05, retry_max=0.5, **options).start()


def _spool_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl"))


# --- writing and reading ---------------------------------------------------------------------


def test_rows_are_written_read_back_since_a_moment_and_a_bad_url_is_refused(store_url, tmp_path):
    assert prediction_log.read(store_url).empty
    log = _log(store_url, tmp_path / "spool")
    old = pd.Timestamp("2025-01-01", tz="UTC").to_pydatetime()
    log.submit(
        [
            prediction_log.row(
                "a",
                record=0,
                model="m",
                version=1,
                role="production",
                inputs={"x": 1},
                outputs={"prediction": 0},
                timestamp=old,
            )
        ]
    )
    log.submit(
        [
            prediction_log.row(
                "b",
                record=i,
                model="m",
                version=1,
                role="shadow",
                inputs={"x": i},
                outputs={"prediction": 1},
                flags=["x"],
            )
            for i in range(3)
        ]
    )
    assert log.close() == 0
    assert log.stats()["logged"] == 4 and log.stats()["log_spooled"] == 4 and log.stats()["log_failures"] == 0
    everything = prediction_log.read(store_url)
    assert list(everything["request_id"]) == ["a", "b", "b", "b"]
    assert everything["timestamp"].iloc[0] == pd.Timestamp("2025-01-01", tz="UTC")
    assert str(everything["timestamp"].dt.tz) == "UTC" and list(everything["flags"]) == ["[]", *['["x"]'] * 3]
    recent = prediction_log.read(store_url, since="2025-06-01")
    assert list(recent["role"]) == ["shadow"] * 3 and json.loads(recent["inputs"].iloc[2])["x"] == 2
    assert prediction_log.read(store_url, since=pd.Timestamp("2025-01-01 01:00", tz="Europe/Paris"))[
        "request_id"
    ].tolist() == ["a", "b", "b", "b"]  # an aware moment is the same instant (00:00 UTC)
    assert _spool_files(tmp_path / "spool") == []  # a log closed with nothing pending leaves no file
    with pytest.raises(prediction_log.SpoolRefused, match="not started"):
        log.submit(_rows("late"))
    with pytest.raises(ValueError, match="not a SQLAlchemy database URL"):
        prediction_log.PredictionLog("not a url", spool=tmp_path / "spool")


def test_a_sqlite_store_and_its_folder_are_made_when_missing(sqlite_store_url, tmp_path):
    assert not prediction_log.sqlite_file(prediction_log.resolve_url(sqlite_store_url)).parent.exists()
    log = _log(sqlite_store_url, tmp_path / "spool")
    log.submit(_rows("a", 1))
    assert log.close() == 0 and log.stats()["log_failures"] == 0
    _exactly_once(sqlite_store_url, _rows("a", 1))


def test_writing_rows_again_repeats_none(store_url):
    make_store(store_url)
    store, table = prediction_log.engine(store_url), prediction_log.predictions_table()
    rows = _rows("a") + _rows("b")
    prediction_log.write(store, table, rows[:4])
    prediction_log.write(store, table, rows)
    store.dispose()
    _exactly_once(store_url, rows)


def test_an_older_table_gets_the_flags_column_and_the_unique_key(sqlite_store_url, tmp_path):
    path = prediction_log.sqlite_file(prediction_log.resolve_url(sqlite_store_url))
    path.parent.mkdir()
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE predictions (id INTEGER PRIMARY KEY, request_id VARCHAR(36) NOT NULL, "
            "record INTEGER NOT NULL, model VARCHAR(200) NOT NULL, version INTEGER NOT NULL, "
            "role VARCHAR(16) NOT NULL, timestamp DATETIME NOT NULL, inputs TEXT NOT NULL, "
            "outputs TEXT NOT NULL)"
        )
        old.execute(
            "INSERT INTO predictions VALUES (1, 'a', 0, 'm', 1, 'production', '2025-01-01 00:00:00', '{}', '{}')"
        )
    log = _log(sqlite_store_url, tmp_path / "spool")
    log.submit(_rows("a"))  # a's record 0 is there already
    assert log.close() == 0
    _exactly_once(sqlite_store_url, _rows("a"))
    assert prediction_log.read(sqlite_store_url)["flags"].tolist() == ["[]"] * 3
    with sqlite3.connect(path) as store:
        indexes = [row[1] for row in store.execute("PRAGMA index_list(predictions)") if row[2]]
    assert "uq_predictions_request_record_role" in indexes


def _first_write(url: str, table: str, folder: str, barrier, outcomes) -> None:
    log = prediction_log.PredictionLog(url, table, spool=folder)
    barrier.wait()
    try:
        log._write(_rows(f"r{os.getpid()}", 1))
        outcomes.put("written")
    except Exception as exc:  # noqa: BLE001  (reported to the test)
        outcomes.put(f"{type(exc).__name__}: {exc}")


def test_workers_making_the_store_at_the_same_moment_both_write_at_once(store_url, tmp_path):
    for trial in range(6):  # each worker of a new service prepares the table on its first write
        url, table = store_url, f"log_{trial}"
        barrier, outcomes = multiprocessing.Barrier(2), multiprocessing.Queue()
        workers = [
            multiprocessing.Process(target=_first_write, args=(url, table, str(tmp_path / "spool"), barrier, outcomes))
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [outcomes.get(timeout=5), outcomes.get(timeout=5)] == ["written", "written"]
        assert len(prediction_log.read(url, table)) == 2


# --- faults: rows are delayed, never dropped, never repeated ---------------------------------


LOCKED = {"sqlite": "database is locked", "postgresql": "lock timeout"}  # the writer's error once its wait is up


def test_a_write_lock_held_longer_than_the_writers_wait_delays_rows_and_loses_none(store_url, tmp_path):
    make_store(store_url)
    submitted = [row for k in range(200) for row in _rows(f"r{k}")] + _rows("last", 1)
    with write_lock(store_url) as rows_seen:
        log = _log(store_url, tmp_path / "spool")
        for k in range(0, len(submitted), 3):
            log.submit(submitted[k : k + 3])
        _until(lambda: log.state() == "failing")  # the writer waited its 5 s and gave up at least once
        assert LOCKED[dialect(store_url)] in log.stats()["last_log_error"]
        assert log.stats()["log_pending"] == 601 and log.stats()["logged"] == 0
        assert log.stats()["log_oldest_pending_seconds"] > 0
        assert rows_seen() == 0  # none got past the lock (SQLite: as any reader sees it, never blocked)
    _until(lambda: log.stats()["log_pending"] == 0)
    assert log.state() == "ok"
    assert log.close() == 0 and log.stats()["logged"] == 601 and log.stats()["log_failures"] == 0
    _exactly_once(store_url, submitted)


def test_an_unreachable_store_delays_rows_until_it_is_back(store_url, tmp_path, caplog):
    submitted = _rows("a") + _rows("b")
    with store_down(store_url):
        log = _log(store_url, tmp_path / "spool")
        with caplog.at_level(logging.ERROR, "lifecycle.store.prediction_log"):
            log.submit(submitted[:3])
            log.submit(submitted[3:])
            _until(lambda: log.state() == "failing")
        assert log.stats()["log_pending"] == 6 and log.stats()["logged"] == 0 and log.stats()["log_failures"] == 0
        assert "they wait in the spool" in caplog.text and "row(s) pending), trying again in" in caplog.text
    _until(lambda: log.stats()["log_pending"] == 0)  # the store is back
    assert log.close() == 0
    _exactly_once(store_url, submitted)


def test_a_postgresql_server_that_drops_the_logs_connection_loses_no_row(postgres_cluster, tmp_path):
    """The store goes down under a log that is connected (its pooled connection dies) and comes back."""
    url = postgres_cluster.url(postgres_cluster.new_database())
    before, during = _rows("before"), _rows("during")
    log = _log(url, tmp_path / "spool")
    log.submit(before)
    _until(lambda: log.stats()["logged"] == 3)
    with store_down(url):
        log.submit(during)
        _until(lambda: log.state() == "failing")
        assert log.stats()["log_pending"] == 3 and log.stats()["logged"] == 3
    _until(lambda: log.stats()["log_pending"] == 0)
    assert log.state() == "ok" and log.close() == 0 and log.stats()["logged"] == 6
    _exactly_once(url, before + during)


def test_close_during_a_held_lock_leaves_rows_in_the_spool_for_the_next_log(store_url, tmp_path, caplog):
    make_store(store_url)
    folder = tmp_path / "spool"
    submitted = [row for k in range(50) for row in _rows(f"r{k}")]
    with write_lock(store_url):
        log = _log(store_url, folder)
        for k in range(0, len(submitted), 3):
            log.submit(submitted[k : k + 3])
        with caplog.at_level(logging.WARNING, "lifecycle.store.prediction_log"):
            assert log.close(timeout=1) == 150
        assert "closing with 150 prediction row(s) not yet in table 'predictions'" in caplog.text
        assert log.stats()["log_pending"] == 150 and log.stats()["logged"] == 0
        (left,) = _spool_files(folder)
        assert left.read_bytes().count(b"\n") == 150
    # As if the store had committed the first 30 rows just before a crash kept them in the spool:
    store = prediction_log.engine(store_url)
    prediction_log.write(store, prediction_log.predictions_table(), submitted[:30])
    store.dispose()
    after = _log(store_url, folder)
    _until(lambda: after.stats()["logged"] == 150)
    assert after.close() == 0 and _spool_files(folder) == []
    _exactly_once(store_url, submitted)


CHILD = textwrap.dedent("""
    import sys
    from lifecycle.store import prediction_log

    url, folder = sys.argv[1:3]
    log = prediction_log.PredictionLog(url, spool=folder, retry_first=0.05, retry_max=0.5).start()
    k = 0
    while True:
        log.submit([prediction_log.row(f"r{k}", record=i, model="m", version=1, role="production",
                                       inputs={"x": i}, outputs={"prediction": 0}) for i in range(3)])
        print(k, log.state(), flush=True)  # acknowledged: on disk
        k += 1
""")


def test_a_killed_process_loses_no_acknowledged_row_and_repeats_none(store_url, tmp_path):
    make_store(store_url)
    folder = tmp_path / "spool"
    (tmp_path / "child.py").write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(tmp_path / "child.py"), store_url, str(folder)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        _until(lambda: len(prediction_log.read(store_url)) > 0)  # the drainer writes the first ones as they come
        with write_lock(store_url):
            state = ""
            while state != "failing":  # its writer waited out the lock once: what came since waits in the spool
                acknowledged, state = child.stdout.readline().split()
            child.send_signal(signal.SIGKILL)
            child.wait(30)
    finally:
        child.kill()
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    written_before = len(prediction_log.read(store_url))
    assert len(_spool_files(folder)) == 1  # the dead process's spool file
    after = _log(store_url, folder)
    _until(lambda: _spool_files(folder) == [after.spool._own.path])  # adopted, drained and deleted
    assert after.close() == 0
    keys = _keys(store_url)
    assert len(keys) == len(set(keys))  # none twice
    assert len(keys) > written_before  # rows were waiting in the dead process's spool
    requests = pd.Series([request for request, _, _ in keys]).value_counts()
    assert {f"r{k}" for k in range(int(acknowledged) + 1)} <= set(requests.index)  # every acknowledged row
    assert set(requests) == {3}  # each request whole


def test_a_torn_last_line_is_skipped_and_reported_not_a_crash(store_url, tmp_path, caplog):
    folder = tmp_path / "spool"
    dead = spool.Spool(folder)  # a process that appended two requests and died in its third append
    dead.append(_rows("a"))
    dead.append(_rows("b"))
    path = dead._own.path
    assert dead.close() == 6
    with open(path, "ab") as file:
        file.write(b'{"request_id":"c","record":0,"model":"m","ver')
    with caplog.at_level(logging.WARNING, "lifecycle.store.prediction_log"):
        log = _log(store_url, folder)
        _until(lambda: log.stats()["logged"] == 6)
    assert log.stats()["log_torn"] == 1 and log.close() == 0
    assert f"spool file {path} ends in a torn line" in caplog.text
    assert not path.exists()
    _exactly_once(store_url, _rows("a") + _rows("b"))


FULL_DISK = textwrap.dedent("""
    import json, resource, signal, sys
    from lifecycle.store import prediction_log

    url, folder = sys.argv[1:3]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
    log = prediction_log.PredictionLog(url, spool=folder).start()
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))
    acknowledged, refused = [], None
    for k in range(1000):
        rows = [prediction_log.row(f"r{k}", record=i, model="m", version=1, role="production",
                                   inputs={"pad": "x" * 150}, outputs={"prediction": 0}) for i in range(3)]
        try:
            log.submit(rows)
        except prediction_log.SpoolRefused as exc:
            refused = str(exc)
            break
        acknowledged.append(f"r{k}")
    print(json.dumps({"acknowledged": acknowledged, "refused": refused, "stats": log.stats(),
                      "left": log.close(timeout=0)}))
""")


def test_a_full_disk_refuses_rows_whole_and_writes_nothing_half(store_url, tmp_path):
    unreachable = f"sqlite:///{tmp_path / 'a-file' / 'log.db'}"  # nothing drains while the spool fills
    (tmp_path / "a-file").write_text("")
    folder = tmp_path / "spool"
    (tmp_path / "child.py").write_text(FULL_DISK)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "child.py"), unreachable, str(folder)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    acknowledged = said["acknowledged"]
    assert 10 < len(acknowledged) < 1000 and "cannot append to" in said["refused"]
    assert said["stats"]["log_failures"] == 3 and said["stats"]["log_spooled"] == 3 * len(acknowledged)
    assert said["left"] == 3 * len(acknowledged)
    (left,) = _spool_files(folder)
    assert left.read_bytes().endswith(b"\n")  # the refused append left nothing of itself
    log = _log(store_url, folder)
    _until(lambda: _spool_files(folder) == [log.spool._own.path])
    assert log.close() == 0 and log.stats()["log_torn"] == 0
    _exactly_once(store_url, [row for request in acknowledged for row in _rows(request)])
