"""The pins agree: pyproject.toml, environment.yml (conda) and requirements.lock (pip)."""

import re
import tomllib

import yaml

from conftest import ROOT


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(==|=)\s*([^\s;#]+)\s*", line)
        assert match, f"not an exact pin: {line!r}"
        pins[_name(match[1])] = match[3]
    return pins


def pyproject_pins() -> dict[str, str]:
    """The direct dependencies and every optional extra's (the lock and conda install them all)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [pin for pins in project.get("optional-dependencies", {}).values() for pin in pins]
    return _pins([*project["dependencies"], *extras])


def test_conda_environment_pins_the_same_versions():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str) and not d.startswith(("python", "pip"))]
    assert _pins(conda) == pyproject_pins()
    assert "python=3.11" in env["dependencies"]
    assert {"pip": ["-e ."]} in env["dependencies"]


def test_lock_pins_every_direct_dependency_at_the_same_version():
    lines = [l for l in (ROOT / "requirements.lock").read_text().splitlines() if l and not l.startswith("#")]
    lock = _pins(lines)
    assert {name: lock.get(name) for name in pyproject_pins()} == pyproject_pins()


def test_dask_is_an_extra_the_default_dependencies_leave_out():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not {"dask", "distributed", "duckdb"} & set(_pins(project["dependencies"]))
    assert set(_pins(project["optional-dependencies"]["dask"])) == {"dask", "distributed", "duckdb"}
