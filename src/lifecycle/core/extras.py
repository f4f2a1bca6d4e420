"""The optional parts of the install (pyproject's extras): a command that needs one that is missing stops
with one line naming the extra and how to install it, never a bare ``ModuleNotFoundError``.

The default install (requirements.lock) is what serving, batch scoring and monitoring import. Running the
notebooks needs the ``notebooks`` extra (requirements-notebooks.lock); ``make`` installs it with the rest.
"""

from __future__ import annotations

import importlib.util

# What each command outside the default install imports, by the extra that brings it
NOTEBOOKS = "notebooks"
NEEDS = {
    "run": (NOTEBOOKS, ("papermill", "ipykernel", "nbformat", "nbconvert", "matplotlib", "httpx")),
    "status": (NOTEBOOKS, ("nbformat",)),
    "status --graph": (NOTEBOOKS, ("nbformat", "matplotlib")),
    "report": (NOTEBOOKS, ("nbformat", "nbconvert")),
}


class MissingExtra(RuntimeError):
    """A command needs an extra this install lacks; the message says which and how to install it."""


def missing(modules) -> list[str]:
    """The names among ``modules`` this environment cannot import."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def require(command: str) -> None:
    """Raise ``MissingExtra`` when ``lifecycle <command>`` (a key of ``NEEDS``) cannot import what it needs."""
    extra, modules = NEEDS[command]
    absent = missing(modules)
    if absent:
        raise MissingExtra(
            f"`lifecycle {command}` needs the {extra} extra, which this install lacks (no {', '.join(absent)}): "
            f"install it with `pip install -r requirements-{extra}.lock` in the project (or "
            f"`pip install -e '.[{extra}]'`; `make` installs everything). The default install serves, "
            "scores batches and monitors only."
        )
