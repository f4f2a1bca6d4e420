"""Reading a table some rows at a time: a file of a registered format (``core.table_formats``) or a
database query, ``sql:<URL>::<query or table>``; and the database engines that read and write them.

The batch job and monitoring's label feed both read this way. The URL of ``sql:<URL>::<query>``
ends at the first ``::`` outside ``[...]``, so casts like ``x::int`` in the query are fine; a bare
name (optionally ``schema.table``) is a whole table. A problem is a ``TableError`` saying what is
wrong; each caller raises it as its own error (``BatchError``, ``MonitorError``), message unchanged.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from lifecycle.core import database_url
from lifecycle.core.table_formats import TableFormat

CHUNK_ROWS = 50_000
SQL = "sql:"
TABLE_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]{0,62}")
SQL_INPUT = re.compile(r"((?:\[[^\]]*\]|[^\[])*?)::(.*)", re.DOTALL)  # the URL ends at the first '::' outside [...]


class TableError(ValueError):
    """The table cannot be read (or its database reached); the message says what is wrong and how to fix it."""


def read_file_chunks(text: str, found: TableFormat, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of the file ``text`` (of format ``found``) in chunks: an unreadable file fails at once, a
    chunk that cannot be read when reached."""
    try:
        chunks = found.read_chunks(Path(text), chunk_rows)
    except Exception as exc:  # noqa: BLE001  (pandas and pyarrow raise many types for a bad file)
        raise TableError(f"cannot read '{text}' as {found.title} ({reason(exc)}); check the file") from None
    return _guarded(chunks, f"'{text}'")


def read_sql_chunks(text: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of ``sql:<URL>::<query or table>`` in chunks: a bad input or URL fails at once, a chunk
    that cannot be read when reached."""
    url, query = split_sql(text)
    return _guarded(_sql_chunks(engine(url, reading=True), query, chunk_rows), describe(text))


def read_sql(text: str) -> pd.DataFrame:
    """The whole table of ``sql:<URL>::<query or table>`` (no rows: an empty table)."""
    chunks = list(read_sql_chunks(text))
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


def split_sql(text: str) -> tuple[str, str]:
    """``sql:<URL>::<query or table>`` as (URL, query or table)."""
    found = SQL_INPUT.fullmatch(text[len(SQL) :]) if text.startswith(SQL) else None
    if not found or not found.group(2).strip():
        raise TableError(
            f"--input '{text[:60]}' must be sql:<SQLAlchemy URL>::<query or table name>, "
            "e.g. sql:sqlite:///data/shop.db::new_users"
        )
    return found.group(1), found.group(2).strip()


def describe(text: str) -> str:
    """The input in a few words, without a password."""
    if not text.startswith(SQL):
        return f"'{text}'"
    url, query = split_sql(text)
    return f"'{query}' at {database_url.shown(url)}"


def statement(query: str) -> sa.Executable:
    """``SELECT *`` from a table name (optionally ``schema.table``), or the query itself."""
    if TABLE_NAME.fullmatch(query.strip()):
        schema, _, name = query.strip().rpartition(".")
        return sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))
    return sa.text(query)


def engine(url: str, reading: bool = False, lock_wait_s: float | None = None) -> sa.Engine:
    """An engine for ``url``; a SQLite one waits up to ``lock_wait_s`` for another writer (default 5 s).
    ``reading``: a SQLite file must exist (reading would make an empty one)."""
    try:
        parsed = database_url.parse(url)  # ${VAR} read from the environment; postgresql:// is psycopg 3
    except database_url.UnsetVariable as exc:
        raise TableError(f"{database_url.shown(url)}: {exc}") from None
    except (sa.exc.ArgumentError, ValueError):
        raise TableError(
            f"'{database_url.shown(url)}' is not a SQLAlchemy URL, e.g. sqlite:///data/predictions.db"
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if reading and not Path(parsed.database).is_file():
            raise TableError(f"the SQLite file '{parsed.database}' does not exist")
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TableError(f"cannot create the folder of '{parsed.database}': {exc.strerror}") from None
    waits = {"timeout": lock_wait_s} if lock_wait_s is not None and parsed.get_backend_name() == "sqlite" else {}
    try:
        return sa.create_engine(parsed, connect_args=waits)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise TableError(f"cannot use {database_url.shown(url)}: {reason(exc)}; install its database driver") from None


def reason(exc: BaseException) -> str:
    """The first line of what went wrong (a database's own message, not SQLAlchemy's wrapping)."""
    if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sql_chunks(engine: sa.Engine, query: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        with engine.connect() as connection:
            yield from pd.read_sql(
                statement(query), connection.execution_options(stream_results=True), chunksize=chunk_rows
            )
    finally:
        engine.dispose()


def _guarded(chunks: Iterator[pd.DataFrame], where: str) -> Iterator[pd.DataFrame]:
    """``chunks``, with a read error turned into a ``TableError`` naming the chunk."""
    for number in itertools.count(1):
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001  (readers raise many types; the message names the chunk)
            raise TableError(f"cannot read chunk {number} of {where} ({reason(exc)}); check the input") from None
        yield chunk
