"""The run report: one self-contained HTML page per run, ``reports/runs/<run-id>/report.html``.

Written at the end of ``lifecycle run`` and on demand (``lifecycle report [RUN_ID]``). It
shows how the run ended (for a failed run: the phase, the cell and the error), the data
version, the parameters, and per phase its status, time and *headline* outputs — the
outputs of the cells tagged ``headline`` in the notebook (tables, verdicts, plots; images
embedded, so the page stands alone) — with a link to the executed notebook rendered as
HTML beside it by nbconvert. The page comes from a Jinja template (``templates/``).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from lifecycle.core import files, paths
from lifecycle.run import lockfile

HEADLINE = "headline"  # the cell tag that puts a cell's outputs in the report
TEMPLATES = Path(__file__).parent / "templates"


def latest_run() -> Path:
    """The newest run folder (run ids start with the date and time)."""
    runs = sorted(p for p in paths.RUNS.glob("*") if (p / "run.json").is_file()) if paths.RUNS.is_dir() else []
    if not runs:
        raise FileNotFoundError("no run yet: `lifecycle run` makes one under reports/runs/")
    return runs[-1]


def run_folder(run_id: str | None) -> Path:
    """The folder of ``run_id`` (default: the newest run); a clear error when there is none."""
    if run_id is None:
        return latest_run()
    folder = paths.RUNS / run_id
    if not (folder / "run.json").is_file():
        known = (
            sorted(p.name for p in paths.RUNS.glob("*") if (p / "run.json").is_file()) if paths.RUNS.is_dir() else []
        )
        hint = f"; runs: {', '.join(known[-5:])}" if known else "; no run yet"
        raise FileNotFoundError(f"no run '{run_id}' under {paths.relative(paths.RUNS)}{hint}")
    return folder


def write(folder: Path) -> Path:
    """Render each executed notebook to HTML and write ``report.html`` in the run folder; its path."""
    import jinja2
    import nbformat

    run = files.read_json(folder / "run.json", "the run record")
    parameters = (
        files.read_json(folder / "parameters.json", "the run's parameters")
        if (folder / "parameters.json").is_file()
        else {}
    )
    phases = []
    for phase in _phases(folder, run):
        entry = {"name": phase, **run.get("phases", {}).get(phase, {"status": "not run"}), "blocks": [], "html": None}
        entry["css"] = entry["status"].replace(" ", "-")
        notebook, where = _notebook(folder, phase)
        if notebook is not None:
            nb = nbformat.read(notebook, as_version=4)
            entry["blocks"] = headline_blocks(nb)
            page = notebook.with_suffix(".html")
            if where or not page.is_file():
                _render(nb, page)
            entry["html"] = f"../{where}/{page.name}" if where else page.name
            entry["from_run"] = where
        phases.append(entry)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    page = environment.get_template("report.html.j2").render(
        run=run,
        phases=phases,
        data_version=_data_version(run, folder),
        shared=(shared := _shared(parameters)),
        own={p: {k: v for k, v in sorted(values.items()) if k not in shared} for p, values in parameters.items()},
    )
    return files.write_text(folder / "report.html", page)


def _notebook(folder: Path, phase: str) -> tuple[Path | None, str | None]:
    """The executed notebook of ``phase`` for this run: its own, or, for a phase that was up to date,
    the one of the run that last executed it (per the lock file) and that run's id."""
    own = folder / f"{phase}.ipynb"
    if own.is_file():
        return own, None

    try:
        run_id = lockfile.read().get(phase, {}).get("run")
    except (OSError, ValueError):
        run_id = None
    earlier = paths.RUNS / run_id / f"{phase}.ipynb" if run_id else None
    return (earlier, run_id) if earlier is not None and earlier.is_file() else (None, None)


def headline_blocks(nb) -> list[dict[str, Any]]:
    """The outputs of the notebook's ``headline`` cells as report blocks: ``{"kind", "content"}``
    with kind ``image`` (a data URI), ``html`` (trusted: our own notebooks' tables), ``markdown``
    (rendered), ``text`` or ``error``."""
    from nbconvert.filters import markdown2html

    blocks = []
    for cell in nb.cells:
        if cell.cell_type != "code" or HEADLINE not in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                blocks.append(
                    {"kind": "error" if output.get("name") == "stderr" else "text", "content": output.get("text", "")}
                )
            elif kind == "error":
                blocks.append({"kind": "error", "content": f"{output.get('ename')}: {output.get('evalue')}"})
            elif kind in ("execute_result", "display_data"):
                data = output.get("data", {})
                if "image/png" in data:
                    png = data["image/png"]
                    png = png if isinstance(png, str) else base64.b64encode(png).decode()
                    blocks.append({"kind": "image", "content": "data:image/png;base64," + "".join(png.split())})
                elif "text/html" in data:
                    blocks.append({"kind": "html", "content": _text(data["text/html"])})
                elif "text/markdown" in data:
                    blocks.append({"kind": "html", "content": markdown2html(_text(data["text/markdown"]))})
                elif "text/plain" in data:
                    blocks.append({"kind": "text", "content": _text(data["text/plain"])})
    return blocks


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _render(nb, target: Path) -> Path:
    """The executed notebook as a standalone HTML page (nbconvert's lab template)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return files.write_text(target, body)


def _phases(folder: Path, run: dict) -> list[str]:
    """The phases of the run, in order: those it recorded, then any executed notebook it did not."""
    recorded = list(run.get("phases", {}))  # every phase of the run, also those up to date
    failed = run.get("failed", {}).get("phase")
    if failed and failed not in recorded:
        recorded.append(failed)
    found = sorted(p.stem for p in folder.glob("[0-9][0-9]_*.ipynb"))
    return recorded + [p for p in found if p not in recorded]


def _data_version(run: dict, folder: Path) -> str | None:
    """The data version the run used: recorded in ``report.json`` the first time the report is
    written (at the end of the run), so a later rebuild shows the same."""
    record = folder / "report.json"
    if record.is_file():
        return files.read_json(record).get("data_version")
    from lifecycle.data import collect  # lazy: pandas stays out of a run with nothing to do

    try:
        version = collect.read_lineage().get("data_version")
    except (FileNotFoundError, ValueError, KeyError):
        version = None
    files.write_json(record, {"data_version": version, "run_id": run.get("run_id")})
    return version


def _shared(parameters: dict) -> dict:
    """The settings every phase got (the project file's keys): from the first phase."""
    first = next(iter(parameters.values()), {})
    common = set(first)
    for values in parameters.values():
        common &= {k for k in values if values.get(k) == first.get(k)}
    return {k: first[k] for k in sorted(common)}
