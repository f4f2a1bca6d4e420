"""Scoring with a registered model: shared by the online service and the batch job.

A registered model carries what it needs to be used correctly: its task, feature schema,
classes and decision threshold (09 records them). ``load`` refuses a model without them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from lifecycle import registry
from lifecycle.features import align

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


def load(name: str, version: int | str | None = None, stage: str | None = None) -> Scorer:
    """A registered model, hash- and type-checked, with the metadata scoring needs."""
    pipeline, metadata = registry.load(name, version=version, stage=stage)
    missing = [key for key in REQUIRED if key not in metadata]
    if missing:
        raise registry.RegistryError(
            f"models/{name}/{metadata.get('version')} is incompatible with scoring: its metadata lacks "
            f"{', '.join(missing)}; register it with 09_model_testing")
    schema = pd.DataFrame.from_dict(metadata["feature_schema"], orient="index")
    row_stable(lean(pipeline)[-1] if hasattr(pipeline, "steps") else pipeline)
    return Scorer(name, int(metadata["version"]), pipeline, metadata, schema, metadata["task"],
                  metadata.get("positive_class"), float(metadata["threshold"]))


def score(scorer: Scorer, frame: pd.DataFrame) -> pd.DataFrame:
    """Predictions for the rows of ``frame`` (any column order; extra columns ignored).

    Columns: ``prediction``; for classification ``probability_<class>`` per class, and for
    binary tasks the decision applies the model's threshold to the positive class.
    """
    X = align(frame, scorer.schema)
    if scorer.task == "regression":
        return pd.DataFrame({"prediction": scorer.pipeline.predict(X)}, index=frame.index)
    proba = scorer.pipeline.predict_proba(X)
    classes = scorer.classes
    result = pd.DataFrame(proba, index=frame.index, columns=[f"probability_{c}" for c in classes])
    if scorer.task == "binary":
        positive = classes.index(scorer.positive_class)
        negative = classes[1 - positive]
        result.insert(0, "prediction", np.where(proba[:, positive] >= scorer.threshold, scorer.positive_class, negative))
    else:
        result.insert(0, "prediction", np.asarray(classes, dtype=object)[proba.argmax(axis=1)])
    return result


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


def row_stable(model: Any) -> Any:
    """Make a fitted linear model's scores independent of the batch a row is scored in.

    A linear model's ``X @ coef.T`` goes through BLAS, whose kernels change the order of
    the additions with the batch size and even the memory alignment of the row: the same
    record can differ in the last bit alone and in a batch (so can numpy's own sums, whose
    order depends on the array's shape). The service scores concurrent requests together
    and promises each caller the answer it would get alone, so the product is summed
    column by column, elementwise: the same additions in the same order for every row. Every other scikit-learn step already treats rows apart.
    Replaces the model's own ``decision_function`` (classifiers) or
    ``_decision_function`` (regressors) on this instance only; returns the model.
    """
    from sklearn.linear_model._base import LinearClassifierMixin, LinearModel

    coef = getattr(model, "coef_", None)
    if not isinstance(coef, np.ndarray) or coef.dtype.kind != "f":
        return model
    weights = np.atleast_2d(coef)
    intercept = np.asarray(getattr(model, "intercept_", 0.0), dtype=float)
    flat = coef.ndim == 1

    def scores(X) -> np.ndarray:
        Z = np.asarray(X, dtype=float)
        result = np.zeros((Z.shape[0], weights.shape[0]))
        for j in range(Z.shape[1]):  # elementwise, in column order: the same additions for every row
            result += Z[:, j, None] * weights[None, :, j]
        result += intercept
        return result.ravel() if flat or result.shape[1] == 1 else result

    if isinstance(model, LinearClassifierMixin):
        model.decision_function = scores
    elif isinstance(model, LinearModel):
        model._decision_function = scores
    return model
