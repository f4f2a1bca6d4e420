"""A classifier's performance before its labels arrive, from its own confidence (as NannyML's CBPE).

If the probabilities are calibrated, a row scored ``p`` for a class is of that class with probability
``p``: summed over a window's rows that gives the expected confusion matrix of each class one-vs-rest,
hence expected ROC AUC, F1 and accuracy (``expected_metrics``; a multiclass model's ROC AUC and F1 are
averaged over its classes). Probabilities are calibrated first (``calibration``), on the validation split, by isotonic
regression of the label on the score (rows are still ranked by the raw score); a multiclass model's
classes one-vs-rest, then renormalized to sum to one per row.

The interval is that of the *realized* metric, the one the labels will give: it varies around the
expectation because each label is a draw from its probability (its variance to first order, given the
window's scores: ``expected_metrics``), and the calibration learned from a few hundred rows is itself
uncertain (the estimate's variance over calibrations fitted on bootstrap samples). The two add; the
interval is the estimate +- ``z`` standard deviations for the level asked.

It holds while the *inputs* move (covariate drift): the model is still right about what its scores
mean. It fails, silently, when the *meaning* moves (concept drift): the model's confidence is then
wrong, and so is every estimate made from it. Only labels reveal that.
"""

from __future__ import annotations

import re
from statistics import NormalDist

import numpy as np
import pandas as pd

from lifecycle.monitoring import error_estimate, expected_metrics
from lifecycle.monitoring.calibration import Calibration, calibrate, calibrate_classes
from lifecycle.monitoring.drift import Result

# The metrics estimated, by task, in the names of ``lifecycle.core.metrics`` (card metrics).
METRICS = {
    "binary": ("roc_auc", "f1", "accuracy"),
    "multiclass": ("roc_auc_ovr", "f1_macro", "accuracy"),
    "regression": error_estimate.METRICS,  # a model of the error (``error_estimate``)
}
COLUMNS = ["window", "metric", "rows", "estimate", "low", "high", "note"]
REGRESSION = (
    "No label-free estimate for this regression model: its error model learns from labelled validation "
    "rows and their inputs, and none were given; its error is known once labels arrive."
)


def _probabilities(
    calibrations: list[Calibration],
    scores: np.ndarray,
    ranks: list[expected_metrics.Ranking],
    resample: int | None = None,
) -> np.ndarray:
    """Calibrated probabilities, rows x classes: a binary model's [negative, positive] from its positive
    score, a multiclass model's each class calibrated, then renormalized (uniform where all are zero).
    Each column is calibrated in the order of its ``ranks`` (interpolation is fastest on sorted scores)."""
    p = np.empty(scores.shape)
    for k, (c, rank) in enumerate(zip(calibrations, ranks)):
        p[rank.order, k] = np.clip(c(scores[rank.order, k], resample), 0, 1)
    if len(calibrations) == 1:
        return np.column_stack([1 - p[:, 0], p[:, 0]])
    total = p.sum(axis=1, keepdims=True)
    return np.divide(p, total, out=np.full_like(p, 1 / p.shape[1]), where=total > 0)


def estimate_classes(
    scores: np.ndarray, predicted: np.ndarray, calibrations: list[Calibration], interval: float
) -> dict[str, tuple[float, float, float]]:
    """Estimated ROC AUC, F1 and accuracy of one window: ``{metric: (estimate, low, high)}``; a multiclass
    model's macro averages, and each class's ROC AUC and F1 one-vs-rest (``roc_auc[c]``, ``f1[c]``).

    Parameters
    ----------
    scores : rows x classes, each class's score; a binary model: one column, the positive class's score.
    predicted : the class predicted per row, as a column of ``scores`` (a binary model: 1 positive, 0 not).
    calibrations : one per column of ``scores`` (``calibrate``).
    interval : the level of the interval of the realized metric, e.g. 0.95.
    """
    scores = np.asarray(scores, float).reshape(len(predicted), -1)
    binary = len(calibrations) == 1
    ranks = [expected_metrics.ranking(scores[:, c]) for c in range(scores.shape[1])]
    p = _probabilities(calibrations, scores, ranks)
    ranks = ranks * 2 if binary else ranks  # a binary model's classes [negative, positive], ranked by one score
    onehot = np.asarray(predicted)[:, None] == np.arange(p.shape[1])
    scored = [1] if binary else list(range(p.shape[1]))
    found = expected_metrics.expected(ranks, p, onehot, scored)
    resamples = max(len(c.resampled) for c in calibrations)
    again = (
        expected_metrics.expected(
            ranks,
            np.stack([_probabilities(calibrations, scores, ranks, b) for b in range(resamples)]),
            onehot,
            scored,
            False,
        )
        if resamples > 1
        else {}
    )
    z = NormalDist().inv_cdf(0.5 + interval / 2)
    result = {}
    names = dict(zip(("roc_auc", "f1", "accuracy"), METRICS["binary" if binary else "multiclass"]))
    for metric, (value, gradient) in found.items():
        name = names.get(metric, metric)  # a class's own: roc_auc[c], f1[c] (c: its column)
        value = float(value)
        if gradient is None or not np.isfinite(value):
            result[name] = (value, float("nan"), float("nan"))
            continue
        spread = float(np.nanvar(again[metric][0], ddof=1)) if again else 0.0
        sd = np.sqrt(expected_metrics.variance(p, gradient) + spread)
        result[name] = (value, float(max(value - z * sd, 0.0)), float(min(value + z * sd, 1.0)))
    return result


def estimate(
    scores: np.ndarray, predicted: np.ndarray, calibration: Calibration, interval: float
) -> dict[str, tuple[float, float, float]]:
    """``estimate_classes`` of a binary model: ``scores`` the positive class's, ``predicted`` whether positive."""
    return estimate_classes(
        np.asarray(scores, float)[:, None], np.asarray(predicted, bool).astype(int), [calibration], interval
    )


def by_window(
    frame: pd.DataFrame,
    *,
    window: pd.Series,
    scores: list[str],
    prediction: str,
    classes: list,
    calibrations: list[Calibration],
    interval: float,
    min_rows: int,
) -> pd.DataFrame:
    """``estimate_classes`` for each window with at least ``min_rows`` rows: one row per (window, metric).

    ``scores`` are the columns of the classes ``classes`` (a binary model: the positive class's alone),
    ``prediction`` the column of the predicted class.
    """
    names = [str(c) for c in classes]
    said = frame[prediction].astype(str).to_numpy()
    predicted = (
        (said == names[0]).astype(int)
        if len(names) == 1
        else np.select([said == c for c in names], range(len(names)), -1)
    )
    matrix = frame[scores].to_numpy(float)
    codes, windows = pd.factorize(window, sort=True)
    counts = np.bincount(codes, minlength=len(windows))
    # Each window's rows at once from one stable sort, without a pandas group per window.
    parts = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
    rows = []
    for name, part in zip(windows, parts):
        if len(part) < min_rows:
            continue
        found = estimate_classes(matrix[part], predicted[part], calibrations, interval)
        rows += [
            (
                name,
                re.sub(r"\[(\d+)\]", lambda k: f"[{names[int(k.group(1))]}]", metric),
                len(part),
                *values,
                "" if np.isfinite(values[0]) else "not measurable: one class expected in this window",
            )
            for metric, values in found.items()
        ]
    return pd.DataFrame(rows, columns=COLUMNS)


def alerts(estimates: pd.DataFrame, metric: str, floor: float, greater_is_better: bool) -> list:
    """The card's metric estimated per window as ``drift.Result`` records: an alert when the whole
    interval lies beyond the floor (confidently worse), none for a metric not estimated here."""
    rows = estimates[estimates["metric"] == metric]
    return [
        Result(
            f"estimated performance ({metric})",
            r.window,
            metric,
            round(r.estimate, 4),
            round(floor, 4),
            bool(r.high < floor if greater_is_better else r.low > floor),
            int(r.rows),
            r.note or f"interval {r.low:.3f} to {r.high:.3f}",
        )
        for r in rows.itertuples()
        if np.isfinite(r.estimate)
    ]


def against_realized(estimates: pd.DataFrame, results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per window: the estimate of the card's metric, its interval, the realized value once labels have
    arrived, the estimate's error and whether the interval held it."""
    table = estimates[estimates["metric"] == metric].set_index("window")[["rows", "estimate", "low", "high"]]
    realized = results[results["feature"] == f"performance ({metric})"].set_index("window")
    table["labelled rows"] = realized["rows"].reindex(table.index).fillna(0).astype(int)
    table["realized"] = realized["value"].reindex(table.index)
    table["error"] = (table["estimate"] - table["realized"]).round(4)
    table["held"] = ((table["low"] <= table["realized"]) & (table["realized"] <= table["high"])).where(
        table["realized"].notna(), None
    )
    return table.round(4)


def for_production(
    production: pd.DataFrame,
    *,
    window: pd.Series,
    task: str,
    positive_class,
    validation_scores,
    validation_truth,
    settings,
    seed: int,
    min_rows: int,
    validation_inputs: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, str]:
    """The estimate for each window of ``production`` (``read_log`` rows), calibrated on the validation split
    (``settings``: ``Estimate`` from params), and how it was made.

    ``validation_scores``: a binary model's positive score, whose ``validation_truth`` is whether positive;
    a multiclass model's ``output_probability_<class>`` columns, whose ``validation_truth`` is the class;
    a regression model's prediction, whose ``validation_truth`` is the target, with the model's
    ``validation_inputs`` (the error model learns from both: ``error_estimate``).
    """
    if task == "regression":
        if validation_inputs is None or validation_scores is None:
            return pd.DataFrame(columns=COLUMNS), REGRESSION
        model = error_estimate.fit(validation_inputs, validation_scores, validation_truth, seed=seed)
        rows = error_estimate.by_window(
            production, window=window, model=model, interval=settings.interval, min_rows=min_rows
        )
        return pd.DataFrame(rows, columns=COLUMNS), model.sentence
    if task == "binary":
        calibrations = [calibrate(validation_scores, validation_truth, settings.calibrate, seed=seed)]
        columns, classes = [f"output_probability_{positive_class}"], [positive_class]
    else:
        columns = [c for c in validation_scores.columns if c.startswith("output_probability_")]
        classes = [c.removeprefix("output_probability_") for c in columns]
        calibrations = calibrate_classes(
            validation_scores[columns].set_axis(classes, axis=1), validation_truth, settings.calibrate, seed=seed
        )
    table = by_window(
        production,
        window=window,
        scores=columns,
        prediction="output_prediction",
        classes=classes,
        calibrations=calibrations,
        interval=settings.interval,
        min_rows=min_rows,
    )
    return table, calibrations[0].sentence


def verdict(table: pd.DataFrame, metric: str) -> str:
    """One sentence on ``against_realized``: how often the interval held the realized value, the largest miss."""
    if table.empty:
        estimated = sorted({m for names in METRICS.values() for m in names})
        why = (
            "no window had min_rows rows, or none was made: see above"
            if metric in estimated
            else f"it is estimated for {', '.join(estimated)}"
        )
        return (
            f"No label-free estimate of {metric} for this model ({why}); its performance is known once labels arrive."
        )
    known = table[table["realized"].notna()]
    if known.empty:
        return f"No labels yet: the estimated {metric} is all there is until they arrive."
    held = known["held"].astype(bool)
    sentence = (
        f"The interval held the realized {metric} in {int(held.sum())} of {len(known)} labelled windows "
        f"(mean absolute error {known['error'].abs().mean():.3f})."
    )
    if held.all():
        return sentence
    missed = known[~held.to_numpy()]
    shown = ", ".join(f"{w} ({e:+.3f})" for w, e in missed["error"].head(6).items())
    return (
        f"{sentence} It missed in {len(missed)}: {shown}{', ...' if len(missed) > 6 else ''}. A miss beyond the "
        "interval means what the estimate learned on validation rows no longer matches what happens -- "
        "concept drift, which an estimate made from the model's own inputs and outputs cannot see; only "
        "labels reveal it."
    )
