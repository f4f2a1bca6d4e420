import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from conftest import break_notebook, outputs_text, run_in

from lifecycle.core.params import ParamsError
from lifecycle.run import runner


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
    said = re.search(r"\[1/\d+\] 00_problem_definition done in \d+\.\d s, peak (\d+) MiB", first.stdout)
    assert said and 50 < int(said[1]) < 4000  # a kernel that imported pandas holds some tens of MiB at least
    (run_dir,) = (project / "reports" / "runs").iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "ok" and record["phases"]["00_problem_definition"]["status"] == "ok"
    assert record["phases"]["00_problem_definition"]["peak_mib"] == int(said[1])
    assert json.loads((run_dir / "parameters.json").read_text())["00_problem_definition"]["seed"] == 7
    executed = nbformat.read(run_dir / "00_problem_definition.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "seed = 7" in injected[0].source
    # The copy wrote into itself, not into the checkout it was copied from.
    card = json.loads((project / "reports" / "problem_card.json").read_text())
    assert card["metric"] == "roc_auc"

    before = _tree(run_dir)
    again = run_in(project, "lifecycle", "run", "--only", "00", "--set", "seed=7")
    assert again.returncode == 0 and "00_problem_definition  up to date" in again.stdout, again.stdout + again.stderr
    assert len(list((project / "reports" / "runs").iterdir())) == 1  # nothing ran: no run folder
    second = run_in(project, "lifecycle", "run", "--only", "00")  # seed back to 42: a parameter changed
    assert second.returncode == 0, second.stdout + second.stderr
    assert "00_problem_definition ... (parameter seed changed)" in second.stdout
    assert len(list((project / "reports" / "runs").iterdir())) == 2
    assert _tree(run_dir) == before


def test_failing_cell_stops_the_run_and_keeps_the_partial_notebook(project):
    assert run_in(project, "lifecycle", "run", "--only", "00").returncode == 0
    (earlier,) = (project / "reports" / "runs").iterdir()
    before = _tree(earlier)

    break_notebook(project)
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
    assert "lifecycle" not in nb.metadata
    # --store records in the lock like any run: its source cells did not change, so 00 is up to date.
    again = run_in(project, "lifecycle", "run", "--only", "00")
    assert "00_problem_definition  up to date" in again.stdout, again.stdout + again.stderr


def test_store_refuses_overrides(project):
    result = run_in(project, "lifecycle", "run", "--store", "--set", "seed=1")
    assert result.returncode == 2
    assert "--store keeps the outputs of the default parameters" in result.stderr


def test_data_phases_run_on_a_user_csv(project):
    """A user's own table: string labels, messy categories, dates as text, gaps, numbers as text."""
    rng = np.random.default_rng(5)
    n = 1500
    spend = rng.gamma(2.0, 50.0, n)
    customers = pd.DataFrame(
        {
            "customer": np.arange(1000, 1000 + n),
            "joined": pd.date_range("2024-01-01", periods=n, freq="6h").strftime("%Y-%m-%d").to_numpy(),
            "region": rng.choice(["North", "north ", "SOUTH", "south", "East"], n),
            "spend": np.where(rng.random(n) < 0.1, np.nan, spend),
            "visits": [f"{v}" if rng.random() > 0.03 else "unknown" for v in rng.poisson(4, n)],
            "label": np.where(spend + rng.normal(0, 30, n) > 120, "yes", "no"),
        }
    )
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
    assert "Most informative about label: spend" in outputs_text(run_dir / "03_exploratory_analysis.ipynb")


def test_insufficient_data_stops_the_run_with_the_reason(project):
    result = run_in(project, "lifecycle", "run", "--to", "01", "--set", "min_rows=100000")
    assert result.returncode == 1
    assert "01_data_collection FAILED" in result.stdout
    assert "InsufficientData: not enough data for the problem card (labelled rows: found 5,000, need 100,000)" in (
        result.stdout
    )


def test_a_single_table_without_dates_runs_every_phase_and_each_says_how_it_adapts(project):
    """One table, pointed at with ``lifecycle init``: no time column, no events, no experiment log (the
    starter's end-to-end projects have dates). Text labels yes/no, gaps, a category."""
    rng = np.random.default_rng(3)
    n = 1500
    spend, plan = rng.gamma(2.0, 50.0, n), rng.choice(["basic", "plus", "pro"], n)
    (project / "data").mkdir()
    pd.DataFrame(
        {
            "customer": np.arange(5000, 5000 + n),
            "plan": np.where(rng.random(n) < 0.05, None, plan),
            "spend": np.where(rng.random(n) < 0.08, np.nan, spend.round(2)),
            "visits": rng.poisson(4, n),
            "churned": np.where(spend / 50 + (plan == "basic") + rng.normal(0, 0.7, n) < 2.0, "yes", "no"),
        }
    ).to_csv(project / "data" / "customers.csv", index=False)
    init = run_in(project, "lifecycle", "init", "--data", "data/customers.csv", "--target", "churned")
    assert init.returncode == 0, init.stderr
    assert "inferred time column: none (no date column; no out-of-time set)" in init.stdout
    (project / "quick.yaml").write_text("n_iter: 3\ncandidates: {linear: {}, hist_gradient_boosting: {max_iter: 60}}\n")
    result = run_in(project, "lifecycle", "run", "-f", "quick.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "14 phase(s) run" in result.stdout
    (run_dir,) = (project / "reports" / "runs").iterdir()
    said = {
        phase: outputs_text(run_dir / f"{phase}.ipynb")
        for phase in (
            "04_feature_engineering",
            "10_deployment",
            "11_experimentation",
            "12_monitoring",
            "13_feedback_retraining",
        )
    }
    assert "No events table (source.events_path), so no event aggregates" in said["04_feature_engineering"]
    assert "300 rows from the test split (this source has no production period or time column)" in said["10_deployment"]
    assert "No experiment log yet: set log_path" in said["11_experimentation"]
    assert "made-up EXAMPLE log" in said["11_experimentation"]
    assert "the test split stands in for it, compared with the training reference" in said["12_monitoring"]
    assert "no time column, so one window" in said["12_monitoring"]
    assert "were cut into 4 equal parts standing in for windows" in said["13_feedback_retraining"]


# --- incremental runs, on the toy project (tests/conftest.py) ---------------------------------

TOY_PHASES = [
    "00_problem_definition",
    "01_data_collection",
    "02_data_preparation",
    "03_exploratory_analysis",
    "04_feature_engineering",
    "05_model_selection",
    "06_model_training",
    "07_model_evaluation",
    "08_model_tuning",
]


def _ran(result: subprocess.CompletedProcess) -> list[str]:
    """The phases a run executed, in order; every other one must have said it is up to date."""
    assert result.returncode == 0, result.stdout + result.stderr
    ran = re.findall(r"\] (\S+) done in", result.stdout)
    skipped = re.findall(r"^(\S+)  up to date$", result.stdout, re.MULTILINE)
    assert sorted(ran + skipped) == TOY_PHASES, result.stdout
    return ran


def _lock(project: Path) -> dict:
    return json.loads((project / "reports" / "lifecycle.lock").read_text())["phases"]


def test_lock_records_what_each_phase_read_wrote_and_imported(toy):
    entries = _lock(toy)
    assert entries["02_data_preparation"]["inputs"].keys() == {"data/toy/a.json", "data/toy/b.json"}
    assert entries["02_data_preparation"]["outputs"].keys() == {"data/toy/c.json"}
    assert "data/source.json" in entries["01_data_collection"]["inputs"]
    assert "src/lifecycle/toy_select.py" in entries["05_model_selection"]["helpers"]
    assert all("src/lifecycle/toy_select.py" not in entries[p]["helpers"] for p in TOY_PHASES if p[:2] != "05")
    assert {"calibration_bins", "seed"} <= entries["07_model_evaluation"]["params"].keys()
    text = (toy / "reports" / "lifecycle.lock").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"  # sorted


def test_nothing_changed_nothing_runs(toy):
    result = run_in(toy, "lifecycle", "run")
    assert _ran(result) == []
    assert "nothing to run: 9 phase(s) up to date" in result.stdout
    assert len(list((toy / "reports" / "runs").iterdir())) == 1  # no folder for a run that ran nothing


def test_helper_only_05_imports_reruns_05_and_the_readers_of_what_changed(toy):
    helper = toy / "src" / "lifecycle" / "toy_select.py"
    helper.write_text(helper.read_text().replace('"choice": "a"', '"choice": "b"'))
    result = run_in(toy, "lifecycle", "run")
    assert _ran(result) == ["05_model_selection", "06_model_training", "07_model_evaluation", "08_model_tuning"]
    assert "05_model_selection ... (helper src/lifecycle/toy_select.py changed)" in result.stdout

    # The same outputs from a changed helper: the cascade stops at 05 (early cutoff).
    helper.write_text(helper.read_text() + "\n# a comment changes the file, not what it returns\n")
    assert _ran(run_in(toy, "lifecycle", "run")) == ["05_model_selection"]


def test_parameter_of_07_reruns_07_onward(toy):
    result = run_in(toy, "lifecycle", "run", "--set", "calibration_bins=7")
    assert _ran(result) == ["07_model_evaluation", "08_model_tuning"]
    assert "07_model_evaluation ... (parameter calibration_bins changed)" in result.stdout


def test_input_touched_reruns_nothing_and_changed_reruns_its_readers(toy):
    source = toy / "data" / "source.json"
    later = time.time() + 5
    os.utime(source, (later, later))
    assert _ran(run_in(toy, "lifecycle", "run")) == []

    # More rows: 01's output changes; 02 re-runs but writes the same bytes, so 03 onward stay up to date.
    source.write_text('{"rows": [1, 2, 3, 4]}\n')
    result = run_in(toy, "lifecycle", "run")
    assert _ran(result) == ["01_data_collection", "02_data_preparation"]
    assert "01_data_collection ... (input data/source.json changed)" in result.stdout
    assert "02_data_preparation ... (input data/toy/b.json changed)" in result.stdout


def test_deleted_output_reruns_its_writer(toy):
    (toy / "data" / "toy" / "d.json").unlink()
    result = run_in(toy, "lifecycle", "run")
    assert _ran(result) == ["03_exploratory_analysis"]
    assert "(output data/toy/d.json missing)" in result.stdout
    assert (toy / "data" / "toy" / "d.json").is_file()


def test_force_reruns_named_phases_or_all_selected(toy):
    assert _ran(run_in(toy, "lifecycle", "run", "--force", "03")) == ["03_exploratory_analysis"]
    result = run_in(toy, "lifecycle", "run", "--from", "07", "--force")
    assert result.returncode == 0, result.stderr
    assert re.findall(r"\] (\S+) done in", result.stdout) == ["07_model_evaluation", "08_model_tuning"]


def test_mark_clean_accepts_the_current_state(toy):
    helper = toy / "src" / "lifecycle" / "toy_select.py"
    helper.write_text(helper.read_text().replace('"choice": "a"', '"choice": "b"'))
    result = run_in(toy, "lifecycle", "run", "--mark-clean", "05")
    assert result.returncode == 0 and "05_model_selection  marked clean" in result.stdout, result.stderr
    assert _lock(toy)["05_model_selection"]["run"] == "marked clean"
    assert _ran(run_in(toy, "lifecycle", "run")) == []

    (toy / "reports" / "lifecycle.lock").unlink()
    refused = run_in(toy, "lifecycle", "run", "--mark-clean", "05")
    assert refused.returncode == 1
    assert "05_model_selection  cannot be marked clean: it never ran" in refused.stdout


def test_parallel_jobs_run_independent_phases_each_in_its_own_kernel(toy):
    result = run_in(toy, "lifecycle", "run", "--jobs", "2", "--force", "03", "04")
    assert sorted(_ran(result)) == ["03_exploratory_analysis", "04_feature_engineering"]
    entries = _lock(toy)
    assert all(entries[p]["state"] == "done" for p in TOY_PHASES)
    assert _ran(run_in(toy, "lifecycle", "run", "--jobs", "2")) == []


def _start_slow_run(project: Path, *args: str) -> subprocess.Popen:
    """A run held inside 04 (its toy sleeps while data/slow exists), in its own process group."""
    (project / "data" / "slow").touch()
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "lifecycle", "run", *args],
        cwd=project,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    for line in process.stdout:
        if "04_feature_engineering ..." in line:
            return process
    raise AssertionError(process.stderr.read())


def test_ctrl_c_mid_run_keeps_the_lock_consistent_and_a_rerun_completes_only_the_rest(toy):
    (toy / "reports" / "lifecycle.lock").unlink()  # every phase stale: a long run to interrupt
    process = _start_slow_run(toy)
    time.sleep(2)  # inside 04's sleeping cell
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    assert "04_feature_engineering interrupted" in out
    entries = _lock(toy)
    assert [p for p in TOY_PHASES if entries.get(p, {}).get("state") == "done"] == TOY_PHASES[:4]
    assert entries["04_feature_engineering"]["state"] == "running"

    status = run_in(toy, "lifecycle", "status")
    assert re.search(r"04_feature_engineering +stale: its last run did not finish", status.stdout), status.stdout
    (toy / "data" / "slow").unlink()
    assert _ran(run_in(toy, "lifecycle", "run")) == TOY_PHASES[4:]


def test_a_second_run_at_the_same_time_is_refused_and_a_killed_kernel_leaves_its_phase_stale(toy):
    import psutil

    process = _start_slow_run(toy, "--force", "04")
    try:
        second = run_in(toy, "lifecycle", "run")
        assert second.returncode == 2
        assert re.fullmatch(
            r"lifecycle: another `lifecycle run` \(pid \d+\) is running in this project; "
            r"wait for it to finish\n",
            second.stderr,
        )
        assert run_in(toy, "lifecycle", "status").returncode == 0  # reading is fine meanwhile
        kernels = [
            p for p in psutil.Process(process.pid).children(recursive=True) if "ipykernel" in " ".join(p.cmdline())
        ]
        assert kernels
        for kernel in kernels:
            kernel.kill()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 1, out + err
    assert "04_feature_engineering FAILED" in out
    entries = _lock(toy)
    assert entries["04_feature_engineering"]["state"] == "failed"
    assert all(entries[p]["state"] == "done" for p in TOY_PHASES if p != "04_feature_engineering")
    (toy / "data" / "slow").unlink()
    assert _ran(run_in(toy, "lifecycle", "run")) == ["04_feature_engineering"]


def test_a_store_password_from_the_environment_stays_out_of_notebooks_and_run_records(toy, monkeypatch):
    """store.url: ${STORE_URL}: the notebooks papermill runs, the stored ones (--store), the run record and
    report keep the reference; the password it expands to is in none of them (nor in the lock)."""
    monkeypatch.setenv("STORE_URL", "postgresql://app:topsecret@db.internal/shop")
    settings = toy / "params" / "project.yaml"
    settings.write_text(settings.read_text().replace("url: sqlite:///data/predictions.db", "url: ${STORE_URL}"))
    earlier = set((toy / "reports" / "runs").iterdir())
    ran = run_in(toy, "lifecycle", "run", "--only", "00")
    assert ran.returncode == 0 and "(parameter store changed)" in ran.stdout, ran.stdout + ran.stderr
    stored = run_in(toy, "lifecycle", "run", "--store", "--only", "00")
    assert stored.returncode == 0, stored.stdout + stored.stderr
    written = {
        p: p.read_text(errors="replace")
        for folder in ("reports", "notebooks")
        for p in (toy / folder).rglob("*")
        if p.is_file()
    }
    holding = {str(p.relative_to(toy)) for p, text in written.items() if "${STORE_URL}" in text}
    runs = {str(p.relative_to(toy)) for p in set((toy / "reports" / "runs").iterdir()) - earlier}
    assert len(runs) == 2 and "notebooks/00_problem_definition.ipynb" in holding  # --store: its parameters cell
    for run in runs:  # papermill's injected parameters, the record of them, the run report
        assert {f"{run}/00_problem_definition.ipynb", f"{run}/parameters.json", f"{run}/report.html"} <= holding
    assert [str(p) for p, text in written.items() if "topsecret" in text] == []
    assert "topsecret" not in ran.stdout + ran.stderr + stored.stdout + stored.stderr
