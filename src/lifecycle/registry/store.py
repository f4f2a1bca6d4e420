"""How the model registry lies on disk, and the small lock that keeps it consistent.

::

    models/.lock                    held for a few milliseconds while a version is claimed
    models/<name>/<version>/        model.skops + metadata.json, never changed once there
    models/<name>/aliases.json      {"aliases": {"champion": 3, "challenger": 4}, "history": [...]}
    models/<name>/.new-*/           a version being written (renamed into place whole)

``paths.MODELS`` is read at call time, so tests can point the registry elsewhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lifecycle.core import files, paths

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
LOCK_WAIT = 10.0  # seconds to wait for another process to finish claiming a version
LOCK_STALE = 30.0  # a lock this old was left by a process that died holding it


class RegistryError(ValueError):
    """The registry cannot do what was asked; the message says what exists or how to fix it."""


def shown(path: Path) -> str:
    """``path`` as ``models/...`` for messages, wherever the registry lives."""
    try:
        return "models/" + Path(path).relative_to(paths.MODELS).as_posix()
    except ValueError:
        return str(path)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise RegistryError(
            f"model name {name!r} cannot be a folder name: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (e.g. 'churn')"
        )
    return name


def names() -> list[str]:
    """The models with at least one version, sorted."""
    if not paths.MODELS.is_dir():
        return []
    return sorted(p.name for p in paths.MODELS.iterdir() if NAME.fullmatch(p.name) and numbers(p.name))


def numbers(name: str) -> list[int]:
    """The version numbers of ``name`` in the registry, ascending."""
    folder = paths.MODELS / name
    if not folder.is_dir():
        return []
    return sorted(
        int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and p.name == str(int(p.name))
    )


def existing(name: str) -> list[int]:
    """The versions of a model that must exist; a ``RegistryError`` listing the models otherwise."""
    check_name(name)
    found = numbers(name)
    if not found:
        known = names()
        listed = f"models are {', '.join(known)}" if known else "the registry is empty: register a model first"
        raise RegistryError(f"no model named '{name}' in the registry; {listed}")
    return found


def version_number(name: str, version) -> int:
    """``version`` (an int, a digit string or a ``Version``) as an existing version number."""
    found = existing(name)
    number = getattr(version, "version", version)
    try:
        number = int(number) if not isinstance(number, bool) else None
    except (TypeError, ValueError):
        number = None
    if number not in found:
        raise RegistryError(f"model '{name}' has no version {version!r}; versions are {', '.join(map(str, found))}")
    return number


# --- claiming versions -----------------------------------------------------------------


@contextmanager
def locked() -> Iterator[None]:
    """Hold ``models/.lock`` (created exclusively) while reading and changing shared state."""
    lock = paths.MODELS / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            try:
                if time.time() - lock.stat().st_mtime > LOCK_STALE:
                    lock.unlink(missing_ok=True)
                    continue
            except FileNotFoundError:
                continue
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"{shown(lock)} is held by another process registering or promoting a model; "
                    "wait for it, or delete the file if no such process is running"
                ) from None
            time.sleep(0.02)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def claim(name: str, built: Path, write_metadata, remembered) -> int:
    """Rename the finished folder ``built`` to the next free version; return its number.

    ``write_metadata(number, created)`` writes metadata.json into ``built`` first. The
    rename fails when another process took that number: then the next one is tried.
    Numbers are never reused, even those of deleted versions that ``remembered(name)`` (the
    aliases and their history) still names.
    """
    with locked():
        created = 1 + max((created_order(n, v) for n in names() for v in numbers(n)), default=0)
        number = max([0, *numbers(name), *remembered(name)]) + 1
        while True:
            write_metadata(number, created)
            try:
                os.rename(built, paths.MODELS / name / str(number))
                return number
            except OSError:
                if not (paths.MODELS / name / str(number)).exists():
                    raise
                number += 1


def created_order(name: str, number: int) -> int:
    try:
        value = files.read_json(paths.MODELS / name / str(number) / "metadata.json").get("created", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return value if type(value) is int else 0


# --- what made the model -------------------------------------------------------------


def code_version() -> dict | None:
    """The git commit of the project and whether the work tree differs from it; None without git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(paths.ROOT), *args], capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def environment() -> dict:
    """The versions a loaded model depends on."""
    import platform

    import numpy
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
    }
