"""Bootstrap intervals of held-out metrics: the values equal scikit-learn's, the intervals behave."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from lifecycle.modeling import intervals
from lifecycle.modeling.intervals import METRICS_BY_TASK

CLASSES = np.array(["ant", "bee", "cat"])


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _binary(n=500, seed=0, prevalence=0.3, ties=False):
    """Truth drawn from a logistic model of one feature; the score is a noisy view of that feature."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    truth = rng.random(n) < _sigmoid(np.log(prevalence / (1 - prevalence)) + 1.5 * x)
    score = _sigmoid(np.log(prevalence / (1 - prevalence)) + 1.5 * x + rng.normal(0, 0.5, n))
    return truth, np.round(score, 1) if ties else score


def _multiclass(n=500, seed=0, shares=(0.5, 0.3, 0.2), ties=False, unpredicted=None):
    """Labels from ``CLASSES`` and probabilities that lean towards the truth; rows sum to one."""
    rng = np.random.default_rng(seed)
    code = rng.choice(len(CLASSES), size=n, p=shares)
    logits = rng.normal(size=(n, len(CLASSES))) + 1.2 * np.eye(len(CLASSES))[code]
    if unpredicted is not None:  # a class that never has the highest probability
        logits[:, unpredicted] -= 10
    if ties:  # few distinct rows: ties in every column
        logits = np.round(logits)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return CLASSES[code], proba


def _regression(n=500, seed=0, ties=False, offset=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    truth = offset + 2 * x + rng.standard_t(3, n)
    output = offset + 2 * x
    return (np.round(truth), np.round(output)) if ties else (truth, output)


def _sklearn_binary(truth, score, threshold=0.5):
    decided = score >= threshold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one_class = len(np.unique(truth)) < 2
        return {
            "roc_auc": np.nan if one_class else metrics.roc_auc_score(truth, score),
            "average_precision": np.nan if not truth.any() else metrics.average_precision_score(truth, score),
            "log_loss": metrics.log_loss(truth, score, labels=[False, True]),
            "brier": metrics.brier_score_loss(truth, score, labels=[False, True]),
            "precision": metrics.precision_score(truth, decided, zero_division=0),
            "recall": metrics.recall_score(truth, decided, zero_division=0),
            "f1": metrics.f1_score(truth, decided, zero_division=0),
            "accuracy": metrics.accuracy_score(truth, decided),
            "balanced_accuracy": metrics.balanced_accuracy_score(truth, decided),
        }


def _sklearn_multiclass(truth, proba, classes=CLASSES):
    predicted = classes[np.argmax(proba, axis=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every_class = set(truth) == set(classes)
        return {
            "accuracy": metrics.accuracy_score(truth, predicted),
            "balanced_accuracy": metrics.balanced_accuracy_score(truth, predicted),
            "f1_macro": metrics.f1_score(truth, predicted, average="macro", zero_division=0),
            "f1_weighted": metrics.f1_score(truth, predicted, average="weighted", zero_division=0),
            "roc_auc_ovr": (
                metrics.roc_auc_score(truth, proba, multi_class="ovr", labels=classes) if every_class else None
            ),  # scikit-learn raises; ours averages the classes present
            "log_loss": metrics.log_loss(truth, proba, labels=classes),
        }


def _sklearn_regression(truth, output):
    return {
        "mae": metrics.mean_absolute_error(truth, output),
        "rmse": metrics.root_mean_squared_error(truth, output),
        "r2": metrics.r2_score(truth, output),
    }


def _assert_matches(ours, theirs):
    assert list(ours) == [name for name in theirs]
    for name, expected in theirs.items():
        if expected is not None:
            np.testing.assert_allclose(ours[name], expected, rtol=0, atol=1e-9, err_msg=name)


@pytest.mark.parametrize(
    "sample, threshold",
    [
        (_binary(), 0.5),
        (_binary(seed=1, ties=True), 0.5),
        (_binary(seed=2, ties=True), 0.3),
        (_binary(n=2000, seed=3, prevalence=0.02), 0.5),  # heavy imbalance: few positives, few predicted
        (_binary(n=300, seed=4, prevalence=0.02, ties=True), 0.1),
        (_binary(n=60, seed=5), 0.99),  # nothing predicted positive: precision and f1 are 0
        ((np.zeros(50, bool), np.linspace(0, 1, 50)), 0.5),  # no positives: AUC and average precision undefined
        ((np.array([1, 0, 1, 1]), np.array([0.0, 1.0, 1e-20, 1.0])), 0.5),  # 0/1 truth, extreme probabilities
    ],
)
def test_binary_metrics_equal_sklearn(sample, threshold):
    truth, score = sample
    _assert_matches(
        intervals.compute("binary", truth, score, threshold=threshold),
        _sklearn_binary(np.asarray(truth).astype(bool), score, threshold),
    )


@pytest.mark.parametrize(
    "truth, proba",
    [
        _multiclass(),
        _multiclass(seed=1, ties=True),
        _multiclass(n=2000, seed=2, shares=(0.94, 0.05, 0.01)),
        _multiclass(seed=3, unpredicted=2),  # a class in the truth that is never predicted
        _multiclass(seed=4, shares=(0.6, 0.4, 0.0)),  # a class predicted but absent from the truth
        _multiclass(n=200, seed=5, shares=(0.9, 0.08, 0.02), ties=True, unpredicted=1),
    ],
)
def test_multiclass_metrics_equal_sklearn(truth, proba):
    _assert_matches(intervals.compute("multiclass", truth, proba, classes=CLASSES), _sklearn_multiclass(truth, proba))


def test_multiclass_labels_and_classes_default():
    rng = np.random.default_rng(0)
    truth = rng.choice([3, 1, 2], 300)
    proba = rng.dirichlet(np.ones(3), 300)
    ours = intervals.compute("multiclass", truth, proba)  # classes default to the sorted labels
    _assert_matches(ours, _sklearn_multiclass(truth, proba, classes=np.array([1, 2, 3])))


@pytest.mark.parametrize(
    "truth, output", [_regression(), _regression(seed=1, ties=True), _regression(n=50, seed=2, offset=1e6)]
)
def test_regression_metrics_equal_sklearn(truth, output):
    _assert_matches(intervals.compute("regression", truth, output), _sklearn_regression(truth, output))


def test_resamples_weigh_rows_like_drawing_them():
    """The weights behind each resample give scikit-learn's metrics on the rows they draw."""
    truth, score = _binary(n=120, seed=7, ties=True)
    weights = next(intervals._weights(len(truth), 5, seed=3))
    draws = intervals._binary(intervals._prepare("binary", truth, score, 0.5, None), weights)
    for counts, drawn in zip(weights.astype(int), draws):
        rows = np.repeat(np.arange(len(truth)), counts)
        _assert_matches(dict(zip(METRICS_BY_TASK["binary"], drawn)), _sklearn_binary(truth[rows], score[rows]))


SAMPLES = {"binary": _binary(), "multiclass": _multiclass(), "regression": _regression()}


@pytest.mark.parametrize("task", list(METRICS_BY_TASK))
def test_bootstrap_frame(task):
    truth, output = SAMPLES[task]
    frame = intervals.bootstrap(task, truth, output, classes=CLASSES if task == "multiclass" else None)
    assert list(frame.index) == list(METRICS_BY_TASK[task])
    assert list(frame.columns) == ["value", "low", "high"]
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert frame.notna().all().all()
    assert (frame["low"] <= frame["value"]).all() and (frame["value"] <= frame["high"]).all()
    assert (frame["low"] < frame["high"]).all()
    expected = intervals.compute(task, truth, output, classes=CLASSES if task == "multiclass" else None)
    np.testing.assert_allclose(frame["value"], list(expected.values()), rtol=0, atol=1e-12)


@pytest.mark.parametrize("task", list(METRICS_BY_TASK))
def test_width_shrinks_like_one_over_root_n(task):
    make = {"binary": _binary, "multiclass": _multiclass, "regression": _regression}[task]
    widths = []
    for n in (200, 3200):
        truth, output = make(n=n, seed=11)
        frame = intervals.bootstrap(task, truth, output, classes=CLASSES if task == "multiclass" else None)
        widths.append(frame["high"] - frame["low"])
    ratio = widths[0] / widths[1]
    assert ratio.between(2.5, 6).all(), ratio


def test_auc_interval_covers_the_population_value():
    population_truth, population_score = _binary(n=200_000, seed=1000)
    population_auc = metrics.roc_auc_score(population_truth, population_score)
    covered = 0
    for seed in range(100):
        truth, score = _binary(n=300, seed=seed)
        frame = intervals.bootstrap("binary", truth, score, seed=seed)
        covered += frame.at["roc_auc", "low"] <= population_auc <= frame.at["roc_auc", "high"]
    assert covered >= 85


def test_same_seed_same_frame():
    truth, output = SAMPLES["multiclass"]
    first = intervals.bootstrap("multiclass", truth, output, classes=CLASSES, seed=5)
    pd.testing.assert_frame_equal(
        first, intervals.bootstrap("multiclass", truth, output, classes=CLASSES, seed=5), check_exact=True
    )
    other = intervals.bootstrap("multiclass", truth, output, classes=CLASSES, seed=6)
    assert not np.array_equal(first["low"], other["low"])
    pd.testing.assert_series_equal(first["value"], other["value"])


def test_more_rows_than_one_block_of_weights(monkeypatch):
    """The resamples are drawn in blocks; a frame does not depend on where they break."""
    truth, output = SAMPLES["regression"]
    whole = intervals.bootstrap("regression", truth, output, resamples=300, seed=2)
    monkeypatch.setattr(intervals, "_BLOCK", 64 * len(truth))
    pd.testing.assert_frame_equal(whole, intervals.bootstrap("regression", truth, output, resamples=300, seed=2))


def test_level_widens_the_interval():
    truth, output = SAMPLES["binary"]
    narrow = intervals.bootstrap("binary", truth, output, level=0.8)
    wide = intervals.bootstrap("binary", truth, output, level=0.99)
    assert (wide["low"] <= narrow["low"]).all() and (narrow["high"] <= wide["high"]).all()


@pytest.mark.parametrize("task", list(METRICS_BY_TASK))
def test_pooled_identical_repeats_equal_bootstrap(task):
    truth, output = SAMPLES[task]
    classes = CLASSES if task == "multiclass" else None
    single = intervals.bootstrap(task, truth, output, classes=classes, resamples=200, seed=1)
    pd.testing.assert_frame_equal(
        intervals.pooled(task, truth, [output], classes=classes, resamples=200, seed=1), single, check_exact=True
    )
    pd.testing.assert_frame_equal(
        intervals.pooled(task, truth, [output] * 3, classes=classes, resamples=200, seed=1), single, rtol=1e-12
    )


def test_pooled_value_is_the_mean_over_repeats():
    truth, _ = _binary(n=400, seed=3)
    outputs = [_binary(n=400, seed=3)[1] ** power for power in (0.5, 1, 2)]
    frame = intervals.pooled("binary", truth, outputs, resamples=200)
    expected = pd.DataFrame([intervals.compute("binary", truth, output) for output in outputs]).mean()
    np.testing.assert_allclose(frame["value"], expected, rtol=1e-12)
    assert (frame["low"] <= frame["value"]).all() and (frame["value"] <= frame["high"]).all()


def test_rare_class_leaves_some_resamples_undefined():
    """Two rows of 100 in a class: some resamples miss it, the metrics they leave undefined are skipped."""
    truth, score = _binary(n=100, seed=0)
    truth = np.zeros(100, bool)
    truth[[3, 50]] = True
    frame = intervals.bootstrap("binary", truth, score)
    assert np.isfinite(frame.to_numpy()).all()

    labels, proba = _multiclass(n=100, seed=0)
    labels = np.where(np.isin(np.arange(100), [3, 50]), "cat", np.where(labels == "cat", "ant", labels))
    frame = intervals.bootstrap("multiclass", labels, proba, classes=CLASSES)
    assert np.isfinite(frame.to_numpy()).all()


def test_metric_undefined_in_most_resamples_has_no_interval():
    frame = intervals.bootstrap("binary", [False], [0.7])  # one row: one class, no positives in every resample
    assert frame.loc[["roc_auc", "average_precision"]].isna().all().all()
    assert (frame.loc["accuracy"] == 0).all() and np.allclose(frame.loc["brier"], 0.49)

    frame = intervals.bootstrap("regression", np.full(40, 3.0), np.linspace(2, 4, 40))  # constant truth: no R²
    assert frame.loc["r2"].isna().all() and np.isfinite(frame.loc[["mae", "rmse"]].to_numpy()).all()

    low, high = intervals._percentiles(np.array([[1.0, np.nan], [2.0, np.nan], [3.0, 4.0]]), 0.9)
    assert np.isfinite([low[0], high[0]]).all() and np.isnan([low[1], high[1]]).all()  # 1 of 3 defined


@pytest.mark.parametrize(
    "task, truth, output, match",
    [
        ("ordinal", [1, 0], [0.2, 0.8], "task"),
        ("binary", [1, 0, 1], [0.2, 0.8], "one output per row"),
        ("binary", ["yes", "no"], [0.2, 0.8], "bool or 0/1"),
        ("multiclass", ["ant", "emu"], np.full((2, 3), 1 / 3), "not in classes"),
        ("multiclass", ["ant", "bee"], np.full((2, 2), 1 / 2), "one column per class"),
    ],
)
def test_bad_input_is_refused(task, truth, output, match):
    with pytest.raises(ValueError, match=match):
        intervals.compute(task, truth, output, classes=CLASSES if task == "multiclass" else None)
