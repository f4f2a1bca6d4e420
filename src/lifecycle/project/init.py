"""``lifecycle init``: point the project at a user's own table by writing ``params/``.

    lifecycle init --data PATH_OR_URL --target COLUMN [--query SQL_OR_TABLE] [--events PATH]
                   [--task binary|multiclass|regression] [--id COLUMN] [--time COLUMN] [--name NAME]

Reads the table (a CSV or Parquet file under the project root, or one of another format in
``core.table_formats``, or a SQLAlchemy URL with ``--query``), infers what was not given — the
task from the target's values, the id column (unique values, an id-like name first), the time
column (dates, or text that reads as dates), the positive class of a binary target (the rarer
one), the metric and its bar — and says what it inferred. The new parameters are validated by the same checks as
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

from lifecycle.core import database_url, files, paths, table_formats
from lifecycle.core.params import PROJECT_FILE, ParamsError, phase_file, read_yaml, resolve
from lifecycle.core.settings import PHASES
from lifecycle.data import tables
from lifecycle.data.events import sanitise
from lifecycle.data.features import near_unique
from lifecycle.data.prepare import read_as_dates
from lifecycle.modeling import intervals
from lifecycle.modeling.select import folds

MAX_CLASSES = 20  # more distinct target values than this (or a non-integer number) means regression
MADE_ID = "row_id"  # the id 01 makes for a table without one (source.make_id)
FLOOR_ROWS = 50  # fewer labelled rows than this: no model is credible, init refuses the table
FLOOR_PER_CLASS = 10  # a class with fewer rows cannot be learned and tested
DEFAULT_MIN_ROWS, DEFAULT_PER_CLASS = 1000, 100  # the simulator's sufficiency rule, the most init asks for


class InitError(ValueError):
    """A table or choice ``lifecycle init`` cannot use; the message says what to do."""


class Choices(NamedTuple):
    """What ``init`` writes, and the sentences saying what it inferred."""

    overlay: dict[str, Any]
    said: list[str]


def read_table(data: str, query: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The user's table and the ``source`` section that reads it."""
    if "://" in data or database_url.REFERENCE.fullmatch(data):  # a URL, or ${VAR} holding one
        return _read_sql(data, query)
    path = Path(data)
    path = path if path.is_absolute() else Path.cwd() / path
    found = table_formats.format_of(path)
    if found is None:
        raise InitError(f"{data}: unsupported file type '{path.suffix or '(none)'}'; use a {table_formats.titles()} "
                        "file, or a database URL with --query (export a spreadsheet as CSV first)")
    if not path.is_file():
        raise InitError(f"{data}: no such file")
    try:
        relative = path.resolve().relative_to(paths.ROOT.resolve())
    except ValueError:  # outside the project: copied under data/ when params are written (see `copy_in`)
        relative = Path("data") / path.name
    try:
        table = found.read(path)
    except Exception as exc:  # noqa: BLE001  (pandas and pyarrow raise many types for a bad file)
        raise InitError(f"{data}: cannot read it as {found.name.upper()} ({tables.reason(exc)})") from None
    if table.empty:
        raise InitError(f"{data}: the table has no rows")
    return table, {"kind": found.name, "path": relative.as_posix(), "url": None, "query": None, "from": path}


def _read_sql(url: str, query: str | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table at a database URL, which params/ will keep as written (``${VAR}`` and all, never a password)."""
    import sqlalchemy as sa

    if not query:
        raise InitError(f"{database_url.shown(url)} is a database URL: name the table or give a query with --query")
    if database_url.literal_password(url):
        raise InitError("--data: the URL holds a password, which params/ (kept in git) would keep: give it as "
                        "${VAR} in single quotes, e.g. 'postgresql://app:${DB_PASSWORD}@db/shop' with DB_PASSWORD "
                        "exported, or leave it out and export PGPASSWORD")
    try:
        engine = sa.create_engine(database_url.parse(url))
        with engine.connect() as connection:
            table = pd.read_sql(tables.statement(query), connection)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError, ValueError) as exc:
        raise InitError(f"cannot read {query!r} from {database_url.shown(url)}: {tables.reason(exc)}") from None
    return table, {"kind": "sql", "path": None, "url": url, "query": query, "from": None}


def copy_in(source: dict[str, Any], key: str = "path") -> tuple[Path, Path] | None:
    """Copy a table from outside the project to where ``source[key]`` says (under data/), so the project stays
    self-contained; a different file already there is never replaced. Returns (from, to) when it copied."""
    import filecmp
    import shutil

    origin, dest = source.pop("from"), paths.ROOT / source[key]
    if origin.resolve() == dest.resolve():
        return None
    if dest.exists() and not filecmp.cmp(origin, dest, shallow=False):
        raise InitError(f"{paths.relative(dest)} already exists and differs from {origin}; rename one of them, "
                        "or copy the table under data/ yourself")
    if dest.exists():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(dest, lambda tmp: shutil.copyfile(origin, tmp))
    return origin, dest


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
    make_id = False
    if id_column is None:
        id_column = _id_column(table, others)
        said.append(f"id column: {id_column}" if id_column else
                    f"id column: none, so 01 makes {_free(MADE_ID, columns)} (a stable hash of each row's values; "
                    "monitoring and retraining join labels to predictions by it; never a model input)")
        make_id, id_column = id_column is None, id_column or _free(MADE_ID, columns)
    if time_column is None:
        time_column = _time_column(table, [c for c in others if c != id_column])
        said.append(f"time column: {time_column}" if time_column else "time column: none (no date column; no "
                                                                     "out-of-time set)")
    overlay: dict[str, Any] = {"task": task, "target": target, "id_column": id_column, "time_column": time_column,
                               "valid_ranges": {}, "make_id": make_id}
    if task == "binary":
        counts = labels.value_counts()
        positive = _plain(counts.index[-1])
        overlay["positive_class"] = positive
        said.append(f"positive class: {positive!r} (the rarer class, {counts.iloc[-1]:,} of {len(labels):,} rows)")
        # neutral until the user states what each error costs (the simulator's churn costs never carry over)
        overlay["threshold"] = {"rule": "max_f1", "cost_false_positive": 1, "cost_false_negative": 1}
    else:
        overlay["positive_class"] = None
    overlay["metric"] = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "mae"}[task]
    rules, rule_said = requirements(labels, task, target)
    overlay.update(rules)
    said.append(rule_said)
    bar, naive, half_width = starting_bar(table, target, task, overlay, [id_column, time_column])
    overlay["metric_bar"] = bar
    said.append(f"metric: {overlay['metric']}, bar {bar:g}: what {naive}, so PASS means better than the obvious "
                "model; set your own in params/00_problem_definition.yaml")
    said.append(precision(len(labels), time_column is not None, overlay["metric"], half_width))
    if task == "regression":  # 12: an error's worsening, in its units
        overlay["thresholds"] = {"performance_drop": _round(0.1 * (labels - labels.median()).abs().mean())}
    return Choices(overlay, said)


def requirements(labels: pd.Series, task: str, target: str) -> tuple[dict[str, int], str]:
    """The data-sufficiency rule this table can meet: its own labelled rows and smallest class, rounded down to
    two figures (the simulator's 1,000 and 100 at most); refused below the floor where no model is credible."""
    if len(labels) < FLOOR_ROWS:
        raise InitError(f"target {target} has {len(labels)} labelled rows: fewer than {FLOOR_ROWS}, too few for any "
                        "model to be learned and tested credibly; collect more rows")
    rules = {"min_rows": min(DEFAULT_MIN_ROWS, _floor2(len(labels))), "min_rows_per_class": DEFAULT_PER_CLASS}
    said = f"data sufficiency: at least {rules['min_rows']:,} labelled rows"
    if task != "regression":
        counts = labels.value_counts()
        if counts.iloc[-1] < FLOOR_PER_CLASS:
            raise InitError(f"class {_plain(counts.index[-1])!r} of {target} has {counts.iloc[-1]} rows: fewer than "
                            f"{FLOOR_PER_CLASS}, too few to learn it and test it; merge it into another class or "
                            "drop its rows, then run init again")
        rules["min_rows_per_class"] = min(DEFAULT_PER_CLASS, _floor2(int(counts.iloc[-1])))
        said += f" and {rules['min_rows_per_class']:,} of each class"
    return rules, said + (" (what this table holds, rounded down: 01 stops a run on less; no model is credible "
                          f"below {FLOOR_ROWS} rows or {FLOOR_PER_CLASS} of a class)")


def _floor2(count: int) -> int:
    """``count`` rounded down to two significant figures (569 -> 560)."""
    step = 10 ** max(len(str(count)) - 2, 0)
    return count // step * step


OBVIOUS_MODEL = "a depth-2 decision tree (the obvious if-then rule) scores in 5-fold cross-validation on this table"


def starting_bar(table: pd.DataFrame, target: str, task: str, overlay: dict[str, Any], roles: list,
                 seed: int = 42) -> tuple[float, str, float]:
    """The bar, from the table itself: the metric of the obvious model (a depth-2 decision tree on the columns
    as they are), out of fold; with how to say it and the half-width of its 95% bootstrap interval on all rows
    (``precision`` scales it to other sizes)."""
    from sklearn.model_selection import cross_val_predict
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    labelled = table[table[target].notna()]
    X, y = _tree_inputs(labelled.drop(columns=[target]), roles), labelled[target]
    tree = (DecisionTreeRegressor if task == "regression" else DecisionTreeClassifier)(max_depth=2, random_state=seed)
    cv = folds(task, 5, seed)
    if task == "regression":
        truth, output, classes = y.to_numpy(dtype=float), cross_val_predict(tree, X, y, cv=cv), None
    else:
        proba, classes = cross_val_predict(tree, X, y, cv=cv, method="predict_proba"), sorted(y.unique())
        positive = overlay.get("positive_class")
        truth, output = ((y == positive).to_numpy(), proba[:, classes.index(positive)]) if task == "binary" \
            else (y.to_numpy(), proba)
    found = intervals.bootstrap(task, truth, output, classes=classes, resamples=400, seed=seed).loc[overlay["metric"]]
    return round(float(found["value"]), 3), OBVIOUS_MODEL, float(found["high"] - found["low"]) / 2


def _tree_inputs(table: pd.DataFrame, roles: list) -> pd.DataFrame:
    """The columns as a tree takes them: numbers as they are, dates as days, text as category codes (missing
    stays missing); ids, roles and near-unique text left out."""
    skip = set(roles) | set(near_unique(table, set(roles)))
    out = {}
    for column in [c for c in table.columns if c not in skip]:
        values, dates = table[column], read_as_dates(table[column])
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            out[column] = values.astype("float64")
        elif dates is not None:
            out[column] = (dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        else:
            codes = pd.Series(pd.factorize(values)[0], index=values.index).astype("float64")
            out[column] = codes.where(codes >= 0)
    return pd.DataFrame(out, index=table.index) if out else pd.DataFrame({"constant": 0.0}, index=table.index)


def precision(rows: int, dated: bool, metric: str, half_width: float) -> str:
    """What precision the held-out metric will have at this table's size, in a sentence."""
    settings = resolve(["04_feature_engineering", "09_model_testing"])
    features, testing = settings["04_feature_engineering"], settings["09_model_testing"]
    in_time = round(rows * (1 - (features["out_of_time_share"] if dated else 0)))
    test = round(in_time * features["test_size"])
    at = lambda n: half_width * (rows / max(n, 1)) ** 0.5  # noqa: E731  (an interval narrows as 1/sqrt(rows))
    said = f"precision: the test split will hold about {test:,} rows, where {metric} is known to about ±{at(test):.3f}"
    if test < testing["small_test_rows"]:
        said += (f"; fewer than small_test_rows ({testing['small_test_rows']:,}), so 09 judges the model by repeated "
                 f"cross-validation on all {in_time:,} in-time rows instead, about ±{at(in_time):.3f}")
    return said + " (95% intervals, from the obvious model's errors)"


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
    """A column named like an id (id, user_id, id_customer, key, code, uuid) with a unique value on every row,
    and not a date: a unique date is a time (one row per day), a unique number or text may be a measurement or
    a name."""
    named = [c for c in candidates if re.search(r"(^|_)(id|uuid|key)$|^id_|^(code|uuid)$", c, re.IGNORECASE)]
    return next((c for c in named if table[c].notna().all() and table[c].is_unique
                 and (pd.api.types.is_integer_dtype(table[c]) or pd.api.types.is_string_dtype(table[c]))
                 and read_as_dates(table[c]) is None), None)


def _time_column(table: pd.DataFrame, candidates: list[str]) -> str | None:
    dated = [c for c in candidates if read_as_dates(table[c].dropna()) is not None and table[c].notna().any()]
    named = [c for c in dated if re.search(r"date|time|_at$|day|when", c, re.IGNORECASE)]
    return (named or dated or [None])[0]


def _free(name: str, columns: list[str]) -> str:
    """``name``, or ``name_2``, ... when the table has a column of that name."""
    return next(f"{name}_{k}" if k > 1 else name for k in range(1, len(columns) + 2)
                if (f"{name}_{k}" if k > 1 else name) not in columns)


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
              "unit_column": "11_experimentation", "thresholds": "12_monitoring", "min_rows": "00_problem_definition",
              "min_rows_per_class": "00_problem_definition", "threshold": "07_model_evaluation"}
MAX_WINDOWS = 12  # monitoring's window (a day, a week, a month): the shortest cutting the held-out rows into at most this many


MIN_WINDOW_ROWS = 20  # monitoring's min_rows never goes below this: a window of fewer rows tells nothing


def monitoring(table: pd.DataFrame, time_column: str | None) -> dict[str, Any]:
    """12's settings for a table with no production period, whose held-out rows stand in for one: the
    reference is the training split; the window cuts the out-of-time rows into at most ``MAX_WINDOWS``;
    ``min_rows`` (the rows a window or a drift chunk needs for a verdict) is the default, or on a small table
    what a typical window and a third of the training rows hold; as many drift chunks as that allows."""
    settings = resolve(["04_feature_engineering", "12_monitoring"])
    features, watch = settings["04_feature_engineering"], settings["12_monitoring"]
    in_time = len(table) * (1 - features["out_of_time_share"] if time_column else 1)
    train = in_time * (1 - features["test_size"] - features["validation_size"])
    chosen: dict[str, Any] = {"reference_split": "train",
                              # an absolute date moves with time by construction
                              "exclude_features": [f"{sanitise(time_column)}_year"] if time_column else []}
    per_window = in_time * features["test_size"]  # no time column: the test split is one window
    if time_column:
        times = pd.to_datetime(table[time_column], errors="coerce", format="mixed").dropna().sort_values()
        held_out = times.iloc[int(len(times) * (1 - features["out_of_time_share"])):]
        days = (held_out.iloc[-1] - held_out.iloc[0]).days + 1 if len(held_out) else 1
        chosen["window"] = next((w for w, d in (("D", 1), ("W", 7)) if days / d <= MAX_WINDOWS), "M")
        per_window = float(held_out.dt.to_period(chosen["window"]).value_counts().median()) if len(held_out) else 0
    chosen["12_monitoring/min_rows"] = int(max(MIN_WINDOW_ROWS, min(watch["min_rows"], train // 3, per_window)))
    chosen["drift"] = {"chunks": max(3, min(watch["drift"]["chunks"], int(train // chosen["12_monitoring/min_rows"])))}
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
        target = paths.PARAMS / PROJECT_FILE if key in PROJECT_KEYS or key == "serving" else \
            phase_file(phase or PHASE_KEYS[key])
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
    parser = argparse.ArgumentParser(prog="lifecycle init", description="Write params/ for your own table.")
    parser.add_argument("--data", required=True, metavar="PATH_OR_URL",
                        help=f"a {table_formats.titles()} file under the project, or a SQLAlchemy URL (with --query)")
    parser.add_argument("--target", required=True, metavar="COLUMN", help="the column to predict")
    parser.add_argument("--query", metavar="SQL_OR_TABLE", help="for a database URL: a table name or a query")
    parser.add_argument("--events", metavar="PATH",
                        help=f"an optional events table ({table_formats.titles()}, same kind)")
    parser.add_argument("--task", choices=("binary", "multiclass", "regression"))
    parser.add_argument("--id", dest="id_column", metavar="COLUMN")
    parser.add_argument("--time", dest="time_column", metavar="COLUMN")
    parser.add_argument("--name", metavar="NAME", help="project and model name (default: the table's name)")
    args = parser.parse_args(argv)
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
        named = table_formats.stem(source["path"]) if source.get("path") else Path(source["query"]).stem
        name = _slug(args.name or named)
        overlay = {"project_name": name, "source": source, "model_name": name, "serving": {"model": name},
                   "business_question": f"What {args.target} will each new row have? (Write the business question "
                                        "here, and who acts on the answer.)",
                   "decision": "Write the decision the predictions inform, and when it is made.",
                   "intended_use": f"Predict {args.target} for new rows like those of {_named(args.data, args.query)}.",
                   "limitations": ["Trained on one table; check it still describes the rows you score "
                                   "(12_monitoring)."],
                   **monitoring(table, choices.overlay["time_column"]), **choices.overlay}
        overlay["unit_column"] = choices.overlay["id_column"]  # an experiment on this table randomises its rows
        written = write(overlay)
    except InitError as exc:
        for _, dest in filter(None, copied):  # nothing half-done: a copy made for params not written goes
            dest.unlink(missing_ok=True)
        print(f"lifecycle init: {exc}", file=sys.stderr)
        return 2
    for origin, dest in filter(None, copied):
        print(f"copied {origin} to {paths.relative(dest)} (the project keeps its own copy; data/ is git-ignored)")
    where = f" at {database_url.shown(args.data)}" if source["kind"] == "sql" else ""
    print(f"{len(table):,} rows x {table.shape[1]} columns from {_named(args.data, args.query)}{where}; "
          f"target {args.target}")
    for sentence in choices.said:
        print(f"  inferred {sentence}")
    print("wrote " + ", ".join(paths.relative(p) for p in written) + "; next: lifecycle run (or make run)")
    return 0


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
