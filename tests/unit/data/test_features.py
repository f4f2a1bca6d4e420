import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import Ridge
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from lifecycle.core.params import resolve
from lifecycle.core.settings import FeatureEngineering
from lifecycle.data import features, prepare, sources
from lifecycle.data.events import aggregate_events, sanitise
from lifecycle.data.splits import make as make_splits
from lifecycle.data.splits import summary as split_summary

PHASE = "04_feature_engineering"
CUTOFF = pd.Timestamp("2025-12-01")
# A generic table of ours, not the simulated product: no events unless a test adds them.
GENERIC = (
    "source.kind=sql",
    "source.url=sqlite://",
    "source.query=t",
    "target=y",
    "id_column=customer",
    "time_column=signup",
)


def _params(*sets: str) -> FeatureEngineering:
    return FeatureEngineering.model_validate(resolve([PHASE], sets=sets)[PHASE])


def _generic(task: str, *sets: str) -> FeatureEngineering:
    return _params(*GENERIC, f"task={task}", *sets)


def _table(task: str, n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Numbers, text, a high-cardinality column, true/false, dates, gaps; the target depends on them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    city = rng.choice([f"City {i}" for i in range(40)], n)
    flag = rng.random(n) < 0.5
    signup = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 600, n), unit="D")
    score = x + (plan == "pro") + flag + 0.05 * pd.Series(city).str.slice(5).astype(int).to_numpy() / 40
    noisy = score + rng.normal(scale=0.3, size=n)
    y = {
        "binary": np.where(noisy > 0.8, "yes", "no"),
        "multiclass": np.array(["low", "mid", "high"])[np.digitize(noisy, np.quantile(noisy, [1 / 3, 2 / 3]))],
        "regression": noisy,
    }[task]
    table = pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(n)],
            "signup": signup,
            "last_login": (signup + pd.to_timedelta(rng.integers(0, 90, n), unit="D")).where(rng.random(n) > 0.1),
            "x": np.where(rng.random(n) < 0.1, np.nan, x),
            "plan": pd.Series(plan, dtype=object).where(rng.random(n) > 0.05, None),
            "city": city,
            "flag": pd.Series(flag, dtype=object).where(rng.random(n) > 0.05, None),
            "y": y,
        }
    )
    return table


@pytest.fixture(autouse=True)
def one_thread():
    """HistGradientBoosting's OpenMP threads crawl on a busy machine; one thread is fast and steady."""
    with threadpool_limits(1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def product():
    params = _params("simulation.n_users=1500")
    prepared = prepare.prepare(sources.read_source(params), params, {"age": (13, 110), "monthly_fee": (0, 500)})
    return prepared.table, prepared.events, params


# ---------------------------------------------------------------- dates


def test_expand_dates_on_a_hand_made_example():
    table = pd.DataFrame(
        {"Signed Up": pd.to_datetime(["2025-12-25", "2025-12-24", None, "2024-07-05", "2025-12-31"])},
        index=[10, 11, 12, 13, 14],
    )
    out = features.expand_dates(table, ["Signed Up"], pd.Timestamp("2026-01-01"), "US")
    assert out.index.tolist() == [10, 11, 12, 13, 14]
    expected = pd.DataFrame(
        {
            "signed_up_year": [2025, 2025, np.nan, 2024, 2025],
            "signed_up_month": [12, 12, np.nan, 7, 12],
            "signed_up_day_of_week": [3, 2, np.nan, 4, 2],  # Monday = 0
            "signed_up_days_since": [7, 8, np.nan, 545, 1],
            "signed_up_days_to_holiday": [0, 1, np.nan, 59, 1],  # 2024-09-02 Labor Day; 2026-01-01 next year
            "signed_up_days_since_holiday": [0, 27, np.nan, 1, 6],  # 2025-11-27 Thanksgiving; 2024-07-04
        },
        index=out.index,
        dtype="float64",
    )
    pd.testing.assert_frame_equal(out, expected)
    plain = features.expand_dates(table, ["Signed Up"], pd.Timestamp("2026-01-01"), None)
    assert list(plain.columns) == list(expected.columns[:4])


def test_an_unknown_holiday_country_is_named_with_the_fix():
    table = pd.DataFrame({"d": pd.to_datetime(["2025-01-01"])})
    with pytest.raises(ValueError, match=r"holiday_country 'XX'.*04_feature_engineering.yaml.*null"):
        features.expand_dates(table, ["d"], CUTOFF, "XX")


# ---------------------------------------------------------------- events


def _events() -> pd.DataFrame:
    rows = [
        (10, "2025-11-30 12:00", "session", "Google", 2.0),
        (10, "2025-11-10 00:00", "session", "e-mail", np.nan),
        (10, "2025-11-24 00:00", "Page View", "Google", np.nan),  # exactly 7 days before: inside 7d
        (10, "2025-10-01 00:00", "purchase", None, 5.0),  # outside both windows
        (20, "2025-11-28 00:00", "page-view", "e-mail", 1.5),  # spelled apart, counted as page_view
        (20, "2025-12-01 00:00", "session", "Google", 100.0),  # at the cutoff: ignored
        (20, "2025-12-10 00:00", "cancel", "Google", 100.0),  # in the label window: ignored
        (99, "2025-11-29 00:00", "session", "Google", 7.0),  # an id not asked for
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "source", "amount"])
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"]))


def _aggregate(events: pd.DataFrame, **kwargs) -> pd.DataFrame:
    options = dict(
        id_column="user_id",
        time_column="timestamp",
        type_column="event_type",
        cutoff=CUTOFF,
        windows=[30, 7],
        breakdowns=["source"],
        sums=["amount"],
    )
    return aggregate_events(events, pd.Index([30, 10, 20], name="user_id"), **{**options, **kwargs})


def test_aggregate_events_counts_recency_and_ratios_by_hand():
    out = _aggregate(_events())
    assert out.index.tolist() == [30, 10, 20]  # every id asked for, in order; 30 has no events

    def column(name):
        return out[name].tolist()

    assert column("events_7d") == [0, 2, 1]
    assert column("events_30d") == [0, 3, 1]
    assert column("session_7d") == [0, 1, 0]
    assert column("session_30d") == [0, 2, 0]
    assert column("page_view_7d") == [0, 1, 1]
    assert column("purchase_30d") == [0, 0, 0]
    assert column("source_google_7d") == [0, 2, 0]
    assert column("source_e_mail_30d") == [0, 1, 1]
    assert column("amount_sum_7d") == [0.0, 2.0, 1.5]
    np.testing.assert_allclose(out["days_since_last_event"], [np.nan, 0.5, 3.0])
    np.testing.assert_allclose(out["days_since_first_event"], [np.nan, 61.0, 3.0])
    np.testing.assert_allclose(out["days_since_last_purchase"], [np.nan, 61.0, np.nan])
    np.testing.assert_allclose(out["events_7d_per_30d"], [0.0, 2 / 3, 1.0])  # 0 events: 0, not NaN
    np.testing.assert_allclose(out["session_share_30d"], [0.0, 2 / 3, 0.0])
    assert not any("cancel" in name for name in out.columns)  # only seen after the cutoff
    assert all(name == sanitise(name) for name in out.columns)
    assert out.notna().all().drop([c for c in out.columns if c.startswith("days_since")]).all()


def test_sanitise_makes_names_safe():
    assert [sanitise(v) for v in ["Page View", "e-mail", "Café!", "  ", 7]] == [
        "page_view",
        "e_mail",
        "cafe",
        "blank",
        "7",
    ]


def test_rare_values_beyond_the_limit_are_counted_as_other():
    events = _events().assign(source=[f"s{i}" for i in range(8)])
    out = _aggregate(events, max_values=2, windows=[30])
    assert sorted(c for c in out.columns if c.startswith("source_")) == [
        "source_other_30d",
        "source_s0_30d",
        "source_s1_30d",
    ]
    assert out.filter(like="source_").sum(axis=1).equals(out["events_30d"])


def test_missing_breakdown_or_sum_columns_are_named_with_the_fix():
    with pytest.raises(ValueError, match=r"'referrer' is in event_breakdowns.*04_feature_engineering.yaml"):
        _aggregate(_events(), breakdowns=["referrer"])
    with pytest.raises(ValueError, match=r"'revenue' is in event_sums.*remove it from event_sums"):
        _aggregate(_events(), sums=["revenue"])
    with pytest.raises(ValueError, match=r"'source' holds .* not numbers"):
        _aggregate(_events(), sums=["source"])


def test_ids_of_another_type_than_the_events_are_an_error():
    with pytest.raises(ValueError, match="give both the same type"):
        aggregate_events(
            _events(),
            pd.Index(["10", "20"]),
            id_column="user_id",
            time_column="timestamp",
            type_column="event_type",
            cutoff=CUTOFF,
            windows=[7],
        )


# ---------------------------------------------------------------- leakage


def test_events_at_or_after_the_cutoff_never_change_a_feature(product):
    table, events, params = product
    before = features.build_features(table, events, params)
    late = events["timestamp"] >= CUTOFF
    assert late.sum() > 100  # the label window has events to tamper with
    rng = np.random.default_rng(1)
    extra = events.sample(300, random_state=1).assign(
        timestamp=CUTOFF + pd.to_timedelta(rng.integers(0, 30 * 86400, 300), unit="s"),
        event_type="refund",
        traffic_source="a new source",
        amount=1e6,
    )
    extra.iloc[:5, extra.columns.get_loc("timestamp")] = CUTOFF  # exactly at the cutoff
    tampered = {
        "late events removed": events[~late],
        "late events added, of a new type and source": pd.concat([events, extra]),
        "late events moved and changed": events.assign(
            timestamp=events["timestamp"].where(~late, events["timestamp"] + pd.Timedelta(days=3)),
            amount=events["amount"].where(~late, 999.0),
        ),
        "events shuffled": events.sample(frac=1.0, random_state=2),
    }
    for what, changed in tampered.items():
        after = features.build_features(table, changed, params)
        pd.testing.assert_frame_equal(after, before, obj=what)


def test_an_event_before_the_cutoff_changes_its_ids_features(product):
    table, events, params = product
    before = features.build_features(table, events, params)
    early = events.index[(events["timestamp"] < CUTOFF) & (events["timestamp"] >= CUTOFF - pd.Timedelta(days=5))]
    user = events.loc[early[0], "user_id"]
    after = features.build_features(table, events.drop(index=early[0]), params)
    changed = (after.drop(columns="churned") != before.drop(columns="churned")) & ~(after.isna() & before.isna())
    rows = before.loc[changed.any(axis=1), "user_id"].tolist()
    assert rows == [user]
    assert changed.loc[before["user_id"] == user, "events_7d"].all()


def test_the_preprocessor_learns_from_the_training_rows_only():
    params = _generic("binary")
    table = _table("binary")
    built = features.build_features(table, None, params)
    splits = make_splits(built, params)
    train, validation = splits["train"], splits["validation"]
    schema = features.feature_schema(train, params)
    step = features.preprocessor(schema, params.task, params.seed).fit(train, train["y"])
    numeric = schema.index[schema["kind"] == "numeric"].tolist()
    imputer, scaler = step.named_transformers_["numeric"]["impute"], step.named_transformers_["numeric"]["scale"]
    medians = train[numeric].median()
    np.testing.assert_allclose(imputer.statistics_, medians)
    np.testing.assert_allclose(scaler.mean_[: len(numeric)], train[numeric].fillna(medians).mean())
    assert not np.allclose(built[numeric].median(), medians)  # the whole table would have given other values
    once = step.transform(validation)
    step.fit(train, train["y"])  # refitting on the same rows, with validation seen in between, changes nothing
    pd.testing.assert_frame_equal(step.transform(validation), once)


# ---------------------------------------------------------------- the feature table and its schema


def test_build_features_keeps_roles_and_expands_every_date():
    params = _generic("regression")
    table = _table("regression")
    built = features.build_features(table, None, params)
    assert len(built) == len(table) and built.index.equals(table.index)
    assert {"customer", "y", "signup", "x", "plan", "city", "flag"} <= set(built.columns)
    assert "last_login" not in built.columns and "last_login_days_since" in built.columns
    assert built["signup"].equals(table["signup"])  # kept raw for the out-of-time split
    assert {"signup_year", "signup_days_to_holiday"} <= set(built.columns)
    assert str(built["flag"].dtype) == "boolean" and isinstance(built["plan"].dtype, pd.CategoricalDtype)
    schema = features.feature_schema(built, params)
    assert "customer" not in schema.index and "y" not in schema.index and "signup" not in schema.index
    kinds = schema["kind"].to_dict()
    assert (kinds["x"], kinds["flag"], kinds["plan"], kinds["city"]) == (
        "numeric",
        "boolean",
        "categorical",
        "high_cardinality",
    )
    assert schema.loc["plan", "n_unique"] == 3 and 0.02 < schema.loc["plan", "missing"] < 0.1
    wider = features.feature_schema(built, _generic("regression", "max_onehot_categories=40"))
    assert wider.loc["city", "kind"] == "categorical"


def test_build_features_without_id_time_or_events():
    params = _params(
        "source.kind=sql",
        "source.url=sqlite://",
        "source.query=t",
        "target=y",
        "task=binary",
        "id_column=null",
        "time_column=null",
        "holiday_country=null",
    )
    table = _table("binary").drop(columns=["customer"])
    built = features.build_features(table, None, params)
    assert "signup" not in built.columns and "signup_days_since" in built.columns
    assert not any("holiday" in c for c in built.columns)
    splits = make_splits(built, params)
    assert splits["out_of_time"].empty and list(splits["out_of_time"].columns) == list(built.columns)
    with pytest.raises(ValueError, match="needs id_column"):
        features.build_features(table, _events(), params)


def test_odd_columns_become_model_inputs():
    params = _generic("binary", "time_column=null", "holiday_country=DE")
    n = 60
    table = pd.DataFrame(
        {
            "customer": np.arange(n),
            "seen": pd.Series(pd.date_range("2025-03-01", periods=n, freq="37h", tz="Europe/Paris")),
            "born": pd.Series([dt.date(1990, 1, 1) + dt.timedelta(days=300 * i) for i in range(n)], dtype=object),
            "waited": pd.to_timedelta(np.arange(n), unit="h"),
            "mixed": [1, "a", None] * (n // 3),
            "nothing": pd.Series([None] * n, dtype=object),
            "blank": np.nan,
            "y": [0, 1] * (n // 2),
        }
    )
    built = features.build_features(table, None, params)
    assert {"seen_days_since", "born_year", "born_days_to_holiday"} <= set(built.columns)
    assert built["waited"].tolist() == [i / 24 for i in range(n)]
    assert sorted(built["mixed"].dropna().unique()) == ["1", "a"]
    schema = features.feature_schema(built, params)
    assert schema.loc["born_days_since", "kind"] == "numeric" and schema.loc["nothing", "kind"] == "categorical"
    out = features.preprocessor(schema, "binary", 0).fit_transform(built, built["y"])
    assert len(out) == n and np.isfinite(out.to_numpy(dtype=float)).all()


def test_build_features_names_what_clashes_or_is_missing(product):
    table, events, params = product
    with pytest.raises(ValueError, match=r"named like generated features: events_7d"):
        features.build_features(table.assign(events_7d=1), events, params)
    with pytest.raises(ValueError, match=r"'traffic_source' is in event_breakdowns.*04_feature_engineering"):
        features.build_features(table, events.drop(columns="traffic_source"), params)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_preprocessor_end_to_end(task):
    params = _generic(task)
    built = features.build_features(_table(task), None, params)
    splits = make_splits(built, params)
    train = splits["train"].copy()
    rare = train["plan"].astype(object)
    rare.iloc[:2] = "legacy"  # under 1% of the training rows: shares the "infrequent" column
    train["plan"] = rare.astype("category")
    schema = features.feature_schema(train, params)
    step = features.preprocessor(schema, task, params.seed)
    fitted = step.fit_transform(train, train["y"])
    unseen = splits["validation"].copy()
    unseen["plan"] = pd.Series("enterprise", index=unseen.index, dtype="category")  # never seen in training
    unseen["city"] = pd.Series("Atlantis", index=unseen.index, dtype="category")
    unseen["x"] = np.nan
    unseen["flag"] = pd.array([pd.NA] * len(unseen), dtype="boolean")
    out = step.transform(unseen)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(fitted.columns)
    assert np.isfinite(out.to_numpy(dtype=float)).all() and np.isfinite(fitted.to_numpy(dtype=float)).all()
    numeric = int((schema["kind"] == "numeric").sum())
    indicators = int(train[schema.index[schema["kind"] == "numeric"]].isna().any().sum())
    assert (out["categorical__plan_infrequent_sklearn"] == 1).all()  # unseen: counted with the rare ones
    assert fitted["categorical__plan_infrequent_sklearn"].sum() == 2
    onehot = 3 + 1 + 1  # basic, plus, pro, (missing), and the infrequent ones
    encoded = 3 if task == "multiclass" else 1  # one target-encoded column per class, or one
    assert fitted.shape[1] == numeric + indicators + 2 + onehot + encoded  # flag and its missing indicator
    model = make_pipeline(
        features.preprocessor(schema, task, params.seed),
        Ridge() if task == "regression" else HistGradientBoostingClassifier(random_state=0),
    )
    model.fit(train, train["y"])
    held_out = splits["test"]
    score = model.score(held_out, held_out["y"])
    assert score > (0.5 if task == "regression" else 0.6)
    assert len(model.predict(unseen)) == len(unseen)


def test_describe_preprocessor_lists_each_kind():
    params = _generic("binary")
    schema = features.feature_schema(features.build_features(_table("binary"), None, params), params)
    described = features.describe_preprocessor(schema)
    assert described.index.tolist() == ["numeric", "boolean", "categorical", "high_cardinality"]
    assert described["columns"].sum() == len(schema)
    assert "target encoding" in described.loc["high_cardinality", "steps"]


# ---------------------------------------------------------------- splits


def test_split_is_disjoint_sized_stratified_and_out_of_time_is_latest():
    params = _generic("binary")
    built = features.build_features(_table("binary", n=2000), None, params)
    splits = make_splits(built, params)
    ids = {name: set(frame["customer"]) for name, frame in splits.items()}
    assert sum(len(s) for s in ids.values()) == len(set.union(*ids.values())) == len(built)
    oot, in_time = splits["out_of_time"], pd.concat([splits[n] for n in ("train", "validation", "test")])
    assert oot["signup"].min() > in_time["signup"].max()  # the latest rows, boundary ties included
    assert abs(len(oot) - 0.15 * len(built)) <= (built["signup"] == oot["signup"].min()).sum()
    assert abs(len(splits["test"]) - 0.2 * len(in_time)) <= 1
    assert abs(len(splits["validation"]) - 0.2 * len(in_time)) <= 1
    positives = (in_time["y"] == "yes").sum()
    for seed in (0, 1, 2):  # stratified: each split's positives are its share, to a row or two, whatever the seed
        shuffled = make_splits(built, _generic("binary", f"seed={seed}"))
        for name in ("train", "validation", "test"):
            assert abs((shuffled[name]["y"] == "yes").sum() - positives * len(shuffled[name]) / len(in_time)) <= 2
    summary = split_summary(splits, params)
    assert summary["rows"].sum() == len(built) and abs(summary["share"].sum() - 1) < 0.01
    assert {"y=yes share", "y=no share", "from", "to"} <= set(summary.columns)


def test_split_is_deterministic_per_seed():
    params = _generic("multiclass")
    built = features.build_features(_table("multiclass"), None, params)
    first, again = make_splits(built, params), make_splits(built, params)
    other = make_splits(built, _generic("multiclass", "seed=7"))
    assert all(first[n].equals(again[n]) for n in first)
    assert not first["train"].index.equals(other["train"].index)
    assert first["out_of_time"].index.equals(other["out_of_time"].index)  # time decides, not the seed


def test_a_class_too_small_to_stratify_falls_back_with_a_warning():
    params = _generic("multiclass", "out_of_time_share=0")
    built = features.build_features(_table("multiclass", n=200), None, params)
    built.loc[built.index[0], "y"] = "rare"
    with pytest.warns(UserWarning, match=r"not stratified by 'y': class 'rare' has 1 in-time rows"):
        splits = make_splits(built, params)
    assert sum(len(f) for f in splits.values()) == len(built)


def test_regression_summary_gives_the_target_mean():
    params = _generic("regression")
    splits = make_splits(features.build_features(_table("regression"), None, params), params)
    summary = split_summary(splits, params)
    assert summary.loc["train", "y mean"] == pytest.approx(splits["train"]["y"].mean())


# ---------------------------------------------------------------- signal


def test_a_small_model_on_the_simulated_features_beats_chance(product):
    table, events, params = product
    built = features.build_features(table, events, params)
    splits = make_splits(built, params)
    train, test = splits["train"], pd.concat([splits["validation"], splits["test"]])

    def auc(frame: pd.DataFrame, fit: pd.DataFrame, check: pd.DataFrame) -> float:
        schema = features.feature_schema(frame.loc[fit.index], params)
        model = make_pipeline(
            features.preprocessor(schema, params.task, params.seed),
            HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, random_state=0),
        )
        model.fit(frame.loc[fit.index], fit["churned"])
        return roc_auc_score(check["churned"], model.predict_proba(frame.loc[check.index])[:, 1])

    with_events = auc(built, train, test)
    without = auc(features.build_features(table, None, params), train, test)
    assert with_events > 0.72
    assert with_events > without + 0.05  # the event aggregates carry the signal


def test_align_fills_event_aggregates_a_batch_never_produced():
    schema = pd.DataFrame(
        {"kind": ["numeric", "numeric", "numeric", "categorical"]},
        index=["cancel_30d", "days_since_last_cancel", "age", "plan"],
    )
    frame = pd.DataFrame({"plan": ["a"], "age": [30.0], "extra": [1]})
    aligned = features.align(frame, schema)
    assert list(aligned.columns) == list(schema.index)
    assert aligned.loc[0, "cancel_30d"] == 0 and np.isnan(aligned.loc[0, "days_since_last_cancel"])
    with pytest.raises(ValueError, match="lacks 1 model input"):
        features.align(frame.drop(columns="age"), schema)


def test_what_was_built_is_said_and_so_is_a_missing_events_table():
    table = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    assert (
        features.built(table, table.T, table, "events.parquet")
        == "2 rows, 2 model inputs built from 2 prepared columns."
    )
    assert "No events table (source.events_path), so no event aggregates" in features.built(table, table.T, table, None)


def test_a_name_per_row_is_left_out_and_said_and_splits_without_time_stay_shuffled():
    from lifecycle.data import splits

    n = 200
    table = pd.DataFrame(
        {
            "name": [f"car {i}" for i in range(n)],
            "origin": ["usa", "eu"] * (n // 2),
            "weight": np.arange(n, dtype=float),
            "label": ["a"] * (n // 2) + ["b"] * (n // 2),
        }
    )
    p = resolve(
        ["04_feature_engineering"], sets=["task=binary", "target=label", "time_column=null", "holiday_country=null"]
    )["04_feature_engineering"]
    p = FeatureEngineering.model_validate({**p, "id_column": None, "source": {"kind": "csv", "path": "pyproject.toml"}})
    built = features.build_features(table, None, p)
    assert "name" not in built.columns and "origin" in built.columns
    said = features.built(built, features.feature_schema(built, p), table, None)
    assert "Left out of the features: name (a distinct text on most rows" in said
    test = splits.make(built, p)["test"]
    assert not test.index.is_monotonic_increasing  # sorted by class in the table, mixed in the split
