"""The prediction store: the service's durable log (spool, drainer, tables) on SQLite or PostgreSQL."""

from lifecycle import public_modules

# The modules other packages and the notebooks use; the rest are this package's own.
__all__ = [
    "prediction_log",
    "spool",
]
__getattr__, __dir__ = public_modules(__name__, __all__)
