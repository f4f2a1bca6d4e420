"""The cookiecutter starter: a project generated from a clone of this repository (committed files
only), pointed at a user's table, runs its whole lifecycle, stores its outputs and passes its own tests.

The end-to-end runs are the slowest part of the suite (a lifecycle and a generated suite per task):
they start as soon as the session has collected them and run beside the rest (``EndToEnd``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, outputs_text

cookiecutter = pytest.importorskip("cookiecutter.main").cookiecutter

# The generated project's own suite, as far as it depends on the project: what reads its params/ and
# data (nbval over its notebooks, tests/unit/run/test_notebooks.py, the pins) and tests/unit/data/test_problem.py,
# a check that its unit tests run on the simulator's parameters (tests/simulator_params). Its other tests are the
# template's unit tests of the same src/ on those same parameters, which this suite runs itself; in the
# generated project they are collected (every module imports there), not run again (~27 minutes).
PARAMS_AND_DATA = [
    "notebooks",
    "tests/unit/run/test_notebooks.py",
    "tests/test_environment.py",
    "tests/unit/data/test_problem.py",
]
# starter/hooks/post_gen_project.py's MACHINERY: what generates projects and checks the template (the gallery)
TEMPLATE_ONLY = (
    "starter/",
    "tests/e2e/test_starter.py",
    "tests/e2e/gallery.py",
    "tests/e2e/test_gallery.py",
    "CHANGELOG.md",
)
COOKIECUTTER_SYNTAX = re.compile(r"\{\{ *cookiecutter|\{% *(if|for) cookiecutter")


def shops(target: str, n: int = 2000, seed: int = 7) -> pd.DataFrame:
    """A user's table: an id, a date, categories, numbers, gaps; a multiclass or a numeric target."""
    rng = np.random.default_rng(seed)
    size = rng.gamma(3.0, 20.0, n)
    region = rng.choice(["north", "south", "east", "west"], n)
    staff = rng.integers(2, 30, n)
    opened = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    table = pd.DataFrame(
        {
            "shop_id": np.arange(1000, 1000 + n),
            "opened": opened.strftime("%Y-%m-%d"),
            "region": np.where(rng.random(n) < 0.05, None, region),
            "size_m2": np.where(rng.random(n) < 0.08, np.nan, size.round(1)),
            "staff": staff,
            "channel": rng.choice(["web", "store", "phone"], n),
        }
    )
    if target == "tier":
        score = size / 60 + (region == "north") * 0.8 + staff / 20 + rng.normal(0, 0.3, n)
        table["tier"] = np.select([score < 1.6, score < 2.6], ["bronze", "silver"], "gold")
    else:
        table["revenue"] = (50 * size + 30 * staff + 400 * (region == "north") + rng.normal(0, 300, n)).round(2)
    return table


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A local clone of this repository: only committed files, as a git URL would give."""
    if not (ROOT / ".git").exists():
        pytest.skip("the starter test clones this repository: it needs a git checkout")
    clone = tmp_path_factory.mktemp("clone") / "lifecycle"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


def generate(template: Path, out: Path, **answers) -> Path:
    settings = {"cookiecutters_dir": str(out / ".cookiecutters"), "replay_dir": str(out / ".replay")}
    return Path(
        cookiecutter(
            str(template),
            directory="starter",
            no_input=True,
            output_dir=str(out),
            extra_context=answers,
            default_config=settings,
        )
    )


def test_a_project_without_data_is_the_template_named_and_nothing_of_the_generator(template, tmp_path):
    project = generate(template, tmp_path, project_name="Shop Tiers", description="Which tier each shop reaches.")
    assert project.name == "shop_tiers"
    tracked = subprocess.run(
        ["git", "-C", str(template), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    copied = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file())
    assert copied == sorted(n for n in tracked if not n.startswith(TEMPLATE_ONLY))
    readme = (project / "README.md").read_text()
    assert readme.startswith("# Shop Tiers\n\nWhich tier each shop reaches.\n")
    assert "## Start your own project" not in readme and "## Your own data" in readme
    assert "## The gallery" not in readme and "gallery" not in readme.lower()  # nothing points at what was left behind
    assert 'description = "Which tier each shop reaches."' in (project / "pyproject.toml").read_text()
    assert (project / "params").is_dir() and not (project / "data").exists()  # the simulator, until init
    assert not [n for n in copied if COOKIECUTTER_SYNTAX.search((project / n).read_text(errors="ignore"))]


def test_the_template_holds_no_cookiecutter_syntax_outside_the_starter():
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [
        n
        for n in tracked
        if not n.startswith(TEMPLATE_ONLY)
        and (ROOT / n).is_file()
        and COOKIECUTTER_SYNTAX.search((ROOT / n).read_text(errors="ignore"))
    ]


def test_a_wrong_answer_stops_with_one_line_and_leaves_no_folder(template, tmp_path, capfd):
    table = tmp_path / "shops.csv"
    shops("tier", 300).to_csv(table, index=False)
    from cookiecutter.exceptions import FailedHookException

    with pytest.raises(FailedHookException):
        generate(template, tmp_path, project_name="Bad", data=str(table), target="Tier")
    assert "starter: --target Tier: no such column (did you mean tier?)" in capfd.readouterr().err
    assert not (tmp_path / "bad").exists()


TASKS = {"tier": "multiclass", "revenue": "regression"}


class EndToEnd:
    """Both generated projects, each running its lifecycle (stored) then its own suite, side by side
    and beside the rest of this suite: they are its longest part, each mostly one process at a time,
    and the machine has two cores. ``start`` runs when the session has collected the end-to-end test
    (``pytest_collection_finish`` in tests/conftest.py), else from its fixture; ``stop`` at the end of
    the session interrupts what is still running (a run stopped early, ``-x``) and removes the folder."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.runs: dict[str, tuple[Path, Future]] = {}
        self.children: list[subprocess.Popen] = []

    def start(self) -> None:
        if self.folder:
            return
        self.folder = Path(tempfile.mkdtemp(prefix="lifecycle-starter-"))
        template = self.folder / "clone" / "lifecycle"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(template)], check=True)
        self.pool = ThreadPoolExecutor(len(TASKS))
        for target in TASKS:  # generated here: cookiecutter changes the working directory
            folder = self.folder / target
            folder.mkdir()
            table = folder / "shops.csv"
            shops(target).to_csv(table, index=False)
            project = generate(template, folder, project_name="Shops", data=str(table), target=target)
            self.runs[target] = project, self.pool.submit(self._lifecycle_and_suite, project)

    def _lifecycle_and_suite(self, project: Path) -> tuple:
        """Its lifecycle with stored outputs (= make notebooks), then its suite: all of it collected, what
        depends on the project run."""
        stored = self._run(project, "lifecycle", "run", "--store")
        if stored.returncode != 0:
            return stored, None, None
        collected = self._run(project, "pytest", "-q", "-p", "no:cacheprovider", "--collect-only")
        return stored, collected, self._run(project, "pytest", "-q", "-p", "no:cacheprovider", *PARAMS_AND_DATA)

    def _run(self, project: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
        """``python -m <args>`` in the project, on its own ``src``, in a process group of its own (its
        kernels and servers included) that ``stop`` can interrupt as Ctrl-C would."""
        env = {**os.environ, "PYTHONPATH": str(project / "src")}
        with subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=project,
            env=env,
            text=True,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as child:
            self.children.append(child)
            try:
                out, err = child.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                out, err = child.communicate()
        return subprocess.CompletedProcess(child.args, child.returncode, out, err)

    def stop(self) -> None:
        running = [child for child in self.children if child.poll() is None]
        for child in running:
            _signal_group(child, signal.SIGINT)  # as Ctrl-C: its fixtures and kernels clean up
        for child in running:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(child, signal.SIGKILL)  # and whatever of its group is left
        if self.pool:
            self.pool.shutdown(wait=True)
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass


END_TO_END = EndToEnd()


@pytest.fixture(scope="module")
def generated() -> dict:
    END_TO_END.start()  # already under way when the session started it at collection
    return END_TO_END.runs


@pytest.mark.parametrize("target", list(TASKS))
def test_a_generated_project_runs_its_lifecycle_on_a_table_and_passes_its_own_tests(generated, target):
    project, run = generated[target]
    assert (project / "data" / "shops.csv").is_file() and (project / "tests" / "simulator_params").is_dir()
    assert f"task: {TASKS[target]}" in (project / "params" / "project.yaml").read_text()
    stored, collected, tests = run.result()
    assert stored.returncode == 0, stored.stdout[-3000:] + stored.stderr[-3000:]
    assert "14 phase(s) run" in stored.stdout
    assert collected.returncode == 0, collected.stdout[-5000:] + collected.stderr[-2000:]
    assert re.search(r"\b\d{3,} tests collected", collected.stdout), collected.stdout[-500:]  # its unit tests too
    assert tests.returncode == 0, tests.stdout[-5000:] + tests.stderr[-2000:]
    assert re.search(r"\d+ passed", tests.stdout) and " failed" not in tests.stdout


def test_the_regression_project_evaluates_and_tests_as_regression(generated):
    project, run = generated["revenue"]
    assert run.result()[0].returncode == 0
    evaluation = outputs_text(project / "notebooks" / "07_model_evaluation.ipynb")
    assert "No threshold: the task is regression" in evaluation and "residual (actual - predicted)" in evaluation
    results = json.loads((project / "reports" / "test_results.json").read_text())
    assert set(results["results"]["test"]) == {"mae", "rmse", "r2"}
    assert results["passed"] is True and results["verdict"].startswith("PASS: ")
    assert (project / "models" / "shops" / "1" / "model.skops").is_file()
