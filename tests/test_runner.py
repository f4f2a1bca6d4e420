import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from conftest import run_in
from lifecycle import runner
from lifecycle.params import ParamsError


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_select_by_number_name_range_and_only():
    phases = runner.select()
    assert phases[0] == "00_problem_definition"
    assert runner.select(only=["0"]) == ["00_problem_definition"]
    assert runner.select(start="00", end="00_problem_definition") == ["00_problem_definition"]
    with pytest.raises(ParamsError, match="no phase '42'; phases are 00_problem_definition"):
        runner.select(only=["42"])


def test_run_keeps_every_run_in_its_own_folder(project):
    first = run_in(project, "lifecycle", "run", "--to", "03", "--set", "seed=7")
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"\[1/\d+\] 00_problem_definition done in \d+\.\d s", first.stdout)
    (run_dir,) = (project / "reports" / "runs").iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "ok" and record["phases"]["00_problem_definition"]["status"] == "ok"
    assert json.loads((run_dir / "parameters.json").read_text())["00_problem_definition"]["seed"] == 7
    executed = nbformat.read(run_dir / "00_problem_definition.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "seed = 7" in injected[0].source
    # The copy wrote into itself, not into the checkout it was copied from.
    card = json.loads((project / "reports" / "problem_card.json").read_text())
    assert card["metric"] == "roc_auc"

    before = _tree(run_dir)
    second = run_in(project, "lifecycle", "run", "--only", "00")
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(list((project / "reports" / "runs").iterdir())) == 2
    assert _tree(run_dir) == before


def test_failing_cell_stops_the_run_and_keeps_the_partial_notebook(project):
    assert run_in(project, "lifecycle", "run", "--only", "00").returncode == 0
    (earlier,) = (project / "reports" / "runs").iterdir()
    before = _tree(earlier)

    path = project / "notebooks" / "00_problem_definition.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('raise ValueError("the data is not what we expected")'))
    nbformat.write(nb, path)
    result = run_in(project, "lifecycle", "run", "--only", "00")

    assert result.returncode == 1
    assert "00_problem_definition FAILED" in result.stdout
    assert 'cell In[4]: raise ValueError("the data is not what we expected")' in result.stdout
    assert "ValueError: the data is not what we expected" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    failed = next(p for p in (project / "reports" / "runs").iterdir() if p != earlier)
    record = json.loads((failed / "run.json").read_text())
    assert record["status"] == "failed" and record["failed"]["error"] == "ValueError"
    partial = nbformat.read(failed / "00_problem_definition.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in partial.cells if c.cell_type == "code" for o in c.outputs)
    assert _tree(earlier) == before


def test_store_rewrites_notebooks_without_volatile_metadata(project):
    path = project / "notebooks" / "00_problem_definition.ipynb"
    (project / "params" / "00_problem_definition.yaml").write_text(
        (project / "params" / "00_problem_definition.yaml").read_text().replace("metric_bar: 0.75", "metric_bar: 0.8")
    )
    result = run_in(project, "lifecycle", "run", "--store", "--only", "00")
    assert result.returncode == 0, result.stdout + result.stderr
    nb = nbformat.read(path, as_version=4)
    assert "papermill" not in nb.metadata
    assert all("papermill" not in c.metadata and "execution" not in c.metadata for c in nb.cells)
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert "metric_bar = 0.8\n" in "".join(c.source for c in nb.cells) + "\n"
    outputs = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"])
    assert "roc_auc is at least 0.8" in outputs


def test_store_refuses_overrides(project):
    result = run_in(project, "lifecycle", "run", "--store", "--set", "seed=1")
    assert result.returncode == 2
    assert "--store keeps the outputs of the default parameters" in result.stderr


def test_data_phases_run_on_a_user_csv(project):
    """A user's own table: string labels, messy categories, dates as text, gaps, numbers as text."""
    rng = np.random.default_rng(5)
    n = 1500
    spend = rng.gamma(2.0, 50.0, n)
    customers = pd.DataFrame({
        "customer": np.arange(1000, 1000 + n),
        "joined": pd.date_range("2024-01-01", periods=n, freq="6h").strftime("%Y-%m-%d").to_numpy(),
        "region": rng.choice(["North", "north ", "SOUTH", "south", "East"], n),
        "spend": np.where(rng.random(n) < 0.1, np.nan, spend),
        "visits": [f"{v}" if rng.random() > 0.03 else "unknown" for v in rng.poisson(4, n)],
        "label": np.where(spend + rng.normal(0, 30, n) > 120, "yes", "no"),
    })
    (project / "data").mkdir()
    customers.to_csv(project / "data" / "customers.csv", index=False)
    (project / "mine.yaml").write_text(
        "target: label\nid_column: customer\ntime_column: joined\n"
        "source: {kind: csv, path: data/customers.csv}\n"
        "positive_class: 'yes'\nvalid_ranges: {spend: [0, 10000]}\n"
    )
    result = run_in(project, "lifecycle", "run", "--to", "03", "-f", "mine.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    prepared = pd.read_parquet(project / "data" / "interim" / "table.parquet")
    assert len(prepared) == n and prepared["visits"].dtype == "float64"
    assert sorted(prepared["region"].astype(str).unique()) == ["East", "North", "SOUTH"]
    assert pd.api.types.is_datetime64_any_dtype(prepared["joined"])
    assert {"03_trend.png", "03_target_relations.png"} <= {p.name for p in (project / "reports" / "figures").iterdir()}
    (run_dir,) = (project / "reports" / "runs").iterdir()
    executed = nbformat.read(run_dir / "03_exploratory_analysis.ipynb", as_version=4)
    assert "Most informative about label: spend" in json.dumps([c.get("outputs") for c in executed.cells])


def test_insufficient_data_stops_the_run_with_the_reason(project):
    result = run_in(project, "lifecycle", "run", "--to", "01", "--set", "min_rows=100000")
    assert result.returncode == 1
    assert "01_data_collection FAILED" in result.stdout
    assert "InsufficientData: not enough data for the problem card (labelled rows: found 5,000, need 100,000)" in (
        result.stdout)


def test_whole_lifecycle_on_a_user_csv_with_a_regression_target(project):
    rng = np.random.default_rng(11)
    n = 1200
    size = rng.gamma(3.0, 20.0, n)
    region = rng.choice(["north", "south", "east"], n)
    shops = pd.DataFrame({
        "shop": np.arange(n),
        "opened": pd.date_range("2023-01-01", periods=n, freq="12h").strftime("%Y-%m-%d").to_numpy(),
        "region": region,
        "size_m2": np.where(rng.random(n) < 0.05, np.nan, size),
        "staff": rng.integers(2, 30, n),
        "revenue": 50 * size + 400 * (region == "north") + rng.normal(0, 300, n),
    })
    (project / "data").mkdir()
    shops.to_csv(project / "data" / "shops.csv", index=False)
    (project / "shops.yaml").write_text(
        "target: revenue\ntask: regression\nid_column: shop\ntime_column: opened\n"
        "source: {kind: csv, path: data/shops.csv}\n"
        "positive_class: null\nmetric: mae\nmetric_bar: 1500\nvalid_ranges: {size_m2: [0, 10000]}\n"
        "model_name: shops\nn_iter: 3\ncandidates: {linear: {}, hist_gradient_boosting: {max_iter: 60}}\n"
    )
    result = run_in(project, "lifecycle", "run", "--to", "09", "-f", "shops.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (project / "reports" / "runs").iterdir()
    outputs = {p.stem: json.dumps([c.get("outputs") for c in nbformat.read(p, as_version=4).cells])
               for p in run_dir.glob("*.ipynb")}
    assert "No threshold: the task is regression" in outputs["07_model_evaluation"]
    assert "residual (actual - predicted)" in outputs["07_model_evaluation"]
    results = json.loads((project / "reports" / "test_results.json").read_text())
    assert set(results["results"]["test"]) == {"mae", "rmse", "r2"}
    assert results["passed"] is True and results["verdict"].startswith("PASS: test mae")
    assert (project / "models" / "shops" / "1" / "model.skops").is_file()
    assert (project / "reports" / "figures" / "07_performance.png").is_file()
