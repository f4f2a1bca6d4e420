import pandas as pd
import pytest
import sqlalchemy

from lifecycle.core.params import ParamsError, resolve
from lifecycle.core.settings import DataCollection, Source
from lifecycle.data import sources
from lifecycle.data.sources import SourceError, read_source

PHASE = "01_data_collection"


def _params(**source) -> DataCollection:
    sets = [f"source.{k}={v}" for k, v in source.items()]
    return DataCollection.model_validate(resolve([PHASE], sets=sets)[PHASE])


def _users(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": range(1, n + 1),
            "signup_date": pd.date_range("2025-01-01", periods=n, freq="D").astype(str),
            "plan": ["basic", "premium"] * (n // 2),
            "churned": [0, 1] * (n // 2),
        }
    )


def test_simulated_source_gives_users_and_events():
    table, events = read_source(_params())
    assert {"user_id", "plan", "signup_date"} <= set(table.columns)
    assert "churned" not in table.columns  # made from the events by 02
    assert {"user_id", "timestamp", "event_type"} <= set(events.columns)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_file_sources(tmp_path, kind):
    path = tmp_path / f"users.{kind}"
    getattr(_users(), f"to_{kind}")(path, index=False)
    table, events = read_source(_params(kind=kind, path=str(path)))
    assert len(table) == 50 and events is None
    assert table["churned"].sum() == 25


def test_sqlite_table_name_query_and_events(tmp_path):
    database = tmp_path / "shop.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    _users().drop(columns="churned").to_sql("users", engine, index=False)
    pd.DataFrame(
        {"user_id": [1, 2], "timestamp": ["2025-12-05", "2025-12-06"], "event_type": ["cancel", "session"]}
    ).to_sql("events", engine, index=False)
    engine.dispose()
    table, events = read_source(
        _params(
            kind="sql",
            url=f"sqlite:///{database}",
            query="users",
            events_query="SELECT * FROM events WHERE user_id < 10",
        )
    )
    assert len(table) == 50 and len(events) == 2


def test_sqlite_query_with_target(tmp_path):
    database = tmp_path / "shop.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    _users().to_sql("users", engine, index=False)
    engine.dispose()
    table, _ = read_source(
        _params(kind="sql", url=f"sqlite:///{database}", query="SELECT * FROM users WHERE plan = 'basic'")
    )
    assert len(table) == 25


@pytest.mark.parametrize(
    "make, source, message",
    [
        (lambda p: p.write_text("user_id,churned\n"), {"kind": "csv"}, "has no rows"),
        (lambda p: p.write_bytes(b"PAR1 not really parquet"), {"kind": "parquet"}, "cannot read"),
        (
            lambda p: _users().drop(columns="churned").to_csv(p, index=False),
            {"kind": "csv"},
            "target column 'churned' is not in CSV file",
        ),
        (
            lambda p: _users().drop(columns="user_id").to_csv(p, index=False),
            {"kind": "csv"},
            "id_column 'user_id' is not a column of CSV file",
        ),
        (
            lambda p: _users().drop(columns="signup_date").to_csv(p, index=False),
            {"kind": "csv"},
            "time_column 'signup_date' is not a column",
        ),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, make, source, message):
    path = tmp_path / f"users.{source['kind']}"
    make(path)
    with pytest.raises(SourceError, match=message):
        read_source(_params(**source, path=str(path)))


def test_events_without_their_roles(tmp_path):
    users, events = tmp_path / "users.csv", tmp_path / "events.csv"
    _users().to_csv(users, index=False)
    pd.DataFrame({"user_id": [1], "when": ["2025-01-01"], "event_type": ["x"]}).to_csv(events, index=False)
    with pytest.raises(SourceError, match="events.time_column 'timestamp' is not a column of the events table"):
        read_source(_params(kind="csv", path=str(users), events_path=str(events)))


def test_missing_sqlite_file_and_missing_table(tmp_path):
    with pytest.raises(SourceError, match="the SQLite file '.*nope.db' does not exist"):
        read_source(_params(kind="sql", url=f"sqlite:///{tmp_path}/nope.db", query="users"))
    database = tmp_path / "empty.db"
    sqlalchemy.create_engine(f"sqlite:///{database}").connect().close()
    with pytest.raises(SourceError, match="cannot read from sqlite:///.*: no such table: users"):
        read_source(_params(kind="sql", url=f"sqlite:///{database}", query="users"))


def test_bad_url_and_password_is_hidden():
    with pytest.raises(SourceError, match="is not a SQLAlchemy URL"):
        read_source(_params(kind="sql", url="not a url", query="users"))
    with pytest.raises(ParamsError, match="the URL holds a password") as refused:  # params/ never hold one
        _params(kind="sql", url="postgresql://me:secret@db/shop", query="users")
    assert "secret" not in str(refused.value)
    source = Source.model_construct(kind="sql", url="postgresql://me:secret@db/shop", query="users")
    assert "secret" not in sources.describe(source) and "me:***@db" in sources.describe(source)
    assert (
        sources.describe(Source(kind="sql", url="postgresql://me@db/shop", query="users"))
        == "SQL 'users' at postgresql://me@db/shop"
    )  # no password: libpq's PGPASSWORD


def test_summary_sentence():
    dataset = sources.Dataset(_users(), None)
    assert sources.summary(dataset, _params().source) == (
        "Read the simulated product: 50 rows x 4 columns; "
        "no events table (event features and label-making are skipped)."
    )


def test_a_made_row_id_is_stable_unique_and_never_a_clash():
    from lifecycle.data.sources import SourceError, with_row_id

    table = pd.DataFrame({"a": [1, 2, 1, 1, 3], "b": ["x", "y", "x", "x", "z"], "y": [0, 1, 0, 1, 0]})
    made = with_row_id(table, "row_id", "y")
    assert list(made.columns) == ["row_id", "a", "b", "y"] and made["row_id"].dtype == "string"
    assert made["row_id"].is_unique  # nothing tells a repeat from another observation: each is kept
    base = made["row_id"][0]
    assert made["row_id"][[2, 3]].tolist() == [base + "-2", base + "-3"]  # the same values, numbered in order
    assert made["row_id"][1] != base and "-" not in made["row_id"][1]
    again = with_row_id(table.copy(), "row_id", "y")
    assert again["row_id"].tolist() == made["row_id"].tolist()  # deterministic
    moved = with_row_id(table.iloc[[4, 1, 0, 2, 3]], "row_id", "y")
    assert moved["row_id"].tolist() == made["row_id"][[4, 1, 0, 2, 3]].tolist()  # values, not positions
    longer = with_row_id(pd.concat([table, table.head(1)], ignore_index=True), "row_id", "y")
    assert longer["row_id"].head(5).tolist() == made["row_id"].tolist() and longer["row_id"][5] == base + "-4"
    unlabelled = with_row_id(table.drop(columns="y").head(2), "row_id", "y")
    assert unlabelled["row_id"].tolist() == made["row_id"].head(2).tolist()  # the target is not in the hash
    with pytest.raises(SourceError, match="already has a column 'a'"):
        with_row_id(table, "a", "y")
