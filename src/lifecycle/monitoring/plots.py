"""Figures of phase 12: drift, the model's score and its performance, window by window."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from lifecycle.core.plots import figure
from lifecycle.monitoring.drift.multivariate import FEATURE as MULTIVARIATE
from lifecycle.monitoring.monitor import PREDICTION


def _windows(results: pd.DataFrame) -> list[str]:
    return sorted(w for w in results["window"].unique() if not w.startswith("batch "))


def feature_drift(results: pd.DataFrame, statistic: str = "jensen_shannon", top: int = 6) -> Figure:
    """The ``top`` features that drifted most: ``statistic`` per window as a multiple of its learned threshold."""
    rows = results[
        (results["statistic"] == statistic)
        & ~results["feature"].isin([PREDICTION, MULTIVARIATE])
        & ~results["feature"].str.contains("performance")
        & ~results["window"].str.startswith("batch ")
    ]
    rows = rows.assign(times=rows["value"] / rows["threshold"].where(rows["threshold"] > 0, 1e-4))
    table = rows.pivot_table(index="window", columns="feature", values="times", aggfunc="max")
    shown = table.max().sort_values(ascending=False, kind="stable").index[:top]
    fig, (ax,) = figure(width=9, height=3.4)
    for column in shown:
        ax.plot(range(len(table)), table[column].clip(upper=20).to_numpy(), marker="o", label=column)
    ax.axhline(1, color="#c44e52", linestyle="--", label="alert threshold")
    ax.set_xticks(range(len(table)), table.index, rotation=45, ha="right")
    ax.set(
        title=f"Feature drift ({statistic}), the {len(shown)} features that moved most",
        ylabel="times its threshold (max 20)",
    )
    ax.legend(fontsize=7, ncols=2)
    return fig


def joint_and_score_drift(results: pd.DataFrame) -> Figure:
    """Left: multivariate drift (PCA reconstruction error) against its threshold. Right: the model's score drift."""
    fig, axes = figure(ncols=2, width=11, height=3.2)
    windows = _windows(results)
    for ax, feature, title in (
        (axes[0], MULTIVARIATE, "Multivariate drift: reconstruction error"),
        (axes[1], PREDICTION, "Prediction drift (times threshold)"),
    ):
        rows = results[(results["feature"] == feature) & results["window"].isin(windows)]
        if feature == PREDICTION:
            rows = rows.assign(
                value=rows["value"] / rows["threshold"].where(rows["threshold"] > 0, 1e-4), threshold=1.0
            )
        for statistic, part in rows.groupby("statistic"):
            part = part.set_index("window").reindex(windows)
            line = ax.plot(range(len(windows)), part["value"].to_numpy(), marker="o", label=statistic)[0]
            ax.plot(
                range(len(windows)), part["threshold"].to_numpy(), color=line.get_color(), linestyle="--", alpha=0.6
            )
        ax.set_xticks(range(len(windows)), windows, rotation=45, ha="right")
        ax.set(title=f"{title} (dashed: threshold)")
        ax.legend(fontsize=7)
    return fig


def estimate_vs_realized(table: pd.DataFrame, metric: str, floor: float) -> Figure:
    """The label-free estimate of ``metric`` with its interval, beside the realized value once labels arrived."""
    fig, (ax,) = figure(width=9, height=3.4)
    if table.empty:
        ax.text(0.5, 0.5, "no label-free estimate for this model", ha="center", va="center")
        ax.set_axis_off()
        return fig
    where = range(len(table))
    ax.fill_between(
        where, table["low"].to_numpy(float), table["high"].to_numpy(float), alpha=0.25, label="estimate's interval"
    )
    ax.plot(where, table["estimate"].to_numpy(float), marker="o", label="estimated (no labels)")
    ax.plot(
        where, table["realized"].to_numpy(float), marker="s", linestyle="none", color="black", label="realized (labels)"
    )
    ax.axhline(floor, color="#c44e52", linestyle="--", label="alert below")
    ax.set_xticks(list(where), table.index, rotation=45, ha="right")
    ax.set(title=f"{metric}: estimated before the labels, realized after", ylabel=metric)
    ax.legend(fontsize=7)
    return fig
