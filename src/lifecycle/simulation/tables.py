"""Turn one simulated block into the users, events and labels tables, with the deliberate mess.

The mess is what raw exports look like: missing ages and countries, one category spelt
several ways, exact duplicate rows, impossible ages and fees, a fee stored as text in
three formats. It is drawn from its own random stream, so ``messy`` never changes the
clean facts underneath, and labels stay clean: they are the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle.simulation.behaviour import (
    CHANNELS,
    COUNTRIES,
    DEVICES,
    EVENT_TYPES,
    NEW_DEVICE,
    PLANS,
    TRAFFIC_SOURCES,
    Spec,
    generate_block,
)

MISS_AGE, MISS_COUNTRY = 0.06, 0.03
ODD_SPELLING = 0.08  # share of plan/channel/device values with odd case or whitespace
ODD_AGE, ODD_FEE = 0.004, 0.003
DUPLICATE_USERS, DUPLICATE_EVENTS = 0.01, 0.004


def spellings(values: tuple[str, ...], messy: bool) -> list[str]:
    """The categories of a column: each value, then (messy) its four odd spellings right after it.

    Fixed lists, so every chunk's categorical has the same categories and concatenation keeps them.
    """
    if not messy:
        return list(values)
    return [s for v in values for s in (v, v.capitalize(), v.upper(), " " + v, v + " ")]


def _categorical(codes: np.ndarray, values: tuple[str, ...], rng: np.random.Generator | None) -> pd.Categorical:
    """A categorical column; with a mess stream, some values get one of their odd spellings."""
    codes = codes.astype(np.int16)
    if rng is not None:
        codes = codes * 5 + np.where(rng.random(codes.size) < ODD_SPELLING, rng.integers(1, 5, codes.size), 0)
    return pd.Categorical.from_codes(codes, categories=spellings(values, rng is not None))


def _fee_text(rng: np.random.Generator, fee: np.ndarray) -> pd.Series:
    """Fees as text: mostly '9.99', some '$9.99', some European '9,99'."""
    values, index = np.unique(fee, return_inverse=True)
    plain = [f"{v:.2f}" for v in values]
    texts = np.array([plain, ["$" + s for s in plain], [s.replace(".", ",") for s in plain]], dtype=object)
    style = np.searchsorted([0.85, 0.95], rng.random(fee.size), side="right")
    return pd.Series(texts[style, index], dtype="str")


def block_tables(spec: Spec, block: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The users, events and labels of one block, sorted by user_id (events also by time)."""
    b = generate_block(spec, block)
    rng = np.random.default_rng([spec.seed, spec.period_code, block, 3]) if spec.messy else None
    n = b["user_id"].size
    devices = DEVICES + (NEW_DEVICE,) if spec.new_category else DEVICES
    country = b["country"].astype(np.int16)
    age, fee = b["age"].copy(), b["fee"].copy()
    if rng is not None:
        country[rng.random(n) < MISS_COUNTRY] = -1
        odd_age = rng.random(n) < ODD_AGE
        age[odd_age] = np.where(rng.random(n) < 0.5, 999.0, -1.0)[odd_age]
        age[rng.random(n) < MISS_AGE] = np.nan
        fee[rng.random(n) < ODD_FEE] *= 100
    users = pd.DataFrame(
        {
            "user_id": b["user_id"],
            "signup_date": b["signup"].astype("datetime64[s]").astype("datetime64[us]"),
            "plan": _categorical(b["plan"], PLANS, rng),
            "country": pd.Categorical.from_codes(country, categories=list(COUNTRIES)),
            "channel": _categorical(b["channel"], CHANNELS, rng),
            "device": _categorical(b["device"], devices, rng),
            "age": age,
            "monthly_fee": _fee_text(rng, fee) if rng is not None else fee,
        }
    )
    events = pd.DataFrame(
        {
            "user_id": b["user_id"][b["e_user"]],
            "timestamp": b["e_time"].astype("datetime64[s]").astype("datetime64[us]"),
            "event_type": pd.Categorical.from_codes(b["e_kind"], categories=list(EVENT_TYPES)),
            "traffic_source": pd.Categorical.from_codes(b["e_source"], categories=list(TRAFFIC_SOURCES)),
            "amount": b["e_amount"],
        }
    )
    if rng is not None:
        # Exact duplicates right after their original: a double-ingested row, not a new fact.
        users = users.iloc[np.repeat(np.arange(n), 1 + (rng.random(n) < DUPLICATE_USERS))]
        events = events.iloc[np.repeat(np.arange(len(events)), 1 + (rng.random(len(events)) < DUPLICATE_EVENTS))]
    labels = pd.DataFrame({"user_id": b["user_id"], "churned": b["churned"].astype(np.int8)})
    return users.reset_index(drop=True), events.reset_index(drop=True), labels
