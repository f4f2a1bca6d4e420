"""How long the service's log writer waits while a batch is written to SQLite (``batch_store``).

    python benchmarks/batch_lock.py [--rows 1000000] [--chunk-rows 50000]

A thread writes one prediction-log row every 20 ms (``prediction_log.write``, as the service's
writer does) while ``batch_store.replace_batch`` writes ``--rows`` scored rows (synthetic: an id,
a prediction, two probabilities and the batch columns) twice over: once into the log's own
database file, once into a file beside it (the default ``store.batch_url``). Printed per layout:
the batch's seconds, and the log writes' count, median and longest wait. Into the same file the
longest wait is about the final replace's length (the delete and the insert from staging hold
SQLite's one write lock); beside it, the batch never touches the log's lock.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from lifecycle.batch import store as batch_store
from lifecycle.store import prediction_log


def frames(rows: int, chunk_rows: int):
    scored_at = datetime.now(UTC)
    rng = np.random.default_rng(0)
    for start in range(0, rows, chunk_rows):
        n = min(chunk_rows, rows - start)
        p = rng.random(n)
        yield pd.DataFrame(
            {
                "user_id": np.arange(start, start + n),
                "prediction": (p > 0.5).astype(int),
                "probability_0": 1 - p,
                "probability_1": p,
                "model_name": "churn",
                "model_version": 1,
                "batch_id": "bench",
                "scored_at": scored_at,
            }
        )


def measure(log_url: str, batch_url: str, rows: int, chunk_rows: int) -> dict:
    store = prediction_log.engine(log_url)
    table = prediction_log.predictions_table()
    table.metadata.create_all(store)
    waits, stop = [], threading.Event()

    def writer() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            prediction_log.write(
                store,
                table,
                [prediction_log.row("r", record=0, model="churn", version=1, role="production", inputs={}, outputs={})],
            )
            waits.append(time.perf_counter() - started)
            time.sleep(0.02)

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.perf_counter()
    batch_store.replace_batch(batch_url, "batch_predictions", "bench", frames(rows, chunk_rows))
    seconds = time.perf_counter() - started
    stop.set()
    thread.join()
    store.dispose()
    return {
        "batch s": round(seconds, 1),
        "log writes": len(waits),
        "median wait ms": round(1000 * statistics.median(waits), 1),
        "longest wait ms": round(1000 * max(waits), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = f"sqlite:///{Path(folder) / 'predictions.db'}"
        results = {
            "same file": measure(log, log, args.rows, args.chunk_rows),
            "beside it (default)": measure(
                log, f"sqlite:///{Path(folder) / 'batch_predictions.db'}", args.rows, args.chunk_rows
            ),
        }
    print(pd.DataFrame(results).T.to_string())


if __name__ == "__main__":
    main()
