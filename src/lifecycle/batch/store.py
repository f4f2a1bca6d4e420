"""A batch into a database table: scored rows staged aside, then one short replace of the batch id.

``replace_batch`` writes each scored chunk into a temporary table of its own connection (SQLite
keeps it in a separate temporary database, PostgreSQL in the session's temporary schema), so
scoring a large input holds no lock on the store. When every chunk is staged, one short
transaction deletes the batch id's earlier rows and inserts the staged ones. Until then the
table shows the previous run of the batch id, whole; a failure, Ctrl-C or a killed process
drops the staged rows with the connection and leaves the table as it was (a table the batch
made, when it had none, stays: empty).

A SQLite store is one writer at a time per file, so the final replace still makes other
writers of the same file wait while it runs; that is why ``store.batch_url`` defaults to a
file of its own, beside the service's log (``settings.Store``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import sqlalchemy as sa

from lifecycle.batch import inputs
from lifecycle.batch.inputs import BatchError, _shown
from lifecycle.data.tables import reason

STAGING = "lifecycle_batch_staging"  # plus a random suffix: temporary, seen by this connection only
LOCK_WAIT_S = 60  # a SQLite store: how long the final replace waits for another writer to finish


def replace_batch(url: str, table: str, batch_id: str, frames: Iterator[pd.DataFrame]) -> int:
    """Stage ``frames`` aside, then replace the batch id's rows of ``table`` at ``url`` with them in
    one short transaction; the number of earlier rows replaced.

    ``table`` (optionally ``schema.table``) is created from the first frame when missing; an
    existing one must have a ``batch_id`` column and every column of the frames.
    """
    schema, _, name = table.rpartition(".")
    engine = inputs.engine(url, lock_wait_s=LOCK_WAIT_S)
    try:
        with engine.connect() as connection:
            target = staging = None
            for frame in frames:
                if staging is None:
                    target = _target(connection, name, schema or None, table, frame)
                    staging = _staging(connection, target)
                _check_columns(frame, target, table)
                frame.to_sql(staging.name, connection, if_exists="append", index=False)
                connection.commit()  # the temporary table only: no lock on the store, no long-open snapshot
            if staging is None:
                raise BatchError("the input has no rows")
            return _replace(connection, target, staging, batch_id)
    except sa.exc.SQLAlchemyError as exc:
        raise BatchError(f"cannot write to table '{table}' at {_shown(url)}: {reason(exc)}") from None
    finally:
        engine.dispose()


def _target(connection: sa.Connection, name: str, schema: str | None, shown: str, frame: pd.DataFrame) -> sa.Table:
    """The batch table, made (empty, with its batch_id index) from ``frame`` in a short transaction of
    its own when it does not exist."""
    inspector = sa.inspect(connection)
    if not inspector.has_table(name, schema=schema):  # column types as pandas' to_sql gives them
        connection.execute(sa.text(pd.io.sql.get_schema(frame, name, con=connection, schema=schema)))
        made = sa.Table(name, sa.MetaData(schema=schema), autoload_with=connection)
        sa.Index(f"ix_{name}_batch_id", made.c.batch_id).create(connection)
        connection.commit()
    target = sa.Table(name, sa.MetaData(schema=schema), autoload_with=connection)
    connection.commit()
    if "batch_id" not in target.c:
        raise BatchError(
            f"table '{shown}' has no batch_id column, so it does not hold batch predictions; choose another --table"
        )
    return target


def _staging(connection: sa.Connection, target: sa.Table) -> sa.Table:
    """An empty temporary table with the target's columns."""
    staging = sa.Table(
        f"{STAGING}_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        *(sa.Column(column.name, column.type) for column in target.c),
        prefixes=["TEMPORARY"],
    )
    staging.create(connection)
    connection.commit()
    return staging


def _check_columns(frame: pd.DataFrame, target: sa.Table, shown: str) -> None:
    unknown = [str(c) for c in frame.columns if c not in target.c]
    if unknown:
        raise BatchError(
            f"table '{shown}' has no column(s) {', '.join(unknown)}: it holds batches of another "
            "model or input; write to another --table"
        )


def _replace(connection: sa.Connection, target: sa.Table, staging: sa.Table, batch_id: str) -> int:
    """Delete the batch id's rows and insert the staged ones, in one transaction; the rows deleted."""
    columns = [column.name for column in staging.c]
    with connection.begin():
        replaced = connection.execute(sa.delete(target).where(target.c.batch_id == batch_id)).rowcount
        connection.execute(target.insert().from_select(columns, sa.select(*staging.c)))
    staging.drop(connection)
    connection.commit()
    return max(replaced, 0)
