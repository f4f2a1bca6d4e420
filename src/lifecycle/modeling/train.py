"""Phase 06: fit the chosen pipeline on the training set; its learning curve; and the
work-in-progress models the modeling phases hand to each other (``data/training/``).

Registered versions live in the registry (``models/``); these files are the drafts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import learning_curve

from lifecycle.core import files, paths
from lifecycle.core.metrics import METRICS
from lifecycle.modeling.select import folds, metric_sign
from lifecycle.registry.trust import load_file

TRAINING = paths.DATA / "training"


def learning(
    model,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: str,
    metric: str,
    cv_folds: int,
    points: int,
    seed: int,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Training and validation scores as the training set grows, in the metric's own units."""
    sizes, train, validation = learning_curve(
        model,
        X,
        y,
        cv=folds(task, cv_folds, seed),
        scoring=METRICS[metric].scorer,
        train_sizes=np.linspace(0.1, 1.0, points),
        n_jobs=n_jobs,
        shuffle=True,
        random_state=seed,
    )
    sign = metric_sign(metric)
    table = pd.DataFrame(
        {
            "train mean": sign * train.mean(axis=1),
            "train std": train.std(axis=1),
            "validation mean": sign * validation.mean(axis=1),
            "validation std": validation.std(axis=1),
        },
        index=pd.Index(sizes, name="training rows"),
    )
    return table.round(4)


def learning_verdict(curve: pd.DataFrame, metric: str) -> str:
    """Does more data still help? Compare the last two points of the validation curve."""
    last, before = curve["validation mean"].iloc[-1], curve["validation mean"].iloc[-2]
    gain = (last - before) * (1 if METRICS[metric].greater_is_better else -1)
    gap = abs(curve["train mean"].iloc[-1] - last)
    trend = (
        "still improving: more data would likely help"
        if gain > curve["validation std"].iloc[-1]
        else "flat at the end: more data of the same kind would help little"
    )
    return (
        f"Validation {metric} {last:.3f} at {curve.index[-1]:,} rows, {trend}; the train-validation gap is {gap:.3f}."
    )


def save(model, name: str, info: dict) -> list[str]:
    """Save a draft model (skops, never pickle; same model, same bytes) and what it is, under data/training/."""
    path = TRAINING / f"{name}.skops"
    files.write_skops(path, model)
    files.write_json(TRAINING / f"{name}.json", info)
    return [paths.relative(path), paths.relative(TRAINING / f"{name}.json")]


def load(name: str, made_by: str) -> tuple[object, dict]:
    """A draft model, loaded with the registry's allowlist of trusted types."""
    info = files.read_json(TRAINING / f"{name}.json", f"the {name} model's record", made_by)
    path = TRAINING / f"{name}.skops"
    if not path.is_file():
        raise FileNotFoundError(f"the {name} model not found at {path.name}; run {made_by} first")
    return load_file(path, paths.relative(path)), info
