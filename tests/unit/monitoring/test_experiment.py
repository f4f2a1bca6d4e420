"""A/B statistics: the textbook numbers (scipy on the same data), the simulator's true effect
recovered within its interval, and a log that cannot be analysed named clearly."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lifecycle.monitoring import experiment
from lifecycle.simulation.simulate import Drift, simulate_product


def _binary(n: int, p: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


def test_two_proportions_matches_the_chi_square_test_and_the_wald_interval():
    control, treatment = _binary(4000, 0.25, 1), _binary(4100, 0.22, 2)
    result = experiment.two_proportions(control, treatment, alpha=0.05)
    table = [[treatment.sum(), len(treatment) - treatment.sum()], [control.sum(), len(control) - control.sum()]]
    chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)
    assert result.statistic**2 == pytest.approx(chi2, rel=1e-9)
    p1, p2 = control.mean(), treatment.mean()
    half = 1.959964 * np.sqrt(p1 * (1 - p1) / len(control) + p2 * (1 - p2) / len(treatment))
    assert (result.lift_low, result.lift_high) == pytest.approx((p2 - p1 - half, p2 - p1 + half), abs=1e-6)
    assert result.relative_low < result.relative < result.relative_high


def test_welch_matches_scipy_statistic_p_value_and_interval():
    rng = np.random.default_rng(3)
    control, treatment = rng.gamma(2.0, 10.0, 500), rng.gamma(2.2, 12.0, 300)
    result = experiment.welch(control, treatment, alpha=0.05)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert (result.lift_low, result.lift_high) == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_sample_ratio_mismatch_is_the_chi_square_goodness_of_fit():
    p_value, mismatch, text = experiment.sample_ratio(5000, 5400, 0.5, 0.001)
    assert p_value == pytest.approx(stats.chisquare([5000, 5400]).pvalue)
    assert mismatch and "MISMATCH" in text
    assert not experiment.sample_ratio(5000, 5040, 0.5, 0.001)[1]


def test_power_at_the_minimum_detectable_effect_is_the_planned_power():
    sd = np.sqrt(0.25 * 0.75)
    mde = experiment.minimum_detectable_effect(3000, 3000, sd, sd, 0.05, 0.8)
    # Textbook: (z_0.975 + z_0.8) * sqrt(2 p (1 - p) / n)
    assert mde == pytest.approx((1.959964 + 0.841621) * sd * np.sqrt(2 / 3000), rel=1e-5)
    assert experiment.achieved_power(mde, 3000, 3000, sd, sd, 0.05) == pytest.approx(0.8, abs=1e-3)
    assert experiment.achieved_power(0.0, 3000, 3000, sd, sd, 0.05) == pytest.approx(0.05, abs=1e-9)


def test_the_simulators_true_effect_is_recovered_within_the_interval():
    n, effect = 8000, 0.05
    treated = np.random.default_rng(11).random(n) < 0.5
    product = simulate_product(
        n, seed=5, period="production", drift=Drift(), treatment_effect=effect, treated=treated, messy=False
    )
    log = pd.DataFrame(
        {
            "user_id": product.labels["user_id"],
            "arm": np.where(treated, "treatment", "control"),
            "churned": product.labels["churned"],
        }
    )
    outcomes = experiment.arms(log, "user_id", "arm", "churned", "control", "treatment", "proportion")
    result = experiment.analyse(outcomes, "proportion", 0.05)
    assert result.lift_low < -effect < result.lift_high  # the simulator's floor of churn makes it exactly -effect
    assert result.p_value < 0.05
    assert "better" in experiment.verdict(result, 0.05, True, False, "churned")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda log: log.drop(columns="arm"), "lacks column(s) arm"),
        (lambda log: pd.concat([log, log.head(2)]), "more than once"),
        (lambda log: log.assign(arm=np.where(log["arm"] == "control", "A", "treatment")), "expected exactly"),
        (lambda log: log.assign(churned=log["churned"] * 2.5), "must be 0 or 1"),
    ],
)
def test_a_log_that_cannot_be_analysed_is_named(change, message):
    log = pd.DataFrame({"user_id": range(10), "arm": ["control", "treatment"] * 5, "churned": [0, 1] * 5})
    with pytest.raises(experiment.ExperimentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        experiment.arms(change(log), "user_id", "arm", "churned", "control", "treatment", "proportion")


def test_a_sample_ratio_mismatch_makes_the_verdict_inconclusive():
    result = experiment.two_proportions(_binary(1000, 0.3, 1), _binary(1000, 0.2, 2))
    assert experiment.verdict(result, 0.05, True, True, "churned").startswith("Not conclusive")
