"""Phase 12: production against the training reference, window by window.

On what ``monitor_store.gather`` reads (logged predictions with the labels known so far, the
batch job's predictions, the reference), cuts time into windows and checks per window: each
feature's drift (effect sizes of ``drift.STATISTICS``), the features' joint drift
(``drift_multivariate``), the drift of the model's score, and -- once labels have arrived -- the
problem card's metric; each batch gets the score's drift. Drift thresholds are learned from the
reference (``fit``, ``drift_thresholds``); the performance floor comes from params. Each check is
a ``drift.Result``; ``monitor_alerts`` merges and ranks the ones beyond their thresholds.
``lifecycle monitor`` (``monitoring.command``) runs the same checks for a scheduler.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn import metrics as m

from lifecycle.core.metrics import METRICS
from lifecycle.monitoring import drift
from lifecycle.monitoring import performance_estimate as pe
from lifecycle.monitoring.alerts import PREDICTION
from lifecycle.monitoring.drift import Result
from lifecycle.monitoring.drift import multivariate as drift_multivariate
from lifecycle.monitoring.drift import thresholds as drift_thresholds


class MonitorError(ValueError):
    """Monitoring cannot run on this input; the message says what to fix."""


def windows(timestamps: pd.Series, period: str) -> pd.Series:
    """Each time's window, named by the window's first day (``2026-12-07``)."""
    naive = timestamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return naive.dt.to_period(period).dt.start_time.dt.strftime("%Y-%m-%d")


def score_column(frame: pd.DataFrame, task: str, positive_class) -> str:
    """The output that summarises the model's answer: the positive class's probability, else the prediction."""
    if task == "binary":
        return f"output_probability_{positive_class}"
    return "output_prediction"


def metric_value(metric: str, truth: pd.Series, frame: pd.DataFrame, task: str, positive_class) -> tuple[float, str]:
    """The problem card's metric on one window's labelled rows (a note instead when it cannot be measured)."""
    if task == "regression":
        predicted = frame["output_prediction"].astype(float)
        value = {"r2": m.r2_score, "mae": m.mean_absolute_error, "rmse": m.root_mean_squared_error}[metric](
            truth.astype(float), predicted
        )
        return float(value), ""
    if truth.nunique() < 2:
        return 0.0, "one class only: not measurable"
    if task == "binary" and metric in ("roc_auc", "average_precision", "log_loss"):
        positive = is_positive(truth, positive_class)
        score = frame[f"output_probability_{positive_class}"].astype(float).to_numpy()
        function = {"roc_auc": m.roc_auc_score, "average_precision": m.average_precision_score, "log_loss": m.log_loss}[
            metric
        ]
        return float(function(positive, score)), ""
    if metric in ("roc_auc_ovr", "log_loss"):
        columns = [c for c in frame.columns if c.startswith("output_probability_")]
        classes = [c.removeprefix("output_probability_") for c in columns]
        proba = frame[columns].astype(float).to_numpy()
        if metric == "log_loss":
            return float(m.log_loss(truth.astype(str), proba, labels=classes)), ""
        return float(m.roc_auc_score(truth.astype(str), proba, multi_class="ovr", labels=classes)), ""
    predicted = frame["output_prediction"].astype(str)
    function = {
        "accuracy": m.accuracy_score,
        "balanced_accuracy": m.balanced_accuracy_score,
        "f1": lambda t, p: m.f1_score(t, p, pos_label=str(positive_class)),
        "f1_macro": lambda t, p: m.f1_score(t, p, average="macro"),
    }[metric]
    return float(function(truth.astype(str), predicted)), ""


def is_positive(truth: pd.Series, value) -> np.ndarray:
    """``truth == value``, whether the labels came back as numbers, floats (after a join) or text."""
    numbers = pd.to_numeric(truth, errors="coerce")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and numbers.notna().all():
        return (numbers == value).to_numpy()
    return (truth.astype(str) == str(value)).to_numpy()


class Reference(NamedTuple):
    """What production is compared with, with thresholds learned from it (``fit``)."""

    features: drift_thresholds.Baseline  # per feature and statistic
    score: drift_thresholds.Baseline  # the model's score
    multivariate: drift_multivariate.Multivariate | None  # None with fewer than two features


def fit(
    reference: pd.DataFrame, reference_scores: pd.Series, settings, seed: int, min_rows: int, exclude: list[str] = ()
) -> Reference:
    """Learn every threshold from the reference (``settings``: ``DriftSettings`` from params).

    Raises ``MonitorError`` for a reference too small to learn from, with what to change.
    """
    features = reference[[c for c in reference.columns if c not in exclude]]
    if features.shape[1] == 0:
        raise MonitorError("no features left to check for drift: exclude_features lists every reference column")
    try:
        columns = drift_thresholds.fit(features, settings, seed=seed, min_rows=min_rows)
        score = drift_thresholds.fit(
            reference_scores.reset_index(drop=True).to_frame(PREDICTION),
            settings,
            seed=seed,
            min_rows=min_rows,
            statistics=[s for s in settings.statistics if s != "new_categories"],
        )
        multivariate = (
            drift_multivariate.fit(features, settings, seed=seed, min_rows=min_rows) if features.shape[1] > 1 else None
        )
    except drift_thresholds.CalibrationError as exc:
        raise MonitorError(str(exc)) from None
    return Reference(columns, score, multivariate)


def thresholds_table(reference: Reference) -> pd.DataFrame:
    """The learned thresholds at a chunk's size (the largest window's): per (feature, statistic), the null's
    mean and sd over the reference's resamples, and the threshold at the false-alert rate."""
    rows = [reference.features.thresholds, reference.score.thresholds]
    if reference.multivariate is not None:
        mv = reference.multivariate
        size = drift_thresholds.window_rows(reference.features, len(reference.features.reference))
        mean, sd, limit = drift_multivariate.threshold(mv, size)
        rows.append(
            pd.DataFrame(
                [(drift_multivariate.FEATURE, drift_multivariate.STATISTIC, "all", size, mean, sd, limit)],
                columns=rows[0].columns,
            )
        )
    return pd.concat(rows, ignore_index=True).round(4)


def rate_sentence(reference: Reference) -> str:
    """How the thresholds were learned, with the false-alert rate they hold, in a sentence."""
    baseline = reference.features
    return (
        f"Thresholds at a false-alert rate of {baseline.rate:g} per feature and undrifted window "
        f"(drift.false_alert_rate; a feature's statistics share it), each the tail of its null distribution "
        f"drawn {baseline.resamples:,} times from the reference ({len(baseline.reference):,} rows) at the "
        f"window's size; a window above {baseline.chunk_rows:,} rows keeps that size's threshold."
    )


def check(
    production: pd.DataFrame,
    reference: Reference,
    *,
    card,
    performance_drop: float,
    reference_metric: float,
    period: str,
    min_rows: int,
    batches: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """All checks, window by window: one row per (feature, window, statistic).

    Parameters
    ----------
    production : ``read_log`` rows, labels attached (``card.target``; missing until known).
    reference : ``fit`` on the reference's model inputs and the model's scores on them.
    card : the problem card (task, metric, positive class, bar).
    performance_drop : a labelled window alerts this far below (above, for an error) ``reference_metric``.
    reference_metric : the metric the model was accepted on (its test score).
    batches : the batch job's predictions (``batch_id`` and outputs): the score's drift per batch.
    """
    features = [c for c in reference.features.reference.columns if c in production.columns]
    if not features:
        columns = reference.features.reference.columns
        raise MonitorError(
            f"the reference and production share no columns (reference: "
            f"{', '.join(map(str, columns[:5]))}, ...; production: "
            f"{', '.join(map(str, production.columns[:5]))}, ...): compare inputs of the same model"
        )
    if production.empty:
        raise MonitorError("the production window is empty: no predictions in the period monitored")
    score = score_column(production, card.task, card.positive_class)
    better = METRICS[card.metric].greater_is_better
    floor = performance_floor(card.metric, reference_metric, performance_drop)
    results: list[Result] = []
    window_of = windows(production["timestamp"], period)
    codes, names = pd.factorize(window_of, sort=True)
    # Univariate drift of every window in one pass per column (``drift_windows``), then window by window.
    drifted = drift_thresholds.measure_windows(reference.features, production[features], codes, list(names), min_rows)
    scored = drift_thresholds.measure_windows(
        reference.score, production[[score]].set_axis([PREDICTION], axis=1), codes, list(names), min_rows
    )
    for number, (window, rows) in enumerate(production.groupby(window_of, sort=True)):
        results += drifted[number]
        if reference.multivariate is not None and len(features) == len(reference.features.reference.columns):
            results.append(drift_multivariate.measure(reference.multivariate, rows, window, min_rows))
        results += scored[number]
        labelled = rows[rows[card.target].notna()] if card.target in rows else rows.iloc[:0]
        if len(labelled):
            results.append(_performance(labelled, window, card, floor, better, min_rows))
    if batches is not None and batches["batch_id"].notna().any():
        results += _batch_drift(batches[batches["batch_id"].notna()], reference, score, min_rows)
    return drift.table(results)


def _performance(labelled: pd.DataFrame, window: str, card, floor: float, better: bool, min_rows: int) -> Result:
    """The card's metric on one window's labelled rows: an alert beyond ``floor``, unless too few rows or
    not measurable."""
    value, note = metric_value(card.metric, labelled[card.target], labelled, card.task, card.positive_class)
    few = len(labelled) < min_rows or bool(note)
    worse = value < floor if better else value > floor
    return Result(
        f"performance ({card.metric})",
        window,
        card.metric,
        round(value, 4),
        round(floor, 4),
        not few and worse,
        len(labelled),
        note or ("too few labelled rows" if len(labelled) < min_rows else ""),
    )


def _batch_drift(batches: pd.DataFrame, reference: Reference, score: str, min_rows: int) -> list[Result]:
    """The drift of the model's score in each batch of the batch job (``batch <id>``)."""
    codes, names = pd.factorize(batches["batch_id"], sort=True)
    found = drift_thresholds.measure_windows(
        reference.score,
        batches[[score]].set_axis([PREDICTION], axis=1),
        codes,
        [f"batch {b}" for b in names],
        min_rows,
    )
    return [result for batch in found for result in batch]


def performance_floor(metric: str, accepted: float, performance_drop: float) -> float:
    """The value beyond which a labelled window alerts: ``performance_drop`` below ``accepted`` (above, for
    an error)."""
    return accepted - performance_drop if METRICS[metric].greater_is_better else accepted + performance_drop


def floor_sentence(metric: str, accepted: float, performance_drop: float) -> str:
    """What the model was accepted with and where a labelled window alerts, in a sentence."""
    side = "below" if METRICS[metric].greater_is_better else "above (an error: lower is better)"
    return (
        f"The model was accepted with {metric} {accepted:.3f}; a labelled window alerts "
        f"{side} {performance_floor(metric, accepted, performance_drop):.3f}."
    )


def with_estimates(
    results: pd.DataFrame, estimates: pd.DataFrame, card, accepted: float, performance_drop: float
) -> pd.DataFrame:
    """``results`` with ``estimated``'s estimate of the card's metric per window: an alert when its
    whole interval is beyond the performance floor."""
    better = METRICS[card.metric].greater_is_better
    floor = performance_floor(card.metric, accepted, performance_drop)
    return pd.concat([results, drift.table(pe.alerts(estimates, card.metric, floor, better))], ignore_index=True)


def estimated(data, card, params) -> tuple[pd.DataFrame, str]:
    """The label-free estimates per window (``performance_estimate.for_production``) and how they were made."""
    truth = is_positive(data.validation_truth, card.positive_class) if card.task == "binary" else data.validation_truth
    return pe.for_production(
        data.production,
        window=windows(data.production["timestamp"], params.window),
        task=card.task,
        positive_class=card.positive_class,
        validation_scores=data.validation_scores,
        validation_truth=truth,
        settings=params.estimate,
        seed=params.seed,
        min_rows=params.min_rows,
        validation_inputs=getattr(data, "validation_inputs", None),
    )
