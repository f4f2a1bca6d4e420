"""lifecycle status: up to date, stale with the reason, or never run; runs nothing."""

import re

from conftest import run_in


def test_status_gives_the_reason_and_runs_nothing(toy):
    lock = (toy / "reports" / "lifecycle.lock").read_bytes()
    runs = sorted((toy / "reports" / "runs").iterdir())
    helper = toy / "src" / "lifecycle" / "toy_select.py"
    helper.write_text(helper.read_text() + "# edited\n")
    (toy / "data" / "toy" / "d.json").unlink()
    (toy / "data" / "source.json").write_text('{"rows": []}\n')
    (toy / "notebooks" / "08_model_tuning.ipynb").unlink()

    result = run_in(toy, "lifecycle", "status", "--set", "calibration_bins=5", "--graph", "graph.png")
    assert result.returncode == 0, result.stderr
    lines = dict(re.findall(r"^(\d\d_\w+) +(.+)$", result.stdout, re.MULTILINE))
    assert lines["00_problem_definition"] == "up to date"
    assert lines["01_data_collection"] == "stale: input data/source.json changed"
    assert lines["02_data_preparation"] == "up to date; re-runs if 01_data_collection changes its outputs"
    assert lines["03_exploratory_analysis"] == "stale: output data/toy/d.json missing"
    assert lines["05_model_selection"] == "stale: helper src/lifecycle/toy_select.py changed"
    assert lines["07_model_evaluation"] == "stale: parameter calibration_bins changed"
    assert "08_model_tuning" not in lines  # its notebook is gone: no longer a phase
    assert (toy / "graph.png").read_bytes()[:4] == b"\x89PNG"
    assert (toy / "reports" / "lifecycle.lock").read_bytes() == lock
    assert sorted((toy / "reports" / "runs").iterdir()) == runs


def test_status_of_a_new_project_is_never_run(project):
    result = run_in(project, "lifecycle", "status", "--graph")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^00_problem_definition +never run$", result.stdout, re.MULTILINE)
    assert (project / "reports" / "lifecycle-graph.svg").is_file()
