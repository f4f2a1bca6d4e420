"""What a user's table suggests to ``lifecycle init``: the task, the id and time columns, the rows the
target needs, a starting bar from the obvious model, the precision a test split of this size gives and
monitoring's window and minimum rows."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pandas as pd

from lifecycle.core.params import resolve
from lifecycle.data.events import sanitise
from lifecycle.data.prepare import read_as_dates
from lifecycle.project.baseline import precision, starting_bar

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


def infer(
    table: pd.DataFrame,
    target: str,
    task: str | None = None,
    id_column: str | None = None,
    time_column: str | None = None,
) -> Choices:
    """The roles and settings for ``table``; what was inferred is said in ``said``."""
    columns = [str(c) for c in table.columns]
    _require_columns(columns, {"--target": target, "--id": id_column, "--time": time_column})
    labels = table[target].dropna()
    _require_varying(labels, target)
    said = []
    if task is None:
        task = _task(labels)
        said.append(f"task: {task} ({labels.nunique()} distinct values of {target})")
    others = [c for c in columns if c != target]
    make_id = False
    if id_column is None:
        id_column, make_id, sentence = _inferred_id(table, others, columns)
        said.append(sentence)
    if time_column is None:
        time_column = _time_column(table, [c for c in others if c != id_column])
        said.append(
            f"time column: {time_column}" if time_column else "time column: none (no date column; no out-of-time set)"
        )
    overlay: dict[str, Any] = {
        "task": task,
        "target": target,
        "id_column": id_column,
        "time_column": time_column,
        "valid_ranges": {},
        "make_id": make_id,
    }
    if task == "binary":
        settings, sentence = _positive_class(labels)
        overlay.update(settings)
        said.append(sentence)
    else:
        overlay["positive_class"] = None
    overlay["metric"] = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "mae"}[task]
    rules, rule_said = requirements(labels, task, target)
    overlay.update(rules)
    said.append(rule_said)
    bar, naive, half_width = starting_bar(table, target, task, overlay, [id_column, time_column])
    overlay["metric_bar"] = bar
    said.append(
        f"metric: {overlay['metric']}, bar {bar:g}: what {naive}, so PASS means better than the obvious "
        "model; set your own in params/00_problem_definition.yaml"
    )
    said.append(precision(len(labels), time_column is not None, overlay["metric"], half_width))
    if task == "regression":  # 12: an error's worsening, in its units
        overlay["thresholds"] = {"performance_drop": _round(0.1 * (labels - labels.median()).abs().mean())}
    return Choices(overlay, said)


def _require_columns(columns: list[str], named: dict[str, str | None]) -> None:
    """Refuse (``InitError``) a column named on the command line (``{option: column}``) that the table lacks."""
    for role, column in named.items():
        if column is not None and column not in columns:
            close = [c for c in columns if c.lower() == column.lower()]
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InitError(f"{role} {column}: no such column{hint}; the table's columns: {', '.join(columns)}")


def _require_varying(labels: pd.Series, target: str) -> None:
    """Refuse (``InitError``) a target with fewer than two values: there is nothing to predict."""
    if labels.nunique() < 2:
        raise InitError(
            f"target {target} has {'one value' if labels.nunique() else 'no values'}"
            f"{' (' + repr(_plain(labels.iloc[0])) + ')' if len(labels) else ''} on every row: there is "
            "nothing to predict; choose a column that varies"
        )


def _inferred_id(table: pd.DataFrame, candidates: list[str], columns: list[str]) -> tuple[str, bool, str]:
    """The id column among ``candidates`` (``_id_column``), else the one 01 makes: its name, whether 01 makes
    it, and the sentence saying so."""
    found = _id_column(table, candidates)
    if found:
        return found, False, f"id column: {found}"
    made = _free(MADE_ID, columns)
    return (
        made,
        True,
        f"id column: none, so 01 makes {made} (a stable hash of each row's values; "
        "monitoring and retraining join labels to predictions by it; never a model input)",
    )


def _positive_class(labels: pd.Series) -> tuple[dict[str, Any], str]:
    """A binary target's settings and the sentence saying them: the rarer class is the positive one, and the
    threshold rule is neutral until the user states what each error costs (the simulator's churn costs never
    carry over)."""
    counts = labels.value_counts()
    positive = _plain(counts.index[-1])
    threshold = {"rule": "max_f1", "cost_false_positive": 1, "cost_false_negative": 1}
    said = f"positive class: {positive!r} (the rarer class, {counts.iloc[-1]:,} of {len(labels):,} rows)"
    return {"positive_class": positive, "threshold": threshold}, said


def requirements(labels: pd.Series, task: str, target: str) -> tuple[dict[str, int], str]:
    """The data-sufficiency rule this table can meet: its own labelled rows and smallest class, rounded down to
    two figures (the simulator's 1,000 and 100 at most); refused below the floor where no model is credible."""
    if len(labels) < FLOOR_ROWS:
        raise InitError(
            f"target {target} has {len(labels)} labelled rows: fewer than {FLOOR_ROWS}, too few for any "
            "model to be learned and tested credibly; collect more rows"
        )
    rules = {"min_rows": min(DEFAULT_MIN_ROWS, _floor2(len(labels))), "min_rows_per_class": DEFAULT_PER_CLASS}
    said = f"data sufficiency: at least {rules['min_rows']:,} labelled rows"
    if task != "regression":
        counts = labels.value_counts()
        if counts.iloc[-1] < FLOOR_PER_CLASS:
            raise InitError(
                f"class {_plain(counts.index[-1])!r} of {target} has {counts.iloc[-1]} rows: fewer than "
                f"{FLOOR_PER_CLASS}, too few to learn it and test it; merge it into another class or "
                "drop its rows, then run init again"
            )
        rules["min_rows_per_class"] = min(DEFAULT_PER_CLASS, _floor2(int(counts.iloc[-1])))
        said += f" and {rules['min_rows_per_class']:,} of each class"
    return rules, said + (
        " (what this table holds, rounded down: 01 stops a run on less; no model is credible "
        f"below {FLOOR_ROWS} rows or {FLOOR_PER_CLASS} of a class)"
    )


def _floor2(count: int) -> int:
    """``count`` rounded down to two significant figures (569 -> 560)."""
    step = 10 ** max(len(str(count)) - 2, 0)
    return count // step * step


def _task(labels: pd.Series) -> str:
    numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    whole = numeric and bool((labels == labels.round()).all())
    if labels.nunique() == 2:
        return "binary"
    if numeric and (not whole or labels.nunique() > MAX_CLASSES):
        return "regression"
    if labels.nunique() > MAX_CLASSES:
        raise InitError(
            f"the target has {labels.nunique()} distinct text values: too many classes to learn "
            f"(at most {MAX_CLASSES}); group them, or choose another target"
        )
    return "multiclass"


def _id_column(table: pd.DataFrame, candidates: list[str]) -> str | None:
    """A column named like an id (id, user_id, id_customer, key, code, uuid) with a unique value on every row,
    and not a date: a unique date is a time (one row per day), a unique number or text may be a measurement or
    a name."""
    named = [c for c in candidates if re.search(r"(^|_)(id|uuid|key)$|^id_|^(code|uuid)$", c, re.IGNORECASE)]
    return next(
        (
            c
            for c in named
            if table[c].notna().all()
            and table[c].is_unique
            and (pd.api.types.is_integer_dtype(table[c]) or pd.api.types.is_string_dtype(table[c]))
            and read_as_dates(table[c]) is None
        ),
        None,
    )


def _time_column(table: pd.DataFrame, candidates: list[str]) -> str | None:
    dated = [c for c in candidates if read_as_dates(table[c].dropna()) is not None and table[c].notna().any()]
    named = [c for c in dated if re.search(r"date|time|_at$|day|when", c, re.IGNORECASE)]
    return (named or dated or [None])[0]


def _free(name: str, columns: list[str]) -> str:
    """``name``, or ``name_2``, ... when the table has a column of that name."""
    return next(
        f"{name}_{k}" if k > 1 else name
        for k in range(1, len(columns) + 2)
        if (f"{name}_{k}" if k > 1 else name) not in columns
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _round(value: float) -> float:
    return float(f"{value:.3g}")


MAX_WINDOWS = (
    12  # monitoring's window (a day, a week, a month): the shortest cutting the held-out rows into at most this many
)

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
    chosen: dict[str, Any] = {
        "reference_split": "train",
        # an absolute date moves with time by construction
        "exclude_features": [f"{sanitise(time_column)}_year"] if time_column else [],
    }
    per_window = in_time * features["test_size"]  # no time column: the test split is one window
    if time_column:
        times = pd.to_datetime(table[time_column], errors="coerce", format="mixed").dropna().sort_values()
        held_out = times.iloc[int(len(times) * (1 - features["out_of_time_share"])) :]
        days = (held_out.iloc[-1] - held_out.iloc[0]).days + 1 if len(held_out) else 1
        chosen["window"] = next((w for w, d in (("D", 1), ("W", 7)) if days / d <= MAX_WINDOWS), "M")
        per_window = float(held_out.dt.to_period(chosen["window"]).value_counts().median()) if len(held_out) else 0
    chosen["12_monitoring/min_rows"] = int(max(MIN_WINDOW_ROWS, min(watch["min_rows"], train // 3, per_window)))
    chosen["drift"] = {"chunks": max(3, min(watch["drift"]["chunks"], int(train // chosen["12_monitoring/min_rows"])))}
    return chosen
