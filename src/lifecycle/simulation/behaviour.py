"""The hidden truth behind :mod:`lifecycle.simulation.simulate`: who the users are, what they do, who churns.

Users are generated in fixed-size blocks, each from its own random streams keyed by
``(seed, period, block, stage)``. A block never depends on how the caller chunks the
users, so chunked and one-shot generation give the same bytes. Separate streams per
stage keep draws stable: a treatment changes who churns (and what happens after the
cutoff) but not one draw of the users' pre-cutoff behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY = 86_400  # seconds; all times are int64 seconds since the epoch until the frames are built
BLOCK_USERS = 2_000  # users per random block: the unit of determinism, fixed so chunking cannot matter

PLANS = ("basic", "standard", "premium")
CHANNELS = ("search", "social", "referral", "organic")
DEVICES = ("desktop", "mobile", "tablet")
NEW_DEVICE = "smart_tv"  # the category only a drifted production period knows
COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "CA")
EVENT_TYPES = ("page_view", "session", "purchase", "support_ticket", "plan_change", "cancel")
TRAFFIC_SOURCES = ("google", "bing", "facebook", "instagram", "tiktok", "direct", "email")

PLAN_P = np.array([0.50, 0.33, 0.17])
PLAN_FEE = np.array([9.99, 14.99, 24.99])
CHANNEL_P = np.array([0.40, 0.20, 0.15, 0.25])
DEVICE_P = np.array([0.45, 0.45, 0.10])
COUNTRY_P = np.array([0.35, 0.12, 0.11, 0.09, 0.07, 0.06, 0.05, 0.06, 0.05, 0.04])
NEW_DEVICE_SHARE = 0.12
# Engagement multipliers (channel, device incl. smart_tv, plan): social sign-ups and
# big screens use the product less, so they churn more -- through behaviour, not by fiat.
CHANNEL_ACTIVITY = np.array([1.0, 0.65, 1.2, 1.1])
DEVICE_ACTIVITY = np.array([1.1, 1.0, 0.8, 0.6])
PLAN_ACTIVITY = np.array([0.85, 1.0, 1.25])
# Per-day base rates of page_view, session, purchase, support_ticket, plan_change.
BASE_RATES = np.array([0.06, 0.08, 0.006, 0.004, 0.0015])
# A fading user's rates from the fade date on: much less use, more support tickets.
FADED = np.array([0.12, 0.12, 0.3, 2.5, 1.0])
FADE_SHARE, FADE_MAX_DAYS = 0.3, 120
# Traffic source mix of page views and sessions, one row per channel.
SOURCE_P = np.array(
    [
        [0.55, 0.15, 0.03, 0.02, 0.00, 0.15, 0.10],  # search
        [0.10, 0.02, 0.35, 0.25, 0.15, 0.08, 0.05],  # social
        [0.15, 0.03, 0.07, 0.05, 0.02, 0.40, 0.28],  # referral
        [0.25, 0.05, 0.05, 0.03, 0.02, 0.45, 0.15],  # organic
    ]
)
SOURCE_CDF = np.cumsum(SOURCE_P, axis=1)
SOURCE_CDF[:, -1] = 1.0  # exact, so no draw falls between two channels' CDFs
SOURCE_CDF = (SOURCE_CDF + np.arange(len(CHANNELS))[:, None]).ravel()
FEATURES = ("days_since_last_session", "sessions_30d", "tickets_90d", "plan", "tenure_days", "age")
RECENCY_CAP_DAYS = 90
MIN_CHURN = 0.05  # even the keenest users leave sometimes; keeps effects up to 0.05 exactly absolute


@dataclass(frozen=True, eq=False)
class Spec:
    """Everything one block needs, already validated and in epoch seconds."""

    n_users: int
    seed: int
    period_code: int  # 0 training, 1 production: part of the random key, so periods differ
    id_offset: int  # user_id = id_offset + position + 1
    start: int
    cutoff: int
    window: int
    channel_shift: float
    activity_change: float
    new_category: bool
    treatment_effect: float
    treated: np.ndarray | None  # bool per user position, or None
    messy: bool
    concept_change: float = 0.0  # production only: how far the hidden churn function itself moved


def true_churn_probability(features: pd.DataFrame, concept_change: float = 0.0) -> pd.Series:
    """The hidden churn probability in the label window, from pre-cutoff behaviour.

    Parameters
    ----------
    features : DataFrame
        One row per user (any index) with the clean columns of :func:`behaviour_summary`:
        ``days_since_last_session`` (float days from the last session before the cutoff to
        the cutoff; 90 when none; capped at 90), ``sessions_30d`` (sessions in the 30 days
        before the cutoff), ``tickets_90d`` (support tickets in the 90 days before it),
        ``plan`` (basic/standard/premium), ``tenure_days`` (float days from signup to the
        cutoff) and ``age`` (years).

    Returns
    -------
    Series
        Probability of churning, same index as ``features``, named ``churn_probability``.
    """
    recency = features["days_since_last_session"].clip(0, RECENCY_CAP_DAYS) / RECENCY_CAP_DAYS
    plan = features["plan"].astype(str).map({"basic": 0.35, "standard": 0.0, "premium": -0.45})
    logit = (
        -3.2
        + 4.0 * recency
        - 0.5 * np.log1p(features["sessions_30d"])
        + 0.5 * features["tickets_90d"].clip(upper=4)
        + plan.astype(float)
        - 0.45 * np.log1p(features["tenure_days"].clip(lower=0) / 365)
        - 0.025 * (features["age"] - 40)
        + concept_change * (plan.map({0.35: -1.1, 0.0: 0.0, -0.45: 2.4}).astype(float) + 0.1 * (features["age"] - 40))
    )
    return (MIN_CHURN + (1 - MIN_CHURN) / (1 + np.exp(-logit))).rename("churn_probability")


def behaviour_summary(users: pd.DataFrame, events: pd.DataFrame, cutoff: str | pd.Timestamp) -> pd.DataFrame:
    """The clean per-user features :func:`true_churn_probability` takes, from clean data.

    Expects ``messy=False`` data (or data cleaned as well): one row per user, true ages,
    plain plan names. Returns a frame indexed by ``user_id`` with the columns ``FEATURES``.
    """
    cutoff = pd.Timestamp(cutoff)
    users = users.set_index("user_id")
    pre = events[events["timestamp"] < cutoff]
    sessions = pre[pre["event_type"] == "session"]
    ago = (cutoff - sessions["timestamp"]) / pd.Timedelta(days=1)
    tickets = pre[(pre["event_type"] == "support_ticket") & (pre["timestamp"] >= cutoff - pd.Timedelta(days=90))]
    return pd.DataFrame(
        {
            "days_since_last_session": ago.groupby(sessions["user_id"])
            .min()
            .reindex(users.index)
            .fillna(RECENCY_CAP_DAYS)
            .clip(upper=RECENCY_CAP_DAYS),
            "sessions_30d": (ago <= 30).groupby(sessions["user_id"]).sum().reindex(users.index, fill_value=0),
            "tickets_90d": tickets.groupby("user_id").size().reindex(users.index, fill_value=0),
            "plan": users["plan"].astype(str),
            "tenure_days": (cutoff - users["signup_date"]) / pd.Timedelta(days=1),
            "age": users["age"],
        }
    )


def _pick(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """Draw category codes by inverting the CDF, so shifted probabilities reuse the same uniforms."""
    return np.minimum(np.searchsorted(np.cumsum(p), rng.random(n), side="right"), len(p) - 1).astype(np.int8)


def _poisson_events(rng, t0, t1, rates):
    """Homogeneous Poisson events per (user, kind) on [t0, t1): user index, kind, time in seconds."""
    span = np.maximum(t1 - t0, 0)
    counts = rng.poisson(rates * (span / DAY)[:, None])
    user, kind = np.divmod(np.repeat(np.arange(counts.size), counts.ravel()), rates.shape[1])
    return user, kind, t0[user] + (rng.random(user.size) * span[user]).astype(np.int64)


def _attributes(rng, user, kind, channel, plan):
    """Traffic source code (-1 = none) of page views and sessions; amount of purchases (NaN otherwise)."""
    web, buy = kind <= 1, kind == 2
    # One search in the channels' CDFs laid end to end: channel c's CDF occupies (c, c + 1].
    where = channel[user[web]].astype(np.int64)
    code = np.searchsorted(SOURCE_CDF, rng.random(where.size) + where, side="right") - where * len(TRAFFIC_SOURCES)
    source = np.full(user.size, -1, np.int8)
    source[web] = np.minimum(code, len(TRAFFIC_SOURCES) - 1)
    amount = np.full(user.size, np.nan)
    amount[buy] = np.round(rng.lognormal(3.0, 0.5, buy.sum()) * (0.8 + 0.3 * plan[user[buy]]), 2)
    return source, amount


def _by_user_and_time(user, t):
    """Stable order by (user, time): one int64 key sorts ~10x faster than lexsort on two."""
    if not t.size:
        return np.arange(0)
    return np.argsort(user * (t.max() - t.min() + 1) + (t - t.min()), kind="stable")


def generate_block(spec: Spec, block: int) -> dict[str, np.ndarray]:
    """Columns of one block of clean users, their events, features and churn outcome, as arrays."""
    lo = block * BLOCK_USERS
    n = min(BLOCK_USERS, spec.n_users - lo)
    rng_user, rng_pre, rng_post = (np.random.default_rng([spec.seed, spec.period_code, block, s]) for s in range(3))
    plan = _pick(rng_user, PLAN_P, n)
    country = _pick(rng_user, COUNTRY_P, n)
    social = np.eye(len(CHANNELS))[CHANNELS.index("social")]
    channel = _pick(rng_user, (1 - spec.channel_shift) * CHANNEL_P + spec.channel_shift * social, n)
    device = _pick(rng_user, DEVICE_P, n)
    device[(rng_user.random(n) < NEW_DEVICE_SHARE) & spec.new_category] = len(DEVICES)
    age = np.clip(np.rint(rng_user.normal(38, 13, n)), 18, 85)
    first_day, last_day = spec.start // DAY - 730, (spec.cutoff - 14 * DAY) // DAY
    signup = (last_day - rng_user.integers(0, last_day - first_day + 1, n)) * DAY
    promo = rng_user.random(n) < 0.2
    engagement = np.exp(0.7 * rng_user.normal(size=n) - 0.245)  # lognormal with mean 1
    fade = rng_user.random(n) < FADE_SHARE
    fade_at = spec.cutoff - (rng_user.random(n) * FADE_MAX_DAYS * DAY).astype(np.int64)
    churn_draw = rng_user.random(n)
    cancel_at = spec.cutoff + rng_user.integers(1, spec.window + 1, n)  # inside (cutoff, cutoff + window]

    rates = _rates(spec.activity_change, engagement, channel, device, plan)
    user, kind, t = _pre_cutoff_events(rng_pre, spec, signup, fade, fade_at, rates)
    source, amount = _attributes(rng_pre, user, kind, channel, plan)

    features = _snapshot(spec.cutoff, n, (user, kind, t), signup, plan, age)
    probability = true_churn_probability(features, spec.concept_change).to_numpy()
    if spec.treated is not None:
        probability = np.clip(probability - spec.treatment_effect * spec.treated[lo : lo + n], 0, 1)
    churned = churn_draw < probability

    # Label window: faders and leavers use the product at faded rates; leavers stop at their cancel.
    end = np.where(churned, cancel_at, spec.cutoff + spec.window + 1)
    post_rates = np.where((fade | churned)[:, None], rates * FADED, rates)
    p_user, p_kind, p_t = _poisson_events(rng_post, np.full(n, spec.cutoff + 1), end, post_rates)
    p_source, p_amount = _attributes(rng_post, p_user, p_kind, channel, plan)
    user, t, kind, source, amount = _with_cancels(
        (user, t, kind, source, amount), (p_user, p_t, p_kind, p_source, p_amount), churned, cancel_at
    )
    order = _by_user_and_time(user, t)  # stable: ties keep generation order, so the bytes are reproducible
    return {
        "user_id": (spec.id_offset + lo + 1 + np.arange(n)).astype(np.int32),
        "signup": signup,
        "plan": plan,
        "country": country,
        "channel": channel,
        "device": device,
        "age": age,
        "fee": np.round(PLAN_FEE[plan] * np.where(promo, 0.5, 1.0), 2),
        "features": features,
        "churned": churned,
        "e_user": user[order].astype(np.int32),
        "e_kind": kind[order].astype(np.int8),
        "e_time": t[order],
        "e_source": source[order],
        "e_amount": amount[order],
    }


def _rates(activity_change: float, engagement, channel, device, plan) -> np.ndarray:
    """Each user's daily rate of each event type (users x types) at full use: engagement, channel, device
    and plan make the user more or less active; drift changes page views and sessions."""
    activity = engagement * CHANNEL_ACTIVITY[channel] * DEVICE_ACTIVITY[device] * PLAN_ACTIVITY[plan]
    use = np.array([1 + activity_change] * 2 + [1.0] * 3)
    buying = np.sqrt(activity) * (0.7 + 0.4 * plan)  # dearer plans buy more add-ons
    ones = np.ones(len(engagement))
    return BASE_RATES * use * np.column_stack([activity, activity, buying, ones, ones])


def _pre_cutoff_events(rng, spec: Spec, signup, fade, fade_at, rates: np.ndarray) -> tuple:
    """The events (user, kind, time) before the cutoff, sorted by user and time: full ``rates`` from signup
    (or the period's start) until the fade date of those who ``fade``, faded rates from it."""
    observed = np.maximum(spec.start, signup)
    fade_from = np.where(fade, np.clip(fade_at, observed, spec.cutoff), spec.cutoff)
    active = _poisson_events(rng, observed, fade_from, rates)
    faded = _poisson_events(rng, fade_from, np.full(len(signup), spec.cutoff), rates * FADED)
    user, kind, t = (np.concatenate(pair) for pair in zip(active, faded))
    order = _by_user_and_time(user, t)
    return user[order], kind[order], t[order]


def _snapshot(
    cutoff: int, n: int, events: tuple, signup: np.ndarray, plan: np.ndarray, age: np.ndarray
) -> pd.DataFrame:
    """The features at the cutoff, from the pre-cutoff ``events`` (user, kind, time), sorted by user and time."""
    user, kind, t = events
    is_session = kind == 1
    s_user, s_ago = user[is_session], (cutoff - t[is_session]) / DAY
    recency = np.full(n, float(RECENCY_CAP_DAYS))
    last = np.flatnonzero(np.r_[s_user[1:] != s_user[:-1], True]) if s_user.size else np.array([], int)
    recency[s_user[last]] = np.minimum(s_ago[last], RECENCY_CAP_DAYS)
    return pd.DataFrame(
        {
            "days_since_last_session": recency,
            "sessions_30d": np.bincount(s_user[s_ago <= 30], minlength=n),
            "tickets_90d": np.bincount(user[(kind == 3) & (t >= cutoff - 90 * DAY)], minlength=n),
            "plan": np.asarray(PLANS)[plan],
            "tenure_days": (cutoff - signup) / DAY,
            "age": age,
        }
    )


def _with_cancels(before: tuple, after: tuple, churned: np.ndarray, cancel_at: np.ndarray) -> tuple:
    """The events (user, time, kind, source, amount) before and after the cutoff, and each leaver's cancel."""
    leavers = np.flatnonzero(churned)
    cancels = (
        leavers,
        cancel_at[leavers],
        np.full(leavers.size, EVENT_TYPES.index("cancel")),
        np.full(leavers.size, -1, np.int8),
        np.full(leavers.size, np.nan),
    )
    return tuple(np.concatenate(columns) for columns in zip(before, after, cancels, strict=True))
