"""The gallery: real public tables, through `lifecycle init` and `lifecycle run` as a new user would, no edits.

Each table (tests/e2e/gallery.py) is written as a CSV outside the project, pointed at with init (which copies it
under data/ and writes params/), and run through all 14 phases, two tables at a time. Each verdict's figure must
be within its interval of a careful hand-made baseline on the same table (or better than it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import gallery
import pytest
from conftest import copy_project

PHASES = 14


def _start(project: Path, table: Path, target: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    script = f"{sys.executable} -m lifecycle init --data {table} --target {target} && {sys.executable} -m lifecycle run"
    log = open(project / "gallery.log", "w")
    return subprocess.Popen(["sh", "-c", script], cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, int, str]]:
    """Every gallery table's project after init and a whole run: (project, exit code, what it printed)."""
    root = tmp_path_factory.mktemp("gallery")
    waiting = list(gallery.GALLERY)
    running: dict[str, subprocess.Popen] = {}
    done = {}
    deadline = time.monotonic() + 3600
    while (waiting or running) and time.monotonic() < deadline:
        while waiting and len(running) < 2:  # two cores
            name = waiting.pop(0)
            project = copy_project(root / name)
            table = gallery.write(name, root / "downloads")
            running[name] = _start(project, table, gallery.GALLERY[name].target)
        for name, process in list(running.items()):
            if process.poll() is not None:
                project = root / name
                done[name] = (project, process.returncode, (project / "gallery.log").read_text())
                del running[name]
        time.sleep(1)
    for process in running.values():
        process.kill()
    return done


@pytest.mark.parametrize("name", list(gallery.GALLERY))
def test_every_phase_runs_on_a_real_table_with_no_edits(runs, name):
    project, code, printed = runs[name]
    assert code == 0, printed[-3000:]
    assert f"done: {PHASES} phase(s) run" in printed
    assert f"copied {project.parent / 'downloads' / name}.csv to data/{name}.csv" in printed
    results = json.loads((project / "reports" / "test_results.json").read_text())
    assert results["estimate"] and "interval" in results["verdict"]
    assert (project / "reports" / "monitoring.json").is_file()  # 12 joined labels to predictions by the made id


@pytest.mark.parametrize("name", list(gallery.GALLERY))
def test_the_verdict_figure_is_within_its_interval_of_a_hand_made_baseline(runs, name):
    project, code, printed = runs[name]
    assert code == 0, printed[-3000:]
    found = json.loads((project / "reports" / "test_results.json").read_text())["estimate"]
    card = json.loads((project / "reports" / "problem_card.json").read_text())
    assert card["metric"] == gallery.METRIC[gallery.GALLERY[name].task]
    by_hand = gallery.baseline(name)
    sign = 1 if card["greater_is_better"] else -1
    better = sign * (found["value"] - by_hand) >= 0
    assert better or found["low"] <= by_hand <= found["high"], (name, found, by_hand)


def test_a_small_table_shows_its_interval_and_a_verdict_that_names_it(runs):
    project, code, printed = runs["wine"]  # 178 rows
    assert code == 0, printed[-3000:]
    card = (project / "reports" / "model_card.md").read_text()
    assert "| metric | test | test low | test high |" in card
    verdict = next(line for line in card.splitlines() if line.startswith("**Verdict.**"))
    assert "(interval " in verdict and "with its whole interval" in verdict or "point estimate only" in verdict
    assert "repeated" in verdict and "all 178 in-time rows" in verdict
    run = sorted((project / "reports" / "runs").iterdir())[-1]
    collected = (run / "01_data_collection.ipynb").read_text()
    assert "made here: the table has no id column" in collected
    assert (
        "Left out of the features: Name"
        in (sorted((runs["cars"][0] / "reports" / "runs").iterdir())[-1] / "04_feature_engineering.ipynb").read_text()
    )
    dated = json.loads(
        (runs["seattle_weather"][0] / "reports" / "runs")
        .joinpath(
            sorted(p.name for p in (runs["seattle_weather"][0] / "reports" / "runs").iterdir())[-1], "parameters.json"
        )
        .read_text()
    )
    assert dated["04_feature_engineering"]["time_column"] == "date"  # a unique date is a time, not an id
