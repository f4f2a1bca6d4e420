"""Reading and writing the files phases hand to each other. Every write is atomic.

Phases read and write only through these functions, so there is one place that knows
how an artifact is stored (and, later, which phase read or wrote what).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then move it into place.

    A crash half-way leaves the previous version of ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented, key-sorted JSON (stable bytes, readable diffs); numpy values as numbers."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=_numpy_value)
    return write_text(path, text + "\n")


def _numpy_value(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} cannot be written as JSON")


def read_json(path: Path, what: str = "file", made_by: str | None = None) -> Any:
    """Read JSON written by an earlier phase; say which phase to run when it is missing."""
    path = Path(path)
    if not path.is_file():
        hint = f"; run {made_by} first" if made_by else ""
        raise FileNotFoundError(f"{what} not found at {path.name}{hint}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} at {path.name} is not valid JSON ({exc.msg}, line {exc.lineno}); re-run {made_by or 'the phase that writes it'}") from None


def write_parquet(path: Path, table) -> Path:
    """Write a DataFrame as Parquet (no index; the same table gives the same bytes)."""
    return write_atomic(path, lambda tmp: table.to_parquet(tmp, index=False))


def read_parquet(path: Path, what: str = "table", made_by: str | None = None):
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        hint = f"; run {made_by} first" if made_by else ""
        raise FileNotFoundError(f"{what} not found at {path.name}{hint}")
    return pd.read_parquet(path)
