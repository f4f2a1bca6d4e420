"""Phase 11: an A/B test read from an assignment-and-outcome log, one row per unit.

The metric per arm; the absolute and relative lift with their intervals; the test that suits
the outcome (a two-proportion z-test for 0/1 outcomes, Welch's t-test for continuous ones); a
sample-ratio-mismatch check; the power and the minimum detectable effect at this sample size;
and a verdict in words. Normal approximations throughout (``ab_statistics``), as in any A/B-testing textbook.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from lifecycle.core import files, paths, table_formats
from lifecycle.data import tables
from lifecycle.modeling import scoring
from lifecycle.monitoring import traffic as production
from lifecycle.monitoring.ab_statistics import (
    Analysis,
    achieved_power,
    minimum_detectable_effect,
    two_proportions,
    welch,
)

FOLDER = paths.DATA / "experiment"
SIMULATED_LOG = FOLDER / "simulated_log.parquet"
EXAMPLE_LOG = FOLDER / "example_log.parquet"
EXAMPLE_UNITS = 2000  # units in the example log shown when your own table has no experiment log
REPORT = paths.REPORTS / "experiment.json"


class ExperimentError(ValueError):
    """The experiment log cannot be analysed; the message says what to fix."""


class Arms(NamedTuple):
    control: np.ndarray
    treatment: np.ndarray


def read_log(path: str) -> pd.DataFrame:
    """An experiment log: a file of a registered format (CSV, Parquet, ...; relative to the project root)."""
    full, found = paths.ROOT / path, table_formats.format_of(path)
    if found is None:
        raise ExperimentError(f"log_path '{path}' must end in {table_formats.endings()}")
    if not full.is_file():
        raise ExperimentError(f"the experiment log '{path}' does not exist")
    files.record_read(full)
    try:
        return found.read(full)
    except Exception as exc:  # noqa: BLE001  (pandas and pyarrow raise many types for a bad file)
        raise ExperimentError(
            f"cannot read the experiment log '{path}' as {found.title} ({tables.reason(exc)}); check the file"
        ) from None


def log_for(params) -> tuple[pd.DataFrame, str]:
    """The experiment log of params: the file at ``log_path``, or (``null``) a simulated experiment on
    the simulated product -- on your own table, a made-up example log, said plainly -- written to
    ``data/experiment/`` like any log; and a sentence on where it came from."""
    if params.log_path is not None:
        log = read_log(params.log_path)
        return log, f"Experiment log: {len(log):,} rows from {params.log_path}."
    if params.source.kind != "simulated":
        log = example_log(params, EXAMPLE_UNITS)
        files.write_parquet(EXAMPLE_LOG, log)
        return log, (
            f"No experiment log yet: set log_path in params/11_experimentation.yaml to yours (CSV or "
            f"Parquet, one row per unit: {params.unit_column}, {params.arm_column} holding "
            f"'{params.control}' or '{params.treatment}', and {params.outcome_column}). Until then this "
            f"notebook analyses a made-up EXAMPLE log of {len(log):,} units with no true effect, to show "
            f"what you will get; nothing below is about your data."
        )

    scorer = scoring.load(params.serving.model, alias="champion")
    log, true_lift = production.ab_test(params, scorer, params.simulated_users, params.treatment_share)
    files.write_parquet(SIMULATED_LOG, log)
    return log, (
        f"Simulated experiment: {len(log):,} users; the true effect on the treatment arm's "
        f"{params.target} rate is {true_lift:+.4f} (written to {paths.relative(SIMULATED_LOG)})."
    )


def example_log(params, units: int) -> pd.DataFrame:
    """A made-up experiment log in the shape ``params`` expects: units assigned at random (seeded) with
    ``treatment_share``, the same outcome distribution in both arms (no true effect)."""
    rng = np.random.default_rng(params.seed)
    in_treatment = rng.random(units) < params.treatment_share
    outcome = (rng.random(units) < 0.2).astype(int) if params.outcome == "proportion" else rng.normal(100, 15, units)
    return pd.DataFrame(
        {
            params.unit_column: np.arange(1, units + 1),
            params.arm_column: np.where(in_treatment, params.treatment, params.control),
            params.outcome_column: outcome,
        }
    )


def arms(log: pd.DataFrame, unit: str, arm: str, outcome: str, control: str, treatment: str, kind: str) -> Arms:
    """The outcomes of each arm, after checking the log: columns present, one row per unit,
    known arm names, outcomes present (and 0/1 for a proportion)."""
    missing = [c for c in (unit, arm, outcome) if c not in log.columns]
    if missing:
        raise ExperimentError(
            f"the experiment log lacks column(s) {', '.join(missing)} (it has "
            f"{', '.join(map(str, log.columns[:10]))}); set unit_column, arm_column and "
            "outcome_column in params/11_experimentation.yaml"
        )
    if log[unit].duplicated().any():
        raise ExperimentError(
            f"{int(log[unit].duplicated().sum())} unit(s) appear more than once in '{unit}'; "
            "the log needs one row per unit randomised"
        )
    names = set(log[arm].astype(str).unique())
    unknown = sorted(names - {control, treatment})
    if unknown or not {control, treatment} <= names:
        raise ExperimentError(
            f"arm_column '{arm}' holds {', '.join(sorted(names))}; expected exactly "
            f"'{control}' (control) and '{treatment}' (treatment)"
        )
    values = pd.to_numeric(log[outcome], errors="coerce")
    if values.isna().any():
        raise ExperimentError(f"outcome '{outcome}' is missing or not a number on {int(values.isna().sum())} rows")
    if kind == "proportion" and not values.isin([0, 1]).all():
        raise ExperimentError(
            f"outcome '{outcome}' must be 0 or 1 for a proportion; use outcome: continuous for other values"
        )
    groups = log[arm].astype(str)
    return Arms(values[groups == control].to_numpy(float), values[groups == treatment].to_numpy(float))


def analyse(outcomes: Arms, kind: str, alpha: float) -> Analysis:
    """The test that suits the outcome: two proportions for 0/1, Welch's t otherwise."""
    if min(len(outcomes.control), len(outcomes.treatment)) < 2:
        raise ExperimentError("each arm needs at least 2 units to be compared")
    return (two_proportions if kind == "proportion" else welch)(*outcomes, alpha)


def sample_ratio(n_control: int, n_treatment: int, treatment_share: float, srm_alpha: float) -> tuple[float, bool, str]:
    """Sample-ratio mismatch: chi-square goodness of fit of the arm sizes to the planned split."""
    total = n_control + n_treatment
    expected = [total * (1 - treatment_share), total * treatment_share]
    p_value = float(stats.chisquare([n_control, n_treatment], expected).pvalue)
    mismatch = p_value < srm_alpha
    text = (
        f"Sample ratio: {n_treatment:,} of {total:,} units in treatment ({n_treatment / total:.1%}, planned "
        f"{treatment_share:.0%}); chi-square p = {p_value:.3g}: "
        + (
            "MISMATCH -- the assignment or the logging is broken; do not trust the result."
            if mismatch
            else "no sign of a mismatch."
        )
    )
    return p_value, mismatch, text


def power_table(outcomes: Arms, result: Analysis, alpha: float, power: float) -> pd.Series:
    """Minimum detectable effect at this size, and the power to detect the observed lift."""
    n1, n2 = len(outcomes.control), len(outcomes.treatment)
    sd1, sd2 = outcomes.control.std(ddof=1), outcomes.treatment.std(ddof=1)
    mde = minimum_detectable_effect(n1, n2, sd1, sd2, alpha, power)
    return pd.Series(
        {
            f"minimum detectable effect (power {power:.0%}, alpha {alpha:g})": round(mde, 4),
            "minimum detectable effect, relative to control": round(mde / result.control_mean, 4)
            if result.control_mean
            else 0.0,
            "power to detect the observed lift": round(achieved_power(result.lift, n1, n2, sd1, sd2, alpha), 3),
        },
        name="value",
    )


def per_arm(outcomes: Arms, outcome: str) -> pd.DataFrame:
    rows = {
        name: {"units": len(values), f"mean {outcome}": round(values.mean(), 4), "std": round(values.std(ddof=1), 4)}
        for name, values in outcomes._asdict().items()
    }
    return pd.DataFrame(rows).T.astype({"units": int}).rename_axis("arm")


def lift_table(result: Analysis, alpha: float) -> pd.DataFrame:
    level = f"{1 - alpha:.0%} interval"
    return pd.DataFrame(
        {
            "estimate": [result.lift, result.relative],
            f"{level} low": [result.lift_low, result.relative_low],
            f"{level} high": [result.lift_high, result.relative_high],
        },
        index=pd.Index(["absolute lift (treatment - control)", "relative lift"], name="lift"),
    ).round(4)


def verdict(result: Analysis, alpha: float, lower_is_better: bool, mismatch: bool, outcome: str) -> str:
    """A plain sentence: ship, do not ship, or not conclusive, and why."""
    if mismatch:
        return "Not conclusive: the sample ratio does not match the plan, so the arms are not comparable."
    level = f"{1 - alpha:.0%}"
    interval = f"{result.lift:+.4f} ({level} interval {result.lift_low:+.4f} to {result.lift_high:+.4f})"
    if result.p_value >= alpha:
        return (
            f"Not conclusive: treatment changes {outcome} by {interval}, p = {result.p_value:.3g}; the interval "
            "holds no effect. Keep the current way or run the test longer."
        )
    good = (result.lift < 0) == lower_is_better
    word = "better" if good else "worse"
    action = "Roll out the treatment." if good else "Do not roll it out."
    return (
        f"Treatment is {word}: it changes {outcome} by {interval}, {result.relative:+.1%} relative, "
        f"{result.test} p = {result.p_value:.3g}. {action}"
    )


def write(result: Analysis, srm_p: float, power: pd.Series, verdict_text: str) -> str:
    files.write_json(
        REPORT,
        {
            "analysis": result._asdict(),
            "sample_ratio_p_value": srm_p,
            "power": power.to_dict(),
            "verdict": verdict_text,
        },
    )
    return paths.relative(REPORT)
