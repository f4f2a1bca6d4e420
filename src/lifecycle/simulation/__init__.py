"""The built-in simulator: a subscription product's customers, their behaviour and its tables."""

from lifecycle import public_modules

# The modules other packages and the notebooks use; the rest are this package's own.
__all__ = [
    "simulate",
]
__getattr__, __dir__ = public_modules(__name__, __all__)
