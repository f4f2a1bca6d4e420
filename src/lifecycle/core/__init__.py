"""The ground every other package stands on: where things live, the parameters and their settings,
the record of what a phase read and wrote, metrics, table formats, the compute engine, plot files."""

from lifecycle import public_modules

# The modules other packages and the notebooks use; the rest are this package's own.
__all__ = [
    "compute",
    "database_url",
    "extras",
    "files",
    "metrics",
    "params",
    "paths",
    "plots",
    "settings",
    "table_formats",
]
__getattr__, __dir__ = public_modules(__name__, __all__)
