"""The batch beside the service's load in ``benchmarks/serve.py --with-batch``: where the store is, the
batch's input and process, and the rows counted end to end (answered against logged).

Used by ``serve.py``; not a benchmark of its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
import yaml

from lifecycle.core import database_url
from lifecycle.core.settings import Store
from lifecycle.data import splits
from lifecycle.modeling import scoring
from lifecycle.store import prediction_log

BATCH_ID = "bench"
ANSWERED = 'lifecycle_requests_total{endpoint="/predict",status="200"}'


def point_store(folder: Path, store_url: str | None, batch_into_log: bool) -> tuple[str, str]:
    """Set the copy's ``store`` params (``url``; ``batch_url`` = ``url`` with ``batch_into_log``); the
    log's URL and the batch's, absolute."""
    settings_file = folder / "params" / "project.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    store = settings["store"]
    store["url"] = store_url or store["url"]
    store["batch_url"] = store["url"] if batch_into_log else store.get("batch_url")
    settings_file.write_text(yaml.safe_dump(settings))
    chosen = Store.model_validate(store)
    return _in(folder, chosen.url), _in(folder, chosen.batch_url)


def _in(folder: Path, text: str) -> str:
    """``text`` as a URL, a relative SQLite path under the copy's root (as the service reads it)."""
    url = database_url.parse(text)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_absolute():
        url = url.set(database=str(folder / url.database))
    return url.render_as_string(hide_password=False)


def batch_input(scorer: scoring.Scorer, records: list[dict], id_column: str, rows: int, path: Path) -> Path:
    """A Parquet file of ``rows`` rows: the test split's inputs (else ``records``) over and over, each
    row its own ``id_column``."""
    try:
        frame = splits.read("test")[list(scorer.schema.index)]
    except (FileNotFoundError, KeyError):
        frame = pd.DataFrame(records)
    once = pa.Table.from_pandas(frame.drop(columns=[id_column], errors="ignore"), preserve_index=False)
    table = pa.concat_tables([once] * -(-rows // once.num_rows)).slice(0, rows)
    pq.write_table(table.append_column(id_column, pa.array(np.arange(rows))), path, row_group_size=50_000)
    return path


def start_batch(folder: Path, model: str, input_file: Path) -> subprocess.Popen:
    """``lifecycle predict`` of ``input_file`` in the copy, to its store (``store.batch_url``)."""
    env = {**os.environ, "PYTHONPATH": str(folder / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "lifecycle.batch", "--input", str(input_file), "--batch-id", BATCH_ID, "--model", model],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def batch_said(process: subprocess.Popen) -> str:
    """The batch's last line (its summary, or its error), once it has ended."""
    out = process.communicate()[0].strip().splitlines()
    return out[-1] if out else f"(no output; exit code {process.returncode})"


def metric(url: str, name: str) -> float:
    """A value of the service's /metrics (summed over its workers), 0 when it has none yet."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def settled(url: str, seconds: float = 300) -> tuple[float, float]:
    """Once the load has stopped: the service's HTTP 200s to /predict and the log's rows pending, when the
    count holds still for a second and nothing is pending (or ``seconds`` passed). A request still in
    flight has its rows spooled before it is counted, so counting at once could miss it."""
    deadline, last = time.monotonic() + seconds, None
    while True:
        answered, pending = metric(url, ANSWERED), metric(url, "lifecycle_log_pending_rows")
        if (answered == last and not pending) or time.monotonic() > deadline:
            return answered, pending
        last = answered
        time.sleep(1.0)


def store_rows(url: str, table: str = "predictions") -> tuple[int, int]:
    """Rows in the log's table, and distinct (request_id, record, role) among them (none: no table)."""
    store = prediction_log.engine(url)
    try:
        with store.connect() as connection:
            if not sa.inspect(connection).has_table(table):
                return 0, 0
            count = connection.execute(sa.text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
            distinct = connection.execute(
                sa.text(f'SELECT COUNT(*) FROM (SELECT DISTINCT request_id, record, role FROM "{table}") AS once')
            ).scalar_one()
    finally:
        store.dispose()
    return count, distinct


def spooled(folder: Path) -> int:
    """Rows left in the copy's spool files (lines), for the next start to write."""
    return sum(path.read_bytes().count(b"\n") for path in (folder / "data" / "spool").glob("*/*.jsonl"))
