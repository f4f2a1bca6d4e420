"""One batch, scored and written all or nothing: the core the local engine (``predict_batch``) and
the Dask engine (``dask_engine``) share: ``scored`` chunks, the ``output_target`` an output names, the
``BatchResult`` and the store's defaults. The package's docstring says what a batch is."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from lifecycle.batch import store as batch_store
from lifecycle.batch.inputs import BatchError, _shown
from lifecycle.core import files, paths, table_formats
from lifecycle.core.params import PROJECT_FILE, ParamsError, read_yaml
from lifecycle.core.settings import Store
from lifecycle.data.tables import TABLE_NAME, reason
from lifecycle.modeling import scoring
from lifecycle.store import prediction_log

ADDED = ("prediction", "model_name", "model_version", "batch_id", "scored_at")


class BatchResult(NamedTuple):
    rows: int
    chunks: int
    batch_id: str
    model: str
    version: int
    output: str  # where the batch went, in words
    replaced: int  # rows of an earlier run of the same batch id that this run replaced
    scored_at: datetime
    seconds: float


def store_defaults() -> dict:
    """From params/project.yaml: ``url`` (store.batch_url; a relative SQLite path is under the project
    root), ``table`` (store.batch_table), ``id_column`` and ``model`` (serving.model)."""
    data = read_yaml(paths.PARAMS / PROJECT_FILE)
    try:
        store = Store.model_validate(data.get("store") or {})
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ParamsError(
            f"params/{PROJECT_FILE}: store.{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
        ) from None
    try:
        url = prediction_log.absolute_url(store.batch_url)
    except ValueError as exc:
        raise ParamsError(f"params/{PROJECT_FILE}: {exc}") from None
    return {
        "url": url,
        "table": store.batch_table,
        "id_column": data.get("id_column"),
        "model": (data.get("serving") or {}).get("model"),
    }


def predict_batch(
    scorer: scoring.Scorer,
    chunks: Iterable[pd.DataFrame],
    output: str | Path | None = None,
    table: str | None = None,
    batch_id: str | None = None,
    id_column: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Score ``chunks`` with ``scorer`` (from ``scoring.load``) and write them as one batch, all or nothing.

    Parameters
    ----------
    output : a SQLAlchemy URL, a ``.parquet`` path, or None for ``store.batch_url``.
    table : the table of a database output; default ``store.batch_table``.
    batch_id : required, e.g. ``default_batch_id(path)``; its earlier rows are replaced.
    id_column : copied to the output; every chunk must have it. None: no id column.
    progress : called as ``progress(chunks, rows)`` after each chunk is scored and written.
    """
    require_batch_id(batch_id)
    if id_column in ADDED or str(id_column).startswith("probability_"):
        raise BatchError(f"id column '{id_column}' clashes with a column the batch adds; rename it in the input")
    kind, target, table = output_target(output, table)
    started, scored_at = time.perf_counter(), datetime.now(UTC)
    count = {"rows": 0, "chunks": 0}

    def frames() -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            if len(chunk):
                first, count["rows"], count["chunks"] = (
                    count["rows"] + 1,
                    count["rows"] + len(chunk),
                    count["chunks"] + 1,
                )
                where = f"chunk {count['chunks']} (rows {first:,}-{count['rows']:,})"
                yield scored(scorer, chunk, where, id_column, batch_id, scored_at)
                if progress:  # the consumer asked for the next frame: this one is written
                    progress(count["chunks"], count["rows"])
        if not count["rows"]:
            raise BatchError("the input has no rows")

    try:
        replaced, where = _write(kind, target, table, output, batch_id, frames())
    except BatchError as exc:
        raise BatchError(f"{exc}; nothing of batch '{batch_id}' was written") from None
    return BatchResult(
        count["rows"],
        count["chunks"],
        batch_id,
        scorer.name,
        scorer.version,
        where,
        replaced,
        scored_at,
        time.perf_counter() - started,
    )


def require_batch_id(batch_id) -> None:
    """Refuse a batch without an id (``BatchError``): the id is what a later run of the batch replaces."""
    if not isinstance(batch_id, str) or not batch_id.strip():
        raise BatchError("give a batch id, e.g. default_batch_id(input) or '2025-06-01'")


def _write(
    kind: str, target, table: str | None, output, batch_id: str, frames: Iterator[pd.DataFrame]
) -> tuple[int, str]:
    """``frames`` written to the output as one batch, all or nothing: the rows of an earlier run of
    ``batch_id`` it replaced, and where it went, in words."""
    if kind == "parquet":
        try:
            files.write_atomic(target, lambda tmp: _write_parquet(tmp, frames))
        except OSError as exc:
            raise BatchError(f"cannot write '{output}': {exc.strerror or exc}") from None
        return 0, f"'{output}'"
    return batch_store.replace_batch(target, table, batch_id, frames), f"table '{table}' at {_shown(target)}"


def scored(scorer, chunk: pd.DataFrame, where: str, id_column, batch_id: str, scored_at) -> pd.DataFrame:
    try:
        frame = scoring.score(scorer, chunk).reset_index(drop=True)
    except (ValueError, TypeError, KeyError) as exc:
        raise BatchError(f"{where} cannot be scored: {reason(exc)}") from None
    if id_column is not None:
        if id_column not in chunk.columns:
            raise BatchError(f"{where} has no id column '{id_column}'; give the column that identifies rows")
        frame.insert(0, id_column, chunk[id_column].reset_index(drop=True))
    return frame.assign(model_name=scorer.name, model_version=scorer.version, batch_id=batch_id, scored_at=scored_at)


def _write_parquet(path: Path, frames: Iterator[pd.DataFrame]) -> None:
    writer = None
    try:
        for number, frame in enumerate(frames, 1):
            try:  # later chunks take the first one's types (a CSV chunk may read a column otherwise)
                part = pa.Table.from_pandas(frame, schema=writer and writer.schema, preserve_index=False)
            except (pa.ArrowException, ValueError, TypeError) as exc:
                raise BatchError(
                    f"chunk {number} has other columns or types than chunk 1 ({reason(exc)}); "
                    "make the input's column types consistent"
                ) from None
            writer = writer or pq.ParquetWriter(path, part.schema)
            writer.write_table(part)
    finally:
        if writer is not None:
            writer.close()


def output_target(output, table: str | None) -> tuple[str, object, str | None]:
    """("parquet", path, None) or ("sql", url, table), with the store's defaults filled in."""
    if output is None or (table is None and "://" in str(output)):
        defaults = store_defaults()
        output, table = (defaults["url"] if output is None else output), table or defaults["table"]
    text = str(output)
    if table_formats.format_of(text) is table_formats.PARQUET:  # the one format a batch is written in
        if table is not None:
            raise BatchError(f"a table name ('{table}') applies to database output only, not to '{text}'")
        return "parquet", Path(text), None
    if "://" not in text:
        raise BatchError(
            f"--output '{text}' is neither a .parquet file nor a SQLAlchemy URL (e.g. sqlite:///data/predictions.db)"
        )
    if not TABLE_NAME.fullmatch(table or ""):
        raise BatchError(
            f"table name {table!r} is not valid: use letters, digits and '_', starting with a letter "
            "or '_' (optionally schema.table), e.g. batch_predictions"
        )
    return "sql", text, table
