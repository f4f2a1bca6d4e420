"""Where things live: every path is built from the project root, never from the cwd.

The root is the folder holding ``pyproject.toml`` above this package (src layout), so
a notebook writes to the same place whether JupyterLab, papermill (any ``--cwd``),
nbval or a test started it. A copy of the project imports its own ``src/`` (the runner
puts it first on ``PYTHONPATH``) and so writes into the copy.
"""

from __future__ import annotations

from pathlib import Path


def find_root(start: Path | None = None) -> Path:
    """Return the project root: the nearest folder above ``start`` with a pyproject.toml."""
    here = (start or Path(__file__)).resolve()
    for folder in [here, *here.parents]:
        if (folder / "pyproject.toml").is_file() and (folder / "params").is_dir():
            return folder
    raise RuntimeError(
        f"cannot find the project root above {here}: expected a folder holding "
        "pyproject.toml and params/. Install the project with `pip install -e .` "
        "from its root rather than as a plain package."
    )


ROOT = find_root()
SRC = ROOT / "src"
NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params"
DATA = ROOT / "data"
RAW = DATA / "raw"
INTERIM = DATA / "interim"
PROCESSED = DATA / "processed"
MODELS = ROOT / "models"
REPORTS = ROOT / "reports"
FIGURES = REPORTS / "figures"
RUNS = REPORTS / "runs"


def relative(path: Path) -> str:
    """Show ``path`` relative to the root, so outputs never hold machine-specific paths."""
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)
