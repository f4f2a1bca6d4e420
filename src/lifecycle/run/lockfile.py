"""``reports/lifecycle.lock``: what each phase last ran with and what it made.

Per phase, the SHA-256 of its notebook's source cells, of each top-level parameter it
was given, of every ``src/lifecycle`` module its kernel had imported when the notebook
ended, of every file it read (hashed before the notebook started) and of every file it
wrote. A phase is up to date when all of these still match; ``reasons`` says in words
which one does not. The file is sorted, indented JSON, so a diff shows what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lifecycle.core import files, paths
from lifecycle.run import notebooks

FORMAT = 1
CHANGED_DURING_RUN = "changed while the phase ran"  # never equal to a hash: the reader re-runs


def lock_path() -> Path:
    return paths.REPORTS / "lifecycle.lock"


# --- hashing ----------------------------------------------------------------------------

_CACHE: dict[str, list] = {}  # path -> [size, mtime, ctime, inode, sha256]
_LOADED: list[bool] = [False, False]  # loaded from disk, changed since
RACY_NS = 2_000_000_000


def cache_path() -> Path:
    return paths.REPORTS / ".lifecycle-hashes"


def file_hash(path: str) -> str | None:
    """SHA-256 of the file at ``path`` (relative to the root, or absolute); None when missing.

    Remembered by (size, mtime, ctime, inode) in ``reports/.lifecycle-hashes``, so an
    unchanged file costs a stat, not a read, even across runs; any change to those (a
    touch included) means reading it again.
    """
    if not _LOADED[0]:
        _LOADED[0] = True
        try:
            _CACHE.update(json.loads(cache_path().read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
    full = paths.ROOT / path
    try:
        stat = os.stat(full)
    except (FileNotFoundError, NotADirectoryError):
        return None
    key = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
    cached = _CACHE.get(str(full))
    if cached and cached[:4] == key:
        return cached[4]
    digest = files.sha256(full)
    if time.time_ns() - stat.st_mtime_ns > RACY_NS:  # as git does: a file this fresh may change within its tick
        _CACHE[str(full)] = [*key, digest]
        _LOADED[1] = True
    return digest


def save_cache() -> None:
    """Keep what was hashed for the next process (only the files that still exist)."""
    if _LOADED[1]:
        kept = {name: value for name, value in _CACHE.items() if os.path.exists(name)}
        files.write_json(cache_path(), kept)
        _LOADED[1] = False


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_NOTEBOOKS: dict[tuple, str] = {}


def notebook_hash(phase: str) -> str:
    """SHA-256 of the notebook's cells without their outputs: type, tags and source."""
    path = notebooks.notebook_path(phase)
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = [
            [
                c["cell_type"],
                sorted(c.get("metadata", {}).get("tags", [])),
                "".join(c["source"]) if isinstance(c["source"], list) else c["source"],
            ]
            for c in nb["cells"]
        ]
        _NOTEBOOKS[key] = text_hash(json.dumps(cells))
    return _NOTEBOOKS[key]


def params_hashes(values: dict) -> dict[str, str]:
    """One hash per top-level parameter, so a reason can name the one that changed."""
    return {key: text_hash(json.dumps(value, sort_keys=True)) for key, value in values.items()}


def helper_hashes() -> dict[str, str]:
    """Every module of the package, by path relative to the root."""
    package = paths.SRC / "lifecycle"
    return {paths.relative(p): file_hash(paths.relative(p)) for p in sorted(package.rglob("*.py"))}


def hashes(found: Iterable[str]) -> dict[str, str | None]:
    return {name: file_hash(name) for name in sorted(set(found))}


# --- the lock file ----------------------------------------------------------------------


class LockError(ValueError):
    """The lock file cannot be read; the message says how to recover."""


def read() -> dict[str, dict]:
    """The phases' entries; empty when nothing ran yet."""
    path = lock_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("phases"), dict):
        raise LockError(
            f"{paths.relative(path)} is not a lock file this version understands; delete it "
            "(every phase then counts as never run) or restore it from git"
        )
    return data["phases"]


def write(entries: dict[str, dict]) -> None:
    """Replace the lock file in one atomic write (a reader never sees half of it)."""
    files.write_json(lock_path(), {"format": FORMAT, "phases": entries})
    save_cache()


@dataclass
class Current:
    """What a phase would run with now: notebook, parameters and helpers."""

    notebook: str
    params: dict[str, str]
    helpers: dict[str, str | None] = field(default_factory=dict)


def current(phase: str, values: dict, helpers: dict[str, str | None]) -> Current:
    return Current(notebook_hash(phase), params_hashes(values), helpers)


def entry(
    current_: Current, modules: Iterable[str], inputs: dict[str, str | None], outputs: dict[str, str | None], run: str
) -> dict:
    """The record of a finished phase."""
    return {
        "state": "done",
        "run": run,
        "notebook": current_.notebook,
        "params": current_.params,
        "helpers": {m: current_.helpers.get(m) or file_hash(m) for m in sorted(modules)},
        "inputs": dict(sorted(inputs.items())),
        "outputs": dict(sorted(outputs.items())),
    }


def reasons(entry_: dict | None, current_: Current) -> list[str]:
    """Why the phase must run again, in words; empty when it is up to date."""
    if entry_ is None:
        return ["never run"]
    if entry_.get("state") != "done":
        return ["its last run did not finish" if entry_.get("state") == "running" else "its last run failed"]
    found = []
    if entry_.get("notebook") != current_.notebook:
        found.append("notebook changed")
    old, new = entry_.get("params", {}), current_.params
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if changed:
        found.append(f"parameter{'s' if len(changed) > 1 else ''} {', '.join(changed)} changed")
    for name, digest in sorted(entry_.get("helpers", {}).items()):
        now = current_.helpers.get(name) if name in current_.helpers else file_hash(name)
        if now != digest:
            found.append(f"helper {name} {'deleted' if now is None else 'changed'}")
    for kind in ("inputs", "outputs"):
        for name, digest in sorted(entry_.get(kind, {}).items()):
            now = file_hash(name)
            if now != digest:
                found.append(f"{kind[:-1]} {name} {'missing' if now is None else 'changed'}")
    return found


def accepted(entry_: dict | None, current_: Current, run: str) -> dict:
    """``--mark-clean``: the previous record brought up to the files as they are now."""
    if entry_ is None or not entry_.get("outputs") and not entry_.get("inputs"):
        raise LockError("it never ran, so what it reads and writes is unknown: run it once")
    return entry(
        current_, entry_.get("helpers", {}), hashes(entry_.get("inputs", {})), hashes(entry_.get("outputs", {})), run
    )


# --- the graph the records imply ---------------------------------------------------------


def edges(entries: dict[str, dict]) -> list[tuple[str, str, list[str]]]:
    """(writer, reader, files) for every earlier phase whose output a later phase read."""
    found = []
    order = sorted(entries)
    for i, reader in enumerate(order):
        read = set(entries[reader].get("inputs", {}))
        for writer in order[:i]:
            shared = sorted(read & set(entries[writer].get("outputs", {})))
            if shared:
                found.append((writer, reader, shared))
    return found


def conflict(a: dict | None, b: dict | None) -> bool:
    """Whether two phases may not run at the same time: one writes what the other reads or
    writes. Unknown I/O (no record) conflicts with everything."""
    if a is None or b is None:
        return True
    reads_a, writes_a = set(a.get("inputs", {})), set(a.get("outputs", {}))
    reads_b, writes_b = set(b.get("inputs", {})), set(b.get("outputs", {}))
    return bool(writes_a & (reads_b | writes_b) or writes_b & reads_a)


# --- one run at a time ------------------------------------------------------------------


class Busy(RuntimeError):
    """Another ``lifecycle run`` holds this project."""


@contextmanager
def exclusive(path: Path | None = None) -> Iterator[None]:
    """Hold ``reports/.lifecycle-run`` (or ``path``) for the whole run; a second run is refused at once.

    An OS lock (``flock``): it goes away with the process that held it, even one killed
    with SIGKILL, so a crash never leaves the project locked.
    """
    import fcntl

    path = path or paths.REPORTS / ".lifecycle-run"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise Busy(
                f"another `lifecycle run` (pid {holder}) is running in this project; wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
