"""Batch scoring on a Dask cluster: ``lifecycle predict --engine dask``.

The input (a Parquet file or folder of them, or CSV) is read as a Dask DataFrame and scored
with ``map_partitions``; each worker loads and verifies the registered model once
(``scoring.load``: hash and type checks) and keeps it for every partition it scores. The
driver resolves the version first, so every worker scores with the same one even if a
promotion happens meanwhile. The batch is still all or nothing:

- Parquet output: the workers write the partitions into a staging folder beside the output,
  which is renamed into place when every partition is written (an earlier output is moved
  aside first and removed after). A failure leaves the previous output as it was.
- Database output: the driver takes the scored partitions in input order, a few partitions
  ahead of what it writes, into ``batch_store.replace_batch`` (staged in a temporary table, then
  the batch id's earlier rows deleted and the staged ones inserted in one short transaction);
  memory stays bounded whatever the input's size, and the store is not locked while scoring.

A worker lost mid-job is not a lost batch: Dask recomputes its partitions elsewhere, and a
partition is written under its own number, so nothing is written twice or left out.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from lifecycle.batch import core, inputs
from lifecycle.batch import store as batch_store
from lifecycle.batch.inputs import SQL, BatchError, _shown, default_batch_id
from lifecycle.core import compute, files, paths, table_formats
from lifecycle.data.tables import reason
from lifecycle.modeling import scoring

_SCORERS: dict[tuple, scoring.Scorer] = {}  # per worker process: (registry, name, version) -> the loaded model
_LOCK = threading.Lock()
PARTITION_BYTES = "16MiB"  # of Parquet data (uncompressed), about 4x that in memory; one partition per task


def read_partitions(input: str | Path) -> Any:
    """The input as a Dask DataFrame: a Parquet folder, or a file (or glob) of a registered format."""
    text = str(input)
    if text.startswith(SQL):
        raise BatchError(
            "--engine dask reads Parquet or CSV input; export the query to Parquet, or score it with --engine local"
        )
    found = table_formats.PARQUET if Path(text).is_dir() else table_formats.format_of(text)
    if found is None:
        raise BatchError(
            f"--input '{text}': give a Parquet file or folder, or a "
            f"{table_formats.endings(leave_out=['parquet'])} file, with --engine dask"
        )
    try:
        return found.read_partitions(text, PARTITION_BYTES)
    except Exception as exc:  # noqa: BLE001  (dask and pyarrow raise many types for a bad input)
        raise BatchError(f"cannot read '{text}' ({reason(exc)}); check the input") from None


def worker_scorer(models: str, name: str, version: int) -> scoring.Scorer:
    """The model, loaded and verified once per worker process, from the driver's registry folder
    (the same path on every machine: a shared file system on a real cluster)."""
    key = (models, name, version)
    with _LOCK:
        if key not in _SCORERS:
            if str(paths.MODELS) != models:  # a worker started from another project folder
                paths.MODELS = Path(models)
            _SCORERS[key] = scoring.load(name, version=version)
        return _SCORERS[key]


def _score_partition(
    part: pd.DataFrame,
    *,
    models: str,
    name: str,
    version: int,
    id_column: str | None,
    batch_id: str,
    scored_at: datetime,
    partition_info: dict | None = None,
) -> pd.DataFrame:
    scorer = worker_scorer(models, name, version)
    number = (partition_info or {}).get("number", 0) + 1
    return core.scored(scorer, part, f"partition {number}", id_column, batch_id, scored_at)


def predict_partitions(
    scorer: scoring.Scorer,
    frame: Any,
    *,
    client: Any,
    output: str | Path | None = None,
    table: str | None = None,
    batch_id: str | None = None,
    id_column: str | None = None,
    progress: bool = False,
    chunk_rows: int = 50_000,
):
    """Score the Dask DataFrame ``frame`` on ``client``'s cluster and write it as one batch.

    Parameters as in ``batch.predict_batch``; ``scorer`` (from ``scoring.load`` in the driver)
    fixes the version the workers load; a database gets the rows ``chunk_rows`` at a time.
    Returns a ``batch.BatchResult``.
    """
    core.require_batch_id(batch_id)
    if id_column is not None and id_column not in frame.columns:
        raise BatchError(f"the input has no id column '{id_column}'; give the column that identifies rows")
    kind, target, table = core.output_target(output, table)
    started, scored_at = time.perf_counter(), datetime.now(UTC)
    meta = _scored_meta(scorer, frame, id_column, batch_id, scored_at)
    scored = frame.map_partitions(
        _score_partition,
        models=str(paths.MODELS),
        name=scorer.name,
        version=scorer.version,
        id_column=id_column,
        batch_id=batch_id,
        scored_at=scored_at,
        meta=meta,
    )
    try:
        if kind == "parquet":
            rows = _write_parquet_folder(scored, Path(target), client, progress)
            replaced, where = 0, f"'{output}'"
        else:
            rows, replaced = _write_table(scored, client, target, table, batch_id, progress, chunk_rows)
            where = f"table '{table}' at {_shown(target)}"
    except BatchError as exc:
        raise BatchError(f"{exc}; nothing of batch '{batch_id}' was written") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise BatchError(
            f"the input cannot be scored ({reason(exc)}); nothing of batch '{batch_id}' was written"
        ) from None
    return core.BatchResult(
        rows,
        frame.npartitions,
        batch_id,
        scorer.name,
        scorer.version,
        where,
        replaced,
        scored_at,
        time.perf_counter() - started,
    )


def _scored_meta(scorer: scoring.Scorer, frame: Any, id_column, batch_id: str, scored_at: datetime) -> pd.DataFrame:
    """The scored partitions' columns and types (Dask's ``meta``), from the input's first row; an input
    without rows is refused."""
    sample = frame.head(1, npartitions=1)  # reads the first partition only
    if sample.empty:  # then look further
        sample = frame.head(1, npartitions=-1)
    if sample.empty:
        raise BatchError(f"the input has no rows; nothing of batch '{batch_id}' was written")
    return core.scored(scorer, sample, "the first row", id_column, batch_id, scored_at).iloc[:0]


def _write_table(
    scored: Any, client: Any, url: str, table: str, batch_id: str, progress: bool, chunk_rows: int
) -> tuple[int, int]:
    """The scored partitions, in input order and ``chunk_rows`` at a time, into ``table`` at ``url`` as
    one batch (``batch_store.replace_batch``): the rows written and those of an earlier run it replaced."""
    rows = 0
    shown = compute.Progress("scoring on the cluster", scored.npartitions, "partitions") if progress else None

    def frames() -> Iterator[pd.DataFrame]:
        nonlocal rows
        for number, part in enumerate(_in_order(scored, client), 1):
            rows += len(part)
            for start in range(0, len(part), chunk_rows):
                yield part.iloc[start : start + chunk_rows]
            if shown is not None:
                shown.update(number)

    replaced = batch_store.replace_batch(url, table, batch_id, frames())
    return rows, replaced


def run(args: Any, defaults: dict, settings: Any):
    """``lifecycle predict --engine dask``: the arguments of ``command._parser``, on ``settings``' cluster."""
    path = Path(args.input)
    batch_id = args.batch_id or (folder_batch_id(path) if path.is_dir() else default_batch_id(args.input))
    scorer = inputs.scorer(args, defaults)
    with compute.session(settings) as client:
        frame = read_partitions(args.input)
        id_column = args.id_column or defaults.get("id_column")
        if id_column not in frame.columns:
            if args.id_column:
                raise BatchError(
                    f"--id-column '{args.id_column}' is not a column of '{args.input}' "
                    f"(columns: {', '.join(map(str, frame.columns[:20]))})"
                )
            id_column = None
        return predict_partitions(
            scorer,
            frame,
            client=client,
            output=args.output,
            table=args.table,
            batch_id=batch_id,
            id_column=id_column,
            progress=True,
            chunk_rows=args.chunk_rows,
        )


def folder_batch_id(folder: Path) -> str:
    """``<folder name>-<12 hex digits>`` from the names and SHA-256 of its Parquet files: the same
    files, the same batch."""
    import hashlib
    import re

    parts = sorted(folder.rglob("*.parquet"))
    if not parts:
        raise BatchError(f"--input '{folder}' holds no .parquet files")
    listing = "".join(f"{p.relative_to(folder).as_posix()}:{files.sha256(p)}\n" for p in parts)
    digest = hashlib.sha256(listing.encode())
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', folder.name)}-{digest.hexdigest()[:12]}"


def _in_order(scored: Any, client: Any) -> Iterator[pd.DataFrame]:
    """The scored partitions in input order, a few ahead: scored on the cluster while the driver
    writes, and never more than ``2 x threads`` of them held anywhere, whatever the input's size."""
    ahead = 2 * max(1, sum(client.nthreads().values()))
    pending: deque = deque()
    parts = iter(scored.to_delayed())
    for part in itertools.islice(parts, ahead):
        pending.append(client.compute(part))
    while pending:
        future = pending.popleft()
        result = future.result()
        future.release()
        following = next(parts, None)
        if following is not None:
            pending.append(client.compute(following))
        yield result


def _write_parquet_folder(scored: Any, output: Path, client: Any, progress: bool) -> int:
    """Every partition into a staging folder, then the folder renamed into place; the rows written."""
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp"))
    os.chmod(staging, 0o755)
    try:
        written = scored.to_parquet(staging, write_index=False, compute=False)

        compute.result(client.compute(written), "scoring on the cluster", compute.say if progress else None)
        rows = sum(files_rows(staging))
        previous = None
        if output.exists():
            previous = output.with_name(f".{output.name}.old-{os.getpid()}")
            os.rename(output, previous)
        os.rename(staging, output)
        if previous is not None:
            shutil.rmtree(previous) if previous.is_dir() else previous.unlink()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return rows


def files_rows(folder: Path) -> list[int]:
    import pyarrow.parquet as pq

    return [pq.ParquetFile(f).metadata.num_rows for f in sorted(folder.glob("*.parquet"))]
