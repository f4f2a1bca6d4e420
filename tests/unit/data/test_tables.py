"""One registry of table formats (core.table_formats) and one way to read a table in chunks (data.tables):
a format added as one reader and one entry is read by every reader of files; a file's format is told
the same way everywhere."""

import pandas as pd
import pytest

from lifecycle.batch import BatchError
from lifecycle.batch import inputs as batch_inputs
from lifecycle.core import files, paths, table_formats
from lifecycle.core.params import ParamsError, resolve
from lifecycle.core.settings import DataCollection
from lifecycle.data import tables
from lifecycle.data.sources import read_source
from lifecycle.monitoring import experiment
from lifecycle.monitoring import store as monitor_store
from lifecycle.project.init import InitError, read_table

PHASE = "01_data_collection"


def _params(**source) -> DataCollection:
    sets = [f"source.{k}={v}" for k, v in source.items()]
    return DataCollection.model_validate(resolve([PHASE], sets=sets)[PHASE])


def _users(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": range(1, n + 1),
            "signup_date": pd.date_range("2025-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "plan": ["basic", "premium"] * (n // 2),
            "churned": [0, 1] * (n // 2),
        }
    )


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A project root with an empty data/ folder."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    (tmp_path / "data").mkdir()
    return tmp_path


def test_a_registered_format_is_read_by_sources_init_batch_and_monitoring(jsonl_format, root):
    users = _users()
    path = root / "data" / "users.jsonl"
    users.to_json(path, orient="records", lines=True)

    table, source = read_table(str(path))  # lifecycle init --data data/users.jsonl
    pd.testing.assert_frame_equal(table, users)
    assert (source["kind"], source["path"]) == ("jsonl", "data/users.jsonl")

    collected, events = read_source(_params(kind=source["kind"], path=source["path"]))  # source.kind: jsonl
    pd.testing.assert_frame_equal(collected, users)
    assert events is None

    chunks = list(batch_inputs.read_chunks(path, 25))  # lifecycle predict --input data/users.jsonl
    assert [len(c) for c in chunks] == [25, 25, 10]  # no chunk reader: the table read whole, cut in chunks
    pd.testing.assert_frame_equal(pd.concat(chunks), users)
    assert batch_inputs.default_batch_id(path) == f"users-{files.sha256(path)[:12]}"

    pd.testing.assert_frame_equal(monitor_store.read_labels("data/users.jsonl"), users)  # labels_path
    pd.testing.assert_frame_equal(experiment.read_log("data/users.jsonl"), users)  # log_path


def test_a_format_not_registered_is_refused_naming_those_that_are(root):
    (root / "data" / "users.jsonl").write_text('{"user_id": 1}\n')
    with pytest.raises(
        ParamsError,
        match=r"source.kind=jsonl: input should be 'simulated', 'csv', 'parquet' or "
        r"'sql', got 'jsonl'",
    ):
        _params(kind="jsonl", path="data/users.jsonl")
    with pytest.raises(InitError, match=r"unsupported file type '.jsonl'; use a CSV or Parquet file, or a database"):
        read_table(str(root / "data" / "users.jsonl"))
    with pytest.raises(BatchError, match=r"cannot tell its format; give a .csv or .parquet file, or sql:"):
        batch_inputs.read_chunks(root / "data" / "users.jsonl")
    with pytest.raises(experiment.ExperimentError, match=r"log_path 'data/users.jsonl' must end in .csv or .parquet"):
        experiment.read_log("data/users.jsonl")
    with pytest.raises(monitor_store.MonitorError, match=r"the label feed 'data/users.jsonl': cannot tell its format"):
        monitor_store.read_labels("data/users.jsonl")


def test_a_registered_format_is_named_in_the_messages(jsonl_format, root):
    assert table_formats.titles() == "CSV, Parquet or JSON lines"
    assert table_formats.endings() == ".csv, .parquet or .jsonl"
    with pytest.raises(InitError, match=r"unsupported file type '.txt'; use a CSV, Parquet or JSON lines file"):
        read_table(str(root / "data" / "users.txt"))


def test_init_takes_a_compressed_csv_as_the_batch_job_does(root):
    users = _users()
    path = root / "data" / "users.csv.gz"
    users.to_csv(path, index=False)

    table, source = read_table(str(path))
    pd.testing.assert_frame_equal(table, users)
    assert (source["kind"], source["path"]) == ("csv", "data/users.csv.gz")
    collected, _ = read_source(_params(kind=source["kind"], path=source["path"]))
    pd.testing.assert_frame_equal(collected, users)
    pd.testing.assert_frame_equal(pd.concat(batch_inputs.read_chunks(path, 25)), users)
    assert batch_inputs.default_batch_id(path).startswith("users-")


@pytest.mark.parametrize(
    "name, kind, stem",
    [
        ("new.csv", "csv", "new"),
        ("New.CSV.GZ", "csv", "New"),
        ("a.b.csv.zst", "csv", "a.b"),
        ("new.parquet", "parquet", "new"),
        ("new.pq", "parquet", "new"),
        ("data/x.y/new.pq", "parquet", "new"),
        ("new.parquet.bak", None, "new.parquet.bak"),
        ("new.gz", None, "new.gz"),
        ("csv", None, "csv"),
    ],
)
def test_a_file_s_format_is_told_by_the_end_of_its_name(name, kind, stem):
    found = table_formats.format_of(name)
    assert (found.name if found else None, table_formats.stem(name)) == (kind, stem)


def test_the_sql_input_names_the_url_and_the_query_or_table():
    assert tables.split_sql("sql:postgresql://me@[::1]:5432/shop::SELECT a::int FROM t") == (
        "postgresql://me@[::1]:5432/shop",
        "SELECT a::int FROM t",
    )
    assert tables.split_sql("sql:sqlite:///x.db:: new_users ") == ("sqlite:///x.db", "new_users")
    for bad in ("sql:sqlite:///x.db", "sql:sqlite:///x.db::  ", "sqlite:///x.db::t"):
        with pytest.raises(tables.TableError, match=r"must be sql:<SQLAlchemy URL>::<query or table name>"):
            tables.split_sql(bad)
    assert str(tables.statement("main.users")) == "SELECT * \nFROM main.users"  # a table, in its schema
    assert str(tables.statement("SELECT 1")) == "SELECT 1"


def test_a_sql_table_is_read_whole_and_a_missing_one_is_named(tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    _users().to_sql("users", engine, index=False)
    engine.dispose()
    pd.testing.assert_frame_equal(tables.read_sql(f"sql:{url}::users"), _users())
    assert len(tables.read_sql(f"sql:{url}::SELECT * FROM users WHERE plan = 'basic'")) == 30
    with pytest.raises(tables.TableError, match=r"cannot read chunk 1 of 'nowhere' at sqlite:///.*no such table"):
        tables.read_sql(f"sql:{url}::nowhere")
    with pytest.raises(tables.TableError, match=r"the SQLite file '.*none.db' does not exist"):
        tables.read_sql(f"sql:sqlite:///{tmp_path / 'none.db'}::users")
    assert not (tmp_path / "none.db").exists()  # reading made no empty database
