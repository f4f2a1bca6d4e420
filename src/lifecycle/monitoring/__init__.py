"""After launch: monitoring (drift, alerts, performance estimates), simulated traffic and A/B experiments."""

from lifecycle import public_modules

# The modules other packages and the notebooks use; the rest are this package's own.
__all__ = [
    "alerts",
    "command",
    "experiment",
    "monitor",
    "performance_estimate",
    "plots",
    "store",
    "traffic",
]
__getattr__, __dir__ = public_modules(__name__, __all__)
