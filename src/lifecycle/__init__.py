"""lifecycle: a notebook-first template for the whole machine-learning lifecycle."""

__version__ = "0.1.0"
