"""Phase 08 on a Dask cluster: the search's fits as Dask tasks, each run whole on one worker.

joblib's own Dask backend runs every task under ``parallel_config(backend="dask")``: a
pipeline's nested parallel work (a ColumnTransformer, a forest) went back to the same cluster
while the worker that sent it waited, and on a small cluster that deadlocked now and then.
Here each task runs its fits with joblib's sequential backend, so the cluster parallelises
across fits only and never waits on itself; the training data goes to the workers once, not
with every task. Candidates, folds and the order of the results stay scikit-learn's, so the
best settings and every score are the local run's for the same seed.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import uuid4

from joblib import parallel_config
from joblib.parallel import ParallelBackendBase

from lifecycle.core.compute import Progress, say


class FitsOnCluster(ParallelBackendBase):
    """A joblib backend: one Dask task per batch of fits, nested parallel work sequential."""

    supports_retrieve_callback = True
    default_n_jobs = -1

    def __init__(self, client: Any, progress: Progress | None = None, shared: tuple = ()):
        super().__init__()
        self.client = client
        self.progress = progress
        self._kept = shared  # held, so their ids stay theirs while the search runs
        self._shared = {id(obj): future for obj, future in zip(shared, client.scatter(list(shared)))}
        self._pending: set = set()
        self._lock = threading.Lock()
        self._done = 0

    def effective_n_jobs(self, n_jobs) -> int:
        # At least 2: joblib runs a single job in this process, and the fits belong on the cluster.
        return max(2, sum(self.client.nthreads().values()))

    def submit(self, func, callback=None):
        # Dicts, not (function, args) tuples, which Dask would take for tasks of its own graph.
        calls = [
            {
                "function": function,
                "args": [self._shared.get(id(a), a) for a in args],
                "kwargs": {k: self._shared.get(id(v), v) for k, v in kwargs.items()},
            }
            for function, args, kwargs in func.items
        ]
        future = self.client.submit(_run, calls, key=f"fit-and-score-{uuid4().hex}", pure=False)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(lambda done: self._finished(done, len(func), callback))
        return future

    def _finished(self, future, fits: int, callback) -> None:
        with self._lock:
            self._pending.discard(future)
            if future.status == "finished":
                self._done += fits
                if self.progress is not None:
                    self.progress.update(self._done)
        if callback is not None:
            callback(future)

    def retrieve_result_callback(self, out):
        return out.result()

    def abort_everything(self, ensure_ready=True):
        with self._lock:
            pending, self._pending = list(self._pending), set()
        self.client.cancel(pending)


def _run(calls: list[dict]) -> list:
    """On a worker: the calls one after another, and any parallel work inside them too."""
    with parallel_config(backend="sequential"):
        return [call["function"](*call["args"], **call["kwargs"]) for call in calls]


def fit(searcher, X, y, client: Any, show=say):
    """``searcher.fit(X, y)`` with its fits on ``client``'s cluster, printing plain progress lines.

    The best settings are refitted here, as scikit-learn does after a search: that one fit (and
    its own parallel steps) stays in this process rather than going to the cluster piece by piece.
    """
    from sklearn.base import clone, is_classifier
    from sklearn.model_selection import ParameterSampler, RandomizedSearchCV, check_cv

    total = None
    if isinstance(searcher, RandomizedSearchCV):  # halving: each round's size depends on the last's scores
        candidates = len(
            ParameterSampler(searcher.param_distributions, searcher.n_iter, random_state=searcher.random_state)
        )
        total = candidates * check_cv(searcher.cv, y, classifier=is_classifier(searcher.estimator)).get_n_splits(X, y)
    progress = None if show is None else Progress("tuning on the cluster", total, "fits", show)
    n_jobs, refit = searcher.n_jobs, searcher.refit
    with parallel_config(backend=FitsOnCluster(client, progress, shared=(X, y)), n_jobs=-1):
        searcher.set_params(n_jobs=-1, refit=False).fit(X, y)
    searcher.set_params(n_jobs=n_jobs, refit=refit)
    if refit:
        started = time.perf_counter()
        searcher.best_estimator_ = clone(searcher.estimator).set_params(**clone(searcher.best_params_, safe=False))
        searcher.best_estimator_.fit(X, y)
        searcher.refit_time_ = time.perf_counter() - started
        if hasattr(searcher.best_estimator_, "feature_names_in_"):
            searcher.feature_names_in_ = searcher.best_estimator_.feature_names_in_
    return searcher
