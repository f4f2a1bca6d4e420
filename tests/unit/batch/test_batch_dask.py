"""lifecycle predict --engine dask: partitions scored on a LocalCluster, written as one batch."""

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import require_dask

from lifecycle import batch
from lifecycle.batch import BatchError
from lifecycle.batch import dask_engine as batch_dask
from lifecycle.batch.inputs import read_chunks

require_dask("dask", "distributed")
TABLE = "preds"
VOLATILE = ["scored_at"]


def _parts(rows: pd.DataFrame, folder: Path, n: int = 3) -> Path:
    folder.mkdir()
    size = -(-len(rows) // n)
    for number in range(n):
        rows.iloc[number * size : (number + 1) * size].to_parquet(folder / f"part-{number}.parquet", index=False)
    return folder


def _local(scorer, rows, tmp_path) -> pd.DataFrame:
    rows.to_parquet(tmp_path / "whole.parquet", index=False)
    batch.predict_batch(
        scorer,
        read_chunks(tmp_path / "whole.parquet", 300),
        tmp_path / "local.parquet",
        batch_id="b1",
        id_column="user_id",
    )
    return pd.read_parquet(tmp_path / "local.parquet").drop(columns=VOLATILE)


def test_parquet_output_equals_the_local_engine(scorer, rows, tmp_path, dask_client):
    frame = batch_dask.read_partitions(_parts(rows, tmp_path / "in"))
    output = tmp_path / "scores.parquet"
    result = batch_dask.predict_partitions(
        scorer, frame, client=dask_client, output=output, batch_id="b1", id_column="user_id"
    )
    assert (result.rows, result.chunks, result.version) == (len(rows), 3, scorer.version)
    assert output.is_dir() and len(list(output.glob("*.parquet"))) == 3
    pd.testing.assert_frame_equal(pd.read_parquet(output).drop(columns=VOLATILE), _local(scorer, rows, tmp_path))
    # Again: the new batch replaces the folder whole, and no staging folder is left behind.
    batch_dask.predict_partitions(
        scorer, frame.partitions[:1], client=dask_client, output=output, batch_id="b2", id_column="user_id"
    )
    assert set(pd.read_parquet(output)["batch_id"]) == {"b2"}
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_database_output_is_one_batch_replaced_by_id(scorer, rows, tmp_path, dask_client, capsys, store_url):
    frame = batch_dask.read_partitions(_parts(rows, tmp_path / "in"))
    url = store_url
    first = batch_dask.predict_partitions(
        scorer, frame, client=dask_client, output=url, table=TABLE, batch_id="b1", id_column="user_id", progress=True
    )
    assert capsys.readouterr().out.splitlines() == [
        f"scoring on the cluster: {q}% of 3 partitions done" for q in (25, 50, 75, 100)
    ]
    again = batch_dask.predict_partitions(
        scorer, frame, client=dask_client, output=url, table=TABLE, batch_id="b1", id_column="user_id"
    )
    assert (first.replaced, again.replaced) == (0, len(rows))
    stored = pd.read_sql(f"SELECT * FROM {TABLE} ORDER BY user_id", url)
    local = _local(scorer, rows, tmp_path)
    assert len(stored) == len(rows) and stored["user_id"].is_unique
    pd.testing.assert_frame_equal(stored.drop(columns=VOLATILE)[local.columns], local, check_dtype=False)


def test_a_partition_that_cannot_be_scored_writes_nothing(scorer, rows, tmp_path, dask_client, store_url):
    bad = rows.astype({"spend": str})  # numbers as text score; "lots" does not, in the last partition only
    bad.loc[bad.index[-5:], "spend"] = "lots"
    folder = _parts(bad, tmp_path / "in", 2)
    with pytest.raises(BatchError, match="nothing of batch 'b1' was written"):
        frame = batch_dask.read_partitions(folder)
        batch_dask.predict_partitions(
            scorer, frame, client=dask_client, output=store_url, table=TABLE, batch_id="b1", id_column="user_id"
        )
    engine = sa.create_engine(store_url)
    try:
        assert not sa.inspect(engine).has_table(TABLE)  # not even the table the batch would have made
    finally:
        engine.dispose()


def test_folder_batch_id_follows_the_files(rows, tmp_path):
    folder = _parts(rows, tmp_path / "in")
    first = batch_dask.folder_batch_id(folder)
    assert first.startswith("in-") and first == batch_dask.folder_batch_id(folder)
    rows.iloc[:10].to_parquet(folder / "part-0.parquet", index=False)
    assert batch_dask.folder_batch_id(folder) != first


def test_a_registered_format_is_read_as_partitions(jsonl_format, tmp_path):
    """A format with no partition reader of its own: one partition per file, read when computed."""
    table = pd.DataFrame({"user_id": range(40), "spend": [i + 0.5 for i in range(40)]})
    table.to_json(tmp_path / "new.jsonl", orient="records", lines=True)
    frame = batch_dask.read_partitions(tmp_path / "new.jsonl")
    assert frame.npartitions == 1 and list(frame.columns) == ["user_id", "spend"]
    pd.testing.assert_frame_equal(frame.compute().reset_index(drop=True), table)
    with pytest.raises(BatchError, match=r"give a Parquet file or folder, or a .csv or .jsonl file, with --engine"):
        batch_dask.read_partitions(tmp_path / "new.txt")


def test_sql_input_is_refused_with_the_way_out():
    with pytest.raises(BatchError, match="--engine dask reads Parquet or CSV"):
        batch_dask.read_partitions("sql:sqlite:///x.db::t")


def test_each_worker_process_loads_the_model_once(scorer, rows, tmp_path, dask_client, monkeypatch):
    from lifecycle.modeling import scoring

    loads = []
    monkeypatch.setattr(batch_dask, "_SCORERS", {})
    monkeypatch.setattr(scoring, "load", lambda *a, **k: loads.append(k) or scorer)
    frame = batch_dask.read_partitions(_parts(rows, tmp_path / "in", 4))
    batch_dask.predict_partitions(
        scorer, frame, client=dask_client, output=tmp_path / "o.parquet", batch_id="b", id_column="user_id"
    )
    assert loads == [{"version": scorer.version}]  # the workers are threads of this one process here


def test_the_command_scores_on_the_cluster(scorer, rows, tmp_path, dask_client, monkeypatch, capsys):
    from lifecycle.core import compute
    from lifecycle.core.settings import Compute

    settings = Compute(engine="dask", workers=1, processes=False, memory_limit="1GiB")
    monkeypatch.setattr(compute, "from_params", lambda: settings)
    _parts(rows, tmp_path / "in")
    code = batch.main(["--input", "in", "--output", "out.parquet", "--model", "churn", "--engine", "dask"])
    out = capsys.readouterr().out
    assert code == 0, capsys.readouterr().err
    assert "Running on a local Dask cluster of 1 worker(s); dashboard:" in out
    assert "scoring on the cluster: 100% of " in out and "Completed" not in out  # plain lines, no bar
    assert f"Scored {len(rows):,} rows in 3 chunk(s) with churn version 1: batch 'in-" in out
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "out.parquet").drop(columns=VOLATILE + ["batch_id"]),
        _local(scorer, rows, tmp_path).drop(columns=["batch_id"]),
    )


class _KillOnce:
    """A worker plugin: the first worker to start scoring a partition dies (once, across restarts)."""

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        import os

        if finish == "executing" and "score_partition" in str(key) and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)


def test_a_worker_killed_mid_scoring_still_gives_every_row_once(scorer, rows, tmp_path):
    from distributed.diagnostics.plugin import WorkerPlugin

    from lifecycle.core import compute
    from lifecycle.core.settings import Compute

    plugin = type("KillOnce", (_KillOnce, WorkerPlugin), {})(str(tmp_path / "killed"))
    settings = Compute(engine="dask", workers=2, processes=True, memory_limit="1GiB", timeout_s=60)
    frame = batch_dask.read_partitions(_parts(rows, tmp_path / "in", 6))
    url = f"sqlite:///{tmp_path / 'out.db'}"
    with compute.session(settings, show=None, dashboard_address=None) as client:
        client.register_plugin(plugin)
        result = batch_dask.predict_partitions(
            scorer, frame, client=client, output=url, table=TABLE, batch_id="b1", id_column="user_id"
        )
    assert (tmp_path / "killed").exists()  # a worker did die
    with sqlite3.connect(tmp_path / "out.db") as connection:
        ids = pd.read_sql(f"SELECT user_id FROM {TABLE}", connection)["user_id"]
    assert result.rows == len(ids) == len(rows) and ids.is_unique and set(ids) == set(rows["user_id"])


def test_an_unreachable_scheduler_is_one_line_and_exit_code_2(scorer, rows, tmp_path, monkeypatch, capsys):
    from lifecycle.core import compute
    from lifecycle.core.settings import Compute

    settings = Compute(engine="dask", scheduler="tcp://127.0.0.1:9", timeout_s=1)
    monkeypatch.setattr(compute, "from_params", lambda: settings)
    _parts(rows, tmp_path / "in")
    assert batch.main(["--input", "in", "--output", "out.parquet", "--model", "churn"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lifecycle predict: cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 1 s")
    assert err.count("\n") == 1 and not (tmp_path / "out.parquet").exists()
