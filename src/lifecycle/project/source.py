"""The user's table for ``lifecycle init``: read from a file or a database URL, with the ``source`` section
of params/ that reads it again; a file from outside the project is copied under data/ (``copy_in``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from lifecycle.core import database_url, files, paths, table_formats
from lifecycle.data import tables
from lifecycle.project.inference import InitError


def read_table(data: str, query: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The user's table and the ``source`` section that reads it."""
    if "://" in data or database_url.REFERENCE.fullmatch(data):  # a URL, or ${VAR} holding one
        return _read_sql(data, query)
    path = Path(data)
    path = path if path.is_absolute() else Path.cwd() / path
    found = table_formats.format_of(path)
    if found is None:
        raise InitError(
            f"{data}: unsupported file type '{path.suffix or '(none)'}'; use a {table_formats.titles()} "
            "file, or a database URL with --query (export a spreadsheet as CSV first)"
        )
    if not path.is_file():
        raise InitError(f"{data}: no such file")
    try:
        relative = path.resolve().relative_to(paths.ROOT.resolve())
    except ValueError:  # outside the project: copied under data/ when params are written (see `copy_in`)
        relative = Path("data") / path.name
    try:
        table = found.read(path)
    except Exception as exc:  # noqa: BLE001  (pandas and pyarrow raise many types for a bad file)
        raise InitError(f"{data}: cannot read it as {found.name.upper()} ({tables.reason(exc)})") from None
    if table.empty:
        raise InitError(f"{data}: the table has no rows")
    return table, {"kind": found.name, "path": relative.as_posix(), "url": None, "query": None, "from": path}


def _read_sql(url: str, query: str | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table at a database URL, which params/ will keep as written (``${VAR}`` and all, never a password)."""
    import sqlalchemy as sa

    if not query:
        raise InitError(f"{database_url.shown(url)} is a database URL: name the table or give a query with --query")
    if database_url.literal_password(url):
        raise InitError(
            "--data: the URL holds a password, which params/ (kept in git) would keep: give it as "
            "${VAR} in single quotes, e.g. 'postgresql://app:${DB_PASSWORD}@db/shop' with DB_PASSWORD "
            "exported, or leave it out and export PGPASSWORD"
        )
    try:
        engine = sa.create_engine(database_url.parse(url))
        with engine.connect() as connection:
            table = pd.read_sql(tables.statement(query), connection)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError, ValueError) as exc:
        raise InitError(f"cannot read {query!r} from {database_url.shown(url)}: {tables.reason(exc)}") from None
    return table, {"kind": "sql", "path": None, "url": url, "query": query, "from": None}


def copy_in(source: dict[str, Any], key: str = "path") -> tuple[Path, Path] | None:
    """Copy a table from outside the project to where ``source[key]`` says (under data/), so the project stays
    self-contained; a different file already there is never replaced. Returns (from, to) when it copied."""
    import filecmp
    import shutil

    origin, dest = source.pop("from"), paths.ROOT / source[key]
    if origin.resolve() == dest.resolve():
        return None
    if dest.exists() and not filecmp.cmp(origin, dest, shallow=False):
        raise InitError(
            f"{paths.relative(dest)} already exists and differs from {origin}; rename one of them, "
            "or copy the table under data/ yourself"
        )
    if dest.exists():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(dest, lambda tmp: shutil.copyfile(origin, tmp))
    return origin, dest
