"""The statistics of a two-arm test, by normal approximation: the lift with its intervals and test
(a two-proportion z-test for 0/1 outcomes, Welch's t-test for continuous ones), and the power.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats


class Analysis(NamedTuple):
    test: str
    control_mean: float
    treatment_mean: float
    lift: float  # treatment - control
    lift_low: float
    lift_high: float
    relative: float  # lift / control
    relative_low: float
    relative_high: float
    statistic: float
    p_value: float


def two_proportions(control: np.ndarray, treatment: np.ndarray, alpha: float = 0.05) -> Analysis:
    """Two-proportion z-test (pooled standard error), Wald interval for the difference, and a
    delta-method interval for the relative lift (on the log of the ratio)."""
    n1, n2 = len(control), len(treatment)
    p1, p2 = control.mean(), treatment.mean()
    pooled = (control.sum() + treatment.sum()) / (n1 + n2)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p2 - p1) / se0 if se0 > 0 else 0.0
    p_value = 2 * stats.norm.sf(abs(z))
    se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    relative = _relative(
        p1, p2, np.sqrt((1 - p1) / (n1 * p1) + (1 - p2) / (n2 * p2)) if p1 > 0 and p2 > 0 else np.inf, alpha
    )
    return _analysis(
        "two-proportion z-test", p1, p2, se=se, alpha=alpha, relative=relative, statistic=z, p_value=p_value
    )


def welch(control: np.ndarray, treatment: np.ndarray, alpha: float = 0.05) -> Analysis:
    """Welch's t-test (unequal variances) with the Welch-Satterthwaite interval for the difference."""
    n1, n2 = len(control), len(treatment)
    m1, m2 = control.mean(), treatment.mean()
    v1, v2 = control.var(ddof=1) / n1, treatment.var(ddof=1) / n2
    se = np.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1)) if se > 0 else n1 + n2 - 2
    t = (m2 - m1) / se if se > 0 else 0.0
    p_value = 2 * stats.t.sf(abs(t), df)
    critical = stats.t.ppf(1 - alpha / 2, df)
    log_se = np.sqrt(v1 / m1**2 + v2 / m2**2) if m1 > 0 and m2 > 0 else np.inf
    result = _analysis(
        "Welch's t-test",
        m1,
        m2,
        se=se,
        alpha=alpha,
        relative=_relative(m1, m2, log_se, alpha),
        statistic=t,
        p_value=p_value,
    )
    return result._replace(lift_low=m2 - m1 - critical * se, lift_high=m2 - m1 + critical * se)


def _relative(control: float, treatment: float, log_se: float, alpha: float) -> tuple[float, float, float]:
    if control <= 0 or treatment <= 0 or not np.isfinite(log_se):
        return (treatment - control) / control if control else 0.0, -np.inf, np.inf
    z = stats.norm.ppf(1 - alpha / 2)
    ratio = treatment / control
    return ratio - 1, ratio * np.exp(-z * log_se) - 1, ratio * np.exp(z * log_se) - 1


def _analysis(test, control, treatment, *, se, alpha, relative, statistic, p_value) -> Analysis:
    z = stats.norm.ppf(1 - alpha / 2)
    lift = treatment - control
    return Analysis(
        test,
        float(control),
        float(treatment),
        float(lift),
        float(lift - z * se),
        float(lift + z * se),
        *map(float, relative),
        float(statistic),
        float(p_value),
    )


def minimum_detectable_effect(
    n_control: int, n_treatment: int, sd_control: float, sd_treatment: float, alpha: float, power: float
) -> float:
    """The smallest absolute difference the test detects with ``power`` at level ``alpha`` (two-sided)."""
    se = np.sqrt(sd_control**2 / n_control + sd_treatment**2 / n_treatment)
    return float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * se)


def achieved_power(
    effect: float, n_control: int, n_treatment: int, sd_control: float, sd_treatment: float, alpha: float
) -> float:
    """The chance a two-sided test at level ``alpha`` detects a true difference ``effect``."""
    se = np.sqrt(sd_control**2 / n_control + sd_treatment**2 / n_treatment)
    if se == 0:
        return 1.0
    z = stats.norm.ppf(1 - alpha / 2)
    shift = abs(effect) / se
    return float(stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift))
