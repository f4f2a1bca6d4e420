"""Monitoring: the drift knobs raise their own alerts and an undrifted period none; statistics are
defined on constant and all-missing columns; bad input gets a clear message."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import run_in
from lifecycle import drift, monitor, monitor_store
from lifecycle.settings import DriftThresholds
from lifecycle.simulate import Drift, behaviour_summary, period_dates, simulate_product, true_churn_probability

CARD = SimpleNamespace(task="binary", metric="roc_auc", positive_class=1, target="churned", metric_bar=0.75)
THRESHOLDS = DriftThresholds()


def _frame(product, period: str = "training") -> pd.DataFrame:
    """Model inputs as a service would log them: behaviour features plus channel and device; id and label."""
    users = product.users.set_index("user_id")
    features = behaviour_summary(product.users, product.events, period_dates(period=period)[1])
    features = features.assign(channel=users["channel"].astype(str), device=users["device"].astype(str))
    labels = product.labels.set_index("user_id")["churned"]
    return features.assign(churned=labels).reset_index()


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _frame(simulate_product(4000, seed=1, messy=False))


def _production(drift_: Drift, weeks: int = 2, n: int = 1000) -> pd.DataFrame:
    frames = []
    for week in range(weeks):
        product = simulate_product(n, seed=10 + week, period="production", drift=drift_, messy=False)
        frame = _frame(product, "production")
        frames.append(frame.assign(timestamp=pd.Timestamp("2026-12-01", tz="UTC") + pd.Timedelta(days=7 * week)))
    return pd.concat(frames, ignore_index=True)


def _score(frame: pd.DataFrame) -> pd.Series:
    """The 'model': the training world's true churn function (a perfect champion before any concept change)."""
    return true_churn_probability(frame.set_index("user_id", drop=False)).reset_index(drop=True)


def _check(reference: pd.DataFrame, production: pd.DataFrame) -> pd.DataFrame:
    production = production.assign(output_probability_1=_score(production).to_numpy())
    inputs = reference.drop(columns=["user_id", "churned"])
    accepted = roc_auc_score(reference["churned"], _score(reference))
    return monitor.check(production, inputs, _score(reference), CARD, THRESHOLDS, accepted, "W", 200)


def _alerted(results: pd.DataFrame) -> set[tuple[str, str]]:
    return set(map(tuple, monitor.alerts(results)[["feature", "statistic"]].to_numpy()))


def test_an_undrifted_period_raises_no_alert(reference):
    results = _check(reference, _production(Drift()))
    assert results["window"].nunique() == 2
    assert not results["alert"].any(), monitor.alerts(results)
    assert results["feature"].str.startswith("performance").sum() == 2
    assert monitor.verdict(results).startswith("No alerts")


@pytest.mark.parametrize(("knob", "expected", "quiet"), [
    (Drift(channel_shift=0.4), {("channel", "psi")}, {"device", "age", "plan"}),
    (Drift(new_category=True), {("device", "new_categories"), ("device", "psi")}, {"channel", "age", "plan"}),
    (Drift(activity_change=-0.5), {("sessions_30d", "ks"), ("days_since_last_session", "ks")},
     {"channel", "device", "age", "plan"}),
])
def test_each_drift_knob_raises_its_own_alerts(reference, knob, expected, quiet):
    alerted = _alerted(_check(reference, _production(knob, weeks=1)))
    assert expected <= alerted
    assert not {feature for feature, _ in alerted} & quiet


def test_a_concept_change_shows_in_performance_not_in_the_inputs(reference):
    results = _check(reference, _production(Drift(concept_change=1.0), weeks=1))
    alerted = _alerted(results)
    assert ("performance (roc_auc)", "roc_auc") in alerted
    assert not {f for f, _ in alerted if f not in ("performance (roc_auc)", monitor.PREDICTION)}


def test_statistics_are_defined_on_constant_missing_and_empty_columns():
    constant = pd.Series([3.0] * 50)
    missing = pd.Series([np.nan] * 20)
    for function in (drift.psi_numeric, drift.ks, drift.psi_categorical, drift.new_categories):
        for reference, current in ((constant, constant), (constant, missing), (missing, missing),
                                   (constant, constant.iloc[:0])):
            value, _ = function(reference, current)
            assert np.isfinite(value)
    assert drift.psi_numeric(constant, constant)[0] == 0.0
    assert drift.psi_numeric(constant, missing)[0] > THRESHOLDS.psi  # a column gone missing is drift
    assert drift.new_categories(pd.Series(["a", "b"]), pd.Series(["a", "c", "c", "b"])) == (0.5, "new: c")


def test_a_window_with_too_few_rows_gets_no_verdict():
    reference = pd.DataFrame({"x": np.arange(1000.0)})
    results = drift.compare(reference, pd.DataFrame({"x": [5000.0] * 5}), "w", {"psi": 0.2, "ks": 0.1}, min_rows=100)
    assert {r.note for r in results} == {"too few rows (< 100)"} and not any(r.alert for r in results)


def test_bad_input_gets_a_clear_message(reference):
    production = _production(Drift(), weeks=1).assign(output_probability_1=0.5)
    inputs = reference.drop(columns=["user_id", "churned"])
    with pytest.raises(monitor.MonitorError, match="production window is empty"):
        monitor.check(production.iloc[:0], inputs, _score(reference), CARD, THRESHOLDS, 0.8, "W", 200)
    with pytest.raises(monitor.MonitorError, match="share no columns"):
        monitor.check(production, inputs.add_prefix("other_"), _score(reference), CARD, THRESHOLDS, 0.8, "W", 200)
    with pytest.raises(monitor.MonitorError, match="lacks column"):
        monitor_store.attach_labels(production, pd.DataFrame({"user_id": [1]}), "user_id", "churned",
                                    pd.Timestamp("2027-01-01", tz="UTC"))


def test_the_monitor_command_exits_2_with_one_line_on_bad_input(project):
    result = run_in(project, "lifecycle", "monitor")
    assert result.returncode == 2
    assert result.stderr.startswith("lifecycle monitor: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_batches_get_prediction_drift_checks_of_their_own(reference):
    production = _production(Drift(), weeks=1).assign(output_probability_1=lambda f: _score(f).to_numpy())
    inputs = reference.drop(columns=["user_id", "churned"])
    scores = _score(reference)
    batches = pd.DataFrame({"batch_id": ["same"] * 1000 + ["shifted"] * 1000,
                            "output_probability_1": np.r_[scores.sample(1000, random_state=0).to_numpy(),
                                                          np.clip(scores.sample(1000, random_state=1) + 0.2, 0, 1)]})
    results = monitor.check(production, inputs, scores, CARD, THRESHOLDS, 0.8, "W", 200, batches=batches)
    batch = results[results["window"].str.startswith("batch ")].set_index(["window", "statistic"])["alert"]
    assert batch[("batch shifted", "psi")] and batch[("batch shifted", "ks")]
    assert not batch[("batch same", "psi")] and not batch[("batch same", "ks")]


def test_the_log_is_read_for_the_monitored_version_only(tmp_path):
    from lifecycle import prediction_log

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = prediction_log.engine(url)
    table = prediction_log.predictions_table("log")
    table.metadata.create_all(store)
    rows = [prediction_log.row("r", k, "churn", 1 + k % 2, "production", {"user_id": k, "age": 30 + k},
                               {"prediction": 0, "probability_1": 0.1 * k}) for k in range(6)]
    prediction_log.write(store, table, rows)
    store.dispose()
    frame = monitor_store.read_log(url, "log", "churn", 2)
    assert list(frame["user_id"]) == [1, 3, 5] and list(frame["output_probability_1"]) == pytest.approx([0.1, 0.3, 0.5])
    with pytest.raises(monitor.MonitorError, match=r"no predictions of churn version 3.*holds version\(s\) 1, 2"):
        monitor_store.read_log(url, "log", "churn", 3)
    with pytest.raises(monitor.MonitorError, match="no production predictions of model 'other'"):
        monitor_store.read_log(url, "log", "other", 1)
    assert monitor_store.read_batches(url, "no_batches_yet", "churn", 1).empty


def test_regression_performance_alerts_when_errors_grow():
    card = SimpleNamespace(task="regression", metric="mae", positive_class=None, target="y", metric_bar=5.0)
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=2000)})
    stamps = pd.Timestamp("2027-01-04", tz="UTC") + pd.to_timedelta(np.repeat([0, 7], 500), unit="D")
    y = rng.normal(size=1000)
    production = pd.DataFrame({"x": rng.normal(size=1000), "timestamp": stamps, "y": y,
                               "output_prediction": y + np.r_[rng.normal(0, 1, 500), rng.normal(0, 3, 500)]})
    results = monitor.check(production, reference, reference["x"], card, THRESHOLDS, 0.8, "W", 200)
    performance = results[results["feature"] == "performance (mae)"].set_index("window")
    assert list(performance["alert"]) == [False, True]  # mae ~0.8 then ~2.4, against a ceiling of 0.85
    assert performance["threshold"].iloc[0] == pytest.approx(0.85)
