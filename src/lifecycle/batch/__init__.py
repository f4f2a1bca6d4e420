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

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from lifecycle import registry
from lifecycle.batch import store as batch_store
from lifecycle.core import compute, files, paths, table_formats
from lifecycle.modeling import scoring
from lifecycle.store import prediction_log
from lifecycle.batch.inputs import CHUNK_ROWS, BatchError, _shown, default_batch_id, describe, read_chunks
from lifecycle.core.compute import ComputeError
from lifecycle.core.params import PROJECT_FILE, ParamsError, read_yaml
from lifecycle.core.settings import Store
from lifecycle.data.tables import TABLE_NAME, reason

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
        raise ParamsError(f"params/{PROJECT_FILE}: store.{'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None
    try:
        url = prediction_log.absolute_url(store.batch_url)
    except ValueError as exc:
        raise ParamsError(f"params/{PROJECT_FILE}: {exc}") from None
    return {"url": url, "table": store.batch_table,
            "id_column": data.get("id_column"), "model": (data.get("serving") or {}).get("model")}


def predict_batch(scorer: scoring.Scorer, chunks: Iterable[pd.DataFrame], output: str | Path | None = None,
                  table: str | None = None, batch_id: str | None = None, id_column: str | None = None,
                  progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """Score ``chunks`` with ``scorer`` (from ``scoring.load``) and write them as one batch, all or nothing.

    Parameters
    ----------
    output : a SQLAlchemy URL, a ``.parquet`` path, or None for ``store.batch_url``.
    table : the table of a database output; default ``store.batch_table``.
    batch_id : required, e.g. ``default_batch_id(path)``; its earlier rows are replaced.
    id_column : copied to the output; every chunk must have it. None: no id column.
    progress : called as ``progress(chunks, rows)`` after each chunk is scored and written.
    """
    if not isinstance(batch_id, str) or not batch_id.strip():
        raise BatchError("give a batch id, e.g. default_batch_id(input) or '2025-06-01'")
    if id_column in ADDED or str(id_column).startswith("probability_"):
        raise BatchError(f"id column '{id_column}' clashes with a column the batch adds; rename it in the input")
    kind, target, table = _target(output, table)
    started, scored_at = time.perf_counter(), datetime.now(timezone.utc)
    count = {"rows": 0, "chunks": 0}

    def frames() -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            if len(chunk):
                first, count["rows"], count["chunks"] = count["rows"] + 1, count["rows"] + len(chunk), count["chunks"] + 1
                where = f"chunk {count['chunks']} (rows {first:,}-{count['rows']:,})"
                yield _scored(scorer, chunk, where, id_column, batch_id, scored_at)
                if progress:  # the consumer asked for the next frame: this one is written
                    progress(count["chunks"], count["rows"])
        if not count["rows"]:
            raise BatchError("the input has no rows")

    try:
        if kind == "parquet":
            try:
                files.write_atomic(target, lambda tmp: _write_parquet(tmp, frames()))
            except OSError as exc:
                raise BatchError(f"cannot write '{output}': {exc.strerror or exc}") from None
            replaced, where = 0, f"'{output}'"
        else:
            replaced = batch_store.replace_batch(target, table, batch_id, frames())
            where = f"table '{table}' at {_shown(target)}"
    except BatchError as exc:
        raise BatchError(f"{exc}; nothing of batch '{batch_id}' was written") from None
    return BatchResult(count["rows"], count["chunks"], batch_id, scorer.name, scorer.version, where, replaced,
                       scored_at, time.perf_counter() - started)


def _scored(scorer, chunk: pd.DataFrame, where: str, id_column, batch_id: str, scored_at) -> pd.DataFrame:
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
                raise BatchError(f"chunk {number} has other columns or types than chunk 1 ({reason(exc)}); "
                                 "make the input's column types consistent") from None
            writer = writer or pq.ParquetWriter(path, part.schema)
            writer.write_table(part)
    finally:
        if writer is not None:
            writer.close()


def _target(output, table: str | None) -> tuple[str, object, str | None]:
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
        raise BatchError(f"--output '{text}' is neither a .parquet file nor a SQLAlchemy URL "
                         "(e.g. sqlite:///data/predictions.db)")
    if not TABLE_NAME.fullmatch(table or ""):
        raise BatchError(f"table name {table!r} is not valid: use letters, digits and '_', starting with a letter "
                         "or '_' (optionally schema.table), e.g. batch_predictions")
    return "sql", text, table










def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifecycle predict", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--input", required=True, metavar="PATH_OR_QUERY",
        help=f"a {table_formats.endings()} file, or sql:<URL>::<query or table>")
    add("--output", metavar="URL_OR_PATH", help="a SQLAlchemy URL or a .parquet file (default: store.batch_url)")
    add("--table", help="the table of a database output (default: store.batch_table)")
    add("--batch-id", help="default: the file's name and content hash; required for SQL input")
    add("--model", help="a registered model (default: serving.model)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="V", help="default: the production version, else the latest")
    which.add_argument("--stage", metavar="S", help="candidate, production or archived")
    add("--chunk-rows", type=int, default=CHUNK_ROWS, metavar="N", help=f"default: {CHUNK_ROWS:,}")
    add("--id-column", metavar="COL", help="default: id_column, when the input has it")
    add("--engine", choices=("local", "dask"), help="local: chunks in this process; dask: partitions on the "
        "cluster of compute in params/project.yaml (Parquet folder or file, or CSV input) (default: compute.engine)")
    return parser


def _run(args: argparse.Namespace) -> BatchResult:
    defaults = store_defaults() if None in (args.output, args.model, args.id_column) else {}
    _target(args.output, args.table)  # a bad output or table name fails before anything is read
    settings = compute.from_params()
    if (args.engine or settings.engine) == "dask":
        from lifecycle.batch.dask_engine import run

        return run(args, defaults, settings.model_copy(update={"engine": "dask"}))
    chunks = read_chunks(args.input, args.chunk_rows)
    batch_id = args.batch_id or default_batch_id(args.input)
    model = args.model or defaults.get("model")
    if not model:
        raise BatchError("give --model: params/project.yaml sets no serving.model")
    scorer = scoring.load(model, version=args.version, stage=args.stage)
    first = next(chunks, None)
    id_column = args.id_column or defaults.get("id_column")
    if first is not None and id_column not in first.columns:
        if args.id_column:
            raise BatchError(f"--id-column '{args.id_column}' is not a column of {describe(args.input)} "
                             f"(columns: {', '.join(map(str, first.columns[:20]))})")
        id_column = None
    clock = {"shown": 0.0, "start": time.perf_counter()}

    def progress(number: int, rows: int) -> None:  # the first chunk, then every 10 s
        now = time.perf_counter()
        if number == 1 or now - clock["shown"] >= 10:
            clock["shown"] = now
            print(f"chunk {number:,}: {rows:,} rows scored ({now - clock['start']:.1f} s)", flush=True)

    chunks = itertools.chain([] if first is None else [first], chunks)
    return predict_batch(scorer, chunks, args.output, args.table, batch_id, id_column, progress)


def main(argv: list[str] | None = None) -> int:
    """``lifecycle predict``: score an input in chunks and write it as one batch; 2 on bad input."""
    args = _parser().parse_args(argv)
    try:
        result = _run(args)
    except (BatchError, registry.RegistryError, ParamsError, ComputeError) as exc:
        print(f"lifecycle predict: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lifecycle predict: interrupted; the batch was not written", file=sys.stderr)
        return 130
    replaced = f", replacing {result.replaced:,} rows of an earlier run" if result.replaced else ""
    print(f"Scored {result.rows:,} rows in {result.chunks:,} chunk(s) with {result.model} version {result.version}: "
          f"batch '{result.batch_id}' written to {result.output}{replaced} in {result.seconds:.1f} s "
          f"({result.rows / max(result.seconds, 1e-9):,.0f} rows/s).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
