"""The stored notebooks: parameters mirror params/, outputs are clean and the same from anywhere."""

import json
import re
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT, run_in

from lifecycle.core.params import resolve
from lifecycle.run import notebooks

pytestmark = pytest.mark.own_params  # the stored notebooks are checked against the project's own params/
PHASES = notebooks.phases()
VOLATILE = [
    (re.compile(r"0x[0-9a-f]{6,}"), "a memory address"),
    (re.compile(r"\b20\d\d-\d\d-\d\d[ T]\d\d:\d\d"), "a timestamp"),
    (re.compile(r"/(?:tmp|home|root|work|Users)/"), "an absolute path"),
]


BINARY = ("image/png", "image/jpeg")  # base64: any six hex-like characters occur in it by chance


def _outputs(nb) -> list[str]:
    """Each code cell's outputs as JSON, images left out (their text/plain stays)."""
    return [
        json.dumps(
            [{**o, "data": {k: v for k, v in o.get("data", {}).items() if k not in BINARY}} for o in c.outputs],
            sort_keys=True,
        )
        for c in nb.cells
        if c.cell_type == "code"
    ]


def _text_outputs(nb) -> list[list]:
    """What nbval compares: stream text and text/* data, per code cell."""
    return [
        [o.get("text") or {k: v for k, v in o.get("data", {}).items() if k.startswith("text/")} for o in c.outputs]
        for c in nb.cells
        if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])
    ]


@pytest.mark.parametrize("phase", PHASES)
def test_parameters_cell_mirrors_params_files(phase):
    nb = notebooks.read(notebooks.notebook_path(phase))
    assert notebooks.cell_values(notebooks.parameters_cell(nb).source) == resolve([phase])[phase], (
        "run `make notebooks` to rewrite the parameters cell from params/"
    )


@pytest.mark.parametrize("phase", PHASES)
def test_stored_notebook_is_clean(phase):
    nb = notebooks.read(notebooks.notebook_path(phase))
    assert "papermill" not in nb.metadata
    for cell in nb.cells:
        assert not {"papermill", "execution"} & set(cell.metadata)
        assert "injected-parameters" not in cell.metadata.get("tags", [])
        if cell.cell_type == "code":
            assert cell.execution_count is not None, "stored notebooks are executed: run `make notebooks`"
            for output in cell.outputs:
                assert output.output_type != "error" and output.get("name") != "stderr", cell.source
    for text in _outputs(nb):
        for pattern, what in VOLATILE:
            assert not pattern.search(text), f"{phase}: output holds {what}: {pattern.search(text)[0]}"


def test_same_outputs_from_any_folder_and_from_a_copy(project, tmp_path):
    """Plain papermill from the root, from notebooks/, and in a copied project: same outputs."""
    phase = "00_problem_definition"
    stored = _text_outputs(notebooks.read(notebooks.notebook_path(phase)))
    runs = {
        "root": (ROOT, ROOT, ["--cwd", str(tmp_path)]),
        "notebooks folder": (ROOT, ROOT / "notebooks", []),
        "copy": (project, project / "notebooks", []),
    }
    for name, (base, cwd, extra) in runs.items():
        out = tmp_path / f"{name}.ipynb"
        args = [
            "papermill",
            str(base / "notebooks" / f"{phase}.ipynb"),
            str(out),
            "-f",
            str(base / "params" / "project.yaml"),
            "-f",
            str(base / "params" / f"{phase}.yaml"),
            "--no-progress-bar",
            *extra,
        ]
        result = run_in(base, *args, cwd=cwd)
        assert result.returncode == 0, result.stderr
        assert _text_outputs(nbformat.read(out, as_version=4)) == stored, name
    assert (project / "reports" / "problem_card.json").is_file()


def test_plain_papermill_cli_is_on_the_path():
    assert subprocess.run([sys.executable, "-m", "papermill", "--version"], capture_output=True).returncode == 0
