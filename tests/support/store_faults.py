"""Faults of the prediction store, made the way each database meets them, for the fault tests.

``write_lock(url)``: another connection holds the lock every writer needs (SQLite's one write lock;
on PostgreSQL an ACCESS EXCLUSIVE lock on the table, as a migration or VACUUM FULL takes).
``store_down(url)``: the store cannot be reached (SQLite: a folder where its file should be; PostgreSQL:
the database refuses connections and its open ones are dropped, from the server's superuser
connection; the server itself keeps running for the other tests). Both last until the block ends.
``make_store(url)`` makes the store and its table, as a service that ran before would have.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from lifecycle.store import prediction_log


def dialect(url: str) -> str:
    return prediction_log.resolve_url(url).get_backend_name()


def make_store(url: str, table: str = "predictions") -> None:
    """The store (and a SQLite file's folder) with an empty ``table``."""
    path = prediction_log.sqlite_file(prediction_log.resolve_url(url))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    store = prediction_log.engine(url)
    try:
        prediction_log.predictions_table(table).create(store, checkfirst=True)
    finally:
        store.dispose()


@contextmanager
def write_lock(url: str, table: str = "predictions") -> Iterator[Callable[[], int]]:
    """Another connection holding the store's write lock until the block ends; gives ``rows()``, the
    rows in ``table`` as a reader sees them meanwhile (SQLite: any reader, which WAL never blocks;
    PostgreSQL: the holder itself, since ACCESS EXCLUSIVE blocks readers too)."""
    resolved = prediction_log.resolve_url(url)
    if resolved.get_backend_name() == "sqlite":
        holder = sqlite3.connect(prediction_log.sqlite_file(resolved), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield lambda: len(prediction_log.read(url, table))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    store = sa.create_engine(resolved)
    try:
        with store.connect() as holder:
            holder.execute(sa.text(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE'))
            try:
                yield lambda: holder.execute(sa.text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
            finally:
                holder.rollback()
    finally:
        store.dispose()


@contextmanager
def store_down(url: str) -> Iterator[None]:
    """The store unreachable until the block ends. A SQLite store must not exist yet (a folder takes its
    file's place, so it cannot be opened or made); a PostgreSQL database refuses new connections and
    its open ones are terminated, as when its server restarts or the network drops."""
    resolved = prediction_log.resolve_url(url)
    path = prediction_log.sqlite_file(resolved)
    if path is not None:
        assert not path.exists(), f"{path} exists: a SQLite store is taken down before it is made"
        path.mkdir(parents=True)
        try:
            yield
        finally:
            path.rmdir()
        return
    name = resolved.database
    server = sa.create_engine(
        resolved.set(username="postgres", password=None, database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with server.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
        try:
            yield
        finally:
            with server.connect() as connection:
                connection.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    finally:
        server.dispose()
