"""The modeling helpers end to end, on small generated tables of every task kind."""

import numpy as np
import pandas as pd
import pytest
from support.modeling import TASKS, task_params, task_table

from lifecycle.core.metrics import metrics_for
from lifecycle.core.settings import Threshold
from lifecycle.data import features, splits
from lifecycle.modeling import acceptance, evaluate, select, train, tune


@pytest.mark.parametrize("task", list(TASKS))
def test_modeling_end_to_end(task, tmp_path, monkeypatch):
    card, p = task_params(task)
    other_targets = [t for t, *_ in TASKS.values() if t != card.target]
    table = task_table().drop(columns=other_targets)
    feature_table = features.build_features(table, None, p)
    schema = features.feature_schema(feature_table, p)
    assert schema.loc["city", "kind"] == "high_cardinality" and schema.loc["plan", "kind"] == "categorical"
    sets = splits.make(feature_table, p)
    X, y = sets["train"][list(schema.index)], sets["train"][card.target]
    X_val, y_val = sets["validation"][list(schema.index)], sets["validation"][card.target]

    scores = select.compare(
        {"linear": {}, "hist_gradient_boosting": {"max_iter": 40}},
        schema,
        X,
        y,
        task=task,
        metric=card.metric,
        cv_folds=3,
        seed=0,
    )
    chosen, reason = select.choose(scores, "best_mean", card.metric)
    better = (lambda a, b: a > b) if card.greater_is_better else (lambda a, b: a < b)
    assert better(scores.loc[chosen, "mean"], scores.loc["dummy", "mean"])  # the features carry signal
    assert f"Chosen: {chosen}" in reason

    model = select.chosen_pipeline({"family": chosen, "settings": {}}, schema, task, 0).fit(X, y)
    threshold, why = evaluate.threshold_for(
        model,
        X_val,
        y_val,
        task,
        card.positive_class,
        Threshold(rule="cost", cost_false_positive=1, cost_false_negative=5),
    )
    figures = evaluate.headline(model, X_val, y_val, task, card.positive_class, threshold)
    assert list(figures.index) == TASKS[task][3]
    assert card.metric in figures.index and card.metric in metrics_for(task)
    if task == "binary":
        assert 0 < threshold < 0.5  # a missed case costs five false alarms: the threshold drops
        assert set(evaluate.calibration(model, X_val, y_val, 1, 5).columns) == {"mean predicted", "observed rate"}
    else:
        assert why.startswith("No threshold")
    breakdown = evaluate.breakdown(model, X_val, y_val, task, card.positive_class, threshold)
    assert ("macro avg" in breakdown.index) == (task != "regression")

    importances = evaluate.importance(model, X_val, y_val, card.metric, 2, 0)
    assert importances.index[0] in {"spend", "plan"}
    curves = evaluate.dependence(model, X_val, evaluate.numeric_top(importances, X_val, 1))
    assert len(curves) == 1
    worst = evaluate.segments(model, X_val, y_val, task=task, positive=card.positive_class, threshold=threshold)
    assert "(all)" in worst["feature"].tolist()

    searcher = tune.search(
        model,
        {
            "linear": {"alpha": {"loguniform": [0.01, 10]}, "C": {"loguniform": [0.01, 10]}},
            "hist_gradient_boosting": {"max_depth": [2, 3]},
        }[chosen],
        X,
        y,
        task=task,
        metric=card.metric,
        method="random",
        n_iter=2,
        cv_folds=3,
        seed=0,
    )
    comparison = tune.against_untuned(
        model, searcher.best_estimator_, X, y, task=task, metric=card.metric, cv_folds=3, seed=0
    )
    keep, text = tune.decide(comparison, card.metric)
    assert ("keep the tuned model" in text) == keep

    held_out = {"test": (sets["test"][list(schema.index)], sets["test"][card.target])}
    y_test = held_out["test"][1]
    results = acceptance.results(model, held_out, card, threshold)
    assert list(results.index) == TASKS[task][3]
    bounded = results.drop(index=["threshold"], errors="ignore")  # a setting, not a figure: no interval
    assert (bounded["test low"] <= bounded["test"]).all() and (bounded["test"] <= bounded["test high"]).all()
    score = acceptance.card_metric(model, *held_out["test"], card)
    assert score == pytest.approx(results.loc[card.metric, "test"], abs=1e-4)
    base = acceptance.baseline(model.named_steps["preprocess"], (X, y), held_out["test"], card, 0)
    found = acceptance.estimate(
        model,
        results,
        {**held_out, "train": (X, y), "validation": (X_val, y_val)},
        card,
        threshold=threshold,
        small_test_rows=0,
    )
    assert found.value == pytest.approx(score, abs=1e-4) and found.how == f"on the {len(y_test):,} test rows"
    passed, verdict = acceptance.verdict(card, found, base)
    assert verdict.startswith("PASS" if passed else "FAIL")
    small = acceptance.estimate(
        model,
        results,
        {**held_out, "train": (X, y), "validation": (X_val, y_val)},
        card,
        threshold=threshold,
        small_test_rows=10**6,
        resamples=200,
    )
    assert small.low <= small.value <= small.high and "each scored by a model that never saw it" in small.how
    assert f"all {len(X) + len(X_val) + len(y_test):,} in-time rows" in small.how

    monkeypatch.setattr(train, "TRAINING", tmp_path)
    train.save(model, "trained", {"family": chosen})
    loaded, info = train.load("trained", "06_model_training")
    assert info == {"family": chosen}
    np.testing.assert_allclose(
        np.asarray(loaded.predict(X_val), dtype=float)
        if task == "regression"
        else (loaded.predict(X_val) == model.predict(X_val)).astype(float),
        model.predict(X_val) if task == "regression" else 1.0,
    )


def test_one_standard_error_rule_prefers_the_simpler_close_candidate():
    scores = pd.DataFrame(
        {"mean": [0.5, 0.80, 0.81], "std": [0, 0.02, 0.02], "sem": [0, 0.01, 0.01]},
        index=["dummy", "linear", "random_forest"],
    )
    assert select.choose(scores, "one_standard_error", "roc_auc")[0] == "linear"
    assert select.choose(scores, "best_mean", "roc_auc")[0] == "random_forest"
    errors = pd.DataFrame(
        {"mean": [9.0, 5.0, 4.0], "std": [0, 1, 1], "sem": [0, 0.5, 0.5]}, index=["dummy", "linear", "random_forest"]
    )
    assert select.choose(errors, "one_standard_error", "rmse")[0] == "random_forest"  # 5.0 is beyond 4.0 + 0.5


def test_one_standard_error_is_that_of_the_paired_difference_on_the_same_folds():
    """A candidate better on every fold by a little is chosen, though its mean is within the unpaired error."""
    folds = np.array([0.70, 0.80, 0.75, 0.85, 0.78])
    scores = pd.DataFrame(
        [np.full(5, 0.5), folds, folds + 0.01],
        index=["dummy", "linear", "hist_gradient_boosting"],
        columns=[f"fold {i}" for i in range(1, 6)],
    )
    scores = scores.assign(
        mean=scores.mean(axis=1), std=scores.std(axis=1, ddof=1), sem=scores.std(axis=1, ddof=1) / np.sqrt(5)
    )
    assert scores.loc["hist_gradient_boosting", "mean"] - scores.loc["linear", "mean"] < scores.loc["linear", "sem"]
    assert select.paired_error(scores, "hist_gradient_boosting", "linear") == pytest.approx(0.0, abs=1e-12)
    assert select.choose(scores, "one_standard_error", "roc_auc")[0] == "hist_gradient_boosting"
    noisy = scores.copy()
    noisy.loc["hist_gradient_boosting", [f"fold {i}" for i in range(1, 6)]] = folds + [0.05, -0.03, 0.04, -0.02, 0.01]
    noisy.loc["hist_gradient_boosting", "mean"] = noisy.loc["hist_gradient_boosting", "fold 1":"fold 5"].mean()
    assert select.choose(noisy, "one_standard_error", "roc_auc")[0] == "linear"  # better on average, not reliably


def test_small_tables_are_cross_validated_more_than_once():
    assert select.repeats(5000) == 1 and select.repeats(None) == 1
    assert select.repeats(400) == 3 and select.repeats(900) == 2
    assert select.folds("binary", 5, 0, 400).get_n_splits() == 15
    assert select.folds_text(5, 400) == "5-fold cross-validation repeated 3 times"


def test_bad_estimator_settings_are_named():
    with pytest.raises(ValueError, match="RandomForestClassifier has no setting n_trees"):
        select.estimator("random_forest", "binary", {"n_trees": 10})
    with pytest.raises(ValueError, match="unknown model family 'svm'"):
        select.estimator("svm", "binary")


def test_search_space_from_params():
    space = tune.space({"C": {"loguniform": [0.01, 10]}, "max_depth": [3, None], "n": {"randint": [1.0, 5.0]}})
    assert space["model__max_depth"] == [3, None]
    assert space["model__n"].support() == (1, 5)
    with pytest.raises(ValueError, match="no search space"):
        tune.search(
            None, {}, None, None, task="binary", metric="roc_auc", method="random", n_iter=1, cv_folds=2, seed=0
        )


def test_a_setting_no_variant_of_the_family_has_is_a_typo():
    card, p = task_params("regression")
    model = select.pipeline(None, select.estimator("linear", "regression"))
    with pytest.raises(ValueError, match="Ridge has no setting Cc"):
        tune._for_model({"Cc": [1]}, model.named_steps["model"])
    assert tune._for_model({"C": [1], "alpha": [2]}, model.named_steps["model"]) == {"alpha": [2]}
