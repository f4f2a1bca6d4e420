"""Where a batch comes from: a CSV or Parquet file or ``sql:<URL>::<query or table>``, read in
chunks; and the database engines both ends of a batch use."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from lifecycle import registry
from lifecycle.core import database_url

CHUNK_ROWS = 50_000
SQL = "sql:"
CSV = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".csv.zst")
PARQUET = (".parquet", ".pq")
TABLE_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]{0,62}")
SQL_INPUT = re.compile(r"((?:\[[^\]]*\]|[^\[])*?)::(.*)", re.DOTALL)  # the URL ends at the first '::' outside [...]

class BatchError(ValueError):
    """The batch cannot run; the message says what is wrong and how to fix it."""


def read_chunks(input: str | Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of a .csv or .parquet file, or of ``sql:<URL>::<query or table>``, in chunks.

    A missing or unreadable file or a bad URL fails at once; a chunk that cannot be read
    fails when reached. Both are a ``BatchError`` naming the input.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise BatchError(f"the chunk size (--chunk-rows) must be a positive number of rows, not {chunk_rows!r}")
    text = str(input)
    if text.startswith(SQL):
        url, query = _split_sql(text)
        return _guarded(_sql_chunks(_engine(url, reading=True), query, chunk_rows), describe(text))
    path = _input_file(text)
    kind = "CSV" if path.name.lower().endswith(CSV) else "Parquet"
    try:
        if kind == "CSV":
            chunks = iter(pd.read_csv(path, chunksize=chunk_rows))
        else:
            chunks = _parquet_chunks(pq.ParquetFile(path), chunk_rows)
    except Exception as exc:  # noqa: BLE001  (pandas and pyarrow raise many types for a bad file)
        raise BatchError(f"cannot read '{text}' as {kind} ({_reason(exc)}); check the file") from None
    return _guarded(chunks, f"'{text}'")


def default_batch_id(input: str | Path) -> str:
    """``<file name>-<first 12 hex digits of its SHA-256>``: the same bytes, the same batch."""
    text = str(input)
    if text.startswith(SQL):
        raise BatchError("SQL input needs --batch-id: a query's rows change over time, so its text does not "
                         "identify a batch (e.g. --batch-id 2025-06-01)")
    path = _input_file(text)
    stem = next(path.name[: -len(end)] for end in (*CSV, *PARQUET) if path.name.lower().endswith(end))
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', stem)}-{registry.sha256(path)[:12]}"


def describe(input: str | Path) -> str:
    """The input in a few words, without a password."""
    text = str(input)
    return f"'{_split_sql(text)[1]}' at {_shown(_split_sql(text)[0])}" if text.startswith(SQL) else f"'{text}'"


def _split_sql(text: str) -> tuple[str, str]:
    found = SQL_INPUT.fullmatch(text[len(SQL):])
    if not found or not found.group(2).strip():
        raise BatchError(f"--input '{text[:60]}' must be sql:<SQLAlchemy URL>::<query or table name>, "
                         "e.g. sql:sqlite:///data/shop.db::new_users")
    return found.group(1), found.group(2).strip()


def _engine(url: str, reading: bool = False, lock_wait_s: float | None = None) -> sa.Engine:
    """An engine for ``url``; a SQLite one waits up to ``lock_wait_s`` for another writer (default 5 s)."""
    try:
        parsed = database_url.parse(url)  # ${VAR} read from the environment; postgresql:// is psycopg 3
    except database_url.UnsetVariable as exc:
        raise BatchError(f"{_shown(url)}: {exc}") from None
    except (sa.exc.ArgumentError, ValueError):
        raise BatchError(f"'{_shown(url)}' is not a SQLAlchemy URL, e.g. sqlite:///data/predictions.db") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if reading and not Path(parsed.database).is_file():
            raise BatchError(f"the SQLite file '{parsed.database}' does not exist")
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BatchError(f"cannot create the folder of '{parsed.database}': {exc.strerror}") from None
    waits = {"timeout": lock_wait_s} if lock_wait_s is not None and parsed.get_backend_name() == "sqlite" else {}
    try:
        return sa.create_engine(parsed, connect_args=waits)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise BatchError(f"cannot use {_shown(url)}: {_reason(exc)}; install its database driver") from None


def _sql_chunks(engine, query: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if TABLE_NAME.fullmatch(query):  # a table name
        schema, _, name = query.rpartition(".")
        statement = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))
    else:
        statement = sa.text(query)
    try:
        with engine.connect() as connection:
            yield from pd.read_sql(statement, connection.execution_options(stream_results=True), chunksize=chunk_rows)
    finally:
        engine.dispose()


def _parquet_chunks(file: pq.ParquetFile, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Chunks of ``chunk_rows`` rows, read one row group at a time: one ``iter_batches`` over the
    whole file holds on to memory as it goes (pyarrow 26), one per row group does not."""
    pending, held = [], 0
    for group in range(file.num_row_groups):
        for part in file.iter_batches(chunk_rows, row_groups=[group]):
            pending, held = [*pending, part], held + part.num_rows
            if held >= chunk_rows:
                rows = pa.Table.from_batches(pending)
                yield rows.slice(0, chunk_rows).to_pandas()
                pending, held = rows.slice(chunk_rows).to_batches(), held - chunk_rows
    if held:
        yield pa.Table.from_batches(pending).to_pandas()


def _guarded(chunks: Iterator[pd.DataFrame], where: str) -> Iterator[pd.DataFrame]:
    """``chunks``, with a read error turned into a ``BatchError`` naming the chunk."""
    for number in itertools.count(1):
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001  (readers raise many types; the message names the chunk)
            raise BatchError(f"cannot read chunk {number} of {where} ({_reason(exc)}); check the input") from None
        yield chunk


def _input_file(text: str) -> Path:
    path = Path(text)
    if not path.name.lower().endswith((*CSV, *PARQUET)):
        raise BatchError(f"--input '{text}': cannot tell its format; give a .csv or .parquet file, "
                         "or sql:<SQLAlchemy URL>::<query or table name>")
    if not path.is_file():
        raise BatchError(f"--input '{text}' does not exist (relative paths are under {Path.cwd()})")
    return path


def _shown(url: str) -> str:
    """A URL without its password."""
    return database_url.shown(url)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
