"""Phase 13: close the loop. Fresh labelled production data, the champion's recipe, a challenger,
and a promotion decision made on the same recent hold-out for both.

The recipe is the champion itself, unfitted (``sklearn.base.clone``): the same preprocessing,
family and settings, so only the data differs. The challenger is promoted (made the champion) only if it beats the
champion by ``margin`` on the hold-out and still clears the problem card's bar; either way the
registry keeps both, and the challenger's metadata records its parent and the data it saw.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import clone

from lifecycle import registry
from lifecycle.core.metrics import METRICS
from lifecycle.data import splits
from lifecycle.data.features import align
from lifecycle.modeling import evaluate


class RetrainError(ValueError):
    """Retraining cannot go ahead on this data; the message says why."""


class Fresh(NamedTuple):
    train: pd.DataFrame  # labelled windows to learn from
    holdout: pd.DataFrame  # the latest labelled windows, for the comparison
    train_windows: list[str]
    holdout_windows: list[str]
    note: str = ""  # how the rows were cut, when not by monitoring's windows


def triggered(report: dict, trigger: str) -> tuple[bool, str]:
    """Whether to retrain: on monitoring's alert, or always (on demand)."""
    if trigger == "always":
        return True, "Retraining on demand (trigger: always)."
    if report.get("alert"):
        merged = report.get("alert_table", report.get("alerts", []))  # consecutive windows of one alert: one
        return True, f"Monitoring raised {len(merged):,} alerts: retraining. ({report['verdict']})"
    return False, "Monitoring raised no alert: no retraining needed (set trigger: always to retrain anyway)."


def split_fresh(labelled: pd.DataFrame, target: str, fresh_windows: int, holdout_windows: int) -> Fresh:
    """The latest ``holdout_windows`` labelled windows as hold-out; the ``fresh_windows`` before them to train on.

    ``labelled`` is what 12 wrote: production rows with their ``window`` and the labels known then.
    Fewer labelled windows than that (a table without a time column has one): the rows, in the order
    they were logged, are cut into ``fresh_windows + holdout_windows`` equal parts instead, and ``note`` says so.
    """
    rows = labelled[labelled[target].notna()]
    if rows.empty:
        raise RetrainError("no production rows have labels yet: wait for the label feed, then run 12_monitoring again")
    names = sorted(rows["window"].unique())
    note = ""
    if len(names) < holdout_windows + 1:
        parts = fresh_windows + holdout_windows
        if len(rows) < 2 * parts:
            raise RetrainError(
                f"only {len(names)} labelled window(s) of {len(rows):,} rows; retraining needs at "
                f"least {holdout_windows + 1} windows (holdout_windows plus one to train on)"
            )
        note = (
            f" Only {len(names)} labelled window(s) ({', '.join(map(str, names))}), so the rows, in logged "
            f"order, were cut into {parts} equal parts standing in for windows."
        )
        names = [f"part {k} of {parts}" for k in range(1, parts + 1)]
        rows = rows.assign(window=np.array(names)[np.arange(len(rows)) * parts // len(rows)])
    window = rows["window"]
    holdout = names[-holdout_windows:]
    train = names[-holdout_windows - fresh_windows : -holdout_windows]
    return Fresh(rows[window.isin(train)], rows[window.isin(holdout)], train, holdout, note)


def describe(fresh: Fresh) -> str:
    """What the challenger learns from and what it is judged on, in a sentence."""
    return (
        f"Train on {len(fresh.train):,} labelled rows from the windows of {', '.join(fresh.train_windows)}; "
        f"hold out {len(fresh.holdout):,} rows from {', '.join(fresh.holdout_windows)}.{fresh.note}"
    )


def data_version(frame: pd.DataFrame) -> str:
    """A content hash of a table (12 hex digits), as 01 gives raw snapshots. Hash only the data:
    the log's own columns (model version, outputs) change with every run."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return digest.hexdigest()[:12]


def train_challenger(
    champion, schema: pd.DataFrame, fresh: pd.DataFrame, target: str, include_training_data: bool = False
):
    """The champion's recipe (unfitted clone) fitted on the fresh rows (and the original training
    split, when asked); and the number of rows it saw."""
    frames = [fresh]
    if include_training_data:
        frames.insert(0, splits.read("train"))
    data = pd.concat([f[[*schema.index, target]] for f in frames], ignore_index=True)
    X, y = align(data, schema), data[target]
    if pd.api.types.is_float_dtype(y) and (y % 1 == 0).all():
        y = y.astype("int64")  # labels joined from a feed come back as floats
    return clone(champion).fit(X, y), len(data)


def compare(models: dict, holdout: pd.DataFrame, schema: pd.DataFrame, card, threshold: float) -> pd.DataFrame:
    """Both models' headline figures on the same hold-out rows (one column per model)."""
    X, y = align(holdout, schema), holdout[card.target]
    if pd.api.types.is_float_dtype(y) and (y % 1 == 0).all():
        y = y.astype("int64")
    return pd.DataFrame(
        {
            name: evaluate.headline(model, X, y, card.task, card.positive_class, threshold)
            for name, model in models.items()
        }
    )


def decide(table: pd.DataFrame, card, margin: float, go: bool) -> tuple[bool, str]:
    """Promote only if retraining was triggered, the challenger beats the champion by ``margin``
    in the card's metric and still clears the card's bar."""
    metric = card.metric
    sign = 1 if METRICS[metric].greater_is_better else -1
    champion, challenger = table.loc[metric, "champion"], table.loc[metric, "challenger"]
    gain = sign * (challenger - champion)
    clears = sign * (challenger - card.metric_bar) >= 0
    figures = (
        f"challenger {metric} {challenger:.3f} against champion {champion:.3f} on the hold-out "
        f"(gain {gain:+.3f}, margin {margin:g}; bar {card.metric_bar:g})"
    )
    if not go:
        return False, f"Keep the champion: retraining was not triggered; for information, {figures}."
    if gain < margin:
        return False, f"Keep the champion: the challenger is not better by the margin; {figures}."
    if not clears:
        return False, f"Keep the champion: the challenger wins but misses the problem card's bar; {figures}."
    return True, f"Promote the challenger: {figures}."


def _data(frame: pd.DataFrame, metadata: dict) -> pd.DataFrame:
    """The model inputs and the target of ``frame`` (all of it when the metadata names no schema)."""
    columns = [c for c in [*(metadata.get("feature_schema") or {}), metadata.get("target")] if c in frame.columns]
    return frame[columns] if columns else frame


def register(
    challenger,
    *,
    name: str,
    champion_metadata: dict,
    table: pd.DataFrame,
    fresh: Fresh,
    rows: int,
    include_training_data: bool,
    go: bool,
    promote: bool,
) -> tuple[str, pd.Series]:
    """Register the challenger with its lineage (when retraining was triggered): ``NAME@champion`` when promoted,
    else ``NAME@challenger``.
    The champion stays in the registry. Returns a sentence and the lineage (without version numbers,
    which grow with every run)."""
    keep = ("task", "target", "positive_class", "threshold", "metric", "feature_schema", "family", "tuned")
    lineage = {
        "parent_version": champion_metadata["version"],
        "parent_data_version": champion_metadata.get("data_version"),
        "fresh_data_version": data_version(_data(fresh.train, champion_metadata)),
        "fresh_windows": fresh.train_windows,
        "holdout_windows": fresh.holdout_windows,
        "rows": rows,
        "includes_parent_training_data": include_training_data,
    }
    metadata = {
        **{k: champion_metadata[k] for k in keep if k in champion_metadata},
        "data_version": lineage["fresh_data_version"],
        "lineage": lineage,
        "retrained": True,
        "metrics": {"holdout": table["challenger"].to_dict()},
        "parent_metrics": {"holdout": table["champion"].to_dict()},
    }
    shown = pd.Series(
        {k: (", ".join(v) if isinstance(v, list) else v) for k, v in lineage.items() if k != "parent_version"},
        name="lineage",
        dtype=object,
    )
    if not go:
        return "Nothing registered: retraining was not triggered.", shown
    version = registry.register(challenger, name, metadata)
    if promote:
        registry.set_alias(name, registry.CHAMPION, version)
        return (
            f"Registered the challenger as a new version of {name}, its parent recorded, and made it {name}@champion; "
            "the previous champion stays in the registry as it was, without the alias."
        ), shown
    registry.set_alias(name, registry.CHALLENGER, version)
    return f"Registered the challenger as {name}@challenger; {name}@champion is unchanged.", shown
