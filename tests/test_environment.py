"""The pins agree: pyproject.toml, environment.yml (conda), requirements.lock (pip, the default
install) and requirements-dask.lock (what the dask extra adds)."""

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


def _lock(name: str) -> dict[str, str]:
    return _pins([l for l in (ROOT / name).read_text().splitlines() if l and not l.startswith("#")])


def test_lock_pins_every_direct_dependency_at_the_same_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    default, extra = _lock("requirements.lock"), _lock("requirements-dask.lock")
    direct = _pins(project["dependencies"])
    assert {name: default.get(name) for name in direct} == direct
    dask = _pins(project["optional-dependencies"]["dask"])
    assert {name: extra.get(name) for name in dask} == dask


def test_the_dask_lock_only_adds_to_the_default_one():
    """Installed together (make EXTRAS=dask), the two locks never pin one package twice."""
    assert not set(_lock("requirements.lock")) & set(_lock("requirements-dask.lock"))


def test_dask_is_an_extra_the_default_install_leaves_out():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dask = {"bokeh", "dask", "distributed", "duckdb"}
    assert not dask & set(_pins(project["dependencies"]))
    assert set(_pins(project["optional-dependencies"]["dask"])) == dask
    assert not dask & set(_lock("requirements.lock"))
