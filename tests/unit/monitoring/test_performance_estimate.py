"""The label-free performance estimate: it holds the realized metric under covariate drift and misses a
concept change, calibrates a miscalibrated score first, its interval holds as often as its level says,
and a multiclass model gets one too (macro ROC AUC, macro F1, accuracy) in its monitoring (a regression
model's: test_error_estimate.py)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score
from support.monitoring import DROP, SETTINGS, champion_score, logged_frame, production_weeks

from lifecycle.monitoring import monitor, performance_estimate
from lifecycle.simulation.simulate import Drift, simulate_product


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return logged_frame(simulate_product(4000, seed=1, messy=False))


def _estimate(frame: pd.DataFrame, calibration) -> dict:
    score = champion_score(frame).to_numpy()
    return performance_estimate.estimate(score, score > 0.5, calibration, 0.95)


def test_the_label_free_estimate_holds_the_realized_auc_under_covariate_drift_and_misses_a_concept_change(reference):
    as_is = performance_estimate.calibrate(champion_score(reference), reference["churned"], "auto")
    assert as_is.isotonic is None  # the true churn function is calibrated on its own world
    drifted = production_weeks(Drift(channel_shift=0.4, activity_change=-0.3), weeks=1, n=3000)
    estimate, low, high = _estimate(drifted, as_is)["roc_auc"]
    realized = roc_auc_score(drifted["churned"], champion_score(drifted))
    assert low <= realized <= high and abs(estimate - realized) < 0.02, (estimate, low, high, realized)
    changed = production_weeks(Drift(concept_change=1.0), weeks=1, n=3000)
    estimate, low, high = _estimate(changed, as_is)["roc_auc"]
    # the model's confidence no longer means anything
    assert roc_auc_score(changed["churned"], champion_score(changed)) < low


def test_a_miscalibrated_score_is_calibrated_on_validation_rows_first(reference):
    squashed = champion_score(reference) ** 3  # ranks kept, probabilities far too low
    calibration = performance_estimate.calibrate(squashed, reference["churned"], "auto")
    assert calibration.isotonic is not None and "isotonic" in calibration.sentence
    window = production_weeks(Drift(), weeks=1, n=3000)
    score = champion_score(window).to_numpy() ** 3
    found = performance_estimate.estimate(score, score > 0.125, calibration, 0.95)
    positive = window["churned"].to_numpy() == 1
    realized = {"roc_auc": roc_auc_score(positive, score), "accuracy": float(np.mean(positive == (score > 0.125)))}
    for metric, value in realized.items():
        assert found[metric][1] - 0.01 <= value <= found[metric][2] + 0.01, (metric, found[metric], value)


def test_the_estimate_is_reproducible_and_defined_on_one_class_windows():
    calibration = performance_estimate.Calibration(None, 0.0, "")
    scores = np.linspace(0.01, 0.99, 500)
    assert performance_estimate.estimate(scores, scores > 0.5, calibration, 0.9) == performance_estimate.estimate(
        scores, scores > 0.5, calibration, 0.9
    )
    low_scores = np.full(300, 1e-6)
    found = performance_estimate.estimate(low_scores, low_scores > 0.5, calibration, 0.9)
    assert found["accuracy"][0] == pytest.approx(1.0, abs=1e-5) and np.isnan(found["roc_auc"][0])
    window = pd.Series(["w"] * 300)
    table = performance_estimate.by_window(
        pd.DataFrame({"s": low_scores, "p": 0}),
        window=window,
        scores=["s"],
        prediction="p",
        classes=[1],
        calibrations=[calibration],
        interval=0.9,
        min_rows=200,
    )
    assert table.set_index("metric").loc["roc_auc", "note"] == "not measurable: one class expected in this window"


def test_the_interval_holds_the_realized_auc_as_often_as_its_level_says():
    """Honest, not merely wide: over 400 windows of calibrated scores the 95% interval holds the realized
    ROC AUC about 95% of the time, the +-3 sd one (NannyML's band) nearly always."""
    rng = np.random.default_rng(0)
    calibration = performance_estimate.Calibration(None, 0.0, "")
    held = {0.95: [], 0.9973: []}
    for _ in range(400):
        scores = rng.beta(2, 4, 500)
        realized = roc_auc_score(rng.random(500) < scores, scores)
        for level, found in held.items():
            _, low, high = performance_estimate.estimate(scores, scores > 0.5, calibration, level)["roc_auc"]
            found.append(low <= realized <= high)
    assert 0.92 <= np.mean(held[0.95]) <= 0.98 and np.mean(held[0.9973]) >= 0.99, {
        k: np.mean(v) for k, v in held.items()
    }


def _multiclass(n: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three classes drawn from a softmax of two features (moved by ``shift`` sd: covariate drift), and an
    over-confident model of them (the true logits, doubled): its probabilities need calibrating."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) + shift
    logits = x @ np.array([[1.2, -0.8, 0.0], [0.0, 0.9, -1.0]]) + np.array([0.0, 0.3, -0.2])

    def softmax(z):
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    truth = (rng.random(n)[:, None] > softmax(logits).cumsum(axis=1)).sum(axis=1)
    return pd.DataFrame(softmax(2 * logits), columns=["a", "b", "c"]), np.array(["a", "b", "c"])[truth]


def test_a_multiclass_estimate_holds_the_realized_macro_auc_f1_and_accuracy_under_covariate_drift():
    validation, validation_truth = _multiclass(3000, seed=1)
    calibrations = performance_estimate.calibrate_classes(validation, pd.Series(validation_truth), "always")
    assert "one-vs-rest" in calibrations[0].sentence and "renormalized" in calibrations[0].sentence
    for seed in (2, 3, 4):
        window, truth = _multiclass(3000, seed=seed, shift=0.7)
        predicted = window.to_numpy().argmax(axis=1)
        found = performance_estimate.estimate_classes(window.to_numpy(), predicted, calibrations, 0.95)
        said = np.array(["a", "b", "c"])[predicted]
        realized = {
            "roc_auc_ovr": roc_auc_score(truth, window.to_numpy(), multi_class="ovr"),
            "f1_macro": f1_score(truth, said, average="macro"),
            "accuracy": float(np.mean(truth == said)),
        }
        for metric, value in realized.items():
            estimate, low, high = found[metric]
            assert low <= value <= high and abs(estimate - value) < 0.03, (seed, metric, found[metric], value)
    as_is = performance_estimate.calibrate_classes(validation, pd.Series(validation_truth), "never")
    naive = performance_estimate.estimate_classes(window.to_numpy(), predicted, as_is, 0.95)["accuracy"][0]
    assert naive - realized["accuracy"] > 0.05  # the model's own confidence overstates it: why calibrate first


def test_a_multiclass_model_gets_its_estimate_per_window():
    validation, validation_truth = _multiclass(2000, seed=1)
    window, _ = _multiclass(1000, seed=2)
    frame = window.add_prefix("output_probability_").assign(output_prediction=window.idxmax(axis=1))
    windows = pd.Series(np.repeat(["w1", "w2"], 500))
    table, said = performance_estimate.for_production(
        frame,
        window=windows,
        task="multiclass",
        positive_class=None,
        validation_scores=validation.add_prefix("output_probability_"),
        validation_truth=pd.Series(validation_truth),
        settings=SimpleNamespace(calibrate="always", interval=0.95),
        seed=0,
        min_rows=200,
    )
    assert list(table["metric"].unique()) == [
        "roc_auc_ovr",
        "f1_macro",
        "roc_auc[a]",
        "roc_auc[b]",
        "roc_auc[c]",
        "f1[a]",
        "f1[b]",
        "f1[c]",
        "accuracy",
    ]
    assert len(table) == 18
    assert (table["low"] < table["estimate"]).all() and (table["estimate"] < table["high"]).all()
    assert said.startswith("The model's probabilities of each class are calibrated one-vs-rest")


def test_a_multiclass_projects_monitoring_shows_the_estimate_beside_the_realized_metric():
    card = SimpleNamespace(task="multiclass", metric="f1_macro", positive_class=None, target="tier", metric_bar=0.5)
    validation, validation_truth = _multiclass(2000, seed=1)
    window, truth = _multiclass(1000, seed=2, shift=0.7)
    stamps = pd.Timestamp("2027-01-04", tz="UTC") + pd.to_timedelta(np.repeat([0, 7], 500), unit="D")
    production = window.add_prefix("output_probability_").assign(
        output_prediction=window.idxmax(axis=1),
        timestamp=stamps,
        x=np.r_[np.zeros(500), np.ones(500)],
        tier=np.where(np.arange(1000) < 500, truth, None),
    )  # labels known for the first week only
    data = SimpleNamespace(
        production=production,
        validation_scores=validation.add_prefix("output_probability_"),
        validation_truth=pd.Series(validation_truth),
    )
    params = SimpleNamespace(
        window="W", estimate=SimpleNamespace(calibrate="always", interval=0.95), seed=0, min_rows=200
    )
    estimates, said = monitor.estimated(data, card, params)
    assert "one-vs-rest" in said
    reference = pd.DataFrame({"x": np.random.default_rng(0).normal(size=2000)})
    results = monitor.check(
        production,
        monitor.fit(reference, pd.Series(validation.idxmax(axis=1)), SETTINGS, 0, 200),
        card=card,
        performance_drop=DROP,
        reference_metric=0.6,
        period="W",
        min_rows=200,
    )
    results = monitor.with_estimates(results, estimates, card, 0.6, DROP)
    assert (results["feature"] == "estimated performance (f1_macro)").sum() == 2
    versus = performance_estimate.against_realized(estimates, results, "f1_macro")
    assert list(versus["held"]) == [True, None]
    assert performance_estimate.verdict(versus, "f1_macro").startswith(
        "The interval held the realized f1_macro in 1 of 1"
    )


def test_a_multiclass_interval_holds_each_class_and_the_macro_figures_as_often_as_its_level_says():
    """As the binary one (above): over 300 windows of 500 rows of calibrated three-class probabilities, the
    95% interval holds the realized macro ROC AUC, macro F1, accuracy, and each class's ROC AUC and F1
    one-vs-rest, about 95% of the time."""
    rng = np.random.default_rng(0)
    calibrations = [performance_estimate.Calibration(None, 0.0, "")] * 3
    held: dict[str, list[bool]] = {}
    for _ in range(300):
        logits = rng.normal(size=(500, 2)) @ np.array([[1.2, -0.8, 0.0], [0.0, 0.9, -1.0]]) + [0.0, 0.3, -0.2]
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        truth = (rng.random(500)[:, None] > p.cumsum(axis=1)).sum(axis=1).clip(0, 2)
        predicted = p.argmax(axis=1)
        found = performance_estimate.estimate_classes(p, predicted, calibrations, 0.95)
        realized = {
            "roc_auc_ovr": roc_auc_score(truth, p, multi_class="ovr"),
            "f1_macro": f1_score(truth, predicted, average="macro"),
            "accuracy": float(np.mean(truth == predicted)),
        }
        for c in range(3):
            realized[f"roc_auc[{c}]"] = roc_auc_score(truth == c, p[:, c])
            realized[f"f1[{c}]"] = f1_score(truth == c, predicted == c)
        assert set(found) == set(realized)
        for metric, value in realized.items():
            held.setdefault(metric, []).append(found[metric][1] <= value <= found[metric][2])
    coverage = {metric: float(np.mean(values)) for metric, values in held.items()}
    assert all(0.92 <= share <= 0.98 for share in coverage.values()), coverage
