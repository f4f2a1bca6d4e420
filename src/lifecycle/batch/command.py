"""``lifecycle predict`` (``python -m lifecycle.batch``): the batch job's command line, on the local
engine or, with ``--engine dask``, on the cluster of ``compute`` in params/project.yaml."""

from __future__ import annotations

import argparse
import itertools
import sys
import time

from lifecycle import registry
from lifecycle.batch import inputs
from lifecycle.batch.core import BatchResult, output_target, predict_batch, store_defaults
from lifecycle.batch.inputs import CHUNK_ROWS, BatchError, default_batch_id, describe, read_chunks
from lifecycle.core import compute, table_formats
from lifecycle.core.compute import ComputeError
from lifecycle.core.params import ParamsError

_DESCRIPTION = "Batch scoring: a registered model over a CSV, Parquet or SQL input, written as one batch."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifecycle predict", description=_DESCRIPTION)
    add = parser.add_argument
    add(
        "--input",
        required=True,
        metavar="PATH_OR_QUERY",
        help=f"a {table_formats.endings()} file, or sql:<URL>::<query or table>",
    )
    add("--output", metavar="URL_OR_PATH", help="a SQLAlchemy URL or a .parquet file (default: store.batch_url)")
    add("--table", help="the table of a database output (default: store.batch_table)")
    add("--batch-id", help="default: the file's name and content hash; required for SQL input")
    add(
        "--model",
        metavar="NAME[@ALIAS]",
        help="a registered model, or one of its aliases (churn@challenger) (default: serving.model, its champion)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="V", help="a version number instead of an alias")
    which.add_argument("--stage", metavar="S", help=argparse.SUPPRESS)  # deprecated: --model NAME@ALIAS
    add("--chunk-rows", type=int, default=CHUNK_ROWS, metavar="N", help=f"default: {CHUNK_ROWS:,}")
    add("--id-column", metavar="COL", help="default: id_column, when the input has it")
    add(
        "--engine",
        choices=("local", "dask"),
        help="local: chunks in this process; dask: partitions on the "
        "cluster of compute in params/project.yaml (Parquet folder or file, or CSV input) (default: compute.engine)",
    )
    return parser


def _run(args: argparse.Namespace) -> BatchResult:
    defaults = store_defaults() if None in (args.output, args.model, args.id_column) else {}
    output_target(args.output, args.table)  # a bad output or table name fails before anything is read
    settings = compute.from_params()
    if (args.engine or settings.engine) == "dask":
        from lifecycle.batch.dask_engine import run  # lazy: Dask is an optional extra, heavy to import

        return run(args, defaults, settings.model_copy(update={"engine": "dask"}))
    chunks = read_chunks(args.input, args.chunk_rows)
    batch_id = args.batch_id or default_batch_id(args.input)
    scorer = inputs.scorer(args, defaults)
    first = next(chunks, None)
    id_column = args.id_column or defaults.get("id_column")
    if first is not None and id_column not in first.columns:
        if args.id_column:
            raise BatchError(
                f"--id-column '{args.id_column}' is not a column of {describe(args.input)} "
                f"(columns: {', '.join(map(str, first.columns[:20]))})"
            )
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
    print(
        f"Scored {result.rows:,} rows in {result.chunks:,} chunk(s) with {result.model} version {result.version}: "
        f"batch '{result.batch_id}' written to {result.output}{replaced} in {result.seconds:.1f} s "
        f"({result.rows / max(result.seconds, 1e-9):,.0f} rows/s)."
    )
    return 0
