"""The run report: written at the end of every run, its content checked against the run's own notebooks."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import nbformat
from conftest import break_notebook, run_in

from lifecycle.core import files, paths
from lifecycle.run import notebooks, report


def _headline_texts(nb) -> tuple[list[str], int]:
    """The plain texts and the number of images among a notebook's headline outputs."""
    texts, images = [], 0
    for cell in nb.cells:
        if report.HEADLINE not in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                images += 1
            elif output.get("output_type") == "stream":
                texts.append(output["text"])
            elif "text/plain" in data and "text/html" not in data and "text/markdown" not in data:
                texts.append(data["text/plain"])
    return texts, images


def _check_against_notebooks(folder: Path, page: str) -> None:
    for notebook in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        texts, images = _headline_texts(nbformat.read(notebook, as_version=4))
        section = page.split(f'<section class="phase" id="{notebook.stem}">')[1].split("</section>")[0]
        for text in texts:
            assert html.escape(text.strip(), quote=False) in section.replace("&#39;", "'").replace("&#34;", '"'), text
        assert section.count('<img src="data:image/png;base64,') == images, notebook.stem
        assert f'href="{notebook.stem}.html"' in section and (folder / f"{notebook.stem}.html").is_file()


def test_every_phase_notebook_marks_its_headline_outputs():
    for phase in notebooks.phases():
        nb = notebooks.read(notebooks.notebook_path(phase))
        tagged = [c for c in nb.cells if report.HEADLINE in c.get("metadata", {}).get("tags", [])]
        assert tagged and all(c.outputs for c in tagged), f"{phase}: tag its key output cells 'headline'"


def test_the_report_of_the_stored_notebooks_holds_their_headlines_and_plots(tmp_path):
    for path in paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"):
        shutil.copy2(path, tmp_path / path.name)
    phases = sorted(p.stem for p in tmp_path.glob("*.ipynb"))
    files.write_json(
        tmp_path / "run.json",
        {
            "run_id": "stored",
            "status": "ok",
            "store": False,
            "phases": {p: {"status": "ok", "seconds": 1.5} for p in phases},
        },
    )
    files.write_json(tmp_path / "parameters.json", {p: {"seed": 42, "own": i} for i, p in enumerate(phases)})
    page = report.write(tmp_path).read_text()
    assert 'id="run-status">ok<' in page and "Stopped at" not in page
    assert re.search(r'<td class="status-ok">ok</td>\s*<td>1.5</td>', page)
    assert '"seed": 42' in page and '"own": 3' in page  # shared and per-phase parameters
    _check_against_notebooks(tmp_path, page)


def test_a_run_writes_its_report_and_a_failed_run_says_where_it_stopped(project):
    done = run_in(project, "lifecycle", "run", "--to", "01")
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = (project / "reports" / "runs").iterdir()
    assert f"report: reports/runs/{folder.name}/report.html" in done.stdout
    page = (folder / "report.html").read_text()
    assert f"Run {folder.name}" in page and 'id="run-status">ok<' in page
    version = json.loads((folder / "report.json").read_text())["data_version"]
    assert version and f'id="data-version">{version}<' in page
    _check_against_notebooks(folder, page)

    break_notebook(project)
    failed = run_in(project, "lifecycle", "run", "--only", "00")
    assert failed.returncode == 1
    stopped = next(p for p in (project / "reports" / "runs").iterdir() if p != folder)
    page = (stopped / "report.html").read_text()
    assert 'id="run-status">failed<' in page
    assert re.search(
        r"Stopped at 00_problem_definition</strong>, cell In\[4\]:\s*<code>ValueError</code>\s*"
        r"the data is not what we expected",
        page,
    )
    assert (stopped / "00_problem_definition.html").is_file()

    again = run_in(project, "lifecycle", "report", folder.name)
    assert again.returncode == 0 and again.stdout.strip() == f"reports/runs/{folder.name}/report.html"
    missing = run_in(project, "lifecycle", "report", "no-such-run")
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stderr and "Traceback" not in missing.stderr


def test_an_interrupted_run_without_a_cell_still_gets_a_report(tmp_path):
    shutil.copy2(paths.NOTEBOOKS / "00_problem_definition.ipynb", tmp_path / "00_problem_definition.ipynb")
    files.write_json(
        tmp_path / "run.json",
        {"run_id": "x", "status": "interrupted", "phases": {}, "failed": {"phase": "00_problem_definition"}},
    )
    page = report.write(tmp_path).read_text()
    assert "Stopped at 00_problem_definition</strong>" in page and "(interrupted)" in page
