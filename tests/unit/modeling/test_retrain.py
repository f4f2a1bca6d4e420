"""Retraining: on a period where the churn function moved, the champion's recipe on fresh labels
beats the champion on the same hold-out; promotion needs the margin and the bar; lineage is kept."""

from types import SimpleNamespace

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from lifecycle import registry
from lifecycle.core import paths
from lifecycle.modeling import retrain
from lifecycle.simulation.simulate import Drift, behaviour_summary, period_dates, simulate_product

NUMERIC = ["days_since_last_session", "sessions_30d", "tickets_90d", "tenure_days", "age"]
SCHEMA = pd.DataFrame({"kind": ["numeric"] * len(NUMERIC) + ["categorical"]}, index=[*NUMERIC, "plan"])
CARD = SimpleNamespace(task="binary", metric="roc_auc", positive_class=1, target="churned", metric_bar=0.7)


def _rows(n: int, seed: int, period: str, drift: Drift | None = None, week: str = "w1") -> pd.DataFrame:
    product = simulate_product(n, seed=seed, period=period, drift=drift or Drift(), messy=False)
    features = behaviour_summary(product.users, product.events, period_dates(period=period)[1])
    return features.assign(churned=product.labels.set_index("user_id")["churned"], window=week).reset_index()


@pytest.fixture(scope="module")
def champion():
    train = _rows(4000, 1, "training")
    model = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])]
                ),
            ),
            ("model", LogisticRegression(C=0.5, max_iter=1000)),
        ]
    )
    return model.fit(train[list(SCHEMA.index)], train["churned"])


@pytest.fixture(scope="module")
def drifted() -> pd.DataFrame:
    """Four labelled weeks after a concept change (plus the usual covariate drift)."""
    knobs = Drift(channel_shift=0.3, activity_change=-0.2, new_category=True, concept_change=1.0)
    return pd.concat([_rows(1500, 20 + k, "production", knobs, f"w{k}") for k in range(1, 5)], ignore_index=True)


def test_the_challenger_beats_the_champion_on_the_drifted_period(champion, drifted):
    fresh = retrain.split_fresh(drifted, "churned", fresh_windows=3, holdout_windows=1)
    assert fresh.train_windows == ["w1", "w2", "w3"] and fresh.holdout_windows == ["w4"]
    challenger, rows = retrain.train_challenger(champion, SCHEMA, fresh.train, "churned")
    assert rows == 4500
    assert challenger.get_params()["model__C"] == 0.5  # the champion's recipe
    table = retrain.compare({"champion": champion, "challenger": challenger}, fresh.holdout, SCHEMA, CARD, 0.3)
    assert table.loc["roc_auc", "challenger"] > table.loc["roc_auc", "champion"] + 0.02, table
    promote, text = retrain.decide(table, CARD, margin=0.01, go=True)
    assert promote and text.startswith("Promote")


def test_promotion_needs_the_trigger_the_margin_and_the_bar():
    table = pd.DataFrame({"champion": [0.72], "challenger": [0.74]}, index=["roc_auc"])
    assert retrain.decide(table, CARD, 0.01, go=True)[0]
    assert not retrain.decide(table, CARD, 0.05, go=True)[0]
    assert not retrain.decide(table, CARD, 0.01, go=False)[0]
    high_bar = SimpleNamespace(**{**vars(CARD), "metric_bar": 0.8})
    assert "misses the problem card's bar" in retrain.decide(table, high_bar, 0.01, go=True)[1]


def test_the_registry_keeps_both_versions_and_records_the_lineage(champion, drifted, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "MODELS", tmp_path / "models")
    parent = registry.register(champion, "churn", {"data_version": "abc123", "task": "binary", "threshold": 0.3})
    registry.set_alias("churn", "champion", parent)
    fresh = retrain.split_fresh(drifted, "churned", 3, 1)
    challenger, rows = retrain.train_challenger(champion, SCHEMA, fresh.train, "churned")
    table = retrain.compare({"champion": champion, "challenger": challenger}, fresh.holdout, SCHEMA, CARD, 0.3)
    text, lineage = retrain.register(
        challenger,
        name="churn",
        champion_metadata=registry.show("churn"),
        table=table,
        fresh=fresh,
        rows=rows,
        include_training_data=False,
        go=True,
        promote=True,
    )
    assert "made it churn@champion" in text and "parent_version" not in lineage.index  # numbers grow with runs
    versions = registry.versions("churn")
    assert list(versions["aliases"]) == ["-", "champion"]  # both kept; the alias moved
    meta = registry.show("churn", alias="champion")
    assert meta["lineage"]["parent_version"] == parent.version
    assert meta["lineage"]["parent_data_version"] == "abc123"
    assert meta["lineage"]["fresh_windows"] == ["w1", "w2", "w3"]
    assert meta["data_version"] == retrain.data_version(fresh.train) and meta["threshold"] == 0.3
    kept, _ = retrain.register(
        challenger,
        name="churn",
        champion_metadata=meta,
        table=table,
        fresh=fresh,
        rows=rows,
        include_training_data=False,
        go=True,
        promote=False,
    )
    assert kept == "Registered the challenger as churn@challenger; churn@champion is unchanged."
    assert registry.aliases("churn") == {"challenger": 3, "champion": 2}


def test_nothing_to_learn_from_is_said_plainly(drifted):
    with pytest.raises(retrain.RetrainError, match="no production rows have labels yet"):
        retrain.split_fresh(drifted.assign(churned=float("nan")), "churned", 3, 1)
    with pytest.raises(retrain.RetrainError, match="at least 2"):
        retrain.split_fresh(drifted[drifted["window"] == "w1"].head(7), "churned", 3, 1)


def test_one_labelled_window_is_cut_in_order_into_parts_and_said(drifted):
    one = drifted[drifted["window"] == "w1"]
    fresh = retrain.split_fresh(one, "churned", 3, 1)
    assert fresh.train_windows == ["part 1 of 4", "part 2 of 4", "part 3 of 4"]
    assert fresh.holdout_windows == ["part 4 of 4"] and len(fresh.train) + len(fresh.holdout) == len(one)
    assert fresh.holdout[one.columns.drop("window")].equals(one[one.columns.drop("window")].tail(len(fresh.holdout)))
    assert "Only 1 labelled window(s) (w1)" in retrain.describe(fresh)
    assert not retrain.triggered({"alert": False}, "alert")[0]
    assert retrain.triggered({"alert": False}, "always")[0]
