"""lifecycle.run.lockfile: hashes, reasons in words, and which phases may run at once."""

import json
import os

import pytest

from lifecycle.core import paths
from lifecycle.run import lockfile


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "REPORTS", tmp_path / "reports")
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    return tmp_path


def test_file_hash_follows_content_not_times(reports):
    path = reports / "data.txt"
    path.write_text("one")
    first = lockfile.file_hash("data.txt")
    os.utime(path, (1, 1))
    assert lockfile.file_hash("data.txt") == first
    path.write_text("two")
    assert lockfile.file_hash("data.txt") != first
    assert lockfile.file_hash("missing.txt") is None


def test_reasons_name_what_changed(reports):
    (reports / "in.json").write_text("1")
    (reports / "out.json").write_text("2")
    (reports / "helper.py").write_text("x = 1")
    now = lockfile.Current("nb", lockfile.params_hashes({"seed": 1, "bins": 10}), {"helper.py": "h"})
    entry = lockfile.entry(now, ["helper.py"], lockfile.hashes(["in.json"]), lockfile.hashes(["out.json"]), "r1")
    assert lockfile.reasons(entry, now) == []
    assert lockfile.reasons(None, now) == ["never run"]
    assert lockfile.reasons({**entry, "state": "running"}, now) == ["its last run did not finish"]

    later = lockfile.Current("nb2", lockfile.params_hashes({"seed": 2, "bins": 10}), {"helper.py": "h2"})
    (reports / "in.json").write_text("3")
    (reports / "out.json").unlink()
    assert lockfile.reasons(entry, later) == [
        "notebook changed",
        "parameter seed changed",
        "helper helper.py changed",
        "input in.json changed",
        "output out.json missing",
    ]


def test_write_then_read_round_trips_and_a_foreign_file_is_refused(reports):
    lockfile.write({"00_x": {"state": "done"}})
    assert lockfile.read() == {"00_x": {"state": "done"}}
    lockfile.lock_path().write_text("[]")
    with pytest.raises(lockfile.LockError, match="delete it"):
        lockfile.read()


def test_phases_conflict_when_one_writes_what_the_other_reads_or_writes():
    a = {"inputs": {"x": "1"}, "outputs": {"a": "1"}}
    b = {"inputs": {"x": "1"}, "outputs": {"b": "1"}}
    reader = {"inputs": {"a": "1"}, "outputs": {"c": "1"}}
    same_output = {"inputs": {}, "outputs": {"a": "2"}}
    assert not lockfile.conflict(a, b)
    assert lockfile.conflict(a, reader) and lockfile.conflict(reader, a)
    assert lockfile.conflict(a, same_output)
    assert lockfile.conflict(a, None)  # unknown I/O: never alongside anything
    assert lockfile.edges({"00_a": a, "01_r": reader}) == [("00_a", "01_r", ["a"])]


def test_only_one_holder_at_a_time(reports):
    with lockfile.exclusive():
        with pytest.raises(lockfile.Busy, match=rf"pid {os.getpid()}"):
            with lockfile.exclusive():
                pass
    with lockfile.exclusive():
        pass


def test_hashes_are_remembered_across_processes_by_stat(reports, monkeypatch):
    path = reports / "big.bin"
    path.write_bytes(b"x" * 1000)
    os.utime(path, (1, 1))  # not fresh: safe to remember
    digest = lockfile.file_hash("big.bin")
    lockfile.save_cache()
    remembered = json.loads(lockfile.cache_path().read_text())
    assert remembered[str(path)][-1] == digest
    monkeypatch.setattr(lockfile, "_CACHE", {str(path): [*remembered[str(path)][:4], "from the cache"]})
    assert lockfile.file_hash("big.bin") == "from the cache"  # a stat, no read
    path.write_bytes(b"y" * 1000)  # same size, new times: read again
    assert lockfile.file_hash("big.bin") not in ("from the cache", digest)
