"""Phase 08: a hyper-parameter search over the space in params, then tuned against
untuned on the same folds; the tuned model is kept only if it is better there."""

from __future__ import annotations

import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (makes HalvingRandomSearchCV importable)
from sklearn.model_selection import HalvingRandomSearchCV, RandomizedSearchCV, cross_val_score

from lifecycle.core import compute as cluster
from lifecycle.core.metrics import METRICS
from lifecycle.modeling import train, tune_dask
from lifecycle.modeling.select import FAMILIES, folds, metric_sign


def space(spec: dict) -> dict:
    """The params space as scikit-learn distributions, for the pipeline's ``model`` step."""
    result = {}
    for name, value in spec.items():
        if isinstance(value, list):
            result[f"model__{name}"] = value
            continue
        ((kind, (low, high)),) = value.items()
        if kind == "randint":
            result[f"model__{name}"] = stats.randint(int(low), int(high) + 1)
        elif kind == "uniform":
            result[f"model__{name}"] = stats.uniform(low, high - low)
        else:
            result[f"model__{name}"] = stats.loguniform(low, high)
    return result


def search(
    pipeline,
    spec: dict,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: str,
    metric: str,
    method: str,
    n_iter: int,
    cv_folds: int,
    seed: int,
    n_jobs: int = 1,
    compute=None,
):
    """Run the search (randomised, or successive halving) and return the fitted search.

    With ``compute`` (the ``compute`` parameters) set to ``engine: dask``, the fits run on that
    cluster (``tune_dask``: one task per fit, the pipeline's own parallel steps sequential inside
    it), printing progress; the candidates and folds come from ``seed`` alone, so the best
    settings and the scores are the local run's.
    """
    found = searcher(
        pipeline,
        spec,
        task=task,
        metric=metric,
        method=method,
        n_iter=n_iter,
        cv_folds=cv_folds,
        seed=seed,
        n_jobs=n_jobs,
    )
    if compute is None or compute.engine == "local":
        return found.fit(X, y)

    with cluster.session(compute) as client:
        return tune_dask.fit(found, X, y, client)


def searcher(
    pipeline, spec: dict, *, task: str, metric: str, method: str, n_iter: int, cv_folds: int, seed: int, n_jobs: int = 1
):
    """The unfitted search of ``search``."""
    if not spec:
        raise ValueError("no search space for this model family in params/08_model_tuning.yaml spaces; add one")
    spec = _for_model(spec, pipeline.named_steps["model"])
    common = dict(scoring=METRICS[metric].scorer, cv=folds(task, cv_folds, seed), random_state=seed, n_jobs=n_jobs)
    if method == "halving":
        return HalvingRandomSearchCV(pipeline, space(spec), n_candidates=n_iter, factor=2, **common)
    return RandomizedSearchCV(pipeline, space(spec), n_iter=n_iter, **common)


def _for_model(spec: dict, model) -> dict:
    """The settings of ``spec`` this model has. A family's space may name settings of its classifier
    and of its regressor (C for LogisticRegression, alpha for Ridge); a name neither has is a typo."""
    variants = next((pair for pair in FAMILIES.values() if type(model) in pair), (type(model),))
    known = set().union(*(cls().get_params() for cls in variants))
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(
            f"params/08_model_tuning.yaml spaces: {type(model).__name__} has no setting {', '.join(unknown)}"
        )
    own = {k: v for k, v in spec.items() if k in model.get_params()}
    if not own:
        raise ValueError(
            f"params/08_model_tuning.yaml spaces: nothing to tune for {type(model).__name__}; "
            f"name some of its settings ({', '.join(sorted(model.get_params())[:8])}, ...)"
        )
    return own


def trials(searcher, metric: str, top: int = 8) -> pd.DataFrame:
    """The best settings tried, with their mean cross-validated score."""
    results = pd.DataFrame(searcher.cv_results_)
    if "iter" in results:  # successive halving: only the last round saw all the data
        results = results[results["iter"] == results["iter"].max()]
    columns = [c for c in results if c.startswith("param_model__")]
    table = results[columns].rename(columns=lambda c: c.removeprefix("param_model__"))
    table[metric] = metric_sign(metric) * results["mean_test_score"]
    ascending = not METRICS[metric].greater_is_better
    table = table.sort_values(metric, ascending=ascending, kind="stable").head(top).reset_index(drop=True)
    return table.map(lambda v: round(v, 4) if isinstance(v, float) else v)


def against_untuned(
    untuned, tuned, X: pd.DataFrame, y: pd.Series, *, task: str, metric: str, cv_folds: int, seed: int, n_jobs: int = 1
) -> pd.DataFrame:
    """Both pipelines cross-validated on exactly the same folds (repeated on a small table: ``select.folds``;
    the search itself runs on one set of folds, this comparison decides)."""
    cv = folds(task, cv_folds, seed, len(X))
    scores = {
        name: metric_sign(metric)
        * cross_val_score(clone(model), X, y, cv=cv, scoring=METRICS[metric].scorer, n_jobs=n_jobs)
        for name, model in (("untuned", untuned), ("tuned", tuned))
    }
    table = pd.DataFrame(scores, index=pd.Index(range(1, cv.get_n_splits() + 1), name="fold"))
    return table.round(4)


def decide(comparison: pd.DataFrame, metric: str) -> tuple[bool, str]:
    """Keep the tuned model only if its mean is better on the same folds."""
    gain = (comparison["tuned"].mean() - comparison["untuned"].mean()) * (
        1 if METRICS[metric].greater_is_better else -1
    )
    wins = int(
        ((comparison["tuned"] - comparison["untuned"]) * (1 if METRICS[metric].greater_is_better else -1) > 0).sum()
    )
    keep = bool(gain > 0)
    verdict = "keep the tuned model" if keep else "keep the untuned model: tuning did not help"
    return keep, (
        f"Tuned {metric} {comparison['tuned'].mean():.4f} against untuned {comparison['untuned'].mean():.4f} "
        f"(better on {wins} of {len(comparison)} folds): {verdict}."
    )


def write_final(untuned, searcher, keep_tuned: bool, info: dict) -> list[str]:
    """Save the model 09 tests: the tuned one if it earned it, else the untuned one."""
    model = searcher.best_estimator_ if keep_tuned else untuned
    settings = {k.removeprefix("model__"): v for k, v in searcher.best_params_.items()} if keep_tuned else {}
    return train.save(model, "final", {**info, "tuned": keep_tuned, "tuned_settings": settings})
