"""A seeded simulator of a subscription product, for a churn case with a known truth.

``simulate_product`` returns three tables: ``users`` (one row per user, deliberately
messy unless ``messy=False``), ``events`` (timestamped behaviour) and ``labels`` (who
churned in the label window after the cutoff). Churn is drawn from
:func:`true_churn_probability` of each user's pre-cutoff behaviour, so the signal is
real, learnable and known. A user who churns has a ``cancel`` event inside
``(cutoff, cutoff + label_window_days]`` and nothing after it; no one else has a
cancel, so the label can be derived from the events.

A ``"production"`` period is a later period of new users (ids never collide with the
training ones) where :class:`Drift` shifts the channel mix, the activity or adds an
unseen device. ``treatment_effect`` and ``treated`` give an A/B test a true effect to
recover. Same arguments give byte-identical tables, whether generated at once or by
:func:`iter_product_chunks`.

Users ``user_id`` int32, ``signup_date`` datetime64[us], ``plan``/``country``/
``channel``/``device`` category, ``age`` float64, ``monthly_fee`` float64 (messy: str).
Events ``user_id`` int32, ``timestamp`` datetime64[us], ``event_type`` and
``traffic_source`` category, ``amount`` float64. Labels ``user_id`` int32, ``churned`` int8.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from lifecycle.simulation.arguments import MAX_USERS, PRODUCTION_ID_OFFSET, Drift, is_int, period_dates
from lifecycle.simulation.arguments import block_spec as _spec  # as _spec: test_simulate builds a spec with it
from lifecycle.simulation.behaviour import BLOCK_USERS, FEATURES, behaviour_summary, true_churn_probability
from lifecycle.simulation.tables import block_tables

__all__ = [
    "FEATURES",
    "PRODUCTION_ID_OFFSET",
    "Drift",
    "Product",
    "behaviour_summary",
    "iter_product_chunks",
    "period_dates",
    "simulate_product",
    "true_churn_probability",
    "write_parquet_parts",
]


class Product(NamedTuple):
    """The three tables of a simulated product (column types in the module docstring)."""

    users: pd.DataFrame
    events: pd.DataFrame
    labels: pd.DataFrame


def simulate_product(
    n_users: int = 5000,
    *,
    start: str = "2025-01-01",
    cutoff: str = "2025-12-01",
    label_window_days: int = 30,
    seed: int = 42,
    period: str = "training",
    drift: Drift = Drift(),
    treatment_effect: float = 0.0,
    treated: pd.Series | None = None,
    messy: bool = True,
) -> Product:
    """Simulate ``n_users`` users of a subscription product, their events and churn labels.

    Parameters
    ----------
    n_users : int
        Number of (distinct) users, 1 to 1,000,000,000. Messy users have a few duplicate rows.
    start, cutoff : str or Timestamp
        The training period: events from ``start`` (or signup, if later) up to the cutoff,
        then the label window. A production period is shifted, see :func:`period_dates`.
    label_window_days : int
        Churn means a ``cancel`` in ``(cutoff, cutoff + label_window_days]``.
    seed : int
        Non-negative; with the other arguments it fixes every byte of the result.
    period : {"training", "production"}
        Production users have ids above 1,000,000,000 and may drift.
    drift : Drift
        Production only; training with drift raises ``ValueError``.
    treatment_effect : float
        In [0, 1]: absolute reduction of a treated user's churn probability,
        ``p' = max(p - treatment_effect, 0)``. Churn is ``u < p'`` with the same uniform ``u``
        as untreated, so treating only turns some churners into stayers; a randomised
        A/B test recovers ``mean(min(p, treatment_effect))`` over the treated, which equals
        ``treatment_effect`` when few users have ``p`` below it.
    treated : Series, array-like or None
        Who is treated: a boolean Series indexed by ``user_id`` (missing ids are untreated)
        or a boolean array of length ``n_users`` in user order. Needed when the effect is not 0.
        Users and pre-cutoff events do not depend on it, so simulate once to draw the ids.
    messy : bool
        Add the deliberate mess to ``users`` (and duplicate a few events); labels stay clean.

    Returns
    -------
    Product
        ``users``, ``events`` and ``labels``, sorted by user (events then by time).
    """
    arguments = dict(
        start=start,
        cutoff=cutoff,
        label_window_days=label_window_days,
        seed=seed,
        period=period,
        drift=drift,
        treatment_effect=treatment_effect,
        treated=treated,
        messy=messy,
    )
    return next(iter_product_chunks(n_users, **arguments, chunk_users=MAX_USERS))  # one chunk: every user


def iter_product_chunks(
    n_users: int = 5000,
    *,
    start: str = "2025-01-01",
    cutoff: str = "2025-12-01",
    label_window_days: int = 30,
    seed: int = 42,
    period: str = "training",
    drift: Drift = Drift(),
    treatment_effect: float = 0.0,
    treated: pd.Series | None = None,
    messy: bool = True,
    chunk_users: int = 100_000,
) -> Iterator[Product]:
    """Yield the product of :func:`simulate_product` as chunks of ``chunk_users`` users.

    Concatenating the chunks gives exactly ``simulate_product`` with the same arguments,
    whatever ``chunk_users`` is: randomness lives in fixed blocks of users, not in chunks.
    Only one chunk (plus one block) is in memory at a time, so millions of users can be
    written out chunk by chunk.
    """
    if not is_int(chunk_users) or chunk_users < 1:
        raise ValueError(f"chunk_users={chunk_users!r} is not allowed; it must be a positive integer.")
    spec = _spec(
        n_users,
        start=start,
        cutoff=cutoff,
        label_window_days=label_window_days,
        seed=seed,
        period=period,
        drift=drift,
        treatment_effect=treatment_effect,
        treated=treated,
        messy=messy,
    )
    cache: tuple[int, tuple] | None = None  # the last block, when a chunk boundary falls inside it
    for lo in range(0, spec.n_users, chunk_users):
        hi = min(lo + chunk_users, spec.n_users)
        ids = spec.id_offset + 1 + np.array([lo, hi])
        parts = []
        for block in range(lo // BLOCK_USERS, (hi - 1) // BLOCK_USERS + 1):
            if cache is None or cache[0] != block:
                cache = (block, block_tables(spec, block))
            parts.append(Product(*(_rows(table, ids) for table in cache[1])))
        yield _concat(parts)


def write_parquet_parts(folder: str | Path, n_users: int, chunk_users: int = 100_000, **options) -> Path:
    """Write the product of :func:`iter_product_chunks` as partitioned Parquet, one chunk at a time.

    ``folder`` gets ``users/``, ``events/`` and ``labels/``, each with ``part-00000.parquet``,
    ``part-00001.parquet``, ... (one per chunk of ``chunk_users`` users), so memory holds one
    chunk whatever ``n_users`` is. The parts are written in a staging folder beside
    ``folder`` and renamed into place in one step: a failed run leaves no half a data set,
    and an existing ``folder`` is refused, never overwritten. ``options`` are those of
    :func:`simulate_product` (seed, period, messy, ...).
    """
    import pyarrow.parquet as pq

    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"'{folder}' exists; remove it or choose another folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the data set from other users (a cluster's workers)
    try:
        for number, chunk in enumerate(iter_product_chunks(n_users, chunk_users=chunk_users, **options)):
            for name, table in chunk._asdict().items():
                (staging / name).mkdir(exist_ok=True)
                pq.write_table(
                    pa.Table.from_pandas(table, preserve_index=False), staging / name / f"part-{number:05d}.parquet"
                )
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def _rows(table: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """The rows of a table sorted by user_id whose id lies in [ids[0], ids[1])."""
    lo, hi = np.searchsorted(table["user_id"].to_numpy(), ids)
    return table.iloc[lo:hi]


def _concat(parts: list[Product]) -> Product:
    if len(parts) == 1:
        return Product(*(t.reset_index(drop=True) for t in parts[0]))
    return Product(*(pd.concat(tables, ignore_index=True) for tables in zip(*parts)))
