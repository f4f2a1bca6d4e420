"""Shared fixtures: a throw-away copy of the project, and the CLI run inside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("src", "notebooks", "params", "pyproject.toml")


def copy_project(dest: Path) -> Path:
    """Copy what a project needs to run (not its runtime output) into ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        else:
            shutil.copy2(source, dest / name)
    return dest


def run_in(project: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m <args>`` with the copy's own ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd or project, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="module")
def dask_client():
    """A 2-worker LocalCluster (threads of this process: fast to start, small), for the Dask paths.
    Per module: a cluster a test starts itself then never runs beside one left from another module."""
    pytest.importorskip("distributed")
    from lifecycle import compute
    from lifecycle.settings import Compute

    settings = Compute(engine="dask", workers=2, threads_per_worker=1, processes=False, memory_limit="1GiB")
    with compute.session(settings, show=None, dashboard_address=None) as client:
        yield client
