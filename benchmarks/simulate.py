"""Wall time and peak memory of the product simulator and of data preparation.

    python benchmarks/simulate.py [--sizes 10000 100000 1000000] [--seed 42]

Each (size, mode) runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``)
is its own and not a leftover of a bigger run. Two modes: ``simulate_product`` (all
tables in memory at once) and ``iter_product_chunks`` (100,000 users at a time, each
chunk dropped after use, as when writing partitioned Parquet). A third, ``prepare``,
simulates in one go and then times ``prepare.prepare`` (cleaning, labels from events,
rejects) on the result: its seconds are the preparation's alone, its memory the peak of both.
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
MODES = ("simulate_product", "iter_product_chunks", "prepare")


def measure(n_users: int, mode: str, seed: int) -> dict:
    """Run one simulation in this process; return its time, size and memory."""
    sys.path.insert(0, str(SRC))  # the checkout's code, installed or not
    from lifecycle.simulation.simulate import iter_product_chunks, simulate_product

    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # imports alone (KiB on Linux)
    started = time.perf_counter()
    if mode == "simulate_product":
        product = simulate_product(n_users, seed=seed)
        events = len(product.events)
    elif mode == "prepare":
        from lifecycle.core import params, settings
        from lifecycle.data import prepare
        from lifecycle.data.sources import Dataset

        phase = "02_data_preparation"
        p = settings.DataPreparation(**params.resolve([phase], sets=[f"seed={seed}"])[phase])
        product = simulate_product(n_users, seed=seed)
        events = len(product.events)
        started = time.perf_counter()
        prepare.prepare(Dataset(product.users, product.events), p, p.valid_ranges, p.numeric_text_share)
    else:
        events = sum(len(chunk.events) for chunk in iter_product_chunks(n_users, seed=seed, chunk_users=100_000))
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "users": n_users,
        "mode": mode,
        "events": events,
        "seconds": seconds,
        "peak_mib": peak_kib / 1024,
        "imports_mib": before_kib / 1024,
    }


def run_fresh(n_users: int, mode: str, seed: int) -> dict:
    """Measure in a new interpreter, so each peak is the run's own."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(n_users), mode, "--seed", str(seed)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--child", nargs=2, metavar=("N_USERS", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(int(args.child[0]), args.child[1], args.seed)))
        return
    header = f"{'users':>10} {'mode':<20} {'events':>12} {'seconds':>8} {'users/s':>9} {'peak RSS MiB':>13}"
    print(header, "-" * len(header), sep="\n", flush=True)
    for n_users in args.sizes:
        for mode in args.modes:
            r = run_fresh(n_users, mode, args.seed)
            print(
                f"{r['users']:>10,} {r['mode']:<20} {r['events']:>12,} {r['seconds']:>8.2f} "
                f"{r['users'] / r['seconds']:>9,.0f} {r['peak_mib']:>13,.0f}",
                flush=True,
            )
    print(f"(peak RSS includes ~{r['imports_mib']:.0f} MiB of interpreter and imports)")


if __name__ == "__main__":
    main()
