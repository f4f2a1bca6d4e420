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
