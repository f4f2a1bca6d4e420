"""A project's own life: `lifecycle init` on a user's table, `lifecycle clean`."""

from lifecycle import public_modules

# The modules other packages and the notebooks use; the rest are this package's own.
__all__ = [
    "clean",
    "init",
]
__getattr__, __dir__ = public_modules(__name__, __all__)
