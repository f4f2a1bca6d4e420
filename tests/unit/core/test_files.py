"""lifecycle.core.files: what a process read and wrote, and artifacts that are byte-reproducible."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from lifecycle.core import files, paths, plots
from lifecycle.registry.trust import load_file


@pytest.fixture
def clean_record():
    files.forget()
    yield
    files.forget()


def test_reads_and_writes_are_recorded_relative_to_the_root(clean_record, tmp_path):
    target = paths.DATA / "interim" / "recorded-by-test.json"
    try:
        files.write_json(target, {"a": 1})
        files.read_json(target)
        outside = files.write_text(tmp_path / "x.txt", "x")
        files.write_json(paths.MODELS / "m" / ".new-1234" / "metadata.json", {})  # built aside: not counted
        files.record_read(paths.MODELS / "m" / "aliases.json")  # aliases move on purpose: not counted
        files.record_write(paths.MODELS / "m" / "aliases.json")
        files.record_read(paths.MODELS / "m" / "stages.json")  # nor an old registry's stage pointers
        files.record_write(paths.MODELS / "m" / "stages.json")
        files.record_read(paths.MODELS / "m" / "3" / "model.skops")  # a version's files are
        record = json.loads(files.recorded())
    finally:
        target.unlink(missing_ok=True)
        (paths.MODELS / "m" / ".new-1234" / "metadata.json").unlink(missing_ok=True)
    assert record["read"] == ["data/interim/recorded-by-test.json", "models/m/3/model.skops"]
    assert record["written"] == sorted(["data/interim/recorded-by-test.json", str(outside.resolve())])


def _pipeline():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["x", "y"], 200)})
    y = (X["a"] > 0).astype(int)
    steps = [
        ("preprocess", ColumnTransformer([("n", StandardScaler(), ["a"]), ("c", OneHotEncoder(), ["b"])])),
        ("model", HistGradientBoostingClassifier(max_iter=10, random_state=0)),
    ]
    return Pipeline(steps).fit(X, y), X


SAVE = """
import sys
sys.path.insert(0, {folder!r})
from test_files import _pipeline
from lifecycle.core import files
files.write_skops({path!r}, _pipeline()[0])
"""


def test_skops_files_are_the_same_bytes_from_another_process_and_load_back(tmp_path):
    """skops names arrays after id() and stamps zip members with the clock: both are fixed.

    Both sides fit with one OpenMP thread: HistGradientBoosting's sums depend on the thread
    count, and an earlier test's in-process Dask cluster may have set OMP_NUM_THREADS for this
    process's children."""
    with threadpool_limits(1, user_api="openmp"):
        pipeline, X = _pipeline()
    first = files.write_skops(tmp_path / "first.skops", pipeline)
    second = tmp_path / "second.skops"
    code = SAVE.format(folder=str(Path(__file__).resolve().parent), path=str(second))
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert first.read_bytes() == second.read_bytes()
    assert {info.date_time for info in zipfile.ZipFile(first).infolist()} == {(1980, 1, 1, 0, 0, 0)}
    loaded = load_file(first)
    assert (loaded.predict_proba(X) == pipeline.predict_proba(X)).all()


def test_parquet_and_figures_are_the_same_bytes_when_written_again(tmp_path, monkeypatch):
    table = pd.DataFrame({"a": [1.5, None, 3.0], "b": ["x", "y", None], "t": pd.date_range("2025-01-01", periods=3)})
    one, two = files.write_parquet(tmp_path / "1.parquet", table), files.write_parquet(tmp_path / "2.parquet", table)
    assert one.read_bytes() == two.read_bytes()

    monkeypatch.setattr(paths, "FIGURES", tmp_path)
    plots.save(plots.missingness(table), "first")
    plots.save(plots.missingness(table), "second")
    assert (tmp_path / "first.png").read_bytes() == (tmp_path / "second.png").read_bytes()
