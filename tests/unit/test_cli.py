"""The ``lifecycle`` command itself: its version, and the commands that need an extra saying which."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
import tomllib

import pytest
from conftest import ROOT

from lifecycle import cli
from lifecycle.core import extras


def test_version_prints_the_installed_package_version(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"lifecycle {importlib.metadata.version('lifecycle')}\n"


def test_version_from_a_checkout_is_the_source_version_when_nothing_is_installed(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cli.version() == declared


def test_the_command_line_answers_version_before_anything_else():
    done = subprocess.run(
        [sys.executable, "-m", "lifecycle", "--version"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert done.returncode == 0 and done.stdout.startswith("lifecycle ") and not done.stderr


@pytest.mark.parametrize(
    ("argv", "named"),
    [(["run", "--only", "00"], "lifecycle run"), (["report"], "lifecycle report"), (["status"], "lifecycle status")],
)
def test_a_command_that_needs_the_notebooks_extra_says_so_when_it_is_missing(monkeypatch, capsys, argv, named):
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in ("nbformat", "papermill") else found(name, *a)
    )
    assert cli.main(argv) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"lifecycle: `{named}` needs the notebooks extra") and "(no " in said
    assert "pip install -r requirements-notebooks.lock" in said and "Traceback" not in said


def test_every_module_a_command_needs_is_in_the_extra_named_for_it():
    """The modules ``extras.NEEDS`` checks are what the notebooks extra installs (so installing it is the fix)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(project["optional-dependencies"]) >= {extra for extra, _ in extras.NEEDS.values()}
    assert not extras.missing({m for _, modules in extras.NEEDS.values() for m in modules})  # here: all installed
    assert extras.missing(["no_such_module_here"]) == ["no_such_module_here"]
