"""Wall time of ``lifecycle run``: a full run, a re-run with nothing changed, a re-run after a
one-line change in a helper that only one phase imports, and each phase's time and peak memory on
the first (cold) run and on a forced second one (warm: files and the OS's caches are).

    python benchmarks/runner.py [--folder DIR] [--jobs N] [--repeat 3] [--ref GIT-REF]

Works on a copy of the project (src, notebooks, params, pyproject.toml) in a fresh folder,
each run a new ``python -m lifecycle run`` process, timed from outside (interpreter start
included). For the full run it reports the sum of the notebooks' own cell times (papermill's
per-cell durations in the executed notebooks) and the share of the wall time spent outside
them: imports, kernels, papermill, hashing. ``--ref main`` times a full run of another
commit instead (``git archive``), to compare the runner before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("src", "notebooks", "params", "pyproject.toml")
HELPER = "src/lifecycle/modeling/tune.py"  # imported by 08_model_tuning only


def copy_project(dest: Path, ref: str | None) -> Path:
    dest.mkdir(parents=True)
    if ref:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, *COPIED], capture_output=True, check=True)
        tarfile.open(fileobj=io.BytesIO(archive.stdout)).extractall(dest)
        return dest
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        else:
            shutil.copy2(source, dest / name)
    return dest


def timed_run(project: Path, *args: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    t0 = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "lifecycle", "run", *args], cwd=project, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(f"lifecycle run {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def cell_seconds(run_dir: Path) -> dict[str, float]:
    """Per phase, the sum of its cells' durations as papermill recorded them."""
    found = {}
    for path in run_dir.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        found[path.stem] = sum(
            (c.get("metadata", {}).get("papermill", {}) or {}).get("duration") or 0 for c in nb["cells"]
        )
    return found


def latest_run(project: Path) -> Path:
    return max((project / "reports" / "runs").iterdir(), key=lambda p: p.stat().st_mtime)


def phase_table(cold: Path, warm: Path) -> str:
    """Per phase: seconds (kernel included) and its kernel's peak MiB, cold and warm, from run.json."""
    first, second = (json.loads((run / "run.json").read_text())["phases"] for run in (cold, warm))
    lines = [f"  {'phase':<26}{'cold s':>8}{'warm s':>8}{'cold MiB':>10}{'warm MiB':>10}"]
    for phase, record in first.items():
        again = second.get(phase, {})
        lines.append(
            f"  {phase:<26}{record.get('seconds', 0):>8.1f}{again.get('seconds', 0):>8.1f}"
            f"{record.get('peak_mib') or 0:>10}{again.get('peak_mib') or 0:>10}"
        )
    total = (sum(r.get("seconds", 0) for r in runs.values()) for runs in (first, second))
    lines.append(f"  {'sum':<26}{next(total):>8.1f}{next(total):>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="where to put the copy (default: a temporary folder)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="no-change re-runs to take the median of")
    parser.add_argument("--ref", help="time a full run of this git commit instead (before/after)")
    args = parser.parse_args(argv)
    base = args.folder or Path(tempfile.mkdtemp(prefix="lifecycle-bench-"))
    project = copy_project(base / "project", args.ref)
    phases = len(list((project / "notebooks").glob("[0-9][0-9]_*.ipynb")))

    jobs = [] if args.ref else ["--jobs", str(args.jobs)]
    wall, out = timed_run(project, *jobs)
    cells = cell_seconds(latest_run(project))
    total = sum(cells.values())
    print(
        f"full run, {phases} phases{'' if not args.ref else f' ({args.ref})'}: {wall:.1f} s wall; "
        f"cells {total:.1f} s; outside cells {wall - total:.1f} s ({(wall - total) / wall:.0%})"
    )
    # Per notebook, as the runner reports it ("done in X s") less its cells: kernel start, papermill, records.
    per = sorted(float(s) - cells[p] for p, s in re.findall(r"\] (\S+) done in ([\d.]+) s", out))
    print(
        f"  per notebook outside its cells: median {statistics.median(per):.2f} s, total {sum(per):.1f} s; "
        f"the rest ({wall - total - sum(per):.1f} s) is interpreter start, imports, params, hashing"
    )
    if args.ref:
        return
    cold = latest_run(project)
    warm_wall, _ = timed_run(project, "--force", *jobs)
    print(f"forced second run (warm): {warm_wall:.1f} s wall\n{phase_table(cold, latest_run(project))}")

    times = [timed_run(project)[0] for _ in range(args.repeat)]
    print(
        f"re-run, nothing changed ({phases} phases up to date): {statistics.median(times):.2f} s "
        f"(median of {args.repeat}: {', '.join(f'{t:.2f}' for t in times)})"
    )

    helper = project / HELPER
    helper.write_text(helper.read_text() + "\n# benchmark: a one-line change\n")
    seconds, out = timed_run(project)
    ran = [line.split()[1] for line in out.splitlines() if " done in " in line]
    print(f"re-run after a one-line change in {HELPER}: {seconds:.1f} s; ran {', '.join(ran) or 'nothing'}")
    if not args.folder:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
