"""Tuning through joblib's Dask backend: the same best settings as the local run for the same seed."""

import pandas as pd
import pytest

from threadpoolctl import threadpool_limits

from lifecycle import features, select, splits, tune
from lifecycle.settings import Compute
from test_modeling import _params, _table

pytest.importorskip("distributed")


@pytest.fixture(autouse=True)
def one_thread():
    """HistGradientBoosting's OpenMP threads crawl on a busy machine; one thread is fast and steady."""
    with threadpool_limits(1, user_api="openmp"):
        yield


@pytest.mark.parametrize("method", ["random", "halving"])
def test_dask_search_finds_the_local_best_settings(method):
    card, p = _params("binary")
    table = _table(500).drop(columns=["tier", "revenue"])
    feature_table = features.build_features(table, None, p)
    schema = features.feature_schema(feature_table, p)
    train = splits.make(feature_table, p)["train"]
    X, y = train[list(schema.index)], train[card.target]
    model = select.chosen_pipeline({"family": "hist_gradient_boosting", "settings": {"max_iter": 20}}, schema,
                                   "binary", 0)
    space = {"max_depth": [2, 3, None], "learning_rate": {"loguniform": [0.05, 0.3]},
             "min_samples_leaf": {"randint": [5, 30]}}
    local = tune.search(model, space, X, y, "binary", card.metric, method, 4, 3, seed=7, n_jobs=1)
    cluster = Compute(engine="dask", workers=2, processes=False, memory_limit="1GiB")
    on_dask = tune.search(model, space, X, y, "binary", card.metric, method, 4, 3, seed=7, compute=cluster)
    assert on_dask.best_params_ == local.best_params_
    pd.testing.assert_frame_equal(tune.trials(on_dask, card.metric), tune.trials(local, card.metric))
