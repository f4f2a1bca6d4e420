import pandas as pd
import pytest

from lifecycle.core import paths
from lifecycle.core.params import resolve
from lifecycle.core.settings import DataCollection, ProblemDefinition
from lifecycle.data import collect
from lifecycle.data.collect import InsufficientData
from lifecycle.data.problem import define
from lifecycle.data.sources import Dataset


def _dataset() -> Dataset:
    table = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "plan": ["a", "b", None],
            "fee": [1.5, 2.0, 9.0],
            "when": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
        }
    )
    events = pd.DataFrame({"id": [1, 1], "kind": ["x", "y"]})
    return Dataset(table, events)


def test_same_data_same_version_any_change_a_new_one():
    base = collect.data_version(_dataset())
    assert base == collect.data_version(_dataset()) and len(base) == 12
    table, events = _dataset()
    changed = table.copy()
    changed.loc[2, "fee"] = 9.01
    renamed = table.rename(columns={"fee": "price"})
    retyped = table.astype({"fee": "float32"})
    fewer_events = events.iloc[:1]
    versions = {
        collect.data_version(d)
        for d in [
            Dataset(changed, events),
            Dataset(renamed, events),
            Dataset(retyped, events),
            Dataset(table, fewer_events),
            Dataset(table, None),
        ]
    }
    assert len(versions) == 5 and base not in versions


def test_schema_kinds_ranges_and_categories():
    schema = collect.schema(_dataset().table, max_categories=5)
    assert schema.loc["fee", ["kind", "min", "max"]].tolist() == ["numeric", 1.5, 9.0]
    assert schema.loc["plan", "categories"] == ["a", "b"]
    assert schema.loc["plan", "missing_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert schema.loc["when", "kind"] == "datetime"
    assert collect.schema(_dataset().table, max_categories=1).loc["plan", "categories"] is None


def test_snapshot_is_written_once_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RAW", tmp_path / "raw")
    monkeypatch.setattr(collect, "CURRENT", tmp_path / "raw" / "current.json")
    dataset = _dataset()
    version = collect.data_version(dataset)
    params = DataCollection.model_validate(resolve(["01_data_collection"])["01_data_collection"])
    record = collect.lineage(params, dataset, version)
    collect.snapshot(dataset, version, collect.schema(dataset.table), record)
    table_file = tmp_path / "raw" / version / "table.parquet"
    stamp = table_file.stat().st_mtime_ns
    collect.snapshot(dataset, version, collect.schema(dataset.table), record)  # same version: untouched
    assert table_file.stat().st_mtime_ns == stamp
    (read, events), lineage = collect.read_raw()
    pd.testing.assert_frame_equal(read, dataset.table)
    assert lineage["data_version"] == version and lineage["rows"] == {"table": 3, "events": 2}
    assert collect.read_schema(version).loc["fee", "kind"] == "numeric"
    assert not list((tmp_path / "raw").glob(".*building"))


def test_missing_snapshot_says_which_phase_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(collect, "CURRENT", tmp_path / "current.json")
    with pytest.raises(FileNotFoundError, match="run 01_data_collection first"):
        collect.read_raw()


def _card(*sets):
    return define(
        ProblemDefinition.model_validate(resolve(["00_problem_definition"], sets=sets)["00_problem_definition"])
    )


def test_sufficiency_passes_and_fails_with_the_reason():
    card = _card("min_rows=4", "min_rows_per_class=2")
    assert collect.sufficiency(card, pd.Series([0, 1, 0, 1]))["ok"].all()
    checks = collect.sufficiency(card, pd.Series([0, 0, 0, 1, None]))
    assert checks.loc["rows of class 1", "ok"] == False  # noqa: E712  (a numpy bool: `is False` never holds)
    with pytest.raises(InsufficientData, match=r"rows of class 1: found 1, need 2"):
        collect.require_sufficient(checks)
    one_class = collect.sufficiency(card, pd.Series([0, 0, 0, 0]))
    with pytest.raises(InsufficientData, match=r"classes: found 1, need 2"):
        collect.require_sufficient(one_class)


def test_sufficiency_for_regression_counts_rows_only():
    card = _card("task=regression", "metric=rmse", "positive_class=null", "min_rows=3")
    checks = collect.sufficiency(card, pd.Series([1.0, 2.5, None, 4.0]))
    assert checks.index.tolist() == ["labelled rows"] and checks["ok"].all()
