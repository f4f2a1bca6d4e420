"""Running the lifecycle: the runner and its scheduler, kernels, the lock file, notebooks, status, report."""

from lifecycle import public_modules

# The modules other packages and the notebooks use; the rest are this package's own.
__all__ = [
    "lockfile",
    "report",
    "runner",
    "status",
]
__getattr__, __dir__ = public_modules(__name__, __all__)
