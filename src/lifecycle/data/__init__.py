"""From a source to features: reading tables and sources, collecting, preparing, exploring, events,
features, splits and the problem's definition."""

from lifecycle import public_modules

# The modules other packages and the notebooks use; the rest are this package's own.
__all__ = [
    "collect",
    "events",
    "explore",
    "features",
    "prepare",
    "problem",
    "sources",
    "splits",
    "tables",
]
__getattr__, __dir__ = public_modules(__name__, __all__)
