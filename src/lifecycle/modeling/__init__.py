"""Choosing, training, evaluating, tuning and testing models; scoring with a registered one."""

from lifecycle import public_modules

# The modules other packages and the notebooks use; the rest are this package's own.
__all__ = [
    "acceptance",
    "evaluate",
    "intervals",
    "plots",
    "retrain",
    "scoring",
    "select",
    "train",
    "tune",
]
__getattr__, __dir__ = public_modules(__name__, __all__)
