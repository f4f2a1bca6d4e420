"""The stored notebooks: their parameters cell, and what to strip before they go to git."""

from __future__ import annotations

import pprint
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.core import files, paths
from lifecycle.core.params import PROJECT_FILE
from lifecycle.core.settings import ProjectParams

if TYPE_CHECKING:
    import nbformat

VOLATILE_CELL_METADATA = ("papermill", "execution", "collapsed", "scrolled")
PAPERMILL_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


def notebook_path(phase: str) -> Path:
    return paths.NOTEBOOKS / f"{phase}.ipynb"


def phases() -> list[str]:
    """The phases, in order: every ``notebooks/NN_<name>.ipynb``."""
    return sorted(p.stem for p in paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def read(path: Path) -> nbformat.NotebookNode:
    import nbformat  # ~1 s to import (its JSON-schema validator): only when a notebook is read

    return nbformat.read(path, as_version=4)


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    import nbformat

    return files.write_atomic(path, lambda tmp: nbformat.write(nb, tmp))


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The cell tagged ``parameters`` (papermill injects after it, nbval runs it as is)."""
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"expected one cell tagged 'parameters', found {len(tagged)}")
    return tagged[0]


def cell_values(source: str) -> dict[str, Any]:
    """The names a parameters cell defines, by running it in an empty namespace."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "<parameters>", "exec"), {}, namespace)  # our own cell: literals only
    return namespace


def render_parameters(phase: str, values: dict[str, Any]) -> str:
    """The parameters cell for ``values``: project keys, then the phase's own, file by file."""
    groups = {
        f"params/{PROJECT_FILE}": [k for k in values if k in ProjectParams.model_fields],
        f"params/{phase}.yaml": [k for k in values if k not in ProjectParams.model_fields],
    }
    lines = ["# Parameters: defaults mirror params/ (a test checks); papermill injects overrides below."]
    for name, keys in groups.items():
        lines.append(f"# {name}")
        for key in keys:
            text = pprint.pformat(values[key], width=88 - len(key) - 3, sort_dicts=False)
            lines.append(f"{key} = " + text.replace("\n", "\n" + " " * (len(key) + 3)))
    return "\n".join(lines)


def set_parameters(nb: nbformat.NotebookNode, phase: str, values: dict[str, Any]) -> None:
    parameters_cell(nb).source = render_parameters(phase, values)


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip what changes from run to run: papermill's cells, timings and metadata."""
    nb.cells = [c for c in nb.cells if not PAPERMILL_TAGS & set(c.get("metadata", {}).get("tags", []))]
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("lifecycle", None)  # what the run read and wrote (runner.py): kept in reports/runs/ only
    nb.metadata["language_info"] = {"name": "python"}
    return nb
