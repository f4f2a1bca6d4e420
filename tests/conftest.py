"""Shared fixtures: a throw-away copy of the project, and the CLI run inside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lifecycle.run import kernels

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("src", "notebooks", "params", "pyproject.toml")
# The unit tests of src/ are written for the simulated product. Once `lifecycle init` points params/ at
# your own table it keeps the simulator's parameters here, and every test runs on them except those
# marked `own_params` (the notebook tests; nbval's kernels read params/ itself).
SIMULATOR_PARAMS = ROOT / "tests" / "simulator_params"

# nbval's kernels, and every lifecycle a test starts, get native threads as `lifecycle run`'s kernels do
# (lifecycle.run.kernels.THREADS): the stored outputs were made that way.
for _name, _value in kernels.THREADS.items():
    os.environ.setdefault(_name, _value)


# The suite's groups, each a marker (pyproject.toml) given by where a test lives: tests/<group>/ for these,
# `notebooks` for nbval's cells of notebooks/, `repo` for the repository's own checks at tests/ itself.
FOLDER_GROUPS = ("unit", "e2e", "load", "browser")


def group_of(path: Path) -> str | None:
    """The group of a test collected from ``path``, or None outside this project's tests and notebooks."""
    if not path.is_relative_to(ROOT):
        return None
    parts = path.relative_to(ROOT).parts
    if parts[0] == "notebooks":
        return "notebooks"
    if parts[0] != "tests":
        return None
    if len(parts) == 2:
        return "repo"
    return parts[1] if parts[1] in FOLDER_GROUPS else None


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    """Mark each test with its group, so that ``pytest -m unit`` or ``-m "not e2e"`` select by folder."""
    for item in items:
        group = group_of(item.path)
        if group:
            item.add_marker(group)


_started = []  # what pytest_collection_finish started, for pytest_sessionfinish to stop


def pytest_collection_finish(session):
    """Start the starter's end-to-end runs (tests/e2e/test_starter.py) as soon as they are selected: the
    longest part of the suite, they run beside the rest of it."""
    if session.config.option.collectonly:
        return
    for item in session.items:
        if "generated" in getattr(item, "fixturenames", ()):
            item.module.END_TO_END.start()
            _started.append(item.module.END_TO_END)
            return


def pytest_sessionfinish(session):
    for end_to_end in _started:
        end_to_end.stop()


def require_dask(*modules: str) -> None:
    """Skip the calling test module when the dask extra is missing (saying how to get it); under
    ``LIFECYCLE_REQUIRE_DASK=1`` (CI, ``.ci/run``) a missing extra is a failure instead."""
    import importlib.util

    missing = [m for m in modules or ("dask", "distributed", "duckdb") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    reason = f"the dask extra is not installed (no {', '.join(missing)}): make test EXTRAS=dask"
    if os.environ.get("LIFECYCLE_REQUIRE_DASK"):
        raise RuntimeError(f"LIFECYCLE_REQUIRE_DASK is set but {reason}")
    pytest.skip(reason, allow_module_level=True)


def unit_test_params() -> Path:
    return SIMULATOR_PARAMS if SIMULATOR_PARAMS.is_dir() else ROOT / "params"


def copy_project(dest: Path, own_params: bool = False) -> Path:
    """Copy what a project needs to run (not its runtime output) into ``dest``; its params/ are the
    simulator's (see ``SIMULATOR_PARAMS``) unless ``own_params``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for name in COPIED:
        source = (ROOT / name) if name != "params" or own_params else unit_test_params()
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        else:
            shutil.copy2(source, dest / name)
    if own_params:  # and the table they point at, so that they validate in the copy
        import yaml

        source = yaml.safe_load((ROOT / "params" / "project.yaml").read_text()).get("source") or {}
        for name in filter(None, (source.get("path"), source.get("events_path"))):
            if (ROOT / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, dest / name)
            elif (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="session", autouse=True)
def simulator_params():
    """Session-wide, so that module- and session-scoped fixtures see the simulator's parameters too."""
    from lifecycle.core import paths

    with pytest.MonkeyPatch.context() as patch:
        if SIMULATOR_PARAMS.is_dir():
            patch.setattr(paths, "PARAMS", SIMULATOR_PARAMS)
        yield


@pytest.fixture(autouse=True)
def own_params(request, monkeypatch):
    if SIMULATOR_PARAMS.is_dir() and request.node.get_closest_marker("own_params"):
        from lifecycle.core import paths

        monkeypatch.setattr(paths, "PARAMS", ROOT / "params")


def run_in(project: Path, *args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m <args>`` with the copy's own ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd or project, env=env, capture_output=True, text=True, timeout=timeout
    )


def outputs_text(notebook: Path) -> str:
    """Every cell output of a notebook as one text, to look for what it said."""
    import json

    import nbformat

    return json.dumps([cell.get("outputs") for cell in nbformat.read(notebook, as_version=4).cells])


def break_notebook(project: Path, phase: str = "00_problem_definition", at: int = 3) -> None:
    """Insert a cell that raises ``ValueError("the data is not what we expected")`` into a phase's notebook."""
    import nbformat

    path = project / "notebooks" / f"{phase}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(at, nbformat.v4.new_code_cell('raise ValueError("the data is not what we expected")'))
    nbformat.write(nb, path)


def _read_jsonl(path: Path):
    import pandas as pd

    return pd.read_json(path, lines=True)


@pytest.fixture
def jsonl_format(monkeypatch):
    """A toy table format, JSON lines, registered as a new format is (one reader, one entry) and
    unregistered after the test."""
    from lifecycle.core import table_formats

    found = table_formats.TableFormat("jsonl", (".jsonl",), _read_jsonl, title="JSON lines")
    monkeypatch.setitem(table_formats.FORMATS, found.name, found)
    return found


@pytest.fixture
def sqlite_store_url(tmp_path: Path) -> str:
    """A SQLite prediction store's URL under ``tmp_path`` (neither it nor its folder made yet), for what only
    SQLite can show (its write lock, a file where its folder should be); ``store_url`` is either database."""
    return f"sqlite:///{tmp_path / 'store' / 'predictions.db'}"


@pytest.fixture
def project(request, tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project", own_params=bool(request.node.get_closest_marker("own_params")))


# --- a toy project: the real runner and package, notebooks that only pass small files along -----

TOY_HELPER = '''"""A helper only the toy 05 imports."""


def choose(features: dict) -> dict:
    return {"choice": "a", "from": features}
'''

# phase -> (parameters cell, code). Reads and writes go through lifecycle.core.files, as in the real
# notebooks, so the runner learns the graph from them: 00 -> 02 <- 01 <- data/source.json;
# 02 -> 03, 04; 04 -> 05 -> 06 -> 07 -> 08. 04 sleeps while data/slow exists (to interrupt it).
TOY_NOTEBOOKS = {
    "00_problem_definition": ("seed = 0", "files.write_json(paths.DATA / 'toy' / 'a.json', {'seed': seed})"),
    "01_data_collection": (
        "",
        "source = files.read_json(paths.DATA / 'source.json')\n"
        "files.write_json(paths.DATA / 'toy' / 'b.json', {'rows': len(source['rows'])})",
    ),
    "02_data_preparation": (
        "",
        "a = files.read_json(paths.DATA / 'toy' / 'a.json')\n"
        "b = files.read_json(paths.DATA / 'toy' / 'b.json')\n"
        "files.write_json(paths.DATA / 'toy' / 'c.json', {'seed': a['seed'], 'enough': b['rows'] > 0})",
    ),
    "03_exploratory_analysis": (
        "",
        "c = files.read_json(paths.DATA / 'toy' / 'c.json')\n"
        "files.write_json(paths.DATA / 'toy' / 'd.json', {'explored': c})",
    ),
    "04_feature_engineering": (
        "",
        "import time\n"
        "time.sleep(60 if (paths.DATA / 'slow').exists() else 0)\n"
        "c = files.read_json(paths.DATA / 'toy' / 'c.json')\n"
        "files.write_json(paths.DATA / 'toy' / 'e.json', {'features': c})",
    ),
    "05_model_selection": (
        "",
        "from lifecycle import toy_select\n"
        "e = files.read_json(paths.DATA / 'toy' / 'e.json')\n"
        "files.write_json(paths.DATA / 'toy' / 'f.json', toy_select.choose(e))",
    ),
    "06_model_training": (
        "",
        "f = files.read_json(paths.DATA / 'toy' / 'f.json')\n"
        "files.write_json(paths.DATA / 'toy' / 'g.json', {'trained': f})",
    ),
    "07_model_evaluation": (
        "calibration_bins = 10",
        "g = files.read_json(paths.DATA / 'toy' / 'g.json')\n"
        "files.write_json(paths.DATA / 'toy' / 'h.json', {'bins': calibration_bins, 'g': g})",
    ),
    "08_model_tuning": (
        "",
        "h = files.read_json(paths.DATA / 'toy' / 'h.json')\n"
        "files.write_json(paths.DATA / 'toy' / 'i.json', {'tuned': h})",
    ),
}


def make_toy(dest: Path) -> Path:
    """A copy of the project whose notebooks 00-08 are toys (about a second each)."""
    import nbformat

    copy_project(dest)
    for path in (dest / "notebooks").glob("*.ipynb"):
        path.unlink()
    for phase, (parameters, code) in TOY_NOTEBOOKS.items():
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb = nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_markdown_cell(f"# toy {phase}"),
                cell,
                nbformat.v4.new_code_cell("from lifecycle.core import files, paths"),
                nbformat.v4.new_code_cell(code),
            ]
        )
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, dest / "notebooks" / f"{phase}.ipynb")
    (dest / "src" / "lifecycle" / "toy_select.py").write_text(TOY_HELPER)
    (dest / "data").mkdir()
    (dest / "data" / "source.json").write_text('{"rows": [1, 2, 3]}\n')
    return dest


@pytest.fixture(scope="session")
def toy_built(tmp_path_factory) -> Path:
    """The toy project after one full run (built once per session; tests copy it)."""
    toy = make_toy(tmp_path_factory.mktemp("toy") / "project")
    result = run_in(toy, "lifecycle", "run")
    assert result.returncode == 0, result.stdout + result.stderr
    return toy


@pytest.fixture
def toy(toy_built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the run toy project: everything up to date."""
    return Path(shutil.copytree(toy_built, tmp_path / "toy", ignore=shutil.ignore_patterns("__pycache__")))


@pytest.fixture(scope="module")
def dask_client():
    """A 2-worker LocalCluster (threads of this process: fast to start, small), for the Dask paths.
    Per module: a cluster a test starts itself then never runs beside one left from another module."""
    require_dask()
    from lifecycle.core import compute
    from lifecycle.core.settings import Compute

    settings = Compute(engine="dask", workers=2, threads_per_worker=1, processes=False, memory_limit="1GiB")
    with compute.session(settings, show=None, dashboard_address=None) as client:
        yield client


# --- the prediction store on SQLite and on PostgreSQL: store_url ------------------------------------
# One self-contained section. The PostgreSQL case starts a throwaway cluster once per session, the
# first time a test asks for it: Debian's server binaries (apt-get install postgresql: initdb and
# pg_ctl under /usr/lib/postgresql/<version>/bin), a temporary folder, a unix socket there and no TCP
# port (so nothing can clash), owned by the `postgres` user when the tests run as root (the server
# refuses root). Each test gets a database of its own; the cluster stops at the end of the session.
# Without the binaries or psycopg (make test EXTRAS=postgres) the case is skipped, saying so; with
# LIFECYCLE_REQUIRE_POSTGRES=1 (CI, .ci/run) that is a failure instead.

POSTGRES_APP_ROLE, POSTGRES_APP_PASSWORD = "lifecycle_app", "app-s3cret"  # a role that needs a password


class PostgresCluster:
    """A running throwaway cluster: ``url(database)`` reaches it through its socket folder."""

    def __init__(self, bin_dir: Path, folder: Path, as_user: list[str]):
        self.bin_dir, self.folder, self.as_user, self.databases = bin_dir, folder, as_user, 0

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@/{database}?host={self.folder}"

    def run(self, *args) -> None:
        done = subprocess.run([*self.as_user, *map(str, args)], capture_output=True, text=True)
        if done.returncode:
            log = self.folder / "server.log"
            raise RuntimeError(
                f"{' '.join(map(str, args[:2]))} failed: {done.stderr or done.stdout}"
                + (log.read_text() if log.is_file() else "")
            )

    def sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.folder), user="postgres", dbname="postgres", autocommit=True) as server:
            server.execute(statement)

    def new_database(self) -> str:
        """The name of a new, empty database (the password role owns it)."""
        self.databases += 1
        name = f"store_{self.databases}"
        self.sql(f"CREATE DATABASE {name} OWNER {POSTGRES_APP_ROLE}")
        return name


def postgres_missing() -> str | None:
    """Why there can be no PostgreSQL cluster here, or None."""
    import importlib.util

    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed: make test EXTRAS=postgres"
    if not sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        return "no PostgreSQL server (initdb, pg_ctl under /usr/lib/postgresql/*/bin): apt-get install postgresql"
    return None


@pytest.fixture(scope="session")
def postgres_cluster():
    import pwd
    import tempfile

    missing = postgres_missing()
    if missing and os.environ.get("LIFECYCLE_REQUIRE_POSTGRES"):
        pytest.fail(f"LIFECYCLE_REQUIRE_POSTGRES is set but {missing}")
    if missing:
        pytest.skip(missing)
    bin_dir = max(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3])).parent
    folder = Path(tempfile.mkdtemp(prefix="lifecycle-pg-"))
    as_user = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres" if "postgres" in {u.pw_name for u in pwd.getpwall()} else "nobody")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", owner.pw_name, "--"]
    cluster = PostgresCluster(bin_dir, folder, as_user)
    data = folder / "data"
    try:
        cluster.run(
            bin_dir / "initdb", "-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "--auth=trust"
        )
        (data / "pg_hba.conf").write_text(f"local all {POSTGRES_APP_ROLE} scram-sha-256\nlocal all all trust\n")
        cluster.run(
            bin_dir / "pg_ctl",
            "start",
            "-D",
            data,
            "-w",
            "-l",
            folder / "server.log",
            "-o",
            f"-k {folder} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c timezone=Asia/Kolkata",
        )  # not UTC: a zone lost shows
        cluster.sql(f"CREATE ROLE {POSTGRES_APP_ROLE} LOGIN PASSWORD '{POSTGRES_APP_PASSWORD}'")
        yield cluster
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*as_user, str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate"], capture_output=True
            )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> str:
    """An empty prediction store's SQLAlchemy URL: a SQLite file under tmp_path, or a new database
    in the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    cluster = request.getfixturevalue("postgres_cluster")
    return cluster.url(cluster.new_database())


# --- a registered churn model: test_batch, test_batch_dask, test_monitor -----------------------


def churn_table(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 30.0, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    signal_ = spend / 60 + (plan == "pro") + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "signup_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 600, n), unit="D"),
            "plan": plan,
            "spend": np.where(rng.random(n) < 0.1, np.nan, spend),
            "churned": (signal_ > np.quantile(signal_, 0.7)).astype(int),
        }
    )


@pytest.fixture(scope="module")
def fitted():
    """A small binary pipeline, the metadata scoring needs, and feature rows to score."""
    from lifecycle.core.params import resolve
    from lifecycle.core.settings import FeatureEngineering
    from lifecycle.data import features, splits
    from lifecycle.modeling import select

    phase = "04_feature_engineering"
    p = FeatureEngineering.model_validate(resolve([phase], sets=["holiday_country=null"])[phase])
    rows = features.build_features(churn_table(), None, p)
    schema = features.feature_schema(rows, p)
    train = splits.make(rows, p)["train"]
    pipeline = select.chosen_pipeline({"family": "linear", "settings": {}}, schema, "binary", 0)
    pipeline.fit(train[list(schema.index)], train["churned"])
    metadata = {
        "task": "binary",
        "feature_schema": splits.schema_records(schema),
        "threshold": 0.4,
        "positive_class": 1,
    }
    return pipeline, metadata, rows


@pytest.fixture
def scorer(fitted, tmp_path, monkeypatch):
    """``fitted`` registered as ``churn`` in a registry under tmp_path, loaded."""
    from lifecycle import registry
    from lifecycle.core import paths
    from lifecycle.modeling import scoring

    monkeypatch.setattr(paths, "MODELS", tmp_path / "models")
    monkeypatch.chdir(tmp_path)
    registry.register(fitted[0], "churn", fitted[1])
    return scoring.load("churn")


@pytest.fixture
def rows(fitted) -> pd.DataFrame:
    return fitted[2].copy()
