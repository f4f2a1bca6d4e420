import numpy as np
import pandas as pd
import pytest

from lifecycle.core.params import resolve
from lifecycle.core.settings import DataPreparation
from lifecycle.data import prepare
from lifecycle.data.prepare import InvalidData
from lifecycle.data.sources import Dataset, SourceError
from lifecycle.simulation.simulate import simulate_product

PHASE = "02_data_preparation"


def _params(*sets: str) -> DataPreparation:
    return DataPreparation.model_validate(resolve([PHASE], sets=sets)[PHASE])


def test_labels_made_from_events_equal_the_simulators_truth():
    product = simulate_product(n_users=3000, seed=3)
    labels = prepare.make_labels(Dataset(product.users, product.events), _params())
    truth = product.labels.set_index("user_id")["churned"]
    assert labels.reindex(truth.index).astype(int).equals(truth.astype(int))
    assert 0.1 < labels.mean() < 0.4


def _messy() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1, 2, 2, 3, 4, 4, 5, None, 7],
            "signup_date": [
                "2025-01-01",
                "2025-01-02",
                "2025-01-02",
                "not a date",
                "2025-01-04",
                "2025-01-04",
                "2025-01-05",
                "2025-01-06",
                "2025-01-07",
            ],
            "plan": ["Basic", " basic", "basic", "PREMIUM", "premium", "basic", "premium ", "basic", "basic"],
            "fee": ["$9.99", "9,99", "9.99", "12.50", "oops", "9.99", "5", "5", "5"],
            "age": [25, 999, 999, -1, 40, 40, 33, 20, 50],
            "churned": [0, 1, 1, 0, 1, 0, None, 0, 1],
        }
    )


def test_prepare_fixes_types_spellings_duplicates_and_ranges_and_keeps_rejects_aside():
    params = _params()
    prepared = prepare.prepare(Dataset(_messy(), None), params, {"age": (13, 110)}, numeric_text_share=0.8)
    table, rejected = prepared.table, prepared.rejected
    # user 2's rows differ only in spelling: one row after unifying; user 4's rows disagree: both rejected
    assert table["user_id"].astype(int).tolist() == [1, 2, 3, 7]
    assert sorted(table["plan"].astype(str).unique()) == ["basic", "premium"]
    assert table["fee"].tolist() == [9.99, 9.99, 12.5, 5.0]
    assert table["age"].isna().tolist() == [False, True, True, False]
    assert pd.isna(table.loc[table["user_id"] == 3, "signup_date"]).all()
    assert dict(zip(rejected["user_id"].fillna(-1), rejected["reason"])) == {
        4.0: "id appears on rows that disagree",
        5.0: "missing target",
        -1: "missing id",
    }
    assert len(table) + len(rejected) + 1 == len(_messy())  # + the duplicate of user 2
    report = prepared.report.set_index(["step", "column"])
    assert report.loc[("duplicates", "(all)"), "rows"] == 1
    assert report.loc[("outliers", "age"), "rows"] == 2
    assert "1 unreadable set to missing" in report.loc[("types", "fee"), "action"]


def test_valid_range_on_an_unknown_column_is_named():
    with pytest.raises(SourceError, match="valid_ranges names column 'height'"):
        prepare.prepare(Dataset(_messy(), None), _params(), {"height": (0, 3)})


def test_validation_fails_loudly():
    params = _params()
    prepared = prepare.prepare(Dataset(_messy(), None), params, {})
    schema = pd.DataFrame(index=["user_id", "plan", "lost_column"])
    checks = prepare.validate(prepared, schema, params, {"age": (13, 110)})
    assert not checks.loc["every raw column kept", "ok"]
    assert not checks.loc["age within [13, 110]", "ok"]
    with pytest.raises(InvalidData, match="fails 2 check"):
        prepare.require_valid(checks)


def test_a_target_cannot_be_made_for_regression():
    params = _params("task=regression", "target=revenue")
    with pytest.raises(SourceError, match="making it from events works for task 'binary' only"):
        prepare.make_labels(Dataset(_messy().drop(columns="churned"), pd.DataFrame()), params)


def test_events_are_deduplicated_typed_and_orphans_dropped():
    params = _params()
    events = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 99, 2],
            "timestamp": ["2025-12-05", "2025-12-05", "bad", "2025-12-01", "2025-12-10"],
            "event_type": ["Cancel", "Cancel", "session", "session", " SESSION"],
        }
    )
    table = _messy().drop(columns="churned").iloc[:2]
    prepared = prepare.prepare(Dataset(table, events), params, {})
    assert prepared.events["user_id"].tolist() == [1, 2]
    assert prepared.events["event_type"].astype(str).tolist() == ["cancel", "session"]
    assert prepared.table.set_index("user_id")["churned"].to_dict() == {1: 1, 2: 0}
    assert np.issubdtype(prepared.events["timestamp"].dtype, np.datetime64)


def test_text_written_as_dates_is_read_as_dates_and_words_never_are():
    from lifecycle.data.prepare import read_as_dates

    parsed = read_as_dates(pd.Series(["1970-01-01", "1971-06-30", None, "1972-01-01"]))
    assert str(parsed.dtype).startswith("datetime64") and parsed.isna().sum() == 1
    assert read_as_dates(pd.Series(["March", "April", "May"])) is None  # the parser would invent a year
    assert read_as_dates(pd.Series(["a1", "b2"])) is None and read_as_dates(pd.Series([1.0, 2.0])) is None
    assert read_as_dates(pd.Series(["2020-01-01"] * 8 + ["soon", "later"])) is None  # under 90% dates
