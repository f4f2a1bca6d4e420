"""What a user's table suggests to ``lifecycle init``: the task, the id and time columns, the rows the
target needs, a starting bar from the obvious model, the precision a test split of this size gives and
monitoring's window and minimum rows."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pandas as pd

from lifecycle.core.params import resolve
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


def infer(
    table: pd.DataFrame,
    target: str,
    task: str | None = None,
    id_column: str | None = None,
    time_column: str | None = None,
) -> Choices:
    """The roles and settings for ``table``; what was inferred is said in ``said``."""
    columns = [str(c) for c in table.columns]
    for role, column in (("--target", target), ("--id", id_column), ("--time", time_column)):
        if column is not None and column not in columns:
            close = [c for c in columns if c.lower() == column.lower()]
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InitError(f"{role} {column}: no such column{hint}; the table's columns: {', '.join(columns)}")
    labels = table[target].dropna()
    if labels.nunique() < 2:
        raise InitError(
            f"target {target} has {'one value' if labels.nunique() else 'no values'}"
            f"{' (' + repr(_plain(labels.iloc[0])) + ')' if len(labels) else ''} on every row: there is "
            "nothing to predict; choose a column that varies"
        )
    said = []
    if task is None:
        task = _task(labels)
        said.append(f"task: {task} ({labels.nunique()} distinct values of {target})")
    others = [c for c in columns if c != target]
    make_id = False
    if id_column is None:
        id_column = _id_column(table, others)
        said.append(
            f"id column: {id_column}"
            if id_column
            else f"id column: none, so 01 makes {_free(MADE_ID, columns)} (a stable hash of each row's values; "
            "monitoring and retraining join labels to predictions by it; never a model input)"
        )
        make_id, id_column = id_column is None, id_column or _free(MADE_ID, columns)
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
    said.append(
        f"metric: {overlay['metric']}, bar {bar:g}: what {naive}, so PASS means better than the obvious "
        "model; set your own in params/00_problem_definition.yaml"
    )
    said.append(precision(len(labels), time_column is not None, overlay["metric"], half_width))
    if task == "regression":  # 12: an error's worsening, in its units
        overlay["thresholds"] = {"performance_drop": _round(0.1 * (labels - labels.median()).abs().mean())}
    return Choices(overlay, said)


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


OBVIOUS_MODEL = "a depth-2 decision tree (the obvious if-then rule) scores in 5-fold cross-validation on this table"


def starting_bar(
    table: pd.DataFrame, target: str, task: str, overlay: dict[str, Any], roles: list, seed: int = 42
) -> tuple[float, str, float]:
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
        truth, output = (
            ((y == positive).to_numpy(), proba[:, classes.index(positive)])
            if task == "binary"
            else (y.to_numpy(), proba)
        )
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
        said += (
            f"; fewer than small_test_rows ({testing['small_test_rows']:,}), so 09 judges the model by repeated "
            f"cross-validation on all {in_time:,} in-time rows instead, about ±{at(in_time):.3f}"
        )
    return said + " (95% intervals, from the obvious model's errors)"


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
