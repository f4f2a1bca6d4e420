"""The simulator's arguments: a production period's drift, the dates a period uses, and the
checks that turn ``simulate_product``'s arguments into the ``Spec`` its blocks are drawn from.

Every check names the argument, its value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lifecycle.simulation.behaviour import DAY, Spec

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


def is_int(value) -> bool:
    """An integer of Python or numpy, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def block_spec(
    n_users, *, start, cutoff, label_window_days, seed, period, drift, treatment_effect, treated, messy
) -> Spec:
    """Check every argument, naming it, its value and what is allowed; return the block spec."""
    if not is_int(n_users) or not 1 <= n_users <= MAX_USERS:
        raise ValueError(f"n_users={n_users!r} is not allowed; it must be an integer from 1 to {MAX_USERS:,}.")
    if not is_int(label_window_days) or label_window_days < 1:
        raise ValueError(f"label_window_days={label_window_days!r} is not allowed; it must be a positive integer.")
    if not is_int(seed) or seed < 0:
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
    mask = treated_mask(treated, n_users, offset)
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


def treated_mask(treated, n_users: int, offset: int) -> np.ndarray | None:
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
