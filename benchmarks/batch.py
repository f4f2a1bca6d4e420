"""Throughput and peak memory of batch scoring (``lifecycle predict``), Parquet in, SQLite out.

    python benchmarks/batch.py [--sizes 100000 1000000 10000000] [--chunk-rows 50000] [--folder DIR]
                               [--engine local|dask] [--to sqlite|parquet]

For each size: a Parquet file of that many rows, sampled with replacement from the training
split (data/processed/train.parquet) and written in row groups, so no more than one group is
ever in memory; then a fresh ``python -m lifecycle.batch`` scores it with the registered
``churn`` model into a new SQLite file. Peak memory is that process's maximum resident set
(``ru_maxrss`` from ``os.wait4``); rows/s is over its whole run (start-up and model load
included) and over the scoring and writing alone (from its summary line). Flat memory means
the peak does not grow with the input. With ``--engine dask`` the same command scores on a
LocalCluster (``compute`` in params/project.yaml: 2 worker processes by default); the peak is
then the driver's alone, which streams the scored partitions into the staging table.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
GROUP_ROWS = 100_000


def make_input(path: Path, rows: int, seed: int = 0) -> Path:
    """``rows`` rows sampled from the training split, with fresh ids, one row group at a time."""
    if path.is_file() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    train = pd.read_parquet(ROOT / "data" / "processed" / "train.parquet")
    rng = np.random.default_rng(seed)
    schema = pa.Schema.from_pandas(train, preserve_index=False)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, GROUP_ROWS):
            size = min(GROUP_ROWS, rows - start)
            group = train.iloc[rng.integers(0, len(train), size)].reset_index(drop=True)
            group["user_id"] = np.arange(start, start + size, dtype=train["user_id"].dtype)
            writer.write_table(pa.Table.from_pandas(group, schema=schema, preserve_index=False))
    return path


def measure(source: Path, database: Path, rows: int, chunk_rows: int, engine: str = "local") -> dict:
    """One fresh process scoring ``source`` into ``database`` (a ``.db`` SQLite file or a ``.parquet``
    output): seconds, rows/s, peak memory."""
    shutil.rmtree(database) if database.is_dir() else database.unlink(missing_ok=True)
    target = str(database) if database.suffix == ".parquet" else f"sqlite:///{database}"
    table = ["--table", "batch_predictions"] if database.suffix == ".db" else []
    command = [
        sys.executable,
        "-m",
        "lifecycle.batch",
        "--input",
        str(source),
        "--output",
        target,
        *table,
        "--batch-id",
        f"bench-{rows}",
        "--model",
        "churn",
        "--chunk-rows",
        str(chunk_rows),
        "--engine",
        engine,
    ]
    log = database.with_suffix(".log")
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}
        )
        status, usage, driver_mb, workers_mb = _watch(process)
    total = time.perf_counter() - started
    text = log.read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"lifecycle predict failed on {rows:,} rows:\n{text}")
    inner = float(re.search(r"in ([\d.]+) s \(", text).group(1))
    return {
        "rows": rows,
        "seconds": total,
        "rows_per_s": rows / total,
        "scoring_rows_per_s": rows / inner,
        "peak_mb": usage.ru_maxrss / 1024,
        "driver_mb": driver_mb,
        "workers_mb": workers_mb,
        "input_mb": source.stat().st_size / 2**20,
        "output_mb": _size(database) / 2**20,
    }


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size


def _watch(process: subprocess.Popen) -> tuple[int, object, float, float]:
    """Wait for the process: its exit status, resource usage (``os.wait4``), and the peak resident
    memory of the process itself and of its largest descendant (a Dask worker), sampled every
    0.1 s (``ru_maxrss`` alone mixes the two)."""
    import psutil

    driver = workers = 0.0
    watched = psutil.Process(process.pid)
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            return status, usage, driver, workers
        try:
            driver = max(driver, watched.memory_info().rss / 2**20)
            for child in watched.children(recursive=True):
                workers = max(workers, child.memory_info().rss / 2**20)
        except psutil.Error:  # exited between the poll and the reading
            pass
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--engine", choices=("local", "dask"), default="local")
    parser.add_argument("--to", choices=("sqlite", "parquet"), default="sqlite", help="the output (default: sqlite)")
    parser.add_argument("--folder", type=Path, help="keep inputs and outputs here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        print(
            f"{'rows':>12} {'seconds':>8} {'rows/s':>9} {'scoring rows/s':>15} {'peak MB':>8} "
            f"{'driver MB':>10} {'worker MB':>10} {'input MB':>9} {'output MB':>10}",
            flush=True,
        )
        for rows in args.sizes:
            source = make_input(folder / f"rows_{rows}.parquet", rows)
            output = folder / f"out_{rows}.{'db' if args.to == 'sqlite' else 'parquet'}"
            r = measure(source, output, rows, args.chunk_rows, args.engine)
            print(
                f"{r['rows']:>12,} {r['seconds']:>8.1f} {r['rows_per_s']:>9,.0f} {r['scoring_rows_per_s']:>15,.0f} "
                f"{r['peak_mb']:>8.0f} {r['driver_mb']:>10.0f} {r['workers_mb']:>10.0f} {r['input_mb']:>9.1f} "
                f"{r['output_mb']:>10.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
