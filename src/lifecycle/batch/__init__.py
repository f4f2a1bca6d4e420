"""Batch scoring: a registered model over a CSV, Parquet or SQL input, written as one batch.

``lifecycle predict --input new.parquet`` writes to ``store.batch_url`` / ``store.batch_table``;
``--output out.parquet`` or ``--output <SQLAlchemy URL> --table T`` elsewhere. SQL input is
``sql:<URL>::<query or table>``; the URL ends at the first ``::`` outside ``[...]``, so casts
like ``x::int`` in the query are fine. Rows are read and scored in chunks (``--chunk-rows``),
so memory stays flat. Each output row: the id (when the input has the id column),
``prediction``, ``probability_<class>`` (classification), ``model_name``, ``model_version``,
``batch_id`` and ``scored_at`` (UTC, one value per batch).

A batch is all or nothing. In a database, the scored rows are staged in a temporary table while
the input is scored, then the batch id's earlier rows are deleted and the staged ones inserted
in one short transaction (``batch_store``): a failure or a killed process leaves the table as it
was, the store is not locked while scoring, and re-running a batch id replaces its rows. A
Parquet file holds one batch, written aside and renamed into place. A file's default batch id
is its name and the start of its SHA-256 (``new-3f2a9c1b0d4e``): the same bytes replace their
batch, changed bytes make a new one. A query's rows change over time, so SQL input needs
``--batch-id``.
"""

from lifecycle.batch.command import main
from lifecycle.batch.core import ADDED, BatchResult, predict_batch, store_defaults
from lifecycle.batch.inputs import BatchError, default_batch_id, describe, read_chunks

__all__ = [
    "ADDED",
    "BatchError",
    "BatchResult",
    "default_batch_id",
    "describe",
    "main",
    "predict_batch",
    "read_chunks",
    "store_defaults",
]
