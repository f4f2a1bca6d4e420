"""Figures of models: selection, learning curves, performance, calibration, influence.

Each takes plain tables or arrays, returns a Figure in the house style (``plots.figure``),
or None when the task has no such figure (the notebook says why).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn import metrics as m

from lifecycle.core.plots import figure
from lifecycle.modeling import evaluate


def selection(scores: pd.DataFrame, metric: str) -> Figure:
    """Each candidate's fold scores, with the mean and one standard deviation."""
    folds = scores[[c for c in scores.columns if c.startswith("fold ")]]
    fig, (ax,) = figure(width=7, height=3)
    for i, (name, row) in enumerate(folds.iterrows()):
        ax.scatter(np.full(len(row), i), row.to_numpy(), alpha=0.5, s=14)
        ax.errorbar(i + 0.15, scores.loc[name, "mean"], yerr=scores.loc[name, "std"], fmt="o", color="black", capsize=4)
    ax.set_xticks(range(len(folds)), folds.index)
    ax.set(title=f"Cross-validated {metric} per candidate", ylabel=metric)
    return fig


def learning(curve: pd.DataFrame, metric: str) -> Figure:
    fig, (ax,) = figure(width=6, height=3.2)
    for name in ("train", "validation"):
        mean, std = curve[f"{name} mean"], curve[f"{name} std"]
        ax.plot(curve.index, mean, marker="o", label=name)
        ax.fill_between(curve.index, mean - std, mean + std, alpha=0.2)
    ax.set(title="Learning curve", xlabel="training rows", ylabel=metric)
    ax.legend()
    return fig


def performance(model, X: pd.DataFrame, y: pd.Series, task: str, positive=None, threshold: float = 0.5) -> Figure:
    """Binary: ROC, precision-recall and confusion; multiclass: confusion; regression: residuals."""
    if task == "regression":
        return _residuals(y.to_numpy(), model.predict(X))
    matrix = evaluate.confusion(model, X, y, task, positive, threshold)
    if task == "multiclass":
        fig, (ax,) = figure(width=4.5, height=4)
        _confusion(ax, matrix)
        return fig
    truth, scores = (y == positive).to_numpy(), evaluate.positive_scores(model, X, positive)
    fig, axes = figure(ncols=3, width=12, height=3.4)
    fpr, tpr, _ = m.roc_curve(truth, scores)
    axes[0].plot(fpr, tpr)
    axes[0].plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes[0].set(
        title=f"ROC (AUC {m.roc_auc_score(truth, scores):.3f})",
        xlabel="false positive rate",
        ylabel="true positive rate",
    )
    precision, recall, _ = m.precision_recall_curve(truth, scores)
    axes[1].plot(recall, precision)
    axes[1].axhline(truth.mean(), linestyle="--", color="grey")
    axes[1].set(
        title=f"Precision-recall (AP {m.average_precision_score(truth, scores):.3f})",
        xlabel="recall",
        ylabel="precision",
    )
    _confusion(axes[2], matrix)
    axes[2].set_title(f"Confusion at threshold {threshold:.2f}")
    return fig


def _confusion(ax, matrix: pd.DataFrame) -> None:
    ax.imshow(matrix.to_numpy(), cmap="Blues")
    ax.grid(False)
    ax.set_xticks(range(matrix.shape[1]), matrix.columns.astype(str))
    ax.set_yticks(range(matrix.shape[0]), matrix.index.astype(str))
    ax.set(xlabel="predicted", ylabel="actual", title="Confusion")
    peak = matrix.to_numpy().max()
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        ax.text(j, i, f"{value:,}", ha="center", va="center", color="white" if value > peak / 2 else "black")


def _residuals(actual: np.ndarray, predicted: np.ndarray) -> Figure:
    fig, axes = figure(ncols=3, width=12, height=3.3)
    residuals = actual - predicted
    axes[0].scatter(predicted, actual, s=6, alpha=0.4)
    low, high = np.nanmin([actual.min(), predicted.min()]), np.nanmax([actual.max(), predicted.max()])
    axes[0].plot([low, high], [low, high], linestyle="--", color="grey")
    axes[0].set(title="Actual against predicted", xlabel="predicted", ylabel="actual")
    axes[1].scatter(predicted, residuals, s=6, alpha=0.4)
    axes[1].axhline(0, linestyle="--", color="grey")
    axes[1].set(title="Residuals against predicted", xlabel="predicted", ylabel="actual - predicted")
    axes[2].hist(residuals, bins=40)
    axes[2].set(title="Residuals", xlabel="actual - predicted")
    return fig


def threshold_costs(model, X: pd.DataFrame, y: pd.Series, task: str, positive, rule, chosen: float) -> Figure | None:
    """Binary only: the cost and F1 of every threshold, with the chosen one marked."""
    if task != "binary":
        return None
    table = evaluate.threshold_costs((y == positive).to_numpy(), evaluate.positive_scores(model, X, positive), rule)
    fig, axes = figure(ncols=2, width=10, height=3)
    axes[0].plot(table["threshold"], table["cost"])
    axes[0].set(title="Cost by threshold", xlabel="threshold", ylabel="cost")
    axes[1].plot(table["threshold"], table["f1"])
    axes[1].set(title="F1 by threshold", xlabel="threshold", ylabel="F1")
    for ax in axes:
        ax.axvline(chosen, linestyle="--", color="grey")
    return fig


def calibration(model, X: pd.DataFrame, y: pd.Series, task: str, positive, bins: int) -> Figure | None:
    """Binary: the reliability curve. Other tasks: None."""
    if task != "binary":
        return None
    table = evaluate.calibration(model, X, y, positive, bins)
    fig, (ax,) = figure(width=4.5, height=4)
    ax.plot(table["mean predicted"], table["observed rate"], marker="o")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(title="Calibration", xlabel="mean predicted probability", ylabel="observed positive rate")
    return fig


def importance(table: pd.DataFrame, top: int = 15) -> Figure:
    shown = table.head(top).iloc[::-1]
    fig, (ax,) = figure(width=7, height=max(2.5, 0.28 * len(shown)))
    ax.barh(shown.index, shown["importance"], xerr=shown["std"])
    ax.set(title="Permutation importance (validation)", xlabel="drop in the metric when shuffled")
    return fig


def dependence(curves: dict[str, pd.DataFrame]) -> Figure | None:
    if not curves:
        return None
    fig, axes = figure(ncols=len(curves), width=4 * len(curves), height=3)
    for ax, (feature, curve) in zip(axes, curves.items()):
        for column in curve.columns:
            ax.plot(curve.index, curve[column], label=column)
        ax.set(title=feature, xlabel=feature, ylabel="average prediction")
        if curve.shape[1] > 1:
            ax.legend(fontsize=7)
    return fig


def paired(untuned: np.ndarray, tuned: np.ndarray, metric: str) -> Figure:
    """Tuned against untuned, fold by fold on the same folds."""
    fig, (ax,) = figure(width=5, height=3)
    for a, b in zip(untuned, tuned):
        ax.plot([0, 1], [a, b], marker="o", color="grey", alpha=0.6)
    ax.plot([0, 1], [untuned.mean(), tuned.mean()], marker="o", linewidth=3, label="mean")
    ax.set_xticks([0, 1], ["untuned", "tuned"])
    ax.set(title=f"{metric} on the same folds", ylabel=metric)
    ax.legend()
    return fig
