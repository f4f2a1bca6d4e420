"""Scoring with a registered model: shared by the online service and the batch job.

A registered model carries what it needs to be used correctly: its task, feature schema,
classes and decision threshold (09 records them). ``load`` refuses a model without them.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from lifecycle import registry
from lifecycle.data.features import align

REQUIRED = ("task", "feature_schema", "threshold")


class Scorer(NamedTuple):
    name: str
    version: int
    pipeline: Any
    metadata: dict
    schema: pd.DataFrame
    task: str
    positive_class: Any
    threshold: float

    @property
    def classes(self) -> list:
        return list(getattr(self.pipeline, "classes_", []))


def load(name: str, version: int | str | None = None, alias: str | None = None) -> Scorer:
    """A registered model (``version``, else the one ``alias`` names, else the champion, else the latest),
    hash- and type-checked, with the metadata scoring needs."""
    pipeline, metadata = registry.load(name, version=version, alias=alias)
    missing = [key for key in REQUIRED if key not in metadata]
    if missing:
        raise registry.RegistryError(
            f"models/{name}/{metadata.get('version')} is incompatible with scoring: its metadata lacks "
            f"{', '.join(missing)}; register it with 09_model_testing"
        )
    schema = pd.DataFrame.from_dict(metadata["feature_schema"], orient="index")
    row_stable(lean(pipeline)[-1] if hasattr(pipeline, "steps") else pipeline)
    return Scorer(
        name,
        int(metadata["version"]),
        pipeline,
        metadata,
        schema,
        metadata["task"],
        metadata.get("positive_class"),
        float(metadata["threshold"]),
    )


class Champion(NamedTuple):
    scorer: Scorer
    rehearsal: bool  # no champion yet: phases 10-13 show what they would do with the version 09 registered
    said: str


def champion(name: str) -> Champion:
    """The version deployment, monitoring and retraining work with: the champion (``NAME@champion``); without
    one (09 said FAIL, or promote_if_pass is off), the latest version 09 registered, as a rehearsal."""
    if registry.CHAMPION in registry.aliases(name):
        scorer = load(name, alias=registry.CHAMPION)
        return Champion(scorer, False, f"{name}: the champion ({name}@champion).")  # no number: it grows run by run
    tested = [
        n
        for n in registry.existing(name)
        if {"passed"} <= set(meta := registry.show(name, version=n))
        and not meta.get("challenger")
        and not meta.get("retrained")
    ]
    if not tested:
        raise registry.RegistryError(
            f"model '{name}' has no champion and no version 09_model_testing registered: run 09 first"
        )
    scorer = load(name, version=tested[-1])
    return Champion(
        scorer,
        True,
        (
            f"REHEARSAL: {name} has no champion (09 did not make version {scorer.version} the champion: it did not "
            "clear the problem card's bar, or promote_if_pass is off). This phase shows what it would do with that "
            "version; nothing it does puts a model in production. Improve the model or set a bar you can defend "
            f"(params/00_problem_definition.yaml), or make it the champion by hand: lifecycle models alias {name} "
            f"champion {scorer.version}."
        ),
    )


def score(scorer: Scorer, frame: pd.DataFrame) -> pd.DataFrame:
    """Predictions for the rows of ``frame`` (any column order; extra columns ignored).

    Columns: ``prediction``; for classification ``probability_<class>`` per class, and for
    binary tasks the decision applies the model's threshold to the positive class.
    """
    prediction, proba = predict(scorer, frame)
    result = pd.DataFrame({"prediction": prediction}, index=frame.index)
    if proba is None:
        return result
    columns = pd.DataFrame(proba, index=frame.index, columns=[f"probability_{c}" for c in scorer.classes])
    return pd.concat([result, columns], axis=1)


def predict(scorer: Scorer, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """``score``'s answers as arrays: the predictions, and the class probabilities (None for regression)."""
    return answers(scorer, align(frame, scorer.schema))


def answers(scorer: Scorer, X: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """``predict`` for input already in the training layout: a frame, or the rows ``direct`` takes."""
    if scorer.task == "regression":
        return scorer.pipeline.predict(X), None
    proba = scorer.pipeline.predict_proba(X)
    classes = scorer.classes
    if scorer.task == "binary":
        positive = classes.index(scorer.positive_class)
        prediction = np.where(proba[:, positive] >= scorer.threshold, scorer.positive_class, classes[1 - positive])
    else:
        prediction = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    return prediction, proba


def lean(pipeline: Any) -> Any:
    """Make a loaded pipeline score with less overhead; the same numbers.

    Training sets pandas output on every step, so each one wraps its result in a
    DataFrame for the next: about a third of scoring one record. For scoring, steps pass
    plain arrays (``set_output(transform="default")``), and the steps that now receive an
    array instead of a DataFrame forget the column names they were fitted with (the
    columns are still checked by count; the first step of each branch still checks names).
    Changes this instance only; returns it.
    """
    if not hasattr(pipeline, "steps"):
        return pipeline
    pipeline.set_output(transform="default")

    def forget_names(steps: list) -> None:
        for _, step in steps:
            if hasattr(step, "steps"):
                forget_names(step.steps[1:])
            elif hasattr(step, "feature_names_in_"):
                del step.feature_names_in_

    def branches(step: Any) -> None:
        for _, transformer, _ in getattr(step, "transformers_", []):
            if hasattr(transformer, "steps"):
                forget_names(transformer.steps[1:])

    branches(pipeline.steps[0][1])
    forget_names(pipeline.steps[1:])
    return pipeline


def direct(pipeline: Any, probe: pd.DataFrame) -> str | None:
    """Let the pipeline's first step hand each branch a plain array; the same numbers, verified.

    Scoring a few records is nearly all fixed cost, and most of it is the column
    transformer's own: selecting columns of a DataFrame, checking their names and dtypes,
    joblib, once per branch per call. For frames laid out like ``probe`` (the service's
    are: ``request_schema.Contract.frame``) this takes the rows as one array and gives each
    branch its columns as a float or an object array (a branch of booleans still gets its
    DataFrame) through a copy of the branch that does not check names (the columns are
    picked here, by name). Other frames take the column transformer's own path.
    When every branch takes an array, the pipeline also takes the rows themselves: one
    object array in the layout of ``probe`` (``request_schema.Contract.rows``), no frame.
    Installed on this instance only if it gives exactly what the column transformer gives
    on ``probe`` (as a frame and as rows); returns ``"rows"`` (frames or rows), ``"frames"``
    (frames only) or None (not installed).
    """
    from sklearn.compose import ColumnTransformer

    first = pipeline.steps[0][1] if hasattr(pipeline, "steps") else None
    if not isinstance(first, ColumnTransformer) or getattr(first, "sparse_output_", True):
        return None
    layout, branches = probe.columns, _branches(first, probe)
    if branches is None:
        return None
    rows = all(dtype is not None for *_, dtype in branches)

    def transform(X: pd.DataFrame | np.ndarray) -> np.ndarray:
        if isinstance(X, np.ndarray) and rows:
            values = X
        elif isinstance(X, pd.DataFrame) and X.columns.equals(layout):
            values = X.to_numpy(dtype=object)
        else:
            return ColumnTransformer.transform(first, X)
        return np.hstack(
            [
                transformer.transform(X[columns] if dtype is None else values[:, at].astype(dtype))
                for transformer, columns, at, dtype in branches
            ]
        )

    expected = first.transform(probe)
    try:
        same = np.array_equal(transform(probe), expected, equal_nan=True) and (
            not rows or np.array_equal(transform(probe.to_numpy(dtype=object)), expected, equal_nan=True)
        )
    except Exception:  # noqa: BLE001  (any failure: keep the column transformer's own path)
        same = False
    if not same:
        return None
    first.transform = transform
    return "rows" if rows else "frames"


def _branches(first: Any, probe: pd.DataFrame) -> list[tuple] | None:
    """The column transformer's branches as (transformer, columns, positions in ``probe``, dtype): float or
    object for a branch that takes an array (then a copy that does not check names), None for one that keeps
    its DataFrame; None when a branch does not name its columns as ``probe`` has them."""
    branches = []
    for _, transformer, columns in first.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if (
            isinstance(transformer, str)
            or not isinstance(columns, list)
            or not all(isinstance(c, str) and c in probe.columns for c in columns)
        ):
            return None
        kinds = {probe[c].dtype.kind for c in columns}
        dtype = float if kinds <= {"f", "i", "u"} else object if kinds == {"O"} else None
        if dtype is not None:
            transformer = _without_names(transformer)
        branches.append((transformer, columns, probe.columns.get_indexer(columns), dtype))
    return branches


def _without_names(transformer: Any) -> Any:
    """A shallow copy of a fitted transformer (or of a pipeline and its first step) that
    takes arrays without warning that it was fitted on named columns; shares the fit."""
    head = transformer.steps[0][1] if hasattr(transformer, "steps") else transformer
    if not hasattr(head, "feature_names_in_"):
        return transformer
    head = copy.copy(head)
    del head.feature_names_in_
    if not hasattr(transformer, "steps"):
        return head
    copied = copy.copy(transformer)
    copied.steps = [(transformer.steps[0][0], head), *transformer.steps[1:]]
    return copied


def row_stable(model: Any) -> Any:
    """Make a fitted linear model's scores independent of the batch a row is scored in.

    A linear model's ``X @ coef.T`` goes through BLAS, whose kernels change the order of
    the additions with the batch size and even the memory alignment of the row: the same
    record can differ in the last bit alone and in a batch (so can numpy's own sums, whose
    order depends on the array's shape). The service scores concurrent requests together
    and promises each caller the answer it would get alone, so the product is summed
    column by column, elementwise: the same additions in the same order for every row. Every other
    scikit-learn step already treats rows apart.
    Replaces the model's own ``decision_function`` (classifiers) or
    ``_decision_function`` (regressors) on this instance only (it still pickles: the
    service hands it to its scoring process); returns the model.
    """
    from sklearn.linear_model._base import LinearClassifierMixin, LinearModel

    coef = getattr(model, "coef_", None)
    if not isinstance(coef, np.ndarray) or coef.dtype.kind != "f":
        return model
    scores = _RowStableScores(coef, getattr(model, "intercept_", 0.0))
    if isinstance(model, LinearClassifierMixin):
        model.decision_function = scores
    elif isinstance(model, LinearModel):
        model._decision_function = scores
    return model


class _RowStableScores:
    """A linear model's ``X @ coef.T + intercept``, summed column by column (``row_stable``)."""

    def __init__(self, coef: np.ndarray, intercept: Any):
        self.weights, self.flat = np.atleast_2d(coef), coef.ndim == 1
        self.intercept = np.asarray(intercept, dtype=float)

    def __call__(self, X: Any) -> np.ndarray:
        Z = np.asarray(X, dtype=float)
        result = np.zeros((Z.shape[0], self.weights.shape[0]))
        for j in range(Z.shape[1]):  # elementwise, in column order: the same additions for every row
            result += Z[:, j, None] * self.weights[None, :, j]
        result += self.intercept
        return result.ravel() if self.flat or result.shape[1] == 1 else result
