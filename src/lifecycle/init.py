"""``lifecycle init``: point the project at a user's own table by writing ``params/``.

    lifecycle init --data PATH_OR_URL --target COLUMN [--query SQL_OR_TABLE] [--events PATH]
                   [--task binary|multiclass|regression] [--id COLUMN] [--time COLUMN] [--name NAME]

Reads the table (CSV or Parquet under the project root, or a SQLAlchemy URL with
``--query``), infers what was not given — the task from the target's values, the id column
(unique values, an id-like name first), the time column (dates, or text that reads as
dates), the positive class of a binary target (the rarer one), the metric and its bar — and
says what it inferred. The new parameters are validated by the same checks as
``lifecycle params check`` before any file is touched; the files keep their comments
(ruamel.yaml's round trip). The cookiecutter starter calls the same code.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from lifecycle import files, paths
from lifecycle.params import PROJECT_FILE, ParamsError, phase_file, read_yaml, resolve
from lifecycle.settings import PHASES

MAX_CLASSES = 20  # more distinct target values than this (or a non-integer number) means regression
DATE_SHARE = 0.9  # a text column is a time column when this share of its values read as dates


class InitError(ValueError):
    """A table or choice ``lifecycle init`` cannot use; the message says what to do."""


class Choices(NamedTuple):
    """What ``init`` writes, and the sentences saying what it inferred."""

    overlay: dict[str, Any]
    said: list[str]


def read_table(data: str, query: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The user's table and the ``source`` section that reads it."""
    if "://" in data:
        if not query:
            raise InitError(f"{data} is a database URL: name the table or give a query with --query")
        source = {"kind": "sql", "path": None, "url": data, "query": query}
        from lifecycle.sources import SourceError, _query

        import sqlalchemy as sa

        try:
            engine = sa.create_engine(data)
            with engine.connect() as connection:
                table = _query(connection, query)
        except (sa.exc.SQLAlchemyError, SourceError, ValueError) as exc:
            raise InitError(f"cannot read {query!r} from {data}: {str(exc).splitlines()[0]}") from None
        return table, source
    path = Path(data)
    path = path if path.is_absolute() else Path.cwd() / path
    kinds = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
    kind = kinds.get(path.suffix.lower())
    if kind is None:
        raise InitError(f"{data}: unsupported file type '{path.suffix or '(none)'}'; use a CSV or Parquet file, "
                        "or a database URL with --query (export a spreadsheet as CSV first)")
    if not path.is_file():
        raise InitError(f"{data}: no such file")
    try:
        relative = path.resolve().relative_to(paths.ROOT.resolve())
    except ValueError:
        raise InitError(f"{data} is outside the project ({paths.ROOT}); copy it under data/ so the project "
                        "stays self-contained, then run init again") from None
    try:
        table = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001  (pandas and pyarrow raise many types for a bad file)
        raise InitError(f"{data}: cannot read it as {kind.upper()} ({str(exc).strip().splitlines()[0]})") from None
    if table.empty:
        raise InitError(f"{data}: the table has no rows")
    return table, {"kind": kind, "path": relative.as_posix(), "url": None, "query": None}


def infer(table: pd.DataFrame, target: str, task: str | None = None, id_column: str | None = None,
          time_column: str | None = None) -> Choices:
    """The roles and settings for ``table``; what was inferred is said in ``said``."""
    columns = [str(c) for c in table.columns]
    for role, column in (("--target", target), ("--id", id_column), ("--time", time_column)):
        if column is not None and column not in columns:
            close = [c for c in columns if c.lower() == column.lower()]
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InitError(f"{role} {column}: no such column{hint}; the table's columns: {', '.join(columns)}")
    labels = table[target].dropna()
    if labels.nunique() < 2:
        raise InitError(f"target {target} has {'one value' if labels.nunique() else 'no values'}"
                        f"{' (' + repr(_plain(labels.iloc[0])) + ')' if len(labels) else ''} on every row: there is "
                        "nothing to predict; choose a column that varies")
    said = []
    if task is None:
        task = _task(labels)
        said.append(f"task: {task} ({labels.nunique()} distinct values of {target})")
    others = [c for c in columns if c != target]
    if id_column is None:
        id_column = _id_column(table, others)
        said.append(f"id column: {id_column}" if id_column else "id column: none (no column with a unique value "
                                                                 "per row; 12_monitoring joins labels to predictions "
                                                                 "by id and stops without one: add one, then --id)")
    if time_column is None:
        time_column = _time_column(table, [c for c in others if c != id_column])
        said.append(f"time column: {time_column}" if time_column else "time column: none (no date column; no "
                                                                     "out-of-time set)")
    overlay: dict[str, Any] = {"task": task, "target": target, "id_column": id_column, "time_column": time_column,
                               "valid_ranges": {}}
    if task == "binary":
        counts = labels.value_counts()
        positive = _plain(counts.index[-1])
        overlay["positive_class"] = positive
        said.append(f"positive class: {positive!r} (the rarer class, {counts.iloc[-1]:,} of {len(labels):,} rows)")
        overlay["metric"], chance, perfect = "roc_auc", 0.5, 1.0
    elif task == "multiclass":
        overlay["positive_class"] = None
        overlay["metric"], chance, perfect = "f1_macro", 1 / labels.nunique(), 1.0
    else:
        overlay["positive_class"] = None
        overlay["metric"] = "mae"
    if task == "regression":
        naive = float((labels - labels.median()).abs().mean())
        overlay["metric_bar"] = _round(0.8 * naive)
        said.append(f"metric: mae, bar {overlay['metric_bar']:g} (20% below the {naive:.4g} of always predicting "
                    "the median); set your own in params/00_problem_definition.yaml")
        overlay["thresholds"] = {"performance_drop": _round(0.1 * naive)}  # 12: an error's worsening, in its units
    else:
        overlay["metric_bar"] = round(chance + 0.5 * (perfect - chance), 2)
        said.append(f"metric: {overlay['metric']}, bar {overlay['metric_bar']:g} (halfway from chance to perfect); "
                    "set your own in params/00_problem_definition.yaml")
    return Choices(overlay, said)


def _task(labels: pd.Series) -> str:
    numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    whole = numeric and bool((labels == labels.round()).all())
    if labels.nunique() == 2:
        return "binary"
    if numeric and (not whole or labels.nunique() > MAX_CLASSES):
        return "regression"
    if labels.nunique() > MAX_CLASSES:
        raise InitError(f"the target has {labels.nunique()} distinct text values: too many classes to learn "
                        f"(at most {MAX_CLASSES}); group them, or choose another target")
    return "multiclass"


def _id_column(table: pd.DataFrame, candidates: list[str]) -> str | None:
    unique = [c for c in candidates if table[c].notna().all() and table[c].is_unique
              and (pd.api.types.is_integer_dtype(table[c]) or pd.api.types.is_string_dtype(table[c]))]
    named = [c for c in unique if re.search(r"(^|_)id$|^id_|^(key|code)$", c, re.IGNORECASE)]
    return (named or unique or [None])[0]


def _time_column(table: pd.DataFrame, candidates: list[str]) -> str | None:
    dated = []
    for column in candidates:
        values = table[column].dropna()
        if values.empty:
            continue
        if pd.api.types.is_datetime64_any_dtype(values):
            dated.append(column)
        elif pd.api.types.is_string_dtype(values) or values.dtype == object:
            parsed = pd.to_datetime(values.astype(str), errors="coerce", format="mixed")
            if parsed.notna().mean() >= DATE_SHARE:
                dated.append(column)
    named = [c for c in dated if re.search(r"date|time|_at$|day|when", c, re.IGNORECASE)]
    return (named or dated or [None])[0]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _round(value: float) -> float:
    return float(f"{value:.3g}")


# --- writing params/ ---------------------------------------------------------------------

PROJECT_KEYS = ("project_name", "task", "target", "id_column", "time_column", "source")
PHASE_KEYS = {"business_question": "00_problem_definition", "decision": "00_problem_definition",
              "positive_class": "00_problem_definition", "metric": "00_problem_definition",
              "metric_bar": "00_problem_definition", "valid_ranges": "02_data_preparation",
              "model_name": "09_model_testing", "intended_use": "09_model_testing",
              "limitations": "09_model_testing", "reference_split": "12_monitoring",
              "exclude_features": "12_monitoring", "window": "12_monitoring", "drift": "12_monitoring",
              "unit_column": "11_experimentation", "thresholds": "12_monitoring"}
MAX_WINDOWS = 12  # monitoring's window (a day, a week, a month): the shortest cutting the held-out rows into at most this many


def monitoring(table: pd.DataFrame, time_column: str | None) -> dict[str, Any]:
    """12's settings for a table with no production period, whose held-out rows stand in for one:
    the reference is the training split (as many drift chunks as it holds ``min_rows`` rows, up to the
    default); the window cuts the out-of-time rows into at most ``MAX_WINDOWS``."""
    settings = resolve(["04_feature_engineering", "12_monitoring"])
    features, watch = settings["04_feature_engineering"], settings["12_monitoring"]
    in_time = len(table) * (1 - features["out_of_time_share"] if time_column else 1)
    train = in_time * (1 - features["test_size"] - features["validation_size"])
    chunks = max(3, min(watch["drift"]["chunks"], int(train // watch["min_rows"])))
    chosen = {"reference_split": "train", "drift": {"chunks": chunks},
              # an absolute date moves with time by construction
              "exclude_features": [f"{time_column}_year"] if time_column else []}
    if time_column:
        times = pd.to_datetime(table[time_column], errors="coerce", format="mixed").dropna().sort_values()
        held_out = times.iloc[int(len(times) * (1 - features["out_of_time_share"])):]
        days = (held_out.iloc[-1] - held_out.iloc[0]).days + 1 if len(held_out) else 1
        chosen["window"] = next((w for w, d in (("D", 1), ("W", 7)) if days / d <= MAX_WINDOWS), "M")
    return chosen


SIMULATOR_PARAMS = paths.ROOT / "tests" / "simulator_params"  # what the unit tests of src/ are written for


def keep_simulator_params() -> Path | None:
    """Before params/ first leaves the simulated product, copy it to ``tests/simulator_params/``: the
    unit tests run on the simulator whatever params/ says (tests/conftest.py), while nbval and the
    notebook tests check your notebooks against params/. Nothing to do when it is kept already."""
    if SIMULATOR_PARAMS.exists() or not SIMULATOR_PARAMS.parent.is_dir():
        return None
    if (read_yaml(paths.PARAMS / PROJECT_FILE).get("source") or {}).get("kind") != "simulated":
        return None
    for path in sorted(paths.PARAMS.glob("*.yaml")):
        files.write_text(SIMULATOR_PARAMS / path.name, path.read_text(encoding="utf-8"))
    return SIMULATOR_PARAMS


def write(overlay: dict[str, Any]) -> list[Path]:
    """Validate ``overlay`` with every phase's checks, then write it into ``params/`` (comments kept)."""
    import yaml

    fd, name = tempfile.mkstemp(suffix=".yaml", prefix="lifecycle-init-")
    with os.fdopen(fd, "w") as stream:
        yaml.safe_dump(overlay, stream)
    try:
        resolve(list(PHASES), [Path(name)])
    except ParamsError as exc:
        raise InitError(f"the parameters for this table do not pass the checks:\n{exc}") from None
    finally:
        os.unlink(name)
    changes: dict[Path, dict[str, Any]] = {}
    for key, value in overlay.items():
        target = paths.PARAMS / PROJECT_FILE if key in PROJECT_KEYS or key == "serving" else phase_file(PHASE_KEYS[key])
        changes.setdefault(target, {})[key] = value
    staged = [(path, _edited(path, values)) for path, values in changes.items()]
    kept = keep_simulator_params()
    for path, text in staged:  # every file rendered first; then each replaced in one step
        files.write_text(path, text)
    return [path for path, _ in staged] + ([kept] if kept else [])


def _edited(path: Path, values: dict[str, Any]) -> str:
    from io import StringIO

    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments, quotes and layout kept
    yaml.width, yaml.preserve_quotes = 4096, True
    yaml.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    document = yaml.load(path.read_text(encoding="utf-8"))
    values = _quoted(values)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict) and value:
            for sub, item in value.items():
                document[key][sub] = item
        elif isinstance(value, list) and isinstance(document.get(key), list):
            document[key][:] = value  # in place: the list keeps its style ([a, b]) and its comment
        else:
            document[key] = value
    out = StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def _quoted(value: Any) -> Any:
    """``value`` with quotes on every text that YAML 1.1 reads as something else (``yes``, ``no``, ``on``,
    ``null``, ``1.5``): ruamel writes YAML 1.2, where they are plain texts, but params are read with
    PyYAML (YAML 1.1), which would make a positive class ``yes`` the boolean True."""
    import yaml as pyyaml
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    if isinstance(value, dict):
        return {key: _quoted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_quoted(item) for item in value]
    if isinstance(value, str):
        try:
            plain = pyyaml.safe_load(value) == value
        except pyyaml.YAMLError:
            plain = False
        return value if plain else SingleQuotedScalarString(value)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lifecycle init", description="Write params/ for your own table.")
    parser.add_argument("--data", required=True, metavar="PATH_OR_URL",
                        help="a CSV or Parquet file under the project, or a SQLAlchemy URL (with --query)")
    parser.add_argument("--target", required=True, metavar="COLUMN", help="the column to predict")
    parser.add_argument("--query", metavar="SQL_OR_TABLE", help="for a database URL: a table name or a query")
    parser.add_argument("--events", metavar="PATH", help="an optional events table (CSV or Parquet, same kind)")
    parser.add_argument("--task", choices=("binary", "multiclass", "regression"))
    parser.add_argument("--id", dest="id_column", metavar="COLUMN")
    parser.add_argument("--time", dest="time_column", metavar="COLUMN")
    parser.add_argument("--name", metavar="NAME", help="project and model name (default: the table's name)")
    args = parser.parse_args(argv)
    try:
        table, source = read_table(args.data, args.query)
        choices = infer(table, args.target, args.task, args.id_column, args.time_column)
        if args.events:
            events, events_source = read_table(args.events)
            if events_source["kind"] != source["kind"]:
                raise InitError("--events must be the same kind of file as --data")
            source["events_path"] = events_source["path"]
        else:
            source["events_path"], source["events_query"] = None, None
        name = _slug(args.name or Path(source.get("path") or source.get("query") or "project").stem)
        overlay = {"project_name": name, "source": source, "model_name": name, "serving": {"model": name},
                   "business_question": f"What {args.target} will each new row have? (Write the business question "
                                        "here, and who acts on the answer.)",
                   "decision": "Write the decision the predictions inform, and when it is made.",
                   "intended_use": f"Predict {args.target} for new rows like those of {args.data}.",
                   "limitations": ["Trained on one table; check it still describes the rows you score "
                                   "(12_monitoring)."],
                   **monitoring(table, choices.overlay["time_column"]), **choices.overlay}
        if choices.overlay["id_column"]:  # an experiment on this table randomises its rows
            overlay["unit_column"] = choices.overlay["id_column"]
        written = write(overlay)
    except InitError as exc:
        print(f"lifecycle init: {exc}", file=sys.stderr)
        return 2
    print(f"{len(table):,} rows x {table.shape[1]} columns from {args.data}; target {args.target}")
    for sentence in choices.said:
        print(f"  inferred {sentence}")
    print("wrote " + ", ".join(paths.relative(p) for p in written) + "; next: lifecycle run (or make run)")
    card = resolve(["00_problem_definition"])["00_problem_definition"]
    if len(table) < card["min_rows"]:
        print(f"note: the table has {len(table):,} rows, fewer than min_rows ({card['min_rows']:,}) in "
              "params/00_problem_definition.yaml: 01_data_collection will stop the run until there is more data "
              "or you lower the requirement")
    return 0


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-")
    return slug if slug and slug[0].isalnum() else f"project_{slug}".strip("_")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
