"""Reading and writing the files phases hand to each other. Every write is atomic.

Phases read and write only through these functions, so there is one place that knows
how an artifact is stored and which phase read or wrote what: every read and write is
noted here, in the kernel's own process, and the runner collects the notes when the
notebook ends (``recorded``). Those notes are the phase's dependencies in
``reports/lifecycle.lock``; nobody declares them by hand.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lifecycle.core import paths

# What this process read and wrote, as absolute paths (see ``recorded``).
_READ: set[str] = set()
_WRITTEN: set[str] = set()
# Not dependencies: the registry's aliases (and the stages file of a registry from before them).
# They move on purpose (09, 10, 13, `lifecycle models alias`); tracked, 13's promotion would change
# what 09 wrote and every run would re-run 09-13. Phases depend on the immutable version folders
# instead; after moving an alias, `--force` the phases that should see it (as for the prediction store).
UNTRACKED = ("models/*/aliases.json", "models/*/stages.json", "models/*/stages.json.migrated")


def record_read(path: Path) -> None:
    """Note that ``path`` was read (for I/O that does not go through this module)."""
    _READ.add(os.path.realpath(path))


def record_write(path: Path) -> None:
    """Note that ``path`` was written; a folder stands for every file in it."""
    path = Path(path)
    found = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    _WRITTEN.update(os.path.realpath(p) for p in found)


def recorded() -> str:
    """What this process read and wrote, as JSON ``{"read": [...], "written": [...]}``.

    Paths are relative to the project root (absolute outside it). Files in hidden
    folders (a version built aside before it is renamed into place) are left out: what
    counts is where they end up, which their writer records.
    """

    def shown(found: set[str]) -> list[str]:
        kept = []
        for name in found:
            try:
                relative = Path(name).relative_to(paths.ROOT)
            except ValueError:
                kept.append(name)
                continue
            hidden = any(part.startswith(".") for part in relative.parts[:-1])
            if not hidden and not any(fnmatch.fnmatch(relative.as_posix(), p) for p in UNTRACKED):
                kept.append(relative.as_posix())
        return sorted(kept)

    return json.dumps({"read": shown(_READ), "written": shown(_WRITTEN)})


def forget() -> None:
    _READ.clear()
    _WRITTEN.clear()


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex (read a megabyte at a time: any size fits in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    _WRITTEN.add(os.path.realpath(path))
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
    record_read(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{what} at {path.name} is not valid JSON ({exc.msg}, line {exc.lineno}); "
            f"re-run {made_by or 'the phase that writes it'}"
        ) from None


def write_parquet(path: Path, table) -> Path:
    """Write a DataFrame as Parquet (no index; the same table gives the same bytes)."""
    return write_atomic(path, lambda tmp: table.to_parquet(tmp, index=False))


def write_skops(path: Path, obj) -> Path:
    """Save ``obj`` with skops (never pickle) so that the same object gives the same bytes.

    skops names arrays and memo entries after ``id()`` (a memory address) and stamps each
    zip member with the clock; both are renumbered and fixed here, so a re-run that fits
    the same model writes the same file and its readers need not run again.
    """
    import skops.io as sio

    data = canonical_skops(sio.dumps(obj))
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def canonical_skops(data: bytes) -> bytes:
    """The skops archive ``data`` with ids and member names numbered in schema order, no times."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
        compression = source.infolist()[0].compress_type if members else zipfile.ZIP_STORED
    schema = json.loads(members.pop("schema.json"))
    ids: dict[int, int] = {}
    names: dict[str, str] = {}

    def renumber(node):
        if isinstance(node, list):
            return [renumber(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: renumber(value) for key, value in node.items()}
        if isinstance(node.get("__id__"), int):
            node["__id__"] = ids.setdefault(node["__id__"], len(ids))
        if isinstance(node.get("file"), str) and node["file"] in members:
            suffix = Path(node["file"]).suffix
            node["file"] = names.setdefault(node["file"], f"{len(names)}{suffix}")
        return node

    schema = renumber(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as target:
        stamp = (1980, 1, 1, 0, 0, 0)
        target.writestr(zipfile.ZipInfo("schema.json", stamp), json.dumps(schema, indent=2))
        for old, new in sorted(names.items(), key=lambda item: item[1]):
            target.writestr(zipfile.ZipInfo(new, stamp), members[old])
        for name in sorted(set(members) - set(names)):  # not named in the schema: kept as it is
            target.writestr(zipfile.ZipInfo(name, stamp), members[name])
    return out.getvalue()


def read_parquet(path: Path, what: str = "table", made_by: str | None = None):
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        hint = f"; run {made_by} first" if made_by else ""
        raise FileNotFoundError(f"{what} not found at {path.name}{hint}")
    record_read(path)
    return pd.read_parquet(path)
