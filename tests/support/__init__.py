"""Helpers that test modules in several folders share: the service's toy project (``serving``), the
monitoring and modeling tables (``monitoring``, ``modeling``), the store's faults (``store_faults``) and
models that break the scoring process (``dying_model``).

Importable as ``support.<module>`` from any test folder: tests/ is on ``sys.path`` (the folder of the one
``conftest.py``, under pytest's default ``prepend`` import mode), and ``pythonpath`` in pyproject says so.
Test files never import each other; what two of them share lives here or in ``conftest.py``.
"""
