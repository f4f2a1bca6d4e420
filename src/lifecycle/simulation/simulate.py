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
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from lifecycle.simulation.behaviour import (
    BLOCK_USERS,
    DAY,
    FEATURES,
    Spec,
    behaviour_summary,
    true_churn_probability,
)
from lifecycle.simulation.tables import block_tables

__all__ = [
    "FEATURES",
    "Drift",
    "Product",
    "behaviour_summary",
    "iter_product_chunks",
    "period_dates",
    "simulate_product",
    "true_churn_probability",
    "write_parquet_parts",
]

PERIODS = ("training", "production")
PRODUCTION_ID_OFFSET = 1_000_000_000  # production ids start above it; int32 still holds them
MAX_USERS = PRODUCTION_ID_OFFSET


@dataclass(frozen=True)
class Drift:
    """How the production period differs from training (all zero: no drift).

    Attributes
    ----------
    channel_shift : float
        In [0, 1]: the share of users moved to the ``social`` channel; the channel mix
        becomes ``(1 - s) * base + s * social``. Social users are less active, so churn rises.
    activity_change : float
        Above -1: relative change of the page-view and session rates, e.g. -0.3 for 30% fewer.
        Churn follows through the behaviour: the hidden function itself does not change.
    new_category : bool
        Production users get a device unseen in training, ``smart_tv`` (about 12% of them).
    concept_change : float
        In [0, 1]: concept drift, the churn function itself moves (see ``true_churn_probability``);
        the other knobs change who the users are, this one what their behaviour means.
    """

    channel_shift: float = 0.0
    activity_change: float = 0.0
    new_category: bool = False
    concept_change: float = 0.0


class Product(NamedTuple):
    """The three tables of a simulated product (column types in the module docstring)."""

    users: pd.DataFrame
    events: pd.DataFrame
    labels: pd.DataFrame


def period_dates(
    start: str = "2025-01-01", cutoff: str = "2025-12-01", label_window_days: int = 30, period: str = "training"
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The (start, cutoff) a period really uses.

    Production begins the day after the training label window ends and lasts as long as
    training: ``start' = cutoff + label_window_days + 1 day``, ``cutoff' = start' + (cutoff - start)``
    (with the defaults, 2026-01-01 and 2026-12-01). Its label window has the same length.
    """
    first, last = _timestamp("start", start), _timestamp("cutoff", cutoff)
    if last <= first:
        raise ValueError(f"cutoff={cutoff!r} is not after start={start!r}; the cutoff must come after the start.")
    if period not in PERIODS:
        raise ValueError(f"period={period!r} is unknown; allowed: {', '.join(map(repr, PERIODS))}.")
    if period == "production":
        later = last + pd.Timedelta(days=label_window_days + 1)
        first, last = later, later + (last - first)
    return first, last


def simulate_product(
    n_users: int = 5000,
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
    # One chunk spanning every user: the same blocks, concatenated once.
    return next(
        iter_product_chunks(
            n_users,
            start,
            cutoff,
            label_window_days,
            seed,
            period,
            drift,
            treatment_effect,
            treated,
            messy,
            chunk_users=MAX_USERS,
        )
    )


def iter_product_chunks(
    n_users: int = 5000,
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
    if not _is_int(chunk_users) or chunk_users < 1:
        raise ValueError(f"chunk_users={chunk_users!r} is not allowed; it must be a positive integer.")
    spec = _spec(n_users, start, cutoff, label_window_days, seed, period, drift, treatment_effect, treated, messy)
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


def _timestamp(name: str, value) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = None
    if stamp is None or stamp is pd.NaT or stamp.tz is not None:
        raise ValueError(f"{name}={value!r} is not a date; give a timezone-naive date such as '2025-01-01'.")
    return stamp


def _seconds(stamp: pd.Timestamp) -> int:
    return (stamp - pd.Timestamp(0)) // pd.Timedelta(seconds=1)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _spec(n_users, start, cutoff, label_window_days, seed, period, drift, treatment_effect, treated, messy) -> Spec:
    """Check every argument, naming it, its value and what is allowed; return the block spec."""
    if not _is_int(n_users) or not 1 <= n_users <= MAX_USERS:
        raise ValueError(f"n_users={n_users!r} is not allowed; it must be an integer from 1 to {MAX_USERS:,}.")
    if not _is_int(label_window_days) or label_window_days < 1:
        raise ValueError(f"label_window_days={label_window_days!r} is not allowed; it must be a positive integer.")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed={seed!r} is not allowed; it must be a non-negative integer.")
    first, last = period_dates(start, cutoff, label_window_days, period)
    if not isinstance(drift, Drift):
        raise ValueError(f"drift={drift!r} is not allowed; it must be a Drift.")
    if period == "training" and drift != Drift():
        raise ValueError(f"drift={drift!r} is not allowed with period='training'; drift describes production only.")
    if not 0 <= drift.channel_shift <= 1:
        raise ValueError(f"drift.channel_shift={drift.channel_shift!r} is not allowed; it must lie in [0, 1].")
    if not drift.activity_change > -1:
        raise ValueError(f"drift.activity_change={drift.activity_change!r} is not allowed; it must be above -1.")
    if not 0 <= drift.concept_change <= 1:
        raise ValueError(f"drift.concept_change={drift.concept_change!r} is not allowed; it must lie in [0, 1].")
    if not 0 <= treatment_effect <= 1:
        raise ValueError(f"treatment_effect={treatment_effect!r} is not allowed; it must lie in [0, 1].")
    offset = PRODUCTION_ID_OFFSET if period == "production" else 0
    mask = _treated_mask(treated, n_users, offset)
    if treatment_effect and mask is None:
        raise ValueError(
            f"treatment_effect={treatment_effect!r} needs treated=...: a boolean Series by user_id "
            "or a boolean array of length n_users saying who is treated."
        )
    return Spec(
        n_users=int(n_users),
        seed=int(seed),
        period_code=PERIODS.index(period),
        id_offset=offset,
        start=_seconds(first),
        cutoff=_seconds(last),
        window=int(label_window_days) * DAY,
        channel_shift=float(drift.channel_shift),
        activity_change=float(drift.activity_change),
        new_category=bool(drift.new_category),
        treatment_effect=float(treatment_effect),
        treated=mask,
        messy=bool(messy),
        concept_change=float(drift.concept_change),
    )


def _treated_mask(treated, n_users: int, offset: int) -> np.ndarray | None:
    """Who is treated, as a bool array in user order (None when no one is)."""
    if treated is None:
        return None
    if isinstance(treated, pd.Series):
        if not pd.api.types.is_bool_dtype(treated) or treated.isna().any() or treated.index.has_duplicates:
            raise ValueError(
                "treated is not allowed as given; it must be a boolean Series without missing "
                "values, indexed by unique user_id."
            )
        ids = treated.index[treated.to_numpy(bool)].to_numpy()
        return np.isin(offset + 1 + np.arange(n_users), ids)
    mask = np.asarray(treated)
    if mask.dtype != bool or mask.shape != (n_users,):
        raise ValueError(
            f"treated is not allowed as given (dtype {mask.dtype}, shape {mask.shape}); an array "
            f"must be boolean with one value per user, shape ({n_users},)."
        )
    return mask
