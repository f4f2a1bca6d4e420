"""``lifecycle init``: params/ for a user's own table, inferred roles said, bad input refused in one line."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_in

from lifecycle.init import InitError, infer, monitoring


def _shops(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = rng.gamma(3.0, 20.0, n)
    return pd.DataFrame({
        "shop_id": np.arange(100, 100 + n),
        "opened": pd.date_range("2023-01-01", periods=n, freq="12h").strftime("%Y-%m-%d").to_numpy(),
        "region": rng.choice(["north", "south", "east"], n),
        "size_m2": np.where(rng.random(n) < 0.05, np.nan, size),
        "staff": rng.integers(2, 30, n),
        "tier": rng.choice(["gold", "silver", "bronze"], n),
        "open_late": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
        "revenue": 50 * size + rng.normal(0, 300, n),
    })


@pytest.mark.parametrize("target, task, extra", [
    ("revenue", "regression", {"metric": "mae"}),
    ("tier", "multiclass", {"metric": "f1_macro", "metric_bar": 0.67, "positive_class": None}),
    ("open_late", "binary", {"metric": "roc_auc", "metric_bar": 0.75, "positive_class": "yes"}),
    ("staff", "regression", {}),  # whole numbers, but many of them
])
def test_the_task_and_roles_are_inferred_and_said(target, task, extra):
    choices = infer(_shops(), target)
    assert choices.overlay["task"] == task and choices.overlay["target"] == target
    assert (choices.overlay["id_column"], choices.overlay["time_column"]) == ("shop_id", "opened")
    assert {k: choices.overlay[k] for k in extra} == extra
    assert f"task: {task}" in choices.said[0] and "id column: shop_id" in choices.said[1]


def test_what_is_given_is_kept_and_a_table_without_ids_or_dates_says_so():
    table = _shops().drop(columns=["shop_id", "opened"])
    choices = infer(table, "staff", task="multiclass")
    assert choices.overlay["task"] == "multiclass" and not any(s.startswith("task") for s in choices.said)
    assert choices.overlay["id_column"] is None and choices.overlay["time_column"] is None
    assert "no out-of-time set" in " ".join(choices.said)
    assert "12_monitoring joins labels to predictions by id and stops without one" in " ".join(choices.said)
    regression = infer(_shops(), "revenue")
    naive = (_shops()["revenue"] - _shops()["revenue"].median()).abs().mean()
    assert regression.overlay["metric_bar"] == pytest.approx(0.8 * naive, rel=1e-2)


@pytest.mark.parametrize("change, words", [
    (lambda t: t.assign(revenue=5.0), "target revenue has one value (5.0) on every row"),
    (lambda t: t.assign(revenue=np.nan), "target revenue has no values"),
    (lambda t: t.assign(revenue=[f"c{i}" for i in range(len(t))]), "too many classes"),
])
def test_a_target_that_cannot_be_learned_is_refused(change, words):
    with pytest.raises(InitError, match=re.escape(words)):
        infer(change(_shops()), "revenue")


def test_init_writes_params_that_pass_the_checks_and_keeps_their_comments(project):
    (project / "data").mkdir()
    _shops(400).to_csv(project / "data" / "small.csv", index=False)
    small = run_in(project, "lifecycle", "init", "--data", "data/small.csv", "--target", "revenue")
    assert small.returncode == 0 and "note: the table has 400 rows, fewer than min_rows (1,000)" in small.stdout
    _shops(1200).to_csv(project / "data" / "shops.csv", index=False)
    done = run_in(project, "lifecycle", "init", "--data", "data/shops.csv", "--target", "revenue")
    assert done.returncode == 0, done.stderr
    assert "inferred task: regression" in done.stdout and "inferred time column: opened" in done.stdout
    assert "note:" not in done.stdout
    text = (project / "params" / "project.yaml").read_text()
    assert "task: regression             # binary | multiclass | regression" in text  # comments kept
    settings = yaml.safe_load(text)
    assert settings["source"] == {"kind": "csv", "path": "data/shops.csv", "events_path": None, "url": None,
                                  "query": None, "events_query": None}
    assert (settings["project_name"], settings["serving"]["model"], settings["id_column"]) == ("shops", "shops",
                                                                                               "shop_id")
    card = yaml.safe_load((project / "params" / "00_problem_definition.yaml").read_text())
    assert card["metric"] == "mae" and card["positive_class"] is None
    assert yaml.safe_load((project / "params" / "02_data_preparation.yaml").read_text())["valid_ranges"] == {}
    assert yaml.safe_load((project / "params" / "09_model_testing.yaml").read_text())["model_name"] == "shops"
    assert run_in(project, "lifecycle", "params", "check").returncode == 0
    collected = run_in(project, "lifecycle", "run", "--to", "01")
    assert collected.returncode == 0, collected.stdout + collected.stderr


@pytest.mark.parametrize("args, words", [
    (["--data", "data/shops.csv", "--target", "Revenue"], "--target Revenue: no such column (did you mean revenue?)"),
    (["--data", "data/const.csv", "--target", "flag"], "target flag has one value (1) on every row"),
    (["--data", "data/shops.xlsx", "--target", "revenue"], "unsupported file type '.xlsx'"),
    (["--data", "data/missing.csv", "--target", "revenue"], "no such file"),
    (["--data", "sqlite:///data/x.db", "--target", "revenue"], "name the table or give a query with --query"),
])
def test_bad_input_fails_with_one_line_and_leaves_params_untouched(project, args, words):
    (project / "data").mkdir()
    _shops().to_csv(project / "data" / "shops.csv", index=False)
    _shops().assign(flag=1).to_csv(project / "data" / "const.csv", index=False)
    (project / "data" / "shops.xlsx").write_bytes(b"PK\x03\x04")
    before = {p.name: p.read_text() for p in (project / "params").iterdir()}
    failed = run_in(project, "lifecycle", "init", *args)
    assert failed.returncode == 2 and words in failed.stderr, failed.stderr
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    assert {p.name: p.read_text() for p in (project / "params").iterdir()} == before


def test_monitoring_compares_the_held_out_rows_with_training_in_windows_that_fit_them():
    dated = monitoring(_shops(2000), "opened")  # the latest 15% of 1,000 days of openings: about 150 days
    assert dated == {"reference_split": "train", "drift": {"chunks": 5}, "exclude_features": ["opened_year"],
                     "window": "M"}
    assert monitoring(_shops(600).assign(opened="2024-01-01"), "opened")["window"] == "D"
    undated = monitoring(_shops(8000), None)
    assert undated == {"reference_split": "train", "drift": {"chunks": 10}, "exclude_features": []}
    assert infer(_shops(), "revenue").overlay["thresholds"]["performance_drop"] > 1  # in the error's own units


def test_the_simulator_params_are_kept_for_the_unit_tests_the_first_time_only(project):
    (project / "data").mkdir()
    (project / "tests").mkdir()
    _shops(400).to_csv(project / "data" / "shops.csv", index=False)
    simulated = (project / "params" / "project.yaml").read_text()
    first = run_in(project, "lifecycle", "init", "--data", "data/shops.csv", "--target", "revenue")
    assert first.returncode == 0 and "tests/simulator_params" in first.stdout, first.stderr
    kept = project / "tests" / "simulator_params"
    assert (kept / "project.yaml").read_text() == simulated and len(list(kept.glob("*.yaml"))) == 15
    again = run_in(project, "lifecycle", "init", "--data", "data/shops.csv", "--target", "tier")
    assert again.returncode == 0 and "tests/simulator_params" not in again.stdout
    assert (kept / "project.yaml").read_text() == simulated


def test_texts_yaml_would_read_as_something_else_are_written_in_quotes(tmp_path):
    """params/ are read with PyYAML (YAML 1.1): an unquoted positive class yes would become True."""
    from lifecycle.init import _edited

    path = tmp_path / "card.yaml"
    path.write_text("positive_class: null   # binary only\nmetric: roc_auc\nclasses: [a]\n")
    values = {"positive_class": "yes", "metric": "f1", "classes": ["on", "1.5", "b", ""], "note": "a: b"}
    text = _edited(path, values)
    assert yaml.safe_load(text) == values
    assert "positive_class: 'yes'  # binary only" in text and "metric: f1\n" in text  # plain texts stay plain


def test_a_boolean_positive_class_against_text_classes_says_to_quote_it():
    from sklearn.dummy import DummyClassifier

    from lifecycle.evaluate import positive_scores

    X, y = pd.DataFrame({"x": [0, 1, 0, 1]}), pd.Series(["no", "yes", "no", "yes"])
    with pytest.raises(ValueError, match=r"positive_class True is not a class the model learned \(\['no', 'yes'\]\); "
                                         r"fix positive_class in params/00_problem_definition.yaml \(in quotes"):
        positive_scores(DummyClassifier().fit(X, y), X, True)
