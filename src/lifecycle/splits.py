"""The train / validation / test / out-of-time sets 04 writes, and how later phases read them."""

from __future__ import annotations

import pandas as pd

from lifecycle import files, paths
from lifecycle.settings import ProjectParams

NAMES = ("train", "validation", "test", "out_of_time")
SCHEMA = paths.PROCESSED / "feature_schema.json"


def write(splits: dict[str, pd.DataFrame], schema: pd.DataFrame) -> list[str]:
    """Write each split as Parquet and the feature schema as JSON; return the paths."""
    written = [files.write_parquet(paths.PROCESSED / f"{name}.parquet", splits[name]) for name in NAMES]
    written.append(files.write_json(SCHEMA, schema.astype(object).where(schema.notna(), None).to_dict(orient="index")))
    return [paths.relative(p) for p in written]


def read(name: str) -> pd.DataFrame:
    if name not in NAMES:
        raise ValueError(f"no split '{name}'; splits are {', '.join(NAMES)}")
    return files.read_parquet(paths.PROCESSED / f"{name}.parquet", f"the {name} set", "04_feature_engineering")


def read_schema() -> pd.DataFrame:
    return pd.DataFrame.from_dict(files.read_json(SCHEMA, "the feature schema", "04_feature_engineering"), orient="index")


def inputs(frame: pd.DataFrame, params: ProjectParams, schema: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The model inputs (the schema's columns, in its order) and the target of a split."""
    return frame[list(schema.index)], frame[params.target]
