"""The online prediction service: the app and its routes, its guard and request contract,
micro-batching, the scoring process, metrics, deployment."""

from lifecycle import public_modules

# The modules other packages and the notebooks use; the rest are this package's own.
__all__ = [
    "deploy",
    "serve",
]
__getattr__, __dir__ = public_modules(__name__, __all__)
