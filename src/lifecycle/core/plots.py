"""Figures. Every helper returns a matplotlib Figure in the one house style; ``save``
writes it under ``reports/figures/`` and hands the notebook that PNG to show."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lifecycle.core import files, paths

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "font.size": 9,
    "axes.prop_cycle": matplotlib.cycler(color=["#3b6ea8", "#e0803a", "#5a9e5a", "#c44e52", "#8172b2", "#937860"]),
}


def figure(ncols: int = 1, nrows: int = 1, width: float = 9, height: float = 3.2) -> tuple[Figure, np.ndarray]:
    """A new figure in the house style; closed at once so a notebook shows it only when returned."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height * nrows), squeeze=False, layout="constrained")
    plt.close(fig)
    return fig, axes.ravel()


class Saved:
    """A saved figure as a notebook shows it: the PNG just written, so it is drawn once, not three times
    (Jupyter's inline backend would draw it twice more: once to find its tight box, once to render)."""

    def __init__(self, figure: Figure, png: bytes) -> None:
        self.figure, self.png = figure, png

    def _repr_png_(self) -> bytes:
        return self.png

    def __repr__(self) -> str:
        return repr(self.figure)


def save(fig: Figure | None, name: str) -> Saved | None:
    """Write ``reports/figures/<name>.png`` (no timestamp inside: same figure, same bytes)."""
    if fig is None:
        return None
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # laid out already (constrained): one draw
    png = buffer.getvalue()
    files.write_atomic(paths.FIGURES / f"{name}.png", lambda tmp: tmp.write_bytes(png))
    return Saved(fig, png)


def missingness(table: pd.DataFrame) -> Figure:
    share = (100 * table.isna().mean()).sort_values(kind="stable")
    fig, (ax,) = figure(height=max(2.0, 0.25 * len(share)))
    ax.barh(share.index.astype(str), share.to_numpy())
    ax.set(title="Missing values", xlabel="% of rows missing")
    return fig


def distributions(table: pd.DataFrame, columns: list[str]) -> Figure:
    ncols = 4
    nrows = max(1, int(np.ceil(len(columns) / ncols)))
    fig, axes = figure(ncols, nrows, width=11, height=2.4)
    for ax, column in zip(axes, columns):
        values = table[column].dropna()
        if pd.api.types.is_numeric_dtype(values):
            ax.hist(values, bins=30)
        else:
            counts = values.astype("string").value_counts().head(10)
            ax.barh(counts.index[::-1], counts.to_numpy()[::-1])
        ax.set_title(column)
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    return fig


def target_balance(balance: pd.DataFrame, target: str) -> Figure:
    fig, (ax,) = figure(width=5, height=2.6)
    if "rows" in balance:
        ax.bar(balance.index.astype(str), balance["rows"].to_numpy())
        ax.set(title=f"{target}: rows per class", ylabel="rows")
    else:
        ax.axis("off")
        ax.table(cellText=balance.to_numpy(), rowLabels=balance.index, loc="center")
    return fig


def target_relations(table: pd.DataFrame, target: str, features: list[str], bins: int = 8) -> Figure:
    """The target's mean across each feature's categories or quantile bins."""
    ncols = 4
    nrows = max(1, int(np.ceil(len(features) / ncols)))
    fig, axes = figure(ncols, nrows, width=11, height=2.6)
    y, label = _numeric_target(table[target])
    for ax, column in zip(axes, features):
        x = table[column]
        if pd.api.types.is_numeric_dtype(x) and x.nunique() > bins:
            groups = pd.qcut(x, bins, duplicates="drop")
            means = y.groupby(groups, observed=True).mean()
            ax.plot(range(len(means)), means.to_numpy(), marker="o")
            ax.set_xticks(range(len(means)), [f"{iv.right:.3g}" for iv in means.index], rotation=45)
            ax.set_xlabel("bin upper edge")
        else:
            means = y.groupby(x.astype("string").fillna("(missing)")).mean().sort_values().tail(10)
            ax.barh(means.index, means.to_numpy())
        ax.set_title(column)
        ax.set_ylabel(label if ax.get_subplotspec().is_first_col() else "")
    for ax in axes[len(features) :]:
        ax.set_visible(False)
    return fig


def _numeric_target(target: pd.Series) -> tuple[pd.Series, str]:
    """The target as numbers: itself when numeric, else 1 for its rarest class (a share)."""
    if pd.api.types.is_numeric_dtype(target):
        return target.astype(float), f"mean {target.name}"
    rarest = target.value_counts().idxmin()
    return (target == rarest).astype(float), f"share {target.name}={rarest}"


def correlations(matrix: pd.DataFrame) -> Figure:
    fig, (ax,) = figure(width=5.5, height=4.5)
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(matrix)), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(matrix)), matrix.index)
    ax.grid(False)
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title("Correlations")
    return fig


def trend(trend_table: pd.DataFrame | None, time_column: str | None) -> Figure | None:
    if trend_table is None:
        return None
    fig, axes = figure(ncols=2, width=11)
    labels = trend_table.index.astype(str)
    axes[0].bar(labels, trend_table["rows"].to_numpy())
    axes[0].set(title=f"Rows per period of {time_column}", ylabel="rows")
    means = [c for c in trend_table.columns if c != "rows"]
    if means:
        axes[1].plot(labels, trend_table[means[0]].to_numpy(), marker="o")
        axes[1].set(title=f"{means[0]} over {time_column}")
    else:
        axes[1].set_visible(False)
    for ax in axes:
        ax.tick_params(axis="x", rotation=90)
        step = max(1, len(labels) // 12)
        for k, tick in enumerate(ax.get_xticklabels()):
            tick.set_visible(k % step == 0)
    return fig
