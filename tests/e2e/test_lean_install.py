"""The default install alone serves: a fresh venv gets requirements.lock and the package (``--no-deps``, no
extras), holds none of the notebooks' or the tests' tools, and its ``lifecycle serve`` answers ``/predict``
for a model registered in a project.

One venv per session, from pip's own cache (``--no-cache-dir`` is never passed): about a minute once the
cache holds the wheels.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT
from support.serving import Service, Toy

# What the default install must not have: the notebooks' tools and the tests'
ABSENT = ("jupyterlab", "papermill", "ipykernel", "matplotlib", "nbconvert", "pytest", "playwright", "nbval", "ruff")


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="session")
def lean_venv(tmp_path_factory) -> Path:
    """A venv with requirements.lock installed, nothing else yet."""
    venv = tmp_path_factory.mktemp("lean") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = _pip(venv / "bin" / "python", "install", "--quiet", "-r", str(ROOT / "requirements.lock"))
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def toy(tmp_path_factory, lean_venv) -> Toy:
    """The serving tests' toy project (trained and registered by this suite's environment), installed into
    the lean venv as ``make`` installs a project: ``pip install --no-deps -e``."""
    toy = Toy(tmp_path_factory.mktemp("lean-project") / "project")
    installed = _pip(lean_venv / "bin" / "python", "install", "--quiet", "--no-deps", "-e", str(toy.project))
    assert installed.returncode == 0, installed.stderr[-3000:]
    return toy


def test_the_default_install_is_a_closed_set_without_notebook_or_test_tools(lean_venv):
    python = lean_venv / "bin" / "python"
    checked = _pip(python, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    frozen = _pip(python, "freeze", "--exclude", "lifecycle").stdout.splitlines()
    locked = [line for line in (ROOT / "requirements.lock").read_text().splitlines() if not line.startswith("#")]
    assert sorted(frozen, key=str.lower) == sorted(locked, key=str.lower)  # the lock pulled in nothing more
    probe = f"import importlib.util, json; print(json.dumps([m for m in {ABSENT!r} if importlib.util.find_spec(m)]))"
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(found.stdout) == []


def test_the_default_install_serves_a_registered_model(toy, lean_venv):
    service = Service(toy.project, "--model", "toy", command=[str(lean_venv / "bin" / "lifecycle"), "serve"])
    try:
        answer = service.client.post("/predict", json=toy.records[:5])
        assert answer.status_code == 200, answer.text
        assert (answer.json()["model"], answer.json()["version"]) == ("toy", 1)  # the champion
        predictions = [row["prediction"] for row in answer.json()["predictions"]]
        assert predictions == toy.expected["prediction"].iloc[:5].tolist()
    finally:
        assert service.stop() == 0


def test_the_default_install_says_which_extra_running_the_notebooks_needs(toy, lean_venv):
    done = subprocess.run(
        [str(lean_venv / "bin" / "lifecycle"), "run", "--only", "00"],
        cwd=toy.project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "`lifecycle run` needs the notebooks extra" in done.stderr and "papermill" in done.stderr
    version = subprocess.run(
        [str(lean_venv / "bin" / "lifecycle"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout == f"lifecycle {tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['version']}\n"
