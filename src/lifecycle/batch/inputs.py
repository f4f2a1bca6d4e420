"""Where a batch comes from: a file of any registered format (``core.table_formats``: CSV, Parquet, ...)
or ``sql:<URL>::<query or table>``, read in chunks (``data.tables``); its default batch id; and the
database engines both ends of a batch use; the model it is scored with. Every problem is a ``BatchError``."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from lifecycle import registry
from lifecycle.core import database_url, files, table_formats
from lifecycle.core.table_formats import TableFormat
from lifecycle.data import tables
from lifecycle.data.tables import CHUNK_ROWS, SQL, TableError
from lifecycle.modeling import scoring


class BatchError(ValueError):
    """The batch cannot run; the message says what is wrong and how to fix it."""


def read_chunks(input: str | Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of a file of a registered format, or of ``sql:<URL>::<query or table>``, in chunks.

    A missing or unreadable file or a bad URL fails at once; a chunk that cannot be read
    fails when reached. Both are a ``BatchError`` naming the input.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise BatchError(f"the chunk size (--chunk-rows) must be a positive number of rows, not {chunk_rows!r}")
    text = str(input)
    try:
        if text.startswith(SQL):
            return _as_batch_errors(tables.read_sql_chunks(text, chunk_rows))
        _, found = _input_file(text)
        return _as_batch_errors(tables.read_file_chunks(text, found, chunk_rows))
    except TableError as exc:
        raise BatchError(str(exc)) from None


def default_batch_id(input: str | Path) -> str:
    """``<file name>-<first 12 hex digits of its SHA-256>``: the same bytes, the same batch."""
    text = str(input)
    if text.startswith(SQL):
        raise BatchError(
            "SQL input needs --batch-id: a query's rows change over time, so its text does not "
            "identify a batch (e.g. --batch-id 2025-06-01)"
        )
    path, _ = _input_file(text)
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', table_formats.stem(path))}-{files.sha256(path)[:12]}"


def describe(input: str | Path) -> str:
    """The input in a few words, without a password."""
    try:
        return tables.describe(str(input))
    except TableError as exc:
        raise BatchError(str(exc)) from None


def engine(url: str, reading: bool = False, lock_wait_s: float | None = None) -> sa.Engine:
    """``data.tables.engine``, its errors a ``BatchError``."""
    try:
        return tables.engine(url, reading, lock_wait_s)
    except TableError as exc:
        raise BatchError(str(exc)) from None


def _as_batch_errors(chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    try:
        yield from chunks
    except TableError as exc:
        raise BatchError(str(exc)) from None


def _input_file(text: str) -> tuple[Path, TableFormat]:
    path, found = Path(text), table_formats.format_of(text)
    if found is None:
        raise BatchError(
            f"--input '{text}': cannot tell its format; give a {table_formats.endings()} file, "
            "or sql:<SQLAlchemy URL>::<query or table name>"
        )
    if not path.is_file():
        raise BatchError(f"--input '{text}' does not exist (relative paths are under {Path.cwd()})")
    return path, found


def _shown(url: str) -> str:
    """A URL without its password."""
    return database_url.shown(url)


def scorer(args: Any, defaults: dict):
    """The model ``lifecycle predict`` scores with: ``--model NAME[@ALIAS]`` (default: serving.model) and its
    ``--version``, else the alias, else the champion, else the latest; ``--stage`` (deprecated) as its alias."""
    reference = args.model or defaults.get("model")
    if not reference:
        raise BatchError("give --model: params/project.yaml sets no serving.model")
    name, alias = registry.parse_reference(reference)
    if args.stage is not None:
        if args.stage not in registry.FROM_STAGE or alias:
            raise BatchError(
                f"--stage {args.stage}: stages are aliases now; give --model {name}@ALIAS (champion, challenger "
                "or your own)"
            )
        alias = registry.FROM_STAGE[args.stage]
        print(
            f"lifecycle predict: --stage is deprecated, stages are aliases now; scoring with {name}@{alias} "
            f"(use --model {name}@{alias})",
            file=sys.stderr,
        )
    if alias and args.version is not None:
        raise BatchError(f"give --version or --model {name}@{alias}, not both")
    return scoring.load(name, version=args.version, alias=alias)
