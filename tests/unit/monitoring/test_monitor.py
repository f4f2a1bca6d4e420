"""Monitoring: effect-size drift with thresholds learned from the reference (quiet on a large undrifted
window where a p-value rule is not), each drift knob its own alert, defined answers on constant,
all-missing and tiny windows, multivariate drift, every window at once, merged alerts, bad input
(the label-free estimate: test_performance_estimate.py)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import run_in
from scipy import stats
from sklearn.metrics import roc_auc_score
from support.monitoring import DROP, SETTINGS, awkward_columns, champion_score, logged_frame, production_weeks

from lifecycle.core import paths
from lifecycle.core.params import ParamsError, resolve
from lifecycle.core.settings import Store
from lifecycle.modeling import scoring
from lifecycle.monitoring import alerts as monitor_alerts
from lifecycle.monitoring import drift, monitor
from lifecycle.monitoring import store as monitor_store
from lifecycle.monitoring import traffic as production
from lifecycle.monitoring.drift import thresholds as drift_thresholds
from lifecycle.simulation.simulate import Drift, simulate_product

CARD = SimpleNamespace(task="binary", metric="roc_auc", positive_class=1, target="churned", metric_bar=0.75)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return logged_frame(simulate_product(4000, seed=1, messy=False))


def _fit(reference: pd.DataFrame, **settings) -> monitor.Reference:
    inputs = reference.drop(columns=["user_id", "churned"])
    return monitor.fit(inputs, champion_score(reference), SETTINGS.model_copy(update=settings), seed=0, min_rows=200)


def _check(reference: pd.DataFrame, production: pd.DataFrame) -> pd.DataFrame:
    production = production.assign(output_probability_1=champion_score(production).to_numpy())
    accepted = roc_auc_score(reference["churned"], champion_score(reference))
    return monitor.check(
        production,
        _fit(reference),
        card=CARD,
        performance_drop=DROP,
        reference_metric=accepted,
        period="W",
        min_rows=200,
    )


def _alerted(results: pd.DataFrame) -> set[tuple[str, str]]:
    return set(map(tuple, monitor_alerts.alerts(results)[["feature", "statistic"]].to_numpy()))


def _table(n: int, seed: int, shift: float = 0.0, mix: float = 0.0) -> pd.DataFrame:
    """Six numeric columns (x0 and x1 correlated, 0.9) and two categorical ones; ``shift`` moves the numbers
    (in sd), ``mix`` the categories."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(4, n))
    z[1] = 0.9 * z[0] + np.sqrt(1 - 0.9**2) * z[1]
    numbers = {f"x{k}": shift + (1 + shift) * z[k] for k in range(4)}
    numbers |= {"skewed": rng.lognormal(shift, 1, n), "count": rng.poisson(3 + shift, n).astype(float)}
    shares = np.array([0.5 - mix, 0.3, 0.2 + mix])
    return pd.DataFrame(
        numbers
        | {
            "colour": rng.choice(["red", "green", "blue"], n, p=shares),
            "size": rng.choice(["S", "M", "L"], n, p=shares[::-1]),
        }
    )


def test_a_large_practically_undrifted_window_raises_no_alert_where_p_values_flag_most_features():
    """200,000 rows whose differences from the reference (0.03 sd, one point of a category's share)
    matter to no model: the learned thresholds stay quiet, a KS p < 0.05 rule flags most numbers."""
    reference, window = _table(20_000, seed=1), _table(200_000, seed=2, shift=0.03, mix=0.01)
    baseline = drift_thresholds.fit(reference, SETTINGS, seed=0, min_rows=200)
    results = drift.table(drift_thresholds.measure(baseline, window, "w", min_rows=200))
    assert len(results) == 6 * 2 + 2 and not results["alert"].any(), results[results["alert"]]
    p_values = {
        c: stats.ks_2samp(reference[c], window[c]).pvalue
        if drift.kind(reference[c]) == "numeric"
        else stats.chi2_contingency(
            pd.crosstab(np.r_[np.zeros(len(reference)), np.ones(len(window))], np.r_[reference[c], window[c]])
        ).pvalue
        for c in reference.columns
    }
    flagged = [c for c, p in p_values.items() if p < 0.05]
    assert len(flagged) > len(p_values) / 2, p_values
    undrifted = drift.table(drift_thresholds.measure(baseline, _table(1_000, seed=3), "small", min_rows=200))
    assert not undrifted["alert"].any()


@pytest.mark.parametrize("rows", [200, 2_000])
def test_thresholds_hold_the_stated_false_alert_rate_on_awkward_columns(rows):
    """Ties, zero-inflation, missing values, rare levels: on 16,000 undrifted feature-windows the share that
    alert is within a factor of two of the rate asked (0.002 here, so that a test of this size can tell)."""
    reference = awkward_columns(40_000, seed=1)
    baseline = drift_thresholds.fit(
        reference, SETTINGS.model_copy(update={"false_alert_rate": 0.002}), seed=0, min_rows=100
    )
    windows = 2_000
    production = awkward_columns(rows * windows, seed=2)
    found = drift_thresholds.measure_windows(
        baseline, production, np.repeat(np.arange(windows), rows), [str(w) for w in range(windows)], 100
    )
    alerted = sum(len({r.feature for r in records if r.alert}) for records in found)
    assert 0.001 * 8 * windows <= alerted <= 0.004 * 8 * windows, alerted


def test_thresholds_are_learned_from_the_reference_and_reproducible_for_a_seed():
    reference = _table(4_000, seed=1)

    def fit(seed):
        return drift_thresholds.fit(reference, SETTINGS, seed=seed, min_rows=200).thresholds

    pd.testing.assert_frame_equal(fit(7), fit(7))
    assert not fit(7)["threshold"].equals(fit(8)["threshold"])
    assert (fit(7)["threshold"] > fit(7)["mean"]).all()


def test_a_reference_too_small_for_its_chunks_is_refused_with_a_message(reference):
    with pytest.raises(
        drift_thresholds.CalibrationError,
        match=r"1,000 rows, too few .* 10 chunks of at least "
        r"min_rows=200 need 2,000",
    ):
        drift_thresholds.fit(_table(1_000, seed=1), SETTINGS, seed=0, min_rows=200)
    with pytest.raises(monitor.MonitorError, match="too few to learn drift thresholds"):
        monitor.fit(
            reference.drop(columns=["user_id", "churned"]).head(500),
            champion_score(reference).head(500),
            SETTINGS,
            0,
            200,
        )


def test_an_undrifted_period_raises_no_alert(reference):
    results = _check(reference, production_weeks(Drift()))
    assert results["window"].nunique() == 2
    assert not results["alert"].any(), monitor_alerts.alerts(results)
    assert results["feature"].str.startswith("performance").sum() == 2
    assert monitor_alerts.verdict(results).startswith("No alerts")


@pytest.mark.parametrize(
    ("knob", "expected", "quiet"),
    [
        (Drift(channel_shift=0.4), {("channel", "jensen_shannon")}, {"device", "age", "plan"}),
        (Drift(new_category=True), {("device", "jensen_shannon")}, {"channel", "age", "plan"}),
        (
            Drift(activity_change=-0.5),
            {("sessions_30d", "wasserstein"), ("days_since_last_session", "wasserstein")},
            {"channel", "device", "age", "plan"},
        ),
    ],
)
def test_each_drift_knob_raises_its_own_alerts(reference, knob, expected, quiet):
    results = _check(reference, production_weeks(knob, weeks=1))
    alerted = _alerted(results)
    assert expected <= alerted
    assert not {feature for feature, _ in alerted} & quiet
    if knob.new_category:
        assert (
            "unseen: smart_tv" in results.set_index(["feature", "statistic"]).loc[("device", "jensen_shannon"), "note"]
        )


def test_a_concept_change_shows_in_performance_not_in_the_inputs(reference):
    results = _check(reference, production_weeks(Drift(concept_change=1.0), weeks=1))
    alerted = _alerted(results)
    assert ("performance (roc_auc)", "roc_auc") in alerted
    assert not {f for f, _ in alerted if f not in ("performance (roc_auc)", monitor.PREDICTION)}


def test_statistics_are_defined_on_constant_missing_and_empty_columns():
    constant = pd.Series([3.0] * 50)
    missing = pd.Series([np.nan] * 20)
    for function in (
        drift.psi_numeric,
        drift.ks,
        drift.psi_categorical,
        drift.new_categories,
        drift.jensen_shannon,
        drift.wasserstein,
    ):
        for reference, current in (
            (constant, constant),
            (constant, missing),
            (missing, missing),
            (constant, constant.iloc[:0]),
        ):
            value, _ = function(reference, current)
            assert np.isfinite(value)
    assert drift.jensen_shannon(constant, constant) == (0.0, "")
    assert drift.jensen_shannon(constant, missing) == (1.0, "all values missing in this window")
    assert drift.wasserstein(constant, missing)[1].startswith("all values missing in this window")
    assert drift.wasserstein(constant, constant + 2) == (
        2.0,
        "constant in the reference (3): distance in the column's units",
    )
    assert drift.jensen_shannon(pd.Series(["a", "b"] * 5), pd.Series(["a", "c", "c", "b"]))[1] == "unseen: c (50%)"


def test_constant_all_missing_and_tiny_windows_get_defined_plain_answers():
    reference = _table(4_000, seed=1).assign(flat=1.0)
    baseline = drift_thresholds.fit(reference, SETTINGS, seed=0, min_rows=200)
    same = drift.table(drift_thresholds.measure(baseline, _table(1_000, seed=2).assign(flat=1.0), "same", 200))
    assert not same["alert"].any() and np.isfinite(same["value"]).all()
    moved = drift.table(drift_thresholds.measure(baseline, _table(1_000, seed=2).assign(flat=2.0), "moved", 200))
    assert set(moved.loc[moved["alert"], "feature"]) == {"flat"}
    gone = drift.table(drift_thresholds.measure(baseline, _table(1_000, seed=2).assign(x0=np.nan), "gone", 200))
    x0 = gone[gone["feature"] == "x0"].set_index("statistic")
    assert x0.loc["jensen_shannon", "alert"] and x0.loc["jensen_shannon", "note"] == "all values missing in this window"
    assert x0.loc["wasserstein", "value"] == 0.0 and "all values missing" in x0.loc["wasserstein", "note"]
    tiny = drift.table(drift_thresholds.measure(baseline, _table(5, seed=2, shift=5), "tiny", 200))
    assert not tiny["alert"].any() and set(tiny["note"]) == {"too few rows (< 200)"}
    assert np.isfinite(pd.concat([same, moved, gone, tiny])[["value", "threshold"]].to_numpy()).all()


def test_a_window_smaller_than_a_chunk_gets_a_higher_threshold_a_larger_one_the_chunks():
    baseline = drift_thresholds.fit(_table(20_000, seed=1), SETTINGS, seed=0, min_rows=200)
    assert baseline.chunk_rows == 2_000 and set(baseline.thresholds["rows"]) == {2_000}

    def limit(feature, statistic, rows):
        return drift_thresholds.threshold(baseline, feature, statistic, rows, baseline.thresholds)

    for feature, statistic in (("x0", "wasserstein"), ("colour", "jensen_shannon"), ("count", "jensen_shannon")):
        assert limit(feature, statistic, 500) > 1.5 * limit(feature, statistic, 2_000)
        assert limit(feature, statistic, 100_000) == limit(feature, statistic, 2_000)
    assert limit("x0", "wasserstein", 1_234) == limit("x0", "wasserstein", 1_200)  # two significant digits
    assert (1_200 in {rows for _, _, rows in baseline.learned}) and 1_234 not in {r for _, _, r in baseline.learned}


def test_a_correlation_changing_sign_with_marginals_kept_raises_the_multivariate_alert_only():
    from lifecycle.monitoring.drift.multivariate import FEATURE

    reference = _table(4_000, seed=1).assign(score=lambda f: f["x2"])
    fitted = monitor.fit(reference.drop(columns="score"), reference["score"], SETTINGS, 0, 200)
    stamps = pd.Timestamp("2027-01-04", tz="UTC") + pd.to_timedelta(np.repeat([0, 7], 1000), unit="D")
    window = _table(2_000, seed=2).assign(timestamp=stamps)
    before = window["x1"].to_numpy()[1000:].copy()
    window.iloc[1000:] = production.re_pair(window.iloc[1000:], "x0", ["x1"], 1.0, seed=0)
    assert np.array_equal(np.sort(window["x1"].to_numpy()[1000:]), np.sort(before))  # the marginal, exactly
    window = window.assign(output_probability_1=window["x2"])
    assert np.corrcoef(window["x0"][1000:], window["x1"][1000:])[0, 1] < -0.8
    results = monitor.check(
        window, fitted, card=CARD, performance_drop=DROP, reference_metric=0.8, period="W", min_rows=200
    )
    assert set(map(tuple, monitor_alerts.alerts(results)[["feature", "window"]].to_numpy())) == {
        (FEATURE, "2027-01-11")
    }
    quiet = results[(results["feature"] == FEATURE) & (results["window"] == "2027-01-04")].iloc[0]
    assert quiet["value"] < quiet["threshold"] and "components" in quiet["note"]


def test_alerts_are_merged_over_consecutive_windows_and_ranked_by_effect_size():
    results = pd.DataFrame(
        [
            ("a", "w1", "wasserstein", 0.3, 0.1, True),
            ("a", "w2", "wasserstein", 0.5, 0.1, True),
            ("a", "w3", "wasserstein", 0.05, 0.1, False),
            ("a", "w4", "wasserstein", 0.2, 0.1, True),
            ("b", "w2", "jensen_shannon", 0.9, 0.1, True),
            ("performance (roc_auc)", "w3", "roc_auc", 0.6, 0.75, True),
        ],
        columns=["feature", "window", "statistic", "value", "threshold", "alert"],
    ).assign(rows=1000, note="")
    table = monitor_alerts.alert_table(results)
    assert list(zip(table["feature"], table["first window"], table["last window"], table["windows"])) == [
        ("b", "w2", "w2", 1),
        ("a", "w1", "w2", 2),
        ("a", "w4", "w4", 1),
        ("performance (roc_auc)", "w3", "w3", 1),
    ]
    assert list(table["times threshold"]) == [9.0, 5.0, 2.0, 1.25]
    assert list(table["kind"]) == ["feature drift"] * 3 + ["performance"]


def test_bad_input_gets_a_clear_message(reference):
    production = production_weeks(Drift(), weeks=1).assign(output_probability_1=0.5)
    fitted = _fit(reference)
    with pytest.raises(monitor.MonitorError, match="production window is empty"):
        monitor.check(
            production.iloc[:0],
            fitted,
            card=CARD,
            performance_drop=DROP,
            reference_metric=0.8,
            period="W",
            min_rows=200,
        )
    with pytest.raises(monitor.MonitorError, match="share no columns"):
        monitor.check(
            production.add_prefix("other_").assign(timestamp=production["timestamp"]),
            fitted,
            card=CARD,
            performance_drop=DROP,
            reference_metric=0.8,
            period="W",
            min_rows=200,
        )
    with pytest.raises(monitor.MonitorError, match="lacks column"):
        monitor_store.attach_labels(
            production, pd.DataFrame({"user_id": [1]}), "user_id", "churned", pd.Timestamp("2027-01-01", tz="UTC")
        )


def test_the_monitor_command_exits_2_with_one_line_on_bad_input(project):
    result = run_in(project, "lifecycle", "monitor")
    assert result.returncode == 2
    assert result.stderr.startswith("lifecycle monitor: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_batches_get_prediction_drift_checks_of_their_own(reference):
    production = production_weeks(Drift(), weeks=1).assign(output_probability_1=lambda f: champion_score(f).to_numpy())
    scores = champion_score(reference)
    batches = pd.DataFrame(
        {
            "batch_id": ["same"] * 1000 + ["shifted"] * 1000,
            "output_probability_1": np.r_[
                scores.sample(1000, random_state=0).to_numpy(), np.clip(scores.sample(1000, random_state=1) + 0.2, 0, 1)
            ],
        }
    )
    results = monitor.check(
        production,
        _fit(reference),
        card=CARD,
        performance_drop=DROP,
        reference_metric=0.8,
        period="W",
        min_rows=200,
        batches=batches,
    )
    batch = results[results["window"].str.startswith("batch ")].set_index(["window", "statistic"])["alert"]
    assert batch[("batch shifted", "jensen_shannon")] and batch[("batch shifted", "wasserstein")]
    assert not batch[("batch same", "jensen_shannon")] and not batch[("batch same", "wasserstein")]


def test_the_log_is_read_for_the_monitored_version_only(store_url):
    from lifecycle.store import prediction_log

    url = store_url
    store = prediction_log.engine(url)
    table = prediction_log.predictions_table("Log")  # mixed case: quoted on PostgreSQL
    table.metadata.create_all(store)
    rows = [
        prediction_log.row(
            "r",
            record=k,
            model="churn",
            version=1 + k % 2,
            role="production",
            inputs={"user_id": k, "age": 30 + k},
            outputs={"prediction": 0, "probability_1": 0.1 * k},
        )
        for k in range(6)
    ]
    prediction_log.write(store, table, rows)
    store.dispose()
    frame = monitor_store.read_log(url, "Log", "churn", 2)
    assert list(frame["user_id"]) == [1, 3, 5] and list(frame["output_probability_1"]) == pytest.approx([0.1, 0.3, 0.5])
    with pytest.raises(monitor.MonitorError, match=r"no predictions of churn version 3.*holds version\(s\) 1, 2"):
        monitor_store.read_log(url, "Log", "churn", 3)
    with pytest.raises(monitor.MonitorError, match="no production predictions of model 'other'"):
        monitor_store.read_log(url, "Log", "other", 1)
    assert monitor_store.read_batches(url, "no_batches_yet", "churn", 1).empty
    pd.DataFrame(
        {
            "user_id": [1, 2, 3],
            "prediction": [0, 1, 1],
            "probability_1": [0.2, 0.7, 0.9],
            "model_name": "churn",
            "model_version": [2, 2, 1],
            "batch_id": ["b1", "b1", "b0"],
            "scored_at": pd.Timestamp("2027-01-04", tz="UTC"),
        }
    ).to_sql("Batches", store, index=False)
    store.dispose()
    batches = monitor_store.read_batches(url, "Batches", "churn", 2).sort_values("output_probability_1")
    assert batches.to_dict(orient="list") == {
        "batch_id": ["b1", "b1"],
        "output_prediction": [0, 1],
        "output_probability_1": [0.2, 0.7],
    }


def test_the_label_feed_is_a_file_or_a_table_beside_the_predictions(store_url, tmp_path, monkeypatch):
    labels = pd.DataFrame(
        {
            "user_id": [1, 2, 3],
            "churned": [0, 1, 1],
            "labelled_at": pd.to_datetime(["2027-01-01", "2027-01-08", "2027-02-01"], utc=True),
        }
    )
    feed = f"sql:{store_url}::labels"
    monitor_store.write_labels(labels.iloc[:1].assign(churned=1), feed)
    monitor_store.write_labels(labels, feed)  # replaced whole
    read = monitor_store.read_labels(feed).sort_values("user_id", ignore_index=True)
    assert read[["user_id", "churned"]].to_dict(orient="list") == {"user_id": [1, 2, 3], "churned": [0, 1, 1]}
    assert pd.to_datetime(read["labelled_at"], utc=True).tolist() == labels["labelled_at"].tolist()
    logged = pd.DataFrame({"user_id": [1, 2, 3, 4], "churned": 9})
    known = monitor_store.attach_labels(logged, read, "user_id", "churned", pd.Timestamp("2027-01-10", tz="UTC"))
    assert known["churned"].tolist()[:2] == [0, 1] and known["churned"].iloc[2:].isna().all()
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monitor_store.write_labels(labels, "data/labels.parquet")
    pd.testing.assert_frame_equal(monitor_store.read_labels("data/labels.parquet"), labels)
    with pytest.raises(monitor.MonitorError, match="written to a table, not a query"):
        monitor_store.write_labels(labels, f"sql:{store_url}::SELECT * FROM labels")
    with pytest.raises(monitor.MonitorError, match="cannot read the label feed .*nowhere"):
        monitor_store.read_labels(f"sql:{store_url}::nowhere")


def test_replayed_production_is_logged_and_labelled_in_the_store(scorer, rows, store_url):
    weeks = pd.to_timedelta(np.repeat([0, 7], 100), unit="D")
    frame = rows.iloc[:200].assign(week=np.repeat([1, 2], 100), predicted_at=pd.Timestamp("2027-01-04") + weeks)
    feed = f"sql:{store_url}::labels"
    production.replay(
        frame.iloc[:30],
        scorer,
        url=store_url,
        table="simulated_predictions",
        id_column="user_id",
        target="churned",
        window_days=30,
        labels_path=feed,
    )
    said = production.replay(
        frame,
        scorer,
        url=store_url,
        table="simulated_predictions",
        id_column="user_id",
        target="churned",
        window_days=30,
        labels_path=feed,
    )
    assert said.startswith("Replayed 200 simulated predictions over 2 weeks into table 'simulated_predictions'")
    logged = monitor_store.read_log(store_url, "simulated_predictions", "churn", 1)  # replaced, not added to
    assert logged["user_id"].tolist() == frame["user_id"].tolist()
    assert logged["timestamp"].tolist() == frame["predicted_at"].dt.tz_localize("UTC").tolist()
    assert (logged["output_prediction"].to_numpy() == scoring.score(scorer, frame)["prediction"].to_numpy()).all()
    labels = monitor_store.read_labels(feed).sort_values("user_id", ignore_index=True)
    assert labels["churned"].tolist() == frame["churned"].tolist()
    assert (
        pd.to_datetime(labels["labelled_at"], utc=True).tolist()
        == (frame["predicted_at"] + pd.Timedelta(days=30)).dt.tz_localize("UTC").tolist()
    )


def test_batches_are_read_from_the_batch_store_and_from_the_log_s_database_before_it(store_url, tmp_path):
    """Batches written before the batch store was apart (or with --output store.url) still count; a batch
    id in both is the batch store's."""
    store = Store(url=store_url, batch_url=f"sqlite:///{tmp_path / 'batches.db'}")
    assert monitor_store.read_batches(store.batch_url, "batch_predictions", "churn", 1).empty  # no file yet ...
    assert not (tmp_path / "batches.db").exists()  # ... and reading made none

    def write(url: str, batches: dict[str, float]) -> None:
        engine = sa.create_engine(url)
        rows = pd.DataFrame(
            [
                {"batch_id": b, "prediction": 0, "probability_1": p, "model_name": "churn", "model_version": 1}
                for b, p in batches.items()
                for _ in range(3)
            ]
        )
        rows.to_sql("batch_predictions", engine, index=False, if_exists="append")
        engine.dispose()

    write(store.url, {"old": 0.1, "again": 0.2})
    write(store.batch_url, {"new": 0.3, "again": 0.4})
    found = monitor_store.stored_batches(store, "churn", 1)
    assert found.groupby("batch_id")["output_probability_1"].agg(["size", "first"]).to_dict("index") == {
        "again": {"size": 3, "first": 0.4},
        "new": {"size": 3, "first": 0.3},
        "old": {"size": 3, "first": 0.1},
    }
    one = Store(url=store.batch_url, batch_url=store.batch_url)
    assert sorted(monitor_store.stored_batches(one, "churn", 1)["batch_id"].unique()) == ["again", "new"]


def test_regression_performance_alerts_when_errors_grow():
    card = SimpleNamespace(task="regression", metric="mae", positive_class=None, target="y", metric_bar=5.0)
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=2000)})
    stamps = pd.Timestamp("2027-01-04", tz="UTC") + pd.to_timedelta(np.repeat([0, 7], 500), unit="D")
    y = rng.normal(size=1000)
    production = pd.DataFrame(
        {
            "x": rng.normal(size=1000),
            "timestamp": stamps,
            "y": y,
            "output_prediction": y + np.r_[rng.normal(0, 1, 500), rng.normal(0, 3, 500)],
        }
    )
    fitted = monitor.fit(reference, reference["x"], SETTINGS, 0, 200)
    results = monitor.check(
        production, fitted, card=card, performance_drop=DROP, reference_metric=0.8, period="W", min_rows=200
    )
    performance = results[results["feature"] == "performance (mae)"].set_index("window")
    assert list(performance["alert"]) == [False, True]  # mae ~0.8 then ~2.4, against a ceiling of 0.85
    assert performance["threshold"].iloc[0] == pytest.approx(0.85)


def test_all_windows_at_once_give_each_windows_own_statistics():
    """``measure_windows`` bins and sorts each column once for every window; its values and notes are those
    of the statistics computed window by window (missing values, unseen categories, a moved constant)."""
    reference = _table(4_000, seed=1).assign(flat=1.0)
    production = pd.concat(
        [_table(300 + 100 * k, seed=10 + k, shift=0.2 * k).assign(w=k) for k in range(4)], ignore_index=True
    ).assign(flat=1.0)
    production.loc[production["w"] == 1, "x0"] = np.nan
    production.loc[production["w"] == 2, "colour"] = np.where(np.arange((production["w"] == 2).sum()) % 3, "teal", None)
    production.loc[production["w"] == 3, "flat"] = 2.0
    statistics = ["jensen_shannon", "wasserstein", "psi", "new_categories"]
    baseline = drift_thresholds.fit(reference, SETTINGS, seed=0, min_rows=200, statistics=statistics)
    found = drift_thresholds.measure_windows(
        baseline, production.drop(columns="w"), production["w"].to_numpy(), ["a", "b", "c", "d"], 200
    )
    for k, records in enumerate(found):
        rows = production[production["w"] == k].drop(columns="w").reset_index(drop=True)
        for record in records:
            function, _ = drift.STATISTICS[record.statistic]
            value, note = function(
                baseline.profiles[record.feature] if record.statistic in drift.PROFILED else reference[record.feature],
                rows[record.feature],
            )
            assert (record.value, record.note, record.rows) == (round(value, 4), note, len(rows)), record
    notes = {(r.window, r.feature, r.statistic): r.note for records in found for r in records}
    assert notes[("c", "colour", "jensen_shannon")] == "unseen: teal (67%)"
    assert notes[("b", "x0", "jensen_shannon")] == "all values missing in this window"


def test_the_floor_is_below_a_score_and_above_an_error():
    assert monitor.floor_sentence("roc_auc", 0.8, 0.05) == (
        "The model was accepted with roc_auc 0.800; a labelled window alerts below 0.750."
    )
    assert monitor.floor_sentence("mae", 300.0, 30.0).endswith("alerts above (an error: lower is better) 330.000.")


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("drift.false_alert_rate=0", "--set drift.false_alert_rate=0: input should be greater than 0, got 0"),
        ("drift.false_alert_rate=0.5", "input should be less than or equal to 0.1, got 0.5"),
        ("drift.resamples=10", "--set drift.resamples=10: input should be greater than or equal to 100, got 10"),
        ("drift.k=4", "drift.k .* is replaced by drift.false_alert_rate: .* e.g. 0.001 .* remove k"),
    ],
)
def test_drift_settings_name_the_key_and_what_is_allowed(setting, expected):
    with pytest.raises(ParamsError, match=expected):
        resolve(["12_monitoring"], sets=[setting])
