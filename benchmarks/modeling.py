"""Time of the modeling phases (04-09), and the share spent outside the notebooks' own cells.

    python benchmarks/modeling.py [--sizes 5000 50000]

For each size: a fresh copy of the project in a temporary folder, phases 00-03 run first to
make the data, then ``lifecycle run --from 04 --to 09`` is timed. The notebooks' own work is
the sum of papermill's per-cell durations in the executed notebooks; the rest (interpreter,
papermill import, kernel start-up, imports in the first cell, writing notebooks) is overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_project(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("src", "notebooks", "params"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def lifecycle(project: Path, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "lifecycle", "run", *args],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started


def cell_seconds(run_dir: Path) -> dict[str, float]:
    seconds = {}
    for notebook in sorted(run_dir.glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        seconds[notebook.stem] = sum(c.get("metadata", {}).get("papermill", {}).get("duration") or 0 for c in cells)
    return seconds


def measure(n_users: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(Path(folder))
        size = f"simulation.n_users={n_users}"
        lifecycle(project, "--to", "03", "--set", size)
        total = lifecycle(project, "--from", "04", "--to", "09", "--set", size)
        newest = max((project / "reports" / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
        cells = cell_seconds(newest)
    inside = sum(cells.values())
    return {"users": n_users, "total": total, "cells": inside, "outside_share": 1 - inside / total, "phases": cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    args = parser.parse_args()
    for n_users in args.sizes:
        r = measure(n_users)
        print(
            f"{n_users:>7,} users: 04-09 in {r['total']:6.1f} s, cells {r['cells']:6.1f} s, "
            f"outside the cells {100 * r['outside_share']:4.1f}%"
        )
        print("         " + ", ".join(f"{k[:2]} {v:.1f}s" for k, v in r["phases"].items()), flush=True)


if __name__ == "__main__":
    main()
