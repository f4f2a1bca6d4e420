"""The prediction log under faults, and what recording a row on disk costs a request.

    python benchmarks/prediction_log.py [--lock-seconds 20] [--submits 2000]

In a temporary folder, against a SQLite store:
1. another connection holds the store's write lock for ``--lock-seconds`` while 601 rows
   are submitted (200 requests of 3 rows and one of 1), then lets go: rows in the store,
   lost and repeated, and how long the drain took after the lock went;
2. 2,000 rows submitted, ``close(timeout=10)`` during a lock held ``--lock-seconds``: the rows
   it says it left pending, then a new log on the same spool: rows in the store;
3. ``submit`` of one-row requests (an fsync each, shared by appends made at the same moment)
   from 1 and 8 threads: p50 / p99 ms and requests/s.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lifecycle.store import prediction_log


def rows(request: str, n: int) -> list[dict]:
    return [
        prediction_log.row(
            request,
            record=i,
            model="m",
            version=1,
            role="production",
            inputs={"x": i, "text": "a" * 80},
            outputs={"prediction": 1},
        )
        for i in range(n)
    ]


def make_store(url: str) -> Path:
    store = prediction_log.engine(url)
    prediction_log.predictions_table().create(store, checkfirst=True)
    store.dispose()
    return prediction_log.sqlite_file(prediction_log.resolve_url(url))


def hold_lock(path: Path, seconds: float, taken: threading.Event) -> None:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    taken.set()
    time.sleep(seconds)
    holder.execute("ROLLBACK")
    holder.close()


def counted(url: str) -> tuple[int, int]:
    keys = prediction_log.read(url)[["request_id", "record", "role"]]
    return len(keys), int(keys.duplicated().sum())


def under_lock(folder: Path, name: str, seconds: float) -> tuple[str, threading.Thread, prediction_log.PredictionLog]:
    """A new store whose write lock another connection holds for ``seconds`` (from now), and a log writing to
    it through the spool ``spool-<name>``."""
    url = f"sqlite:///{folder / f'{name}.db'}"
    taken = threading.Event()
    holder = threading.Thread(target=hold_lock, args=(make_store(url), seconds, taken))
    holder.start()
    taken.wait()
    return url, holder, prediction_log.PredictionLog(url, spool=folder / f"spool-{name}").start()


def locked(folder: Path, seconds: float) -> None:
    url, holder, log = under_lock(folder, "locked", seconds)
    for k in range(200):
        log.submit(rows(f"r{k}", 3))
    log.submit(rows("last", 1))
    holder.join()
    released = time.monotonic()
    while log.stats()["log_pending"]:
        time.sleep(0.01)
    drained = time.monotonic() - released
    log.close()
    stored, repeated = counted(url)
    print(
        f"1. write lock held {seconds:g} s: 601 submitted, {stored} in the store, {601 - stored} lost, "
        f"{repeated} repeated; drained {drained:.1f} s after the lock went"
    )


def close_during_lock(folder: Path, seconds: float) -> None:
    url, holder, log = under_lock(folder, "closing", seconds)
    for k in range(1000):
        log.submit(rows(f"r{k}", 2))
    started = time.monotonic()
    left = log.close(timeout=10)
    closing = time.monotonic() - started
    holder.join()
    after = prediction_log.PredictionLog(url, spool=folder / "spool-closing").start()
    while after.stats()["logged"] < left:
        time.sleep(0.01)
    after.close()
    stored, repeated = counted(url)
    print(
        f"2. close(timeout=10) during a {seconds:g} s lock: returned after {closing:.1f} s with {left} row(s) "
        f"left pending; the next log drained them: {stored} of 2000 in the store, {repeated} repeated"
    )


def latency(folder: Path, submits: int) -> None:
    url = f"sqlite:///{folder / 'latency.db'}"
    make_store(url)
    for threads in (1, 8):
        log = prediction_log.PredictionLog(url, spool=folder / f"spool-{threads}").start()

        def one(k: int, log=log, threads=threads) -> float:
            started = time.perf_counter()
            log.submit(rows(f"t{threads}-{k}", 1))
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            seconds = np.array(list(pool.map(one, range(submits))))
        wall = time.perf_counter() - started
        log.close()
        print(
            f"3. submit, {threads} thread(s): p50 {np.percentile(seconds, 50) * 1e3:.2f} ms, "
            f"p99 {np.percentile(seconds, 99) * 1e3:.2f} ms, {submits / wall:,.0f} requests/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock-seconds", type=float, default=20.0)
    parser.add_argument("--submits", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        locked(folder, args.lock_seconds)
        close_during_lock(folder, args.lock_seconds)
        latency(folder, args.submits)


if __name__ == "__main__":
    main()
