"""Tuning on a Dask cluster: the same best settings and scores as the local run for the same seed,
with the pipeline's own parallel steps kept off the cluster (no nested work, no deadlock)."""

import numpy as np
import pytest
from conftest import require_dask
from support.modeling import task_params, task_table
from threadpoolctl import threadpool_limits

from lifecycle.core.settings import Compute
from lifecycle.data import features, splits
from lifecycle.modeling import select, tune, tune_dask

require_dask("distributed")
SPACES = {
    "hist_gradient_boosting": (
        {"max_iter": 20},
        {
            "max_depth": [2, 3, None],
            "learning_rate": {"loguniform": [0.05, 0.3]},
            "min_samples_leaf": {"randint": [5, 30]},
        },
    ),
    # n_jobs=2: each fit's trees in parallel, which joblib's Dask backend sent back to the cluster
    "random_forest": (
        {"n_estimators": 10, "n_jobs": 2},
        {"max_depth": [3, 6, None], "min_samples_leaf": {"randint": [1, 20]}},
    ),
}


@pytest.fixture(autouse=True)
def one_thread():
    """HistGradientBoosting's OpenMP threads crawl on a busy machine; one thread is fast and steady."""
    with threadpool_limits(1, user_api="openmp"):
        yield


def _data(family: str):
    card, p = task_params("binary")
    table = task_table(400).drop(columns=["tier", "revenue"])
    feature_table = features.build_features(table, None, p)
    schema = features.feature_schema(feature_table, p)
    train = splits.make(feature_table, p)["train"]
    settings, space = SPACES[family]
    model = select.chosen_pipeline({"family": family, "settings": settings}, schema, "binary", 0)
    return card, model, space, train[list(schema.index)], train[card.target]


def _same(on_dask, local, X):
    assert on_dask.best_params_ == local.best_params_
    assert on_dask.best_score_ == local.best_score_
    # a forest with n_jobs=2 adds its trees' votes in thread order: equal to the last bits only
    np.testing.assert_allclose(on_dask.predict_proba(X), local.predict_proba(X), rtol=1e-12, atol=1e-15)
    assert on_dask.best_index_ == local.best_index_
    for key, values in local.cv_results_.items():
        if "score" in key and "time" not in key:
            np.testing.assert_array_equal(on_dask.cv_results_[key], values, err_msg=key)
        elif key.startswith("param"):
            assert list(on_dask.cv_results_[key]) == list(values), key


@pytest.mark.parametrize("method", ["random", "halving"])
def test_search_on_worker_processes_finds_the_local_best_settings(method, capsys):
    card, model, space, X, y = _data("hist_gradient_boosting")
    local = tune.search(
        model, space, X, y, task="binary", metric=card.metric, method=method, n_iter=4, cv_folds=3, seed=7, n_jobs=1
    )
    cluster = Compute(engine="dask", workers=2, processes=True, memory_limit="1GiB", timeout_s=60)
    on_dask = tune.search(
        model,
        space,
        X,
        y,
        task="binary",
        metric=card.metric,
        method=method,
        n_iter=4,
        cv_folds=3,
        seed=7,
        compute=cluster,
    )
    _same(on_dask, local, X)
    out = capsys.readouterr().out
    assert "Running on a local Dask cluster of 2 worker(s); dashboard:" in out
    if method == "random":  # 4 candidates x 3 folds, in quarters
        assert out.count("tuning on the cluster: ") == 4 and "tuning on the cluster: 100% of 12 fits done" in out
    else:  # halving: the rounds' sizes are not known up front
        assert "tuning on the cluster: 1 fits done" in out


def test_nested_parallel_steps_stay_on_the_worker(dask_client):
    """A threads-only cluster, a forest with n_jobs=2 inside each fit: one task per fit, none nested."""
    from distributed import get_task_stream

    card, model, space, X, y = _data("random_forest")
    local = tune.search(
        model, space, X, y, task="binary", metric=card.metric, method="random", n_iter=4, cv_folds=3, seed=3, n_jobs=1
    )
    with get_task_stream(dask_client) as stream:
        on_dask = tune_dask.fit(
            tune.searcher(
                model, space, task="binary", metric=card.metric, method="random", n_iter=4, cv_folds=3, seed=3
            ),
            X,
            y,
            dask_client,
            show=None,
        )
    _same(on_dask, local, X)
    keys = {task["key"] for task in stream.data}
    assert len(keys) == 12 and all(str(key).startswith("fit-and-score-") for key in keys)
