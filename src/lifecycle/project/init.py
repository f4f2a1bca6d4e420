"""``lifecycle init``: point the project at a user's own table by writing ``params/``.

    lifecycle init --data PATH_OR_URL --target COLUMN [--query SQL_OR_TABLE] [--events PATH]
                   [--task binary|multiclass|regression] [--id COLUMN] [--time COLUMN] [--name NAME]

Reads the table (a CSV or Parquet file under the project root, or one of another format in
``core.table_formats``, or a SQLAlchemy URL with ``--query``), infers what was not given — the
task from the target's values, the id column (unique values, an id-like name first), the time
column (dates, or text that reads as dates), the positive class of a binary target (the rarer
one), the metric and its bar — and says what it inferred. The new parameters are validated by the same checks as
``lifecycle params check`` before any file is touched; the files keep their comments
(ruamel.yaml's round trip). The cookiecutter starter calls the same code. Reading the table is
``source``'s work, inferring ``inference``'s (its bar ``baseline``'s); this module writes params/.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from lifecycle.core import database_url, files, paths, table_formats
from lifecycle.core.params import PROJECT_FILE, ParamsError, phase_file, read_yaml, resolve
from lifecycle.core.settings import PHASES
from lifecycle.project.inference import InitError, infer, monitoring
from lifecycle.project.source import copy_in, read_table

PROJECT_KEYS = ("project_name", "task", "target", "id_column", "time_column", "source")

PHASE_KEYS = {
    "business_question": "00_problem_definition",
    "decision": "00_problem_definition",
    "positive_class": "00_problem_definition",
    "metric": "00_problem_definition",
    "metric_bar": "00_problem_definition",
    "valid_ranges": "02_data_preparation",
    "model_name": "09_model_testing",
    "intended_use": "09_model_testing",
    "limitations": "09_model_testing",
    "reference_split": "12_monitoring",
    "exclude_features": "12_monitoring",
    "window": "12_monitoring",
    "drift": "12_monitoring",
    "unit_column": "11_experimentation",
    "thresholds": "12_monitoring",
    "min_rows": "00_problem_definition",
    "min_rows_per_class": "00_problem_definition",
    "threshold": "07_model_evaluation",
}

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
    with os.fdopen(fd, "w") as stream:  # "phase/key": a key two phases share by name (min_rows), for one of them
        yaml.safe_dump({key.split("/")[-1]: value for key, value in overlay.items()}, stream)
    try:
        resolve(list(PHASES), [Path(name)])
    except ParamsError as exc:
        raise InitError(f"the parameters for this table do not pass the checks:\n{exc}") from None
    finally:
        os.unlink(name)
    changes: dict[Path, dict[str, Any]] = {}
    for key, value in overlay.items():
        phase, _, name = key.rpartition("/")
        target = (
            paths.PARAMS / PROJECT_FILE
            if key in PROJECT_KEYS or key == "serving"
            else phase_file(phase or PHASE_KEYS[key])
        )
        changes.setdefault(target, {})[name] = value
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
    """``lifecycle init``: read the table, infer, check and write params/; 2 (one line on stderr, nothing
    written, nothing copied left behind) when the table or a choice cannot be used."""
    args = _parser().parse_args(argv)
    copied: list[tuple[Path, Path] | None] = []
    try:
        table, source = read_table(args.data, args.query)
        choices = infer(table, args.target, args.task, args.id_column, args.time_column)
        source["make_id"] = choices.overlay.pop("make_id")
        if args.events:
            events, events_source = read_table(args.events)
            if events_source["kind"] != source["kind"]:
                raise InitError("--events must be the same kind of file as --data")
            source["events_path"] = events_source["path"]
            copied.append(copy_in({"path": events_source["path"], "from": events_source["from"]}))
        else:
            source["events_path"], source["events_query"] = None, None
        copied.insert(0, copy_in(source) if source.get("from") else source.pop("from", None))
        written = write(_overlay(args, table, source, choices.overlay))
    except InitError as exc:
        for _, dest in filter(None, copied):  # nothing half-done: a copy made for params not written goes
            dest.unlink(missing_ok=True)
        print(f"lifecycle init: {exc}", file=sys.stderr)
        return 2
    for origin, dest in filter(None, copied):
        print(f"copied {origin} to {paths.relative(dest)} (the project keeps its own copy; data/ is git-ignored)")
    where = f" at {database_url.shown(args.data)}" if source["kind"] == "sql" else ""
    print(
        f"{len(table):,} rows x {table.shape[1]} columns from {_named(args.data, args.query)}{where}; "
        f"target {args.target}"
    )
    for sentence in choices.said:
        print(f"  inferred {sentence}")
    print("wrote " + ", ".join(paths.relative(p) for p in written) + "; next: lifecycle run (or make run)")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifecycle init", description="Write params/ for your own table.")
    parser.add_argument(
        "--data",
        required=True,
        metavar="PATH_OR_URL",
        help=f"a {table_formats.titles()} file under the project, or a SQLAlchemy URL (with --query)",
    )
    parser.add_argument("--target", required=True, metavar="COLUMN", help="the column to predict")
    parser.add_argument("--query", metavar="SQL_OR_TABLE", help="for a database URL: a table name or a query")
    parser.add_argument(
        "--events", metavar="PATH", help=f"an optional events table ({table_formats.titles()}, same kind)"
    )
    parser.add_argument("--task", choices=("binary", "multiclass", "regression"))
    parser.add_argument("--id", dest="id_column", metavar="COLUMN")
    parser.add_argument("--time", dest="time_column", metavar="COLUMN")
    parser.add_argument("--name", metavar="NAME", help="project and model name (default: the table's name)")
    return parser


def _overlay(args: argparse.Namespace, table: pd.DataFrame, source: dict[str, Any], inferred: dict) -> dict:
    """What init writes into params/: the names, the model card's starting sentences, monitoring's settings
    and what ``infer`` chose."""
    named = table_formats.stem(source["path"]) if source.get("path") else Path(source["query"]).stem
    name = _slug(args.name or named)
    overlay = {
        "project_name": name,
        "source": source,
        "model_name": name,
        "serving": {"model": name},
        "business_question": f"What {args.target} will each new row have? (Write the business question "
        "here, and who acts on the answer.)",
        "decision": "Write the decision the predictions inform, and when it is made.",
        "intended_use": f"Predict {args.target} for new rows like those of {_named(args.data, args.query)}.",
        "limitations": ["Trained on one table; check it still describes the rows you score (12_monitoring)."],
        **monitoring(table, inferred["time_column"]),
        **inferred,
    }
    overlay["unit_column"] = inferred["id_column"]  # an experiment on this table randomises its rows
    return overlay


def _named(data: str, query: str | None) -> str:
    """What the model card's intended use names: a file's name, a table's, or a query's database (no URL)."""
    if "://" not in data and not database_url.REFERENCE.fullmatch(data):
        return Path(data).name
    if query and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", query):
        return f"table {query}"
    return "the query's rows"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-")
    return slug if slug and slug[0].isalnum() else f"project_{slug}".strip("_")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
