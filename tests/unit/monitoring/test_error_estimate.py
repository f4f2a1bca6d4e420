"""The label-free error estimate of a regression model (``error_estimate``, as NannyML's DLE): its interval
holds the realized MAE and RMSE about as often as its level says under covariate drift, it follows the
drift, misses a concept change, and a regression project's monitoring shows it beside the realized error."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from support.monitoring import DROP, SETTINGS, regression_rows

from lifecycle.monitoring import error_estimate, monitor, performance_estimate
from lifecycle.monitoring import plots as monitor_plots

INPUTS = ["x0", "x1", "group"]


@pytest.fixture(scope="module")
def model() -> error_estimate.ErrorModel:
    validation = regression_rows(2000, seed=1)
    return error_estimate.fit(validation[INPUTS], validation["output_prediction"], validation["y"], seed=0)


def _realized(frame: pd.DataFrame) -> dict[str, float]:
    error = frame["y"] - frame["output_prediction"]
    return {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error**2)))}


def test_the_interval_holds_the_realized_mae_and_rmse_under_covariate_drift_as_often_as_its_level_says(model):
    """150 windows of 500 rows, x0 moved by 0, 0.5 and 1 sd (the errors grow with |x0|): the estimate follows
    the realized error, and its 95% interval holds it in 90% to 100% of windows without being loose."""
    held, errors, found = {m: [] for m in error_estimate.METRICS}, {m: [] for m in error_estimate.METRICS}, {}
    for shift in (0.0, 0.5, 1.0):
        estimates = []
        for k in range(50):
            window = regression_rows(500, seed=100 + k, shift=shift)
            estimate, realized = error_estimate.estimate(model, window, 0.95), _realized(window)
            for metric, (value, low, high) in estimate.items():
                held[metric].append(low <= realized[metric] <= high)
                errors[metric].append(abs(value - realized[metric]) / realized[metric])
                assert high - low < 0.3 * value, (metric, estimate)  # honest, not merely wide (realized: ~0.19)
            estimates.append(estimate["mae"][0])
        found[shift] = np.mean(estimates)
    coverage = {metric: np.mean(values) for metric, values in held.items()}
    assert all(0.9 <= share <= 1.0 for share in coverage.values()), coverage
    assert all(np.mean(values) < 0.06 for values in errors.values()), {m: np.mean(v) for m, v in errors.items()}
    assert found[1.0] - found[0.0] > 0.08, found  # realized: about 0.77 -> 0.90


def test_the_estimate_misses_a_concept_change(model):
    window = regression_rows(2000, seed=7, concept=1.0)
    estimate, realized = error_estimate.estimate(model, window, 0.99), _realized(window)
    for metric, (_, _, high) in estimate.items():
        assert realized[metric] > high + 0.2, (metric, estimate[metric], realized[metric])


def test_a_regression_without_labelled_validation_inputs_gets_no_estimate_and_says_why():
    frame = pd.DataFrame({"output_prediction": [1.0, 2.0], "timestamp": pd.Timestamp("2027-01-04", tz="UTC")})
    table, said = performance_estimate.for_production(
        frame,
        window=pd.Series(["w", "w"]),
        task="regression",
        positive_class=None,
        validation_scores=None,
        validation_truth=None,
        settings=None,
        seed=0,
        min_rows=1,
    )
    assert table.empty and said.startswith("No label-free estimate for this regression model: its error model")
    results = pd.DataFrame({"feature": ["performance (mae)"], "window": ["w"], "value": [0.5], "rows": [2]})
    versus = performance_estimate.against_realized(table, results, "mae")
    assert performance_estimate.verdict(versus, "mae") == (
        "No label-free estimate of mae for this model (no window had min_rows rows, or none was made: see above); "
        "its performance is known once labels arrive."
    )
    assert "estimated for accuracy, f1, f1_macro, mae, rmse, roc_auc, roc_auc_ovr" in performance_estimate.verdict(
        versus, "r2"
    )
    monitor_plots.estimate_vs_realized(versus, "mae", 1.0)


def test_a_regression_projects_monitoring_shows_the_estimated_error_beside_the_realized_one():
    """As notebook 12 does for a regression project: two weeks under covariate drift, labels for the first:
    the interval holds the realized MAE; the estimate alerts when its whole interval is above the floor."""
    card = SimpleNamespace(task="regression", metric="mae", positive_class=None, target="y", metric_bar=1.0)
    validation = regression_rows(2000, seed=1)
    weeks = [regression_rows(600, seed=20 + k, shift=1.5 * k) for k in range(2)]
    stamps = pd.Timestamp("2027-01-04", tz="UTC") + pd.to_timedelta(np.repeat([0, 7], 600), unit="D")
    production = pd.concat(weeks, ignore_index=True).assign(timestamp=stamps)
    production.loc[600:, "y"] = None  # labels known for the first week only
    data = SimpleNamespace(
        production=production,
        validation_scores=validation["output_prediction"],
        validation_truth=validation["y"],
        validation_inputs=validation[INPUTS],
    )
    params = SimpleNamespace(
        window="W", estimate=SimpleNamespace(calibrate="always", interval=0.95), seed=0, min_rows=200
    )
    estimates, said = monitor.estimated(data, card, params)
    assert said.startswith("The error is estimated by a model of the expected absolute error")
    assert sorted(estimates["metric"].unique()) == ["mae", "rmse"] and len(estimates) == 4
    reference = regression_rows(4000, seed=3)
    results = monitor.check(
        production,
        monitor.fit(reference[INPUTS], reference["output_prediction"], SETTINGS, 0, 200),
        card=card,
        performance_drop=DROP,
        reference_metric=0.8,
        period="W",
        min_rows=200,
    )
    results = monitor.with_estimates(results, estimates, card, 0.8, DROP)
    estimated = results[results["feature"] == "estimated performance (mae)"].set_index("window")
    assert list(estimated["alert"]) == [False, True]  # x0 moved: errors expected above 0.85 in week two
    versus = performance_estimate.against_realized(estimates, results, "mae")
    assert list(versus["held"]) == [True, None]
    assert performance_estimate.verdict(versus, "mae").startswith("The interval held the realized mae in 1 of 1")
    monitor_plots.estimate_vs_realized(versus, "mae", monitor.performance_floor("mae", 0.8, DROP))
