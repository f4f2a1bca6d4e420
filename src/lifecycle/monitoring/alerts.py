"""The alerts of phase 12 as people act on them: one table per run, consecutive windows of the same
alert merged, ranked by effect size; a per-window overview; a one-sentence verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle.core.metrics import METRICS
from lifecycle.monitoring.drift.multivariate import FEATURE as MULTIVARIATE

PREDICTION = "(model score)"


def kind_of(feature: pd.Series) -> np.ndarray:
    """Each record's kind of check: feature, multivariate or prediction drift, or performance."""
    return np.select(
        [
            feature == PREDICTION,
            feature == MULTIVARIATE,
            feature.str.startswith("performance"),
            feature.str.startswith("estimated"),
        ],
        ["prediction drift", "multivariate drift", "performance", "estimated performance"],
        "feature drift",
    )


def alerts(results: pd.DataFrame) -> pd.DataFrame:
    """The results beyond their thresholds, by window then feature."""
    found = results[results["alert"]].drop(columns="alert")
    return found.sort_values(["window", "feature", "statistic"], kind="stable").reset_index(drop=True)


def alert_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per alert, consecutive windows of the same (feature, statistic) merged into one,
    ranked by effect size (the peak value as a multiple of its threshold), largest first."""
    columns = [
        "kind",
        "feature",
        "statistic",
        "first window",
        "last window",
        "windows",
        "peak",
        "threshold",
        "times threshold",
        "note",
    ]
    # Consecutive time windows merge; a batch is a window of its own, never consecutive with another.
    names = sorted(results["window"].unique())
    order = {w: k if not w.startswith("batch ") else 2 * (len(names) + k) for k, w in enumerate(names)}
    found = results[results["alert"]].assign(position=lambda f: f["window"].map(order))
    rows = []
    for (feature, statistic), group in found.sort_values("position").groupby(["feature", "statistic"], sort=False):
        run = (group["position"].diff() != 1).cumsum()
        for _, part in group.groupby(run):
            lower_is_worse = statistic in METRICS and METRICS[statistic].greater_is_better
            peak = part.loc[part["value"].idxmin() if lower_is_worse else part["value"].idxmax()]
            ratio = _times(peak["value"], peak["threshold"], lower_is_worse)
            rows.append(
                (
                    kind_of(pd.Series([feature]))[0],
                    feature,
                    statistic,
                    part["window"].iloc[0],
                    part["window"].iloc[-1],
                    len(part),
                    peak["value"],
                    peak["threshold"],
                    round(ratio, 2),
                    peak["note"],
                )
            )
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["times threshold", "first window"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def _times(value: float, threshold: float, lower_is_worse: bool) -> float:
    """How many times its threshold a value is (a metric below its floor: the floor over the value)."""
    top, bottom = (threshold, value) if lower_is_worse else (value, threshold)
    return top / bottom if bottom > 0 else 1000.0  # beyond a zero threshold (a constant column moved): ranked first


def overview(results: pd.DataFrame) -> pd.DataFrame:
    """Per window: rows, alerts of each kind, and the metric once labels have arrived."""
    kinds = ["feature drift", "multivariate drift", "prediction drift", "performance", "estimated performance"]
    counts = (
        pd.crosstab(results["window"], kind_of(results["feature"]), values=results["alert"], aggfunc="sum")
        .fillna(0)
        .astype(int)
    )
    counts = counts.reindex(columns=kinds, fill_value=0)
    counts.columns = [f"{c} alerts" for c in counts.columns]
    table = results.groupby("window")["rows"].max().to_frame("rows").join(counts)
    performance = results[results["feature"].str.startswith("performance")].set_index("window")
    table["labelled rows"] = performance["rows"].reindex(table.index).fillna(0).astype(int)
    table["metric"] = performance["value"].reindex(table.index)
    table["metric"] = table["metric"].astype(object).where(table["metric"].notna(), "labels pending")
    return table


def verdict(results: pd.DataFrame) -> str:
    """One sentence: is everything within its thresholds, and if not, what moved first."""
    found = alerts(results)
    if found.empty:
        return (
            f"No alerts: all {len(results):,} checks over {results['window'].nunique()} windows are within "
            "their thresholds."
        )
    first = found["window"].min()
    names = sorted(found.loc[found["window"] == first, "feature"].unique())
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"{len(found):,} alerts in {found['window'].nunique()} of {results['window'].nunique()} windows "
        f"({len(alert_table(results)):,} once consecutive windows are merged); the first, in the window of "
        f"{first}, on {shown}."
    )
