"""A regression model's error before its labels arrive (as NannyML's DLE): a model of the error itself.

On labelled validation rows, a gradient-boosted model learns the expected absolute error ``m(x)`` from
the model's inputs and its prediction. The error is taken as ``m(x) * R``, ``R`` a ratio with one
distribution for all rows (exact when the noise only changes scale with ``x``), whose moments come from
the validation rows' out-of-fold ratios ``|e| / m(x)`` (``m`` of each fold's model fitted on the others;
the estimate averages the fold models). A window's estimated MAE is ``E[R]`` times the mean
of ``m`` over its rows, its MSE ``E[R^2]`` times the mean of ``m^2`` (RMSE its square root).

The interval is that of the *realized* metric: each row's error is a draw around its expectation
(variance ``m^2 Var R`` for the MAE, ``m^4 Var R^2`` for the MSE; the RMSE by the delta method), and the
error model learned from a few hundred rows is itself uncertain (the spread of the estimate over the
``FOLDS`` fold models, as a grouped jackknife). The two add.

It holds while the *inputs* move (covariate drift): the error model still knows where the model errs.
It fails when the target's relation to the inputs moves (concept drift): the errors grow where nothing in
the inputs says so. Only labels reveal that.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from lifecycle.monitoring.drift import multivariate

FOLDS = 5
FLOOR = 1e-9  # the smallest expected error, so a ratio is defined
METRICS = ("mae", "rmse")
PREDICTION = "output_prediction"


class ErrorModel(NamedTuple):
    """The expected absolute error's model (on all rows and per fold) and the ratio's moments."""

    folds: list  # one per fold, fitted without it; the estimate averages them
    features: list[str]
    ratio: tuple[float, float, float, float]  # E[R], Var R, E[R^2], Var R^2
    rows: int
    sentence: str


def _learner(inputs: pd.DataFrame, seed: int):
    return make_pipeline(
        multivariate.preprocessor(inputs),
        HistGradientBoostingRegressor(
            max_iter=150,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=30,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        ),
    )


def _inputs(frame: pd.DataFrame, features: list[str], prediction: pd.Series) -> pd.DataFrame:
    return multivariate.as_text(frame[features].reset_index(drop=True)).assign(
        **{PREDICTION: np.asarray(prediction, float)}
    )


def fit(inputs: pd.DataFrame, prediction: pd.Series, truth: pd.Series, seed: int = 0) -> ErrorModel:
    """The error model on labelled validation rows: the model's ``inputs``, its ``prediction``, the ``truth``."""
    features = [str(c) for c in inputs.columns]
    frame = _inputs(inputs.set_axis(features, axis=1), features, prediction)
    error = np.abs(np.asarray(truth, float) - np.asarray(prediction, float))
    fold = np.random.default_rng(seed).permutation(len(frame)) % FOLDS
    expected = np.empty(len(frame))
    folds = []
    # One thread: on a few thousand rows OpenMP's threads cost more than they save, far more on a busy machine.
    with threadpool_limits(limits=1, user_api="openmp"):
        for k in range(FOLDS):
            fitted = _learner(frame, seed).fit(frame[fold != k], error[fold != k])
            expected[fold == k] = np.maximum(fitted.predict(frame[fold == k]), FLOOR)
            folds.append(fitted)
    ratio = error / expected
    # Ratios of means, not means of ratios: a noisy fold model's small predictions would inflate the latter.
    moments = (
        float(error.mean() / expected.mean()),
        float(ratio.var(ddof=1)),
        float(np.mean(error**2) / np.mean(expected**2)),
        float(np.var(ratio**2, ddof=1)),
    )
    sentence = (
        f"The error is estimated by a model of the expected absolute error (gradient boosting on the inputs "
        f"and the prediction, {FOLDS} fold models averaged) learned on {len(frame):,} validation rows; the "
        "interval carries each row's error as a draw around it and the error model's own uncertainty."
    )
    return ErrorModel(folds, features, moments, len(frame), sentence)


def _metrics(expected: np.ndarray, ratio: tuple) -> dict[str, float]:
    mean_r, _, mean_r2, _ = ratio
    return {"mae": mean_r * float(expected.mean()), "rmse": float(np.sqrt(mean_r2 * np.mean(expected**2)))}


def expected_errors(model: ErrorModel, frame: pd.DataFrame) -> np.ndarray:
    """FOLDS x rows: each row's expected absolute error by each fold's model."""
    rows = _inputs(frame, model.features, frame[PREDICTION])
    with threadpool_limits(limits=1, user_api="openmp"):
        return np.maximum(np.stack([m.predict(rows) for m in model.folds]), FLOOR)


def from_expected(expected: np.ndarray, ratio: tuple, interval: float) -> dict[str, tuple[float, float, float]]:
    """Estimated MAE and RMSE of rows with ``expected_errors`` ``expected``: ``{metric: (estimate, low, high)}``."""
    mean = expected.mean(axis=0)
    found = _metrics(mean, ratio)
    _, var_r, mean_r2, var_r2 = ratio
    n = expected.shape[1]
    mse = mean_r2 * np.mean(mean**2)
    sampling = {
        "mae": var_r * np.sum(mean**2) / n**2,
        "rmse": var_r2 * np.sum(mean**4) / n**2 / max(4 * mse, FLOOR),
    }
    by_fold = [_metrics(e, ratio) for e in expected]
    z = NormalDist().inv_cdf(0.5 + interval / 2)
    result = {}
    for metric in METRICS:
        spread = np.array([f[metric] for f in by_fold])
        jackknife = (len(by_fold) - 1) / len(by_fold) * float(np.sum((spread - spread.mean()) ** 2))
        sd = float(np.sqrt(sampling[metric] + jackknife))
        result[metric] = (found[metric], max(found[metric] - z * sd, 0.0), found[metric] + z * sd)
    return result


def estimate(model: ErrorModel, frame: pd.DataFrame, interval: float) -> dict[str, tuple[float, float, float]]:
    """Estimated MAE and RMSE of one window's rows (inputs and ``output_prediction``):
    ``{metric: (estimate, low, high)}`` at the level ``interval``."""
    return from_expected(expected_errors(model, frame), model.ratio, interval)


def by_window(frame: pd.DataFrame, *, window: pd.Series, model: ErrorModel, interval: float, min_rows: int) -> list:
    """``estimate`` for each window with at least ``min_rows`` rows: rows of (window, metric, rows, estimate,
    low, high, note); every row's expected error computed once."""
    codes, windows = pd.factorize(pd.Series(window).reset_index(drop=True), sort=True)
    expected = expected_errors(model, frame.reset_index(drop=True))
    found = []
    for w, name in enumerate(windows):
        part = codes == w
        if part.sum() < min_rows:
            continue
        for metric, values in from_expected(expected[:, part], model.ratio, interval).items():
            found.append((name, metric, int(part.sum()), *values, ""))
    return found
