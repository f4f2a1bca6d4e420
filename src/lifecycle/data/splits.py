"""The train / validation / test / out-of-time sets: how 04 makes and writes them, and how later phases read them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lifecycle.core import files, paths
from lifecycle.core.settings import FeatureEngineering, ProjectParams
from lifecycle.data.events import FEATURES_FILE

NAMES = ("train", "validation", "test", "out_of_time")
SCHEMA = paths.PROCESSED / "feature_schema.json"
SETTINGS = paths.PROCESSED / "feature_settings.json"


def write(splits: dict[str, pd.DataFrame], schema: pd.DataFrame, settings: ProjectParams) -> list[str]:
    """Write each split as Parquet, the feature schema, and the settings that built the features
    (so new data gets exactly the same features later); return the paths."""
    written = [files.write_parquet(paths.PROCESSED / f"{name}.parquet", splits[name]) for name in NAMES]
    written.append(files.write_json(SCHEMA, schema_records(schema)))
    written.append(files.write_json(SETTINGS, settings.model_dump(mode="json")))
    return [paths.relative(p) for p in written]


def schema_records(schema: pd.DataFrame) -> dict:
    """The feature schema as plain JSON-ready records (missing values as None)."""
    return {
        column: {k: (None if not isinstance(v, list) and pd.isna(v) else v) for k, v in row.items()}
        for column, row in schema.astype(object).to_dict(orient="index").items()
    }


def read(name: str) -> pd.DataFrame:
    if name not in NAMES:
        raise ValueError(f"no split '{name}'; splits are {', '.join(NAMES)}")
    return files.read_parquet(paths.PROCESSED / f"{name}.parquet", f"the {name} set", "04_feature_engineering")


def held_out() -> tuple[pd.DataFrame, str]:
    """Your own table's stand-in for a production period: the out-of-time split, or (no time column)
    the test split; and a phrase saying which."""
    frame = read("out_of_time")
    if len(frame):
        return frame, "the out-of-time split (this source has no separate production period)"
    return read("test"), "the test split (this source has no production period or time column)"


def read_schema() -> pd.DataFrame:
    return pd.DataFrame.from_dict(
        files.read_json(SCHEMA, "the feature schema", "04_feature_engineering"), orient="index"
    )


def inputs(frame: pd.DataFrame, params: ProjectParams, schema: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The model inputs (the schema's columns, in its order) and the target of a split."""
    return frame[list(schema.index)], frame[params.target]


def read_settings():
    """The feature-engineering parameters 04 used."""
    return FeatureEngineering(**files.read_json(SETTINGS, "the feature settings", "04_feature_engineering"))


def make(features: pd.DataFrame, params: FeatureEngineering) -> dict[str, pd.DataFrame]:
    """Train, validation, test and out-of-time rows; no row is in two of them.

    With a time column, the latest ``out_of_time_share`` of rows (rows on the boundary time
    together) are out of time; rows without a time stay in time. The in-time rows split at
    random (``seed``) into ``test_size`` and ``validation_size`` shares of them and the
    rest for training, stratified by the target for classification tasks; each split keeps the
    table's row order when there is a time column, and the random order otherwise. A class too
    small to reach every split turns stratification off, with a warning saying so.
    """
    target = features[params.target]
    if target.isna().any():
        raise ValueError(
            f"target '{params.target}' is missing on {int(target.isna().sum())} rows; "
            "02_data_preparation sets such rows aside: build features from its table"
        )
    position = np.arange(len(features))
    late = np.zeros(len(features), dtype=bool)
    if params.time_column and params.out_of_time_share > 0:
        late = _latest(features[params.time_column], params.out_of_time_share)
    in_time = position[~late]
    if len(in_time) < 3:
        raise ValueError(
            f"only {len(in_time)} rows are left in time, too few for train, validation and test; "
            f"lower out_of_time_share in {FEATURES_FILE} or add data"
        )
    labels = target.to_numpy()[in_time] if params.task != "regression" else None
    try:
        parts = _in_time_split(in_time, labels, params)
    except ValueError as exc:
        if labels is None:
            raise
        smallest = target.iloc[in_time].value_counts()
        warnings.warn(
            f"split: not stratified by '{params.target}': class {smallest.idxmin()!r} has "
            f"{smallest.min()} in-time rows, too few to reach every split ({exc})",
            stacklevel=2,
        )
        parts = _in_time_split(in_time, None, params)
    parts["out_of_time"] = position[late]
    # Without a time column the rows keep the shuffled order: a table sorted by group (all of one class, then
    # the next) would otherwise reach monitoring's windows and retraining's parts one group at a time.
    order = np.sort if params.time_column else np.asarray
    return {name: features.iloc[order(parts[name])] for name in NAMES}


def _latest(times: pd.Series, share: float) -> np.ndarray:
    """True for the latest ``share`` of rows; rows at the boundary time all count as late."""
    count = int(round(share * len(times)))
    dated = times.dropna()
    if count == 0 or dated.empty:
        return np.zeros(len(times), dtype=bool)
    boundary = dated.sort_values(kind="stable").iloc[max(len(dated) - count, 0)]
    return (times >= boundary).fillna(False).to_numpy(dtype=bool)


def _in_time_split(rows: np.ndarray, labels: np.ndarray | None, params: FeatureEngineering) -> dict[str, np.ndarray]:
    rest, test, rest_labels, _ = train_test_split(
        rows, rows if labels is None else labels, test_size=params.test_size, random_state=params.seed, stratify=labels
    )
    share = params.validation_size / (1 - params.test_size)
    train, validation = train_test_split(
        rest, test_size=share, random_state=params.seed, stratify=None if labels is None else rest_labels
    )
    return {"train": train, "validation": validation, "test": test}


def summary(splits: dict[str, pd.DataFrame], params: ProjectParams) -> pd.DataFrame:
    """Per split: rows, share of all rows, the target's mean or class shares, and time range."""
    total = sum(len(frame) for frame in splits.values()) or 1
    classes = sorted(pd.concat([f[params.target] for f in splits.values()]).dropna().unique(), key=str)
    rows = {}
    for name, frame in splits.items():
        target = frame[params.target]
        row = {"rows": len(frame), "share": round(len(frame) / total, 3)}
        if params.task == "regression":
            row[f"{params.target} mean"] = target.mean()
        else:
            shares = target.value_counts(normalize=True)
            row.update({f"{params.target}={c} share": round(float(shares.get(c, 0.0)), 3) for c in classes})
        if params.time_column:
            row.update({"from": frame[params.time_column].min(), "to": frame[params.time_column].max()})
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("split")
