"""Phase 01: an immutable raw snapshot, its data version, schema and lineage, and the
data-sufficiency verdict against the problem card."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pandas as pd

from lifecycle.core import files, paths
from lifecycle.core.settings import ProjectParams
from lifecycle.data.problem import ProblemCard
from lifecycle.data.sources import Dataset, describe

CURRENT = paths.RAW / "current.json"
TABLES = ("table", "events")


class InsufficientData(RuntimeError):
    """The data cannot answer the question in the problem card; the message says why."""


def data_version(dataset: Dataset) -> str:
    """A content hash: the same data (values, column names, types) gives the same version."""
    digest = hashlib.sha256()
    for name, frame in zip(TABLES, dataset):
        if frame is None:
            continue
        digest.update(json.dumps([name, [[str(c), str(t)] for c, t in frame.dtypes.items()]]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:12]


def schema(frame: pd.DataFrame, max_categories: int = 30) -> pd.DataFrame:
    """Per column: type, kind, missing share, range, number of distinct values and categories."""
    rows = []
    for column in frame.columns:
        values = frame[column]
        kind = _kind(values)
        present = values.dropna()
        row = {
            "column": str(column),
            "dtype": str(values.dtype),
            "kind": kind,
            "missing_share": round(float(values.isna().mean()), 4),
            "n_unique": int(present.nunique()),
            "min": None,
            "max": None,
            "categories": None,
        }
        if kind in ("numeric", "datetime") and len(present):
            row["min"], row["max"] = _plain(present.min()), _plain(present.max())
        if kind in ("categorical", "boolean") and row["n_unique"] <= max_categories:
            row["categories"] = sorted(str(v) for v in present.unique())
        rows.append(row)
    return pd.DataFrame(rows).set_index("column")


def _kind(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    return "categorical"


def _plain(value):
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, (np.integer, int)):
        return int(value)
    return round(float(value), 4)


def lineage(params: ProjectParams, dataset: Dataset, version: str) -> dict:
    """Where the data came from; later phases and the model registry carry it forward."""
    return {
        "data_version": version,
        "source": describe(params.source),
        "source_kind": params.source.kind,
        "snapshot": paths.relative(paths.RAW / version),
        "rows": {name: int(len(frame)) for name, frame in zip(TABLES, dataset) if frame is not None},
        "columns": {name: [str(c) for c in frame.columns] for name, frame in zip(TABLES, dataset) if frame is not None},
        "parameters": params.model_dump(mode="json"),
        "made_id": (
            {
                "column": params.id_column,
                "how": "a hash of each row's values but the target; repeated rows numbered -2, -3, ...",
                "feature": False,
            }
            if params.source.make_id
            else None
        ),
    }


def snapshot(dataset: Dataset, version: str, table_schema: pd.DataFrame, record: dict) -> str:
    """Keep the raw data under ``data/raw/<version>/``, written once and never changed.

    The folder is built aside and moved into place whole, so it is complete or absent.
    Returns the snapshot folder, relative to the root.
    """
    folder = paths.RAW / version
    if not folder.is_dir():
        building = paths.RAW / f".{version}.building"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        for name, frame in zip(TABLES, dataset):
            if frame is not None:
                files.write_parquet(building / f"{name}.parquet", frame)
        files.write_json(building / "schema.json", _schema_records(table_schema))
        files.write_json(building / "lineage.json", record)
        building.rename(folder)
    files.record_write(folder)  # this phase's output whether it was just built or already there
    files.write_json(CURRENT, {"data_version": version})
    return paths.relative(folder)


def _schema_records(table_schema: pd.DataFrame) -> dict:
    return {
        column: dict(row) for column, row in table_schema.astype(object).where(table_schema.notna(), None).iterrows()
    }


def read_raw() -> tuple[Dataset, dict]:
    """The current raw snapshot and its lineage, as written by 01_data_collection."""
    lineage = read_lineage()
    folder = paths.RAW / lineage["data_version"]
    table = files.read_parquet(folder / "table.parquet", "the raw table", "01_data_collection")
    events_path = folder / "events.parquet"
    events = files.read_parquet(events_path) if events_path.is_file() else None
    return Dataset(table, events), lineage


def read_lineage() -> dict:
    """The lineage of the current raw snapshot (without reading the data)."""
    version = files.read_json(CURRENT, "the raw snapshot pointer", "01_data_collection")["data_version"]
    return files.read_json(paths.RAW / version / "lineage.json", "the lineage record", "01_data_collection")


def read_schema(version: str) -> pd.DataFrame:
    """The raw table's schema, as 01 recorded it with the snapshot."""
    records = files.read_json(paths.RAW / version / "schema.json", "the raw schema", "01_data_collection")
    return pd.DataFrame.from_dict(records, orient="index")


def sufficiency(card: ProblemCard, labels: pd.Series) -> pd.DataFrame:
    """Check the labelled data against the problem card: one row per rule, with its verdict."""
    labelled = labels.dropna()
    checks = [("labelled rows", card.min_rows, len(labelled))]
    if card.task != "regression":
        counts = labelled.value_counts()
        needed = 2 if card.task == "binary" else 3
        checks.append(("classes", needed, int(counts.size)))
        for value, count in sorted(counts.items(), key=lambda item: str(item[0])):
            checks.append((f"rows of class {_label(value)}", card.min_rows_per_class, int(count)))
    table = pd.DataFrame(checks, columns=["rule", "required", "found"]).set_index("rule")
    table["ok"] = table["found"] >= table["required"]
    if card.task == "binary":
        table.loc["classes", "ok"] = table.loc["classes", "found"] == 2
    return table


def _label(value) -> str:
    """A class label as people write it: 1, not 1.0 (labels with gaps are read as floats)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def require_sufficient(checks: pd.DataFrame) -> str:
    """Stop the run with the failing rules, or say in one sentence that the data suffices."""
    failing = checks[~checks["ok"]]
    if len(failing):
        reasons = "; ".join(f"{rule}: found {row.found:,}, need {row.required:,}" for rule, row in failing.iterrows())
        raise InsufficientData(
            f"not enough data for the problem card ({reasons}). Collect more data, or lower the "
            "requirement in params/00_problem_definition.yaml if it was set too high."
        )
    return f"Sufficient: all {len(checks)} rules of the problem card pass."
