"""Batch scoring: chunked inputs, batches staged then replaced in one short transaction (the service's
log writable meanwhile), replaceable batch ids, clear errors."""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from conftest import run_in

from lifecycle import batch, registry
from lifecycle.batch import BatchError
from lifecycle.core import paths
from lifecycle.core.settings import Store
from lifecycle.modeling import scoring
from lifecycle.store import prediction_log

N = 1000  # the rows of the churn_rows fixture (tests/conftest.py)
TABLE = "preds"


def _write(rows: pd.DataFrame, kind: str, folder: Path) -> str:
    if kind == "csv":
        rows.to_csv(folder / "new.csv", index=False)
        return "new.csv"
    if kind == "parquet":
        rows.to_parquet(folder / "new.parquet", index=False, row_group_size=350)  # chunks span row groups
        return "new.parquet"
    with sqlite3.connect(folder / "in.db") as connection:
        rows.astype({"plan": str}).to_sql("new_users", connection, index=False)
    return "sql:sqlite:///in.db::SELECT * FROM new_users ORDER BY user_id"


def _query(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _batches(url: str, table: str = TABLE) -> dict[str, int]:
    return dict(_query(url, f"SELECT batch_id, COUNT(*) FROM {table} GROUP BY batch_id"))


@pytest.mark.parametrize("kind", ["csv", "parquet", "sql"])
def test_chunks_of_each_input_score_like_the_whole_table(kind, scorer, rows, tmp_path):
    source = _write(rows, kind, tmp_path)
    chunks = list(batch.read_chunks(source, 300))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]

    result = batch.predict_batch(scorer, batch.read_chunks(source, 300), "out.parquet", None, "b1", "user_id")
    assert (result.rows, result.chunks, result.batch_id, result.version) == (N, 4, "b1", 1)
    written = pd.read_parquet(tmp_path / "out.parquet")
    whole = scoring.score(scorer, rows)
    assert len(written) == N and written["user_id"].tolist() == rows["user_id"].tolist()
    assert (written["prediction"].to_numpy() == whole["prediction"].to_numpy()).all()
    np.testing.assert_allclose(written[["probability_0", "probability_1"]], whole[["probability_0", "probability_1"]])
    assert written[["model_name", "model_version", "batch_id", "scored_at"]].nunique().tolist() == [1, 1, 1, 1]
    assert str(written["scored_at"].dt.tz) == "UTC"
    assert not list(tmp_path.glob(".out.parquet*"))  # no temporary file left


def test_database_batches_are_replaced_by_id_and_kept_across_ids(scorer, rows, store_url):
    url = store_url
    first = batch.predict_batch(scorer, [rows.iloc[:600], rows.iloc[600:]], url, TABLE, "a", "user_id")
    assert (first.rows, first.chunks, first.replaced) == (N, 2, 0) and _batches(url) == {"a": N}
    again = batch.predict_batch(scorer, [rows.iloc[:700]], url, TABLE, "a", "user_id")
    assert again.replaced == N and _batches(url) == {"a": 700}  # replaced, not added
    batch.predict_batch(scorer, [rows], url, TABLE, "b", None)
    assert _batches(url) == {"a": 700, "b": N}
    ids = [r[0] for r in _query(url, f"SELECT user_id FROM {TABLE} WHERE batch_id = 'a'")]
    assert sorted(ids) == list(range(700))
    assert _query(url, f"SELECT COUNT(*) FROM {TABLE} WHERE batch_id = 'b' AND user_id IS NULL") == [(N,)]
    assert _query(url, f"SELECT COUNT(DISTINCT scored_at) FROM {TABLE}") == [(2,)]
    stored = pd.read_sql(f"SELECT * FROM {TABLE} WHERE batch_id = 'a' ORDER BY user_id", url)
    whole = scoring.score(scorer, rows.iloc[:700])
    assert stored["prediction"].tolist() == whole["prediction"].tolist()
    np.testing.assert_allclose(stored["probability_1"], whole["probability_1"])
    assert stored["model_version"].tolist() == [1] * 700 and stored["model_name"].tolist() == ["churn"] * 700
    scored_at = pd.to_datetime(stored["scored_at"], utc=True)  # the moment, whatever the column type
    assert scored_at.nunique() == 1 and scored_at.iloc[0] == pd.Timestamp(again.scored_at)


def _failing_third(rows: pd.DataFrame, how: str, monkeypatch):
    """Five chunks of 200 rows; the third one fails to score."""
    chunks = [rows.iloc[i : i + 200] for i in range(0, N, 200)]
    if how == "bad chunk":
        chunks[2] = chunks[2].drop(columns=["spend"])
        return (
            chunks,
            BatchError,
            r"chunk 3 \(rows 401-600\) cannot be scored: the data lacks 1 model input\(s\): spend",
        )
    real = scoring.score

    def score(scorer, frame):
        if frame.index[0] == 400:
            raise RuntimeError("the scorer broke")
        return real(scorer, frame)

    monkeypatch.setattr(scoring, "score", score)
    return chunks, RuntimeError, "the scorer broke"


@pytest.mark.parametrize("how", ["bad chunk", "scoring error"])
def test_a_failure_part_way_writes_nothing_of_the_batch(how, scorer, rows, tmp_path, monkeypatch, store_url):
    batch.predict_batch(scorer, [rows.iloc[:100]], store_url, TABLE, "earlier", "user_id")
    batch.predict_batch(scorer, [rows.iloc[:300]], store_url, TABLE, "b", "user_id")
    batch.predict_batch(scorer, [rows.iloc[:50]], "out.parquet", None, "b", "user_id")
    before = (tmp_path / "out.parquet").read_bytes()
    chunks, error, message = _failing_third(rows, how, monkeypatch)
    with pytest.raises(error, match=message):
        batch.predict_batch(scorer, iter(chunks), store_url, TABLE, "b", "user_id")
    assert _batches(store_url) == {"earlier": 100, "b": 300}  # the earlier run of b too: its delete was rolled back
    with pytest.raises(error, match=message):
        batch.predict_batch(scorer, iter(chunks), "out.parquet", None, "b", "user_id")
    assert (tmp_path / "out.parquet").read_bytes() == before
    assert not list(tmp_path.glob(".out.parquet*"))


def test_a_killed_process_leaves_no_partial_batch(fitted, project, monkeypatch, store_url):
    monkeypatch.setattr(paths, "MODELS", project / "models")
    registry.register(fitted[0], "churn", fitted[1])
    settings_file = project / "params" / "project.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["store"]["url"] = settings["store"]["batch_url"] = store = store_url  # the command's defaults
    settings_file.write_text(yaml.safe_dump(settings))
    rows = fitted[2]
    scorer = scoring.load("churn")
    batch.predict_batch(scorer, [rows], store, "batch_predictions", "other", "user_id")
    batch.predict_batch(scorer, [rows.iloc[:700]], store, "batch_predictions", "big", "user_id")
    pd.concat([rows] * 300, ignore_index=True).to_parquet(project / "big.parquet", index=False)

    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    command = [
        sys.executable,
        "-m",
        "lifecycle.batch",
        "--input",
        "big.parquet",
        "--batch-id",
        "big",
        "--chunk-rows",
        "1000",
    ]
    process = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()  # printed once chunk 1 (1,000 rows) is scored and written
        assert first.startswith("chunk 1: 1,000 rows scored"), first + process.stderr.read()
        os.kill(process.pid, signal.SIGKILL)
        rest = process.communicate(timeout=30)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL and "Scored" not in rest  # killed mid-batch
    assert _batches(store, "batch_predictions") == {"other": N, "big": 700}  # the earlier run of big, whole

    (project / "small.csv").write_text(rows.iloc[:10].to_csv(index=False))
    done = run_in(project, "lifecycle.batch", "--input", "small.csv")  # defaults: store.batch_url, id, batch id
    assert done.returncode == 0, done.stderr
    again = run_in(project, "lifecycle.batch", "--input", "small.csv")
    assert "replacing 10 rows of an earlier run" in again.stdout
    small = batch.default_batch_id(project / "small.csv")
    assert _batches(store, "batch_predictions") == {"other": N, "big": 700, small: 10}


def test_the_command_writes_to_postgresql_and_never_shows_the_password(
    scorer, rows, tmp_path, capsys, postgres_cluster
):
    from conftest import POSTGRES_APP_PASSWORD as PASSWORD
    from conftest import POSTGRES_APP_ROLE as ROLE

    url = f"postgresql://{ROLE}:{PASSWORD}@/{postgres_cluster.new_database()}?host={postgres_cluster.folder}"
    _write(rows, "csv", tmp_path)
    assert batch.main(["--input", "new.csv", "--output", url, "--table", TABLE, "--batch-id", "b"]) == 0
    out = capsys.readouterr().out
    assert f"batch 'b' written to table '{TABLE}' at postgresql://{ROLE}:***@/" in out and PASSWORD not in out
    assert _batches(url) == {"b": N}
    assert batch.main(["--input", "new.csv", "--output", url, "--table", "nowhere.preds", "--batch-id", "b"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write to table 'nowhere.preds' at postgresql://{ROLE}:***@/" in err and PASSWORD not in err
    assert _batches(url) == {"b": N}


def _short_wait(url: str) -> sa.Engine:
    """An engine that gives up on a locked store after a tenth of a second."""
    waits = {"sqlite": {"timeout": 0.1}, "postgresql": {"options": "-c lock_timeout=100"}}
    return sa.create_engine(url, connect_args=waits.get(sa.engine.make_url(url).get_backend_name(), {}))


def _rows_of(url: str, table: str = TABLE) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(sa.text(f"SELECT batch_id, COUNT(*) FROM {table} GROUP BY batch_id")).all())
    finally:
        engine.dispose()


def test_the_service_log_is_written_while_a_large_batch_is_scored_into_the_same_database(scorer, rows, store_url):
    """The log and the batch in one database, the layout where they could block each other: after each
    chunk, a connection that waits at most 0.1 s for a lock writes to the log's table, and sees the batch
    id's earlier rows whole and none of the new ones."""
    batch.predict_batch(scorer, [rows.iloc[:300]], store_url, TABLE, "b", "user_id")
    log = _short_wait(store_url)
    table = prediction_log.predictions_table()
    table.metadata.create_all(log)
    seen = []

    def progress(chunk: int, scored: int) -> None:
        row = prediction_log.row(
            f"request-{chunk}",
            record=0,
            model="churn",
            version=1,
            role="production",
            inputs={"spend": 1.0},
            outputs={"prediction": 0},
        )
        seen.append((prediction_log.write(log, table, [row]), _rows_of(store_url)))

    large = pd.concat([rows] * 20, ignore_index=True)
    try:
        result = batch.predict_batch(
            scorer, (large.iloc[i : i + N] for i in range(0, len(large), N)), store_url, TABLE, "b", "user_id", progress
        )
    finally:
        log.dispose()
    assert (result.rows, result.chunks, result.replaced) == (20 * N, 20, 300)
    assert seen == [(1, {"b": 300})] * 20  # every log write went through; the batch appeared only at the end
    assert _rows_of(store_url) == {"b": 20 * N}
    assert len(prediction_log.read(store_url)) == 20


def test_an_interrupted_batch_leaves_the_earlier_rows_of_its_id_and_nothing_staged(scorer, rows, store_url):
    batch.predict_batch(scorer, [rows.iloc[:300]], store_url, TABLE, "b", "user_id")
    batch.predict_batch(scorer, [rows.iloc[:100]], store_url, TABLE, "other", "user_id")

    def interrupted():
        yield from (rows.iloc[i : i + 200] for i in range(0, 600, 200))
        raise KeyboardInterrupt  # Ctrl-C after three chunks were staged

    with pytest.raises(KeyboardInterrupt):
        batch.predict_batch(scorer, interrupted(), store_url, TABLE, "b", "user_id")
    assert _rows_of(store_url) == {"b": 300, "other": 100}
    engine = sa.create_engine(store_url)
    try:
        assert sa.inspect(engine).get_table_names() == [TABLE]  # no staging table left behind
    finally:
        engine.dispose()


def test_batches_go_to_a_database_beside_the_service_log_by_default():
    assert batch.store_defaults()["url"] == prediction_log.absolute_url("sqlite:///data/batch_predictions.db")
    assert Store().url == "sqlite:///data/predictions.db" and Store(batch_url=None) == Store()
    elsewhere = Store(url="sqlite:////srv/app/log.sqlite?timeout=9")
    assert elsewhere.batch_url == "sqlite:////srv/app/batch_log.sqlite?timeout=9"
    for one_database in ("postgresql://me@db/shop", "sqlite://", "sqlite:///:memory:"):
        assert Store(url=one_database).batch_url == one_database  # no SQLite file: nothing to keep apart
    chosen = "sqlite:///data/predictions.db"  # a user's explicit choice of one file stands
    assert Store(url=chosen, batch_url=chosen).batch_url == chosen


def test_default_batch_id_follows_the_file_content(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    first = batch.default_batch_id(tmp_path / "a.csv")
    assert first.startswith("a-") and len(first) == 14 and batch.default_batch_id(tmp_path / "a.csv") == first
    (tmp_path / "a.csv").write_text("x\n2\n")
    assert batch.default_batch_id(tmp_path / "a.csv") != first
    with pytest.raises(BatchError, match="SQL input needs --batch-id"):
        batch.default_batch_id("sql:sqlite:///x.db::t")


def test_sql_input_syntax():
    shown = batch.describe("sql:postgresql://me:secret@[::1]:5432/shop::SELECT a::int FROM t")
    assert shown == "'SELECT a::int FROM t' at postgresql://me:***@[::1]:5432/shop"
    with pytest.raises(BatchError, match=r"must be sql:<SQLAlchemy URL>::<query or table name>"):
        batch.read_chunks("sql:sqlite:///x.db")


ERRORS = {
    "missing file": (["--input", "nope.csv"], "--input 'nope.csv' does not exist"),
    "unknown format": (["--input", "new.txt"], "cannot tell its format; give a .csv or .parquet file"),
    "unreadable file": (["--input", "bad.parquet"], "cannot read 'bad.parquet' as Parquet"),
    "unreadable chunk": (
        ["--input", "broken.csv", "--chunk-rows", "100"],
        "cannot read chunk 5 of 'broken.csv' (Error tokenizing data",
    ),
    "empty input": (["--input", "header.csv"], "the input has no rows; nothing of batch"),
    "missing model": (["--input", "new.csv", "--model", "nope"], "no model named 'nope' in the registry"),
    "missing version": (["--input", "new.csv", "--version", "7"], "model 'churn' has no version '7'"),
    "missing alias": (["--input", "new.csv", "--model", "churn@champion"], "model 'churn' has no alias 'champion'"),
    "malformed model": (["--input", "new.csv", "--model", "churn@"], "model 'churn@' is not NAME or NAME@ALIAS"),
    "alias and version": (
        ["--input", "new.csv", "--model", "churn@x", "--version", "1"],
        "give --version or --model churn@x, not both",
    ),
    "archived stage": (["--input", "new.csv", "--stage", "archived"], "--stage archived: stages are aliases now"),
    "missing inputs": (
        ["--input", "lacking.csv", "--chunk-rows", "400"],
        "chunk 1 (rows 1-400) cannot be scored: the data lacks 1 model input(s): spend; ",
    ),
    "invalid table": (["--input", "new.csv", "--table", "preds; DROP TABLE preds"], "table name 'preds; DROP"),
    "bad output": (["--input", "new.csv", "--output", "out.txt"], "is neither a .parquet file nor a SQLAlchemy URL"),
    "table of a file": (["--input", "new.csv", "--output", "o.parquet", "--table", "t"], "database output only"),
    "other table": (["--input", "new.csv", "--table", "other"], "table 'other' has no batch_id column"),
    "missing id column": (["--input", "new.csv", "--id-column", "customer"], "--id-column 'customer' is not a column"),
    "sql without batch id": (["--input", "sql:sqlite:///in.db::new_users"], "SQL input needs --batch-id"),
    "missing database": (["--input", "sql:sqlite:///none.db::t", "--batch-id", "x"], "'none.db' does not exist"),
    "missing sql table": (["--input", "sql:sqlite:///in.db::nope", "--batch-id", "x"], "(no such table: nope)"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_input_is_one_clear_line_and_exit_code_2(case, scorer, rows, tmp_path, capsys):
    _write(rows, "csv", tmp_path)
    _write(rows, "sql", tmp_path)
    rows.drop(columns=["spend"]).to_csv("lacking.csv", index=False)
    rows.head(0).to_csv("header.csv", index=False)
    Path("bad.parquet").write_text("not parquet")
    Path("new.txt").write_text("x\n1\n")
    lines = Path("new.csv").read_text().splitlines()
    Path("broken.csv").write_text("\n".join([*lines[:450], '1,"unterminated', *lines[450:]]))
    with sqlite3.connect("out.db") as connection:
        connection.execute("CREATE TABLE other (x INTEGER)")
    store = ["--output", "sqlite:///out.db"]
    assert batch.main(["--input", "new.csv", *store, "--table", TABLE, "--batch-id", "keep"]) == 0
    capsys.readouterr()

    args, message = ERRORS[case]
    output = [] if "--output" in args else store
    table = [] if "--table" in args or "--output" in args else ["--table", TABLE]
    assert batch.main([*args, *output, *table]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lifecycle predict: ") and err.count("\n") == 1 and message in err, err
    assert _batches(f"sqlite:///{tmp_path / 'out.db'}") == {"keep": N}  # nothing already written is lost


def test_the_module_runs_as_a_command_with_exit_code_2(project):
    done = run_in(project, "lifecycle.batch", "--input", "missing.parquet", "--output", "sqlite:///out.db")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip() == f"lifecycle predict: --input 'missing.parquet' does not exist "
        f"(relative paths are under {project})"
    )


def test_the_command_scores_with_an_alias_and_still_takes_an_old_stage(scorer, fitted, rows, tmp_path, capsys):
    from lifecycle import registry

    registry.register(fitted[0], "churn", fitted[1])  # version 2 beside the scorer's 1
    registry.set_alias("churn", "challenger", 2)
    _write(rows, "csv", tmp_path)
    store = ["--output", "sqlite:///out.db", "--table", TABLE]
    assert batch.main(["--input", "new.csv", *store, "--model", "churn@challenger", "--batch-id", "a"]) == 0
    assert "with churn version 2" in capsys.readouterr().out
    assert batch.main(["--input", "new.csv", *store, "--stage", "candidate", "--batch-id", "b"]) == 0
    out, err = capsys.readouterr()
    assert "with churn version 2" in out and "--stage is deprecated" in err and "--model churn@challenger" in err
