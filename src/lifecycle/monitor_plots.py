"""Figures of phase 12: drift, the model's score and its performance, window by window."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from lifecycle.monitor import PREDICTION
from lifecycle.plots import figure


def feature_drift(results: pd.DataFrame, statistic: str = "psi", top: int = 6) -> Figure:
    """The ``top`` features that drifted most, ``statistic`` per window, with the alert threshold."""
    rows = results[(results["statistic"] == statistic) & ~results["feature"].isin([PREDICTION])
                   & ~results["feature"].str.startswith("performance")]
    table = rows.pivot_table(index="window", columns="feature", values="value", aggfunc="max")
    shown = table.max().sort_values(ascending=False, kind="stable").index[:top]
    fig, (ax,) = figure(width=9, height=3.4)
    for column in shown:
        ax.plot(range(len(table)), table[column].to_numpy(), marker="o", label=column)
    ax.axhline(rows["threshold"].iloc[0], color="#c44e52", linestyle="--", label="alert threshold")
    ax.set_xticks(range(len(table)), table.index, rotation=45, ha="right")
    ax.set(title=f"Feature drift ({statistic}), the {len(shown)} features that moved most", ylabel=statistic)
    ax.legend(fontsize=7, ncols=2)
    return fig


def score_and_performance(results: pd.DataFrame) -> Figure:
    """Left: drift of the model's score. Right: the metric per labelled window against its floor."""
    fig, axes = figure(ncols=2, width=11, height=3.2)
    score = results[results["feature"] == PREDICTION].pivot_table(index="window", columns="statistic", values="value")
    limits = results[results["feature"] == PREDICTION].groupby("statistic")["threshold"].first()
    for k, column in enumerate(score.columns):
        line = axes[0].plot(range(len(score)), score[column].to_numpy(), marker="o", label=column)[0]
        axes[0].axhline(limits[column], color=line.get_color(), linestyle="--", alpha=0.6)
    axes[0].set_xticks(range(len(score)), score.index, rotation=45, ha="right")
    axes[0].set(title="Prediction drift (dashed: thresholds)")
    axes[0].legend(fontsize=7)
    performance = results[results["feature"].str.startswith("performance")].set_index("window")
    windows = list(score.index)
    if len(performance):
        where = [windows.index(w) for w in performance.index]
        axes[1].plot(where, performance["value"].to_numpy(), marker="o", label="labelled production")
        axes[1].axhline(performance["threshold"].iloc[0], color="#c44e52", linestyle="--", label="alert below")
        axes[1].set_xlim(-0.5, len(windows) - 0.5)
        axes[1].set_xticks(range(len(windows)), windows, rotation=45, ha="right")
        axes[1].set(title=f"Performance as labels arrive ({performance['statistic'].iloc[0]})")
        axes[1].legend(fontsize=7)
    else:
        axes[1].set_visible(False)
    return fig
