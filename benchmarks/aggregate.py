"""Wall time and peak memory of notebook 04's event aggregates with pandas, DuckDB and Dask.

    python benchmarks/aggregate.py [--sizes 1000000 10000000] [--engines pandas duckdb dask]
                                   [--data /tmp/lifecycle-bench] [--workers 2] [--memory-limit 6GiB]

For each size (simulated events), the product is written once to partitioned Parquet
(``simulate.write_parquet_parts``, chunk by chunk: generating 100M events needs no more
memory than 1M) under ``--data`` and kept there for the next run. Every (size, engine)
runs in a fresh interpreter, so its peak resident memory (``ru_maxrss``) is its own. The
aggregation is notebook 04's: 7/30/90-day windows, counts per event type and traffic
source, amount sums, recencies, ratios, for every simulated user. Dask runs on a
``LocalCluster`` of ``--workers`` worker processes (1 thread each): its row gives the
driver's peak and, apart, the largest worker's (``RUSAGE_CHILDREN``, after the cluster closed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
ENGINES = ("pandas", "duckdb", "dask")
EVENTS_PER_USER = 43.8  # the simulator's average, measured
CHUNK_USERS = 25_000  # about a million events per Parquet part
OPTIONS = dict(
    id_column="user_id",
    time_column="timestamp",
    type_column="event_type",
    cutoff="2025-12-01",
    windows=[7, 30, 90],
    breakdowns=["traffic_source"],
    sums=["amount"],
)


def dataset(events: int, data: Path, seed: int) -> Path:
    """The simulated product with about ``events`` events, written once under ``data``."""
    sys.path.insert(0, str(SRC))
    from lifecycle.simulation.simulate import write_parquet_parts

    n_users = max(1, round(events / EVENTS_PER_USER))
    folder = data / f"product-{n_users}-seed{seed}"
    if not folder.exists():
        started = time.perf_counter()
        write_parquet_parts(folder, n_users, chunk_users=CHUNK_USERS, seed=seed)
        print(f"wrote {n_users:,} users to {folder} in {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def measure(folder: Path, engine: str, workers: int, memory_limit: str) -> dict:
    """Aggregate in this process; return its time, sizes and memory."""
    sys.path.insert(0, str(SRC))
    import pandas as pd
    import pyarrow.parquet as pq

    from lifecycle.core import compute
    from lifecycle.core.settings import Compute
    from lifecycle.data.events_scale import aggregate_parquet

    ids = pd.Index(pd.read_parquet(folder / "labels", columns=["user_id"])["user_id"])
    events = sum(pq.ParquetFile(f).metadata.num_rows for f in (folder / "events").glob("*.parquet"))
    settings = Compute(engine="dask" if engine == "dask" else "local", workers=workers, memory_limit=memory_limit)
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with compute.session(settings, show=None, dashboard_address=None) as client:
        started = time.perf_counter()
        result = aggregate_parquet(folder / "events", ids, engine=engine, client=client, **OPTIONS)
        seconds = time.perf_counter() - started
    return {
        "engine": engine,
        "events": events,
        "users": len(ids),
        "columns": result.shape[1],
        "seconds": seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "workers_peak_mib": (
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if engine == "dask" else None
        ),
        "before_mib": before_kib / 1024,
    }


def run_fresh(folder: Path, engine: str, workers: int, memory_limit: str) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(folder),
            engine,
            "--workers",
            str(workers),
            "--memory-limit",
            memory_limit,
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    return json.loads(out.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--data", type=Path, default=Path("/tmp/lifecycle-bench"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="6GiB")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.child[1], args.workers, args.memory_limit)))
        return
    header = (
        f"{'events':>12} {'users':>10} {'engine':<7} {'seconds':>8} {'events/s':>11} "
        f"{'peak RSS MiB':>13} {'worker peak MiB':>16}"
    )
    rows = []
    for size in args.sizes:
        folder = dataset(size, args.data, args.seed)
        for engine in args.engines:
            r = run_fresh(folder, engine, args.workers, args.memory_limit)
            rows.append(r)
            if len(rows) == 1:
                print(header, "-" * len(header), sep="\n", flush=True)
            workers = f"{r['workers_peak_mib']:>16,.0f}" if r["workers_peak_mib"] is not None else f"{'-':>16}"
            print(
                f"{r['events']:>12,} {r['users']:>10,} {r['engine']:<7} {r['seconds']:>8.1f} "
                f"{r['events'] / r['seconds']:>11,.0f} {r['peak_mib']:>13,.0f} {workers}",
                flush=True,
            )
    print(f"(peak RSS includes ~{rows[-1]['before_mib']:.0f} MiB of interpreter, imports and the ids)")


if __name__ == "__main__":
    main()
