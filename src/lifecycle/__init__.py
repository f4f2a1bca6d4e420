"""lifecycle: a notebook-first template for the whole machine-learning lifecycle."""

from __future__ import annotations

import importlib

__version__ = "0.1.0"


def public_modules(package: str, names: list[str]):
    """A package's ``__getattr__`` and ``__dir__`` for the modules it makes public (its ``__all__``): each
    loads on first use, as scikit-learn's subpackages do, so ``from lifecycle import monitoring`` then
    ``monitoring.alerts`` works and imports nothing else. The package's other modules are its own;
    tests/test_layout.py holds every other package and every notebook to the public ones."""

    def __getattr__(name: str):
        if name in names:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
