"""The pins agree: pyproject.toml, environment.yml (conda), requirements.lock (pip, the default
install: what serving, batch scoring and monitoring need) and requirements-<extra>.lock (what each extra,
notebooks, dev, dask and postgres, adds)."""

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


EXTRAS = ("notebooks", "dev", "dask", "postgres")
# What each extra's lock was resolved over (Makefile `lock`): dev comes over notebooks (nbval runs them)
OVER = {"dev": ("requirements.lock", "requirements-notebooks.lock")}


def test_conda_environment_pins_the_same_versions():
    """Conda's pins, and the wheels its pip: section installs (psycopg-binary), are pyproject's."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str) and not d.startswith(("python", "pip"))]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert pip[-1] == "-e ."
    assert not set(_pins(conda)) & set(_pins(pip[:-1]))
    assert {**_pins(conda), **_pins(pip[:-1])} == pyproject_pins()
    assert "python=3.11" in env["dependencies"]


def _lock(name: str) -> dict[str, str]:
    return _pins([line for line in (ROOT / name).read_text().splitlines() if line and not line.startswith("#")])


def test_lock_pins_every_direct_dependency_at_the_same_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(project["optional-dependencies"]) == set(EXTRAS)
    default = _lock("requirements.lock")
    direct = _pins(project["dependencies"])
    assert {name: default.get(name) for name in direct} == direct
    for name in EXTRAS:
        extra, wanted = _lock(f"requirements-{name}.lock"), _pins(project["optional-dependencies"][name])
        assert {package: extra.get(package) for package in wanted} == wanted, name


def test_the_extras_locks_only_add_to_the_default_one():
    """Installed together (make EXTRAS="dask postgres"), the locks never disagree: no extra pins a package of
    the default install, nor of the locks it was resolved over, and a package two extras both add (dask and
    notebooks both bring Jinja2) has one version in both."""
    default = _lock("requirements.lock")
    extras = {name: _lock(f"requirements-{name}.lock") for name in EXTRAS}
    for name, lock in extras.items():
        for under in OVER.get(name, ("requirements.lock",)):
            assert not set(lock) & set(_lock(under)), (name, under)
    assert not set(default) & set().union(*extras.values())
    versions = {}
    for lock in extras.values():
        for package, version in lock.items():
            assert versions.setdefault(package, version) == version, package


def test_the_default_install_is_what_serving_needs_without_notebooks_or_tests():
    """requirements.lock alone serves, scores and monitors (tests/e2e/test_lean_install.py installs it and
    serves); the notebooks' tools, the tests' and the linters' are extras."""
    default = _lock("requirements.lock")
    for package in ("fastapi", "uvicorn", "scikit-learn", "skops", "sqlalchemy", "pandas"):
        assert package in default, package
    notebooks, dev = _lock("requirements-notebooks.lock"), _lock("requirements-dev.lock")
    for package in ("jupyterlab", "papermill", "ipykernel", "nbconvert", "matplotlib"):
        assert package not in default and package in notebooks, package
    for package in ("pytest", "nbval", "playwright", "ruff", "import-linter", "schemathesis", "cookiecutter"):
        assert package not in default and package in dev, package


def _plain_env() -> dict[str, str]:
    """Our environment without what a calling make passes its children (``make test EXTRAS=...`` in CI
    puts EXTRAS in MAKEFLAGS, and a make started here would take it as given on its own command line)."""
    import os

    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "EXTRAS")}


def test_the_makefile_installs_any_extras_together():
    """``make test EXTRAS="dask postgres"`` (CI) installs both extras' locks over the default one, the notebooks'
    and the tests' (``make`` alone installs those three: everything a template user needs)."""
    import subprocess

    planned = subprocess.run(
        ["make", "-n", "-B", "test", "EXTRAS=dask postgres"],
        cwd=ROOT,
        env=_plain_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        "-r requirements.lock -r requirements-notebooks.lock -r requirements-dev.lock "
        "-r requirements-dask.lock -r requirements-postgres.lock"
    ) in planned
    assert ".installed-dask-postgres" in planned
    alone = subprocess.run(
        ["make", "-n", "-B", "test"], cwd=ROOT, env=_plain_env(), capture_output=True, text=True, check=True
    ).stdout
    assert "-r requirements.lock -r requirements-notebooks.lock -r requirements-dev.lock\n" in alone
    refused = subprocess.run(
        ["make", "-n", "test", "EXTRAS=mysql"], cwd=ROOT, env=_plain_env(), capture_output=True, text=True
    )
    assert refused.returncode != 0 and "EXTRAS can name dask postgres" in refused.stderr


def test_dask_is_an_extra_the_default_install_leaves_out():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dask = {"bokeh", "dask", "distributed", "duckdb"}
    assert not dask & set(_pins(project["dependencies"]))
    assert set(_pins(project["optional-dependencies"]["dask"])) == dask
    assert not dask & set(_lock("requirements.lock"))


def test_postgres_is_an_extra_the_default_install_leaves_out():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    driver = {"psycopg", "psycopg-binary"}
    assert not driver & set(_pins(project["dependencies"])) and not driver & set(_lock("requirements.lock"))
    assert set(_pins(project["optional-dependencies"]["postgres"])) == driver


def test_make_alone_lists_the_targets():
    """``help`` is the default target: ``make`` with no target installs nothing and says what each target does."""
    import subprocess

    listed = subprocess.run(
        ["make", "--no-print-directory"], cwd=ROOT, env=_plain_env(), capture_output=True, text=True, check=True
    )
    targets = [line.split()[0] for line in listed.stdout.splitlines()]
    assert targets[0] == "help" and {"run", "test", "lint", "notebooks", "lock", "lab"} <= set(targets)
    assert "pip" not in listed.stdout
