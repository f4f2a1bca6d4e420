"""The product simulator: reproducible, chunkable, honest labels, learnable signal, drift, treatment, mess."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from lifecycle.simulation.behaviour import BLOCK_USERS, generate_block
from lifecycle.simulation.simulate import (
    FEATURES,
    PRODUCTION_ID_OFFSET,
    Drift,
    Product,
    _spec,
    behaviour_summary,
    iter_product_chunks,
    period_dates,
    simulate_product,
    true_churn_probability,
)

CUTOFF = pd.Timestamp("2025-12-01")
WINDOW_END = CUTOFF + pd.Timedelta(days=30)
CANONICAL = {
    "plan": {"basic", "standard", "premium"},
    "channel": {"search", "social", "referral", "organic"},
    "device": {"desktop", "mobile", "tablet"},
}


@pytest.fixture(scope="module")
def messy() -> Product:
    return simulate_product(5000, seed=7)


@pytest.fixture(scope="module")
def clean() -> Product:
    return simulate_product(5000, seed=7, messy=False)


def fingerprint(product: Product) -> list[int]:
    return [int(pd.util.hash_pandas_object(t, index=True).sum()) for t in product]


def assert_same(a: Product, b: Product) -> None:
    for left, right in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(left, right, check_exact=True)


def test_same_arguments_give_the_same_bytes_and_another_seed_does_not():
    first, again = simulate_product(3000, seed=3), simulate_product(3000, seed=3)
    assert_same(first, again)
    assert fingerprint(first) == fingerprint(again)
    other = simulate_product(3000, seed=4)
    assert all(x != y for x, y in zip(fingerprint(first), fingerprint(other)))


def test_each_block_of_users_has_its_own_random_streams(clean):
    signup = clean.users["signup_date"].to_numpy()
    assert len(signup) >= 2 * BLOCK_USERS
    assert not np.array_equal(signup[:BLOCK_USERS], signup[BLOCK_USERS : 2 * BLOCK_USERS])


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"messy": False},
        {
            "period": "production",
            "drift": Drift(0.3, -0.2, True),
            "treatment_effect": 0.05,
            "treated": np.arange(2 * BLOCK_USERS + 777) % 3 == 0,
        },
    ],
)
def test_chunks_concatenate_to_the_one_shot_product(kwargs):
    n = 2 * BLOCK_USERS + 777  # three blocks; chunk edges fall inside blocks
    whole = simulate_product(n, seed=11, **kwargs)
    chunks = list(iter_product_chunks(n, seed=11, chunk_users=1500, **kwargs))
    assert len(chunks) == 4
    assert all(c.labels["user_id"].nunique() <= 1500 for c in chunks)
    assert_same(whole, Product(*(pd.concat(t, ignore_index=True) for t in zip(*chunks))))


def test_labels_are_exactly_the_cancels_in_the_label_window(messy):
    users, events, labels = messy
    assert labels["user_id"].is_unique and set(labels["user_id"]) == set(users["user_id"])
    cancels = events[events["event_type"] == "cancel"]
    in_window = cancels[(cancels["timestamp"] > CUTOFF) & (cancels["timestamp"] <= WINDOW_END)]
    assert len(in_window) == len(cancels)  # no cancel before the cutoff or after the window
    derived = labels["user_id"].isin(in_window["user_id"]).astype("int8")
    assert derived.equals(labels["churned"]) and 0 < derived.sum() < len(derived)
    last = events.groupby("user_id")["timestamp"].max()
    cancel_at = cancels.groupby("user_id")["timestamp"].max()
    assert (last[cancel_at.index] == cancel_at).all()  # nothing happens after a cancel
    after = events.merge(cancel_at.rename("cancel_at"), on="user_id")
    assert ((after["timestamp"] < after["cancel_at"]) | (after["event_type"] == "cancel")).all()


def test_events_are_sorted_within_the_period_and_typed(clean):
    users, events, labels = clean
    same_user = events["user_id"].diff().to_numpy() == 0
    assert events["user_id"].is_monotonic_increasing
    assert (events["timestamp"].diff()[same_user] >= pd.Timedelta(0)).all()
    first = events.groupby("user_id")["timestamp"].min()
    signup = users.set_index("user_id")["signup_date"]
    assert (first >= np.maximum(signup[first.index], pd.Timestamp("2025-01-01"))).all()
    assert events["timestamp"].max() <= WINDOW_END
    web = events["event_type"].isin(["page_view", "session"])
    assert events.loc[web, "traffic_source"].notna().all() and events.loc[~web, "traffic_source"].isna().all()
    buys = events["event_type"] == "purchase"
    assert (events.loc[buys, "amount"] > 0).all() and events.loc[~buys, "amount"].isna().all()
    assert 20 <= len(events) / len(users) <= 80
    assert dict(events.dtypes.astype(str)) == {
        "user_id": "int32",
        "timestamp": "datetime64[us]",
        "event_type": "category",
        "traffic_source": "category",
        "amount": "float64",
    }
    assert dict(labels.dtypes.astype(str)) == {"user_id": "int32", "churned": "int8"}
    assert 0.15 <= labels["churned"].mean() <= 0.30


def simple_aggregates(product: Product) -> pd.DataFrame:
    """What a first model would use: counts and recency of pre-cutoff events, plus user columns."""
    users = product.users.set_index("user_id")
    pre = product.events[product.events["timestamp"] < CUTOFF]
    days_ago = (CUTOFF - pre["timestamp"]) / pd.Timedelta(days=1)
    sessions = pre["event_type"] == "session"
    features = pd.DataFrame(
        {
            "events": pre.groupby("user_id").size(),
            "sessions_30d": (sessions & (days_ago <= 30)).groupby(pre["user_id"]).sum(),
            "days_since_session": days_ago[sessions].groupby(pre["user_id"][sessions]).min(),
            "tickets": (pre["event_type"] == "support_ticket").groupby(pre["user_id"]).sum(),
        }
    ).reindex(users.index)
    features["tenure"] = (CUTOFF - users["signup_date"]) / pd.Timedelta(days=1)
    features["age"], features["plan"] = users["age"], users["plan"].cat.codes
    return features


def test_the_hidden_signal_is_learnable_from_simple_aggregates(clean):
    x = simple_aggregates(clean)
    y = clean.labels.set_index("user_id")["churned"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    model = HistGradientBoostingClassifier(random_state=0).fit(x_train, y_train)
    assert roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]) > 0.7


def test_behaviour_summary_is_what_the_generator_fed_the_hidden_function(clean):
    spec = _spec(
        5000,
        start="2025-01-01",
        cutoff="2025-12-01",
        label_window_days=30,
        seed=7,
        period="training",
        drift=Drift(),
        treatment_effect=0.0,
        treated=None,
        messy=False,
    )
    inner = generate_block(spec, 0)["features"]
    outer = behaviour_summary(clean.users, clean.events, CUTOFF).iloc[: len(inner)]
    pd.testing.assert_frame_equal(outer.reset_index(drop=True)[list(FEATURES)], inner, check_dtype=False)
    probability = true_churn_probability(behaviour_summary(clean.users, clean.events, CUTOFF))
    churned = clean.labels.set_index("user_id")["churned"]
    assert roc_auc_score(churned, probability) > 0.78  # the oracle beats any model
    assert abs(probability.mean() - churned.mean()) < 0.03


def test_true_churn_probability_rises_with_recency_and_falls_with_use():
    base = pd.DataFrame(
        {
            "days_since_last_session": [5.0] * 3,
            "sessions_30d": [4] * 3,
            "tickets_90d": [0] * 3,
            "plan": ["standard"] * 3,
            "tenure_days": [400.0] * 3,
            "age": [40.0] * 3,
        }
    )
    base.loc[1, "days_since_last_session"], base.loc[2, "sessions_30d"] = 60.0, 0
    p = true_churn_probability(base)
    assert p[1] > p[0] and p[2] > p[0] and ((p >= 0.05) & (p < 1)).all()


def summary(product: Product) -> dict[str, float]:
    users, events = product.users, product.events
    return {
        "social": (users["channel"] == "social").mean(),
        "churn": product.labels["churned"].mean(),
        "sessions": (events["event_type"] == "session").sum() / len(users),
        "smart_tv": (users["device"] == "smart_tv").mean(),
    }


@pytest.fixture(scope="module")
def production() -> dict[str, float]:
    return summary(simulate_product(10_000, period="production", messy=False))


def test_channel_shift_moves_the_mix_toward_social(production):
    shifted = summary(simulate_product(10_000, period="production", messy=False, drift=Drift(channel_shift=0.5)))
    assert 0.15 < production["social"] < 0.25 and 0.55 < shifted["social"] < 0.65
    assert shifted["churn"] > production["churn"]  # social users use the product less


def test_activity_change_cuts_the_event_rate(production):
    quieter = summary(simulate_product(10_000, period="production", messy=False, drift=Drift(activity_change=-0.3)))
    assert 0.65 < quieter["sessions"] / production["sessions"] < 0.75
    assert quieter["churn"] > production["churn"] + 0.02


def test_the_new_category_appears_only_in_production(production, clean):
    new = simulate_product(10_000, period="production", messy=True, drift=Drift(new_category=True)).users
    assert 0.08 < new["device"].str.strip().str.lower().eq("smart_tv").mean() < 0.16
    assert production["smart_tv"] == 0 and "smart_tv" not in clean.users["device"].cat.categories


def test_production_is_later_with_other_user_ids(clean):
    production = simulate_product(5000, period="production", messy=False)
    assert production.users["user_id"].min() > PRODUCTION_ID_OFFSET >= clean.users["user_id"].max()
    assert production.users["user_id"].max() <= np.iinfo(np.int32).max
    start, cutoff = period_dates(period="production")
    assert (start, cutoff) == (pd.Timestamp("2026-01-01"), pd.Timestamp("2026-12-01"))
    assert production.events["timestamp"].min() >= start > clean.events["timestamp"].max()
    assert production.events["timestamp"].max() <= cutoff + pd.Timedelta(days=30)


def test_a_randomised_test_recovers_the_treatment_effect():
    n = 40_000
    control = simulate_product(n, period="production", messy=False)
    treated = pd.Series(np.random.default_rng(0).random(n) < 0.5, index=control.users["user_id"])
    trial = simulate_product(n, period="production", messy=False, treatment_effect=0.05, treated=treated)
    before, after = (p.labels.set_index("user_id")["churned"] for p in (control, trial))
    assert abs((after[~treated].mean() - after[treated].mean()) - 0.05) < 0.02  # what an A/B test sees
    assert abs((before[treated].mean() - after[treated].mean()) - 0.05) < 0.006  # same users, with and without
    assert (after <= before).all() and after[~treated].equals(before[~treated])
    cutoff = period_dates(period="production")[1]
    assert control.users.equals(trial.users)  # treatment changes outcomes, not who users are or what they did
    pre = [p.events[p.events["timestamp"] < cutoff].reset_index(drop=True) for p in (control, trial)]
    assert pre[0].equals(pre[1])


def test_treated_as_series_by_id_equals_treated_as_array():
    ids = simulate_product(3000, messy=False).users["user_id"]
    mask = ids.to_numpy() % 2 == 0
    by_id = simulate_product(3000, messy=False, treatment_effect=0.1, treated=pd.Series(mask, index=ids)[mask])
    by_position = simulate_product(3000, messy=False, treatment_effect=0.1, treated=mask)
    assert_same(by_id, by_position)


def odd_spellings(column: pd.Series) -> pd.Series:
    text = column.astype(str)
    return text != text.str.strip().str.lower()


def test_messy_users_have_every_kind_of_mess(messy):
    users, events = messy.users, messy.events
    assert users.duplicated().sum() == users["user_id"].duplicated().sum() > 0  # exact duplicates only
    assert events.duplicated().sum() > 0
    for column, values in CANONICAL.items():
        assert odd_spellings(users[column]).mean() > 0.03, column
        assert set(users[column].astype(str).str.strip().str.lower()) == values, column
    assert users["age"].isna().mean() > 0.03 and users["country"].isna().mean() > 0.01
    assert users["age"].isin([999, -1]).any()
    assert pd.api.types.is_string_dtype(users["monthly_fee"])
    fee = users["monthly_fee"]
    assert fee.str.startswith("$").any() and fee.str.contains(",").any()
    amounts = pd.to_numeric(fee.str.replace("$", "").str.replace(",", "."))
    assert amounts.notna().all() and (amounts > 500).any()


def test_clean_users_have_none_of_the_mess(clean):
    users, events = clean.users, clean.events
    assert users["user_id"].is_unique and not events.duplicated().any()
    for column, values in CANONICAL.items():
        assert not odd_spellings(users[column]).any() and set(users[column].cat.categories) == values
    assert users.notna().all().all() and users["age"].between(18, 85).all()
    assert users["monthly_fee"].dtype == "float64" and users["monthly_fee"].between(4, 25).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_users": 0}, r"n_users=0 .*integer from 1"),
        ({"n_users": -5}, r"n_users=-5 .*integer from 1"),
        ({"n_users": 10.5}, r"n_users=10.5 .*integer from 1"),
        ({"cutoff": "2024-06-01"}, r"cutoff='2024-06-01' is not after start='2025-01-01'"),
        ({"start": "not a date"}, r"start='not a date' is not a date"),
        ({"period": "staging"}, r"period='staging' is unknown; allowed: 'training', 'production'"),
        ({"label_window_days": 0}, r"label_window_days=0 .*positive integer"),
        ({"seed": -1}, r"seed=-1 .*non-negative integer"),
        ({"drift": Drift(channel_shift=0.2)}, r"drift=Drift\(.*period='training'"),
        ({"period": "production", "drift": Drift(channel_shift=1.5)}, r"channel_shift=1.5 .*\[0, 1\]"),
        ({"period": "production", "drift": Drift(activity_change=-1.0)}, r"activity_change=-1.0 .*above -1"),
        ({"treatment_effect": 0.05}, r"treatment_effect=0.05 needs treated"),
        ({"treatment_effect": 2.0, "treated": np.ones(10, bool)}, r"treatment_effect=2.0 .*\[0, 1\]"),
        ({"treatment_effect": 0.1, "treated": np.ones(3, bool)}, r"treated .*shape \(10,\)"),
        ({"treatment_effect": 0.1, "treated": pd.Series([1, 0])}, r"treated .*boolean Series"),
    ],
)
def test_bad_arguments_are_named_with_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate_product(**{"n_users": 10, **kwargs})


def test_bad_chunk_size_is_named():
    with pytest.raises(ValueError, match=r"chunk_users=0 .*positive integer"):
        next(iter_product_chunks(10, chunk_users=0))


def test_a_concept_change_moves_the_churn_function_not_the_users():
    knobs = Drift(concept_change=1.0)
    before = simulate_product(2000, seed=3, period="production", messy=False)
    after = simulate_product(2000, seed=3, period="production", drift=knobs, messy=False)
    pd.testing.assert_frame_equal(before.users, after.users)
    assert (before.labels["churned"] != after.labels["churned"]).mean() > 0.05
    with pytest.raises(ValueError, match="concept_change"):
        simulate_product(10, period="production", drift=Drift(concept_change=1.5))
