"""The event aggregates from partitioned Parquet: pandas, DuckDB and Dask give the same features."""

import numpy as np
import pandas as pd
import pytest
from conftest import require_dask

from lifecycle.core.settings import Compute
from lifecycle.data.events import aggregate_events
from lifecycle.data.events_scale import aggregate_parquet, choose, count_events
from lifecycle.simulation.simulate import simulate_product, write_parquet_parts

require_dask("duckdb", "dask", "distributed")

OPTIONS = dict(
    id_column="user_id",
    time_column="timestamp",
    type_column="event_type",
    cutoff="2025-12-01",
    windows=[90, 7, 30],
    breakdowns=["traffic_source"],
    sums=["amount"],
)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return write_parquet_parts(tmp_path_factory.mktemp("sim") / "product", 1200, chunk_users=500, seed=4)


def _ids(folder) -> pd.Index:
    """Most ids, out of order, plus one without events."""
    ids = pd.read_parquet(folder / "labels")["user_id"].to_numpy()[::-1][:1000]
    return pd.Index(np.append(ids, np.int32(99_999)), dtype="int32", name="user_id")


def _same(result: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Identical, except that float sums may differ in the last bits (engines add in another order)."""
    sums = [c for c in expected if "_sum_" in c]
    pd.testing.assert_frame_equal(result.drop(columns=sums), expected.drop(columns=sums), check_exact=True)
    pd.testing.assert_frame_equal(result[sums], expected[sums], check_exact=False, rtol=1e-12)


def test_parts_are_the_simulated_product_and_are_never_overwritten(parts):
    expected = simulate_product(1200, seed=4)
    assert sorted(p.name for p in (parts / "events").iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    pd.testing.assert_frame_equal(pd.read_parquet(parts / "events"), expected.events)
    pd.testing.assert_frame_equal(pd.read_parquet(parts / "labels"), expected.labels)
    with pytest.raises(FileExistsError, match="exists"):
        write_parquet_parts(parts, 10)
    assert not [p for p in parts.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


@pytest.mark.parametrize("max_values", [20, 3])
def test_every_engine_gives_the_in_memory_features(parts, dask_client, max_values, capsys):
    ids = _ids(parts)
    options = {**OPTIONS, "max_values": max_values}
    events = pd.read_parquet(parts / "events")
    expected = aggregate_events(events, ids, **{**options, "cutoff": pd.Timestamp(OPTIONS["cutoff"])})
    assert (expected.loc[99_999, "events_90d"], expected["events_90d"].sum() > 0) == (0, True)
    for engine in ("pandas", "duckdb", "dask"):
        result = aggregate_parquet(parts / "events", ids, engine=engine, client=dask_client, **options)
        _same(result, expected)
    shown = capsys.readouterr().out.splitlines()  # the Dask passes' progress, in plain lines
    assert shown[-1].startswith("aggregating events on the cluster: 100% of ") and shown[-1].endswith(" tasks done")
    assert any(line.startswith("counting event values on the cluster: ") for line in shown)


def test_missing_values_and_rare_types_agree(tmp_path, dask_client):
    rng = np.random.default_rng(0)
    n = 3000
    events = pd.DataFrame(
        {
            "user_id": rng.integers(0, 60, n).astype("int64"),
            "timestamp": pd.Timestamp("2025-06-01") + pd.to_timedelta(rng.integers(0, 200 * 86400, n), unit="s"),
            "event_type": pd.Series(rng.choice(["View", "view ", "buy", "refund", "chat", None], n), dtype=object),
            "traffic_source": pd.Series(rng.choice(["a", "b", None], n), dtype=object),
            "amount": np.where(rng.random(n) < 0.3, np.nan, rng.gamma(2, 10, n)),
        }
    )
    folder = tmp_path / "events"
    folder.mkdir()
    for number in range(4):
        events.iloc[number * 750 : (number + 1) * 750].to_parquet(folder / f"part-{number}.parquet", index=False)
    ids = pd.Index(range(70), name="user_id")
    options = {**OPTIONS, "max_values": 2}
    expected = aggregate_events(events, ids, **{**options, "cutoff": pd.Timestamp(OPTIONS["cutoff"])})
    assert "other_7d" in expected and "view_7d" in expected
    for engine in ("duckdb", "dask"):
        _same(aggregate_parquet(folder, ids, engine=engine, client=dask_client, **options), expected)


def test_bad_input_is_named(parts):
    with pytest.raises(ValueError, match="engine='spark' is not allowed"):
        aggregate_parquet(parts / "events", _ids(parts), engine="spark", **OPTIONS)
    with pytest.raises(ValueError, match="'referrer' is in event_breakdowns but not in the events table"):
        aggregate_parquet(parts / "events", _ids(parts), engine="duckdb", **{**OPTIONS, "breakdowns": ["referrer"]})
    with pytest.raises(FileNotFoundError, match="no Parquet events"):
        aggregate_parquet(parts / "nothing", _ids(parts), engine="duckdb", **OPTIONS)


def test_the_engine_follows_the_compute_setting_and_the_size(parts):
    assert choose(Compute(), count_events(parts / "events")) == "pandas"
    assert choose(Compute(), 10**9) == "duckdb"
    assert choose(Compute(engine="dask"), 1000) == "dask"
    assert count_events(parts / "events") == len(pd.read_parquet(parts / "events"))


def test_build_features_takes_parquet_events_through_the_compute_engine(parts):
    from lifecycle.core.params import resolve
    from lifecycle.core.settings import FeatureEngineering
    from lifecycle.data import features

    phase = "04_feature_engineering"
    params = FeatureEngineering.model_validate(resolve([phase], sets=["simulation.n_users=1200"])[phase])
    users = pd.read_parquet(parts / "users").drop_duplicates("user_id")
    table = users.merge(pd.read_parquet(parts / "labels"), on="user_id")
    in_memory = features.build_features(table, pd.read_parquet(parts / "events"), params)
    pd.testing.assert_frame_equal(features.build_features(table, parts / "events", params), in_memory)
