import numpy as np
import pandas as pd

from lifecycle.core.params import resolve
from lifecycle.core.settings import ExploratoryAnalysis
from lifecycle.data import explore

PHASE = "03_exploratory_analysis"


def _params(*sets: str) -> ExploratoryAnalysis:
    return ExploratoryAnalysis.model_validate(resolve([PHASE], sets=sets)[PHASE])


def _table(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "signup_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "signal": signal,
            "noise": rng.normal(size=n),
            "flat": 1.0,
            "plan": rng.choice(["a", "b", "c"], n),
            "churned": (signal + rng.normal(scale=0.5, size=n) > 0.8).astype(int),
        }
    )


def test_the_informative_feature_ranks_first():
    relations = explore.target_relations(_table(), _params())
    assert relations.index[0] == "signal"
    assert relations.loc["signal", "mutual information"] > 5 * relations.loc["noise", "mutual information"]


def test_summary_balance_and_correlations():
    table, params = _table(), _params()
    summary = explore.summary(table, params)
    assert summary.index.tolist() == ["signal", "noise", "flat", "plan"]
    assert summary.loc["plan", "kind"] == "categorical"
    balance = explore.target_balance(table, params)
    assert balance["rows"].sum() == len(table) and balance["share %"].sum() == 100.0
    matrix = explore.correlations(table, params, "spearman")
    assert matrix.loc["signal", "churned"] > 0.5 > abs(matrix.loc["noise", "churned"])


def test_anomalies_find_constant_outliers_and_rare_categories():
    table = _table()
    table.loc[0, "noise"] = 1e6
    table.loc[1, "plan"] = "zz"
    found = explore.anomalies(table, _params())
    assert found.loc["flat", "finding"] == "constant"
    assert found.loc["noise", "finding"] == "far outliers" and found.loc["noise", "count"] == 1
    assert found.loc["plan", "detail"] == "zz"


def test_trend_and_findings_follow_the_data():
    table, params = _table(), _params()
    trend = explore.trend(table, params, "Q")
    assert trend["rows"].sum() == len(table) and len(trend) == 4
    lines = explore.findings(table, params, explore.target_relations(table, params), trend)
    assert lines[0] == "2,000 rows and 4 features."
    assert "Most informative about churned: signal" in lines[-2]
    assert explore.trend(table, _params("time_column=null"), "M") is None


def test_regression_and_text_targets():
    table = _table().assign(revenue=lambda t: 3 * t["signal"] + 1)
    params = _params("task=regression", "target=revenue")
    assert explore.target_relations(table.drop(columns="churned"), params).index[0] == "signal"
    assert "mean" in explore.target_balance(table, params).index
    text = _table().assign(churned=lambda t: t["churned"].map({0: "no", 1: "yes"}))
    trend = explore.trend(text, _params(), "M")
    assert trend.columns.tolist() == ["rows"]


def test_events_summary_or_a_sentence_without_events():
    params = _params()
    assert explore.event_summary(None, params).startswith("No events table")
    events = pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "timestamp": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
            "event_type": ["session", "session", "cancel"],
        }
    )
    summary = explore.event_summary(events, params)
    assert summary.loc["session", ["events", "ids"]].tolist() == [2, 1]
