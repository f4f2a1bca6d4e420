"""The train / validation / test / out-of-time sets 04 writes, and how later phases read them."""

from __future__ import annotations

import pandas as pd

from lifecycle import files, paths
from lifecycle.settings import ProjectParams

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
    return {column: {k: (None if not isinstance(v, list) and pd.isna(v) else v) for k, v in row.items()}
            for column, row in schema.astype(object).to_dict(orient="index").items()}


def read(name: str) -> pd.DataFrame:
    if name not in NAMES:
        raise ValueError(f"no split '{name}'; splits are {', '.join(NAMES)}")
    return files.read_parquet(paths.PROCESSED / f"{name}.parquet", f"the {name} set", "04_feature_engineering")


def read_schema() -> pd.DataFrame:
    return pd.DataFrame.from_dict(files.read_json(SCHEMA, "the feature schema", "04_feature_engineering"), orient="index")


def inputs(frame: pd.DataFrame, params: ProjectParams, schema: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The model inputs (the schema's columns, in its order) and the target of a split."""
    return frame[list(schema.index)], frame[params.target]


def read_settings():
    """The feature-engineering parameters 04 used."""
    from lifecycle.settings import FeatureEngineering

    return FeatureEngineering(**files.read_json(SETTINGS, "the feature settings", "04_feature_engineering"))
