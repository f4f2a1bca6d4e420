"""Database URLs: ``${VAR}`` read from the environment when used, libpq's PG* variables, passwords never
shown and never in params/."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from conftest import POSTGRES_APP_PASSWORD, POSTGRES_APP_ROLE, run_in

from lifecycle.core import database_url
from lifecycle.core.params import ParamsError, resolve
from lifecycle.store import prediction_log


def test_references_fill_their_part_of_the_url(monkeypatch):
    monkeypatch.setenv("STORE_PASSWORD", "p@ss/w:rd%")  # characters a URL would need escaped
    monkeypatch.setenv("STORE_HOST", "db.internal")
    url = database_url.parse("postgresql://app:${STORE_PASSWORD}@${STORE_HOST}:6432/shop?sslmode=require")
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql",
        "app",
        "p@ss/w:rd%",
        "db.internal",
        6432,
        "shop",
    )
    assert dict(url.query) == {"sslmode": "require"}
    monkeypatch.setenv("STORE_URL", "postgresql+psycopg://app:topsecret@db.internal/shop")
    whole = database_url.parse("${STORE_URL}")
    assert (whole.username, whole.password, whole.database) == ("app", "topsecret", "shop")
    assert database_url.parse("sqlite:///data/predictions.db").database == "data/predictions.db"


def test_an_unset_variable_is_named():
    with pytest.raises(database_url.UnsetVariable, match="environment variable NO_SUCH_VARIABLE is not set"):
        database_url.parse("postgresql://app:${NO_SUCH_VARIABLE}@db/shop")
    with pytest.raises(
        ValueError,
        match=r"store.url 'postgresql://app:\*\*\*@db/shop': environment variable "
        "NO_SUCH_VARIABLE is not set",
    ):
        prediction_log.resolve_url("postgresql://app:${NO_SUCH_VARIABLE}@db/shop")


def test_passwords_are_never_shown():
    assert database_url.shown("postgresql://app:topsecret@db/shop") == "postgresql://app:***@db/shop"
    assert database_url.shown("postgresql://app:topsecret@db:notaport/shop") == "postgresql://app:***@db:notaport/shop"
    assert database_url.shown("postgresql://app:${STORE_PASSWORD}@db/shop") == "postgresql://app:***@db/shop"
    assert database_url.shown("sqlite:///data/predictions.db") == "sqlite:///data/predictions.db"
    with pytest.raises(ValueError) as raised:
        prediction_log.resolve_url("postgresql://app:topsecret@db:notaport/shop")
    assert "topsecret" not in str(raised.value) and "not a SQLAlchemy database URL" in str(raised.value)


def test_a_password_in_params_is_refused_and_a_reference_kept(monkeypatch):
    written = {
        "store.url": "postgresql://app:topsecret@db/shop",
        "source.url": "postgresql://app:topsecret@db/shop",
        "labels_path": "sql:postgresql://app:topsecret@db/shop::labels",
    }
    for key, value in written.items():
        with pytest.raises(
            ParamsError,
            match=r"the URL holds a password, which params/ .* must not: write it as "
            r"\$\{VAR\}",
        ) as refused:
            resolve(["12_monitoring"], sets=[f"{key}={value}"])
        assert "topsecret" not in str(refused.value)
    monkeypatch.setenv("STORE_PASSWORD", "topsecret")
    kept = resolve(["12_monitoring"], sets=["store.url=postgresql://app:${STORE_PASSWORD}@db/shop"])
    assert kept["12_monitoring"]["store"]["url"] == "postgresql://app:${STORE_PASSWORD}@db/shop"  # never the value


def test_params_check_names_an_unset_variable_and_its_file(project):
    settings_file = project / "params" / "project.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["store"]["url"] = "${LIFECYCLE_NO_SUCH_STORE}"
    settings_file.write_text(yaml.safe_dump(settings))
    checked = run_in(project, "lifecycle", "params", "check")
    assert checked.returncode == 2 and "Traceback" not in checked.stderr
    assert (
        "params/project.yaml: store.url: the URL names environment variable LIFECYCLE_NO_SUCH_STORE, which is "
        "not set: export it"
    ) in checked.stderr


def test_libpq_reads_what_the_url_leaves_out(postgres_cluster, monkeypatch):
    """A URL without a password: libpq takes PGPASSWORD; a ${VAR} password works the same; none fails."""
    database = postgres_cluster.new_database()
    without = f"postgresql://{POSTGRES_APP_ROLE}@/{database}?host={postgres_cluster.folder}"
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(sa.exc.OperationalError, match="password"):
        _select_one(without)
    monkeypatch.setenv("PGPASSWORD", POSTGRES_APP_PASSWORD)
    assert _select_one(without) == 1
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("APP_PASSWORD", POSTGRES_APP_PASSWORD)
    assert (
        _select_one(f"postgresql://{POSTGRES_APP_ROLE}:${{APP_PASSWORD}}@/{database}?host={postgres_cluster.folder}")
        == 1
    )
    monkeypatch.setenv("PGHOST", str(postgres_cluster.folder))  # and the host, user, database: PG* alone
    monkeypatch.setenv("PGUSER", POSTGRES_APP_ROLE)
    monkeypatch.setenv("PGDATABASE", database)
    monkeypatch.setenv("PGPASSWORD", POSTGRES_APP_PASSWORD)
    assert _select_one("postgresql://") == 1


def _select_one(url: str) -> int:
    engine = prediction_log.engine(url)
    try:
        with engine.connect() as connection:
            return pd.read_sql(sa.text("SELECT 1 AS one"), connection)["one"].iloc[0]
    finally:
        engine.dispose()
