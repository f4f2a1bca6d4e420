"""``lifecycle init``: params/ for a user's own table, inferred roles said, bad input refused in one line."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_in

from lifecycle.project.init import InitError, infer, monitoring


def _shops(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = rng.gamma(3.0, 20.0, n)
    return pd.DataFrame(
        {
            "shop_id": np.arange(100, 100 + n),
            "opened": pd.date_range("2023-01-01", periods=n, freq="12h").strftime("%Y-%m-%d").to_numpy(),
            "region": rng.choice(["north", "south", "east"], n),
            "size_m2": np.where(rng.random(n) < 0.05, np.nan, size),
            "staff": rng.integers(2, 30, n),
            "tier": rng.choice(["gold", "silver", "bronze"], n),
            "open_late": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
            "revenue": 50 * size + rng.normal(0, 300, n),
        }
    )


@pytest.mark.parametrize(
    "target, task, extra",
    [
        ("revenue", "regression", {"metric": "mae"}),
        ("tier", "multiclass", {"metric": "f1_macro", "positive_class": None}),
        (
            "open_late",
            "binary",
            {
                "metric": "roc_auc",
                "positive_class": "yes",
                "threshold": {"rule": "max_f1", "cost_false_positive": 1, "cost_false_negative": 1},
            },
        ),
        ("staff", "regression", {}),  # whole numbers, but many of them
    ],
)
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
    assert choices.overlay["time_column"] is None
    assert "no out-of-time set" in " ".join(choices.said)
    assert choices.overlay["make_id"] and choices.overlay["id_column"] == "row_id"
    assert "01 makes row_id (a stable hash of each row's values" in " ".join(choices.said)


def test_the_starting_bar_is_the_obvious_model_and_the_rules_fit_the_table():
    """The bar is what a depth-2 tree scores out of fold; sufficiency is what the table holds; init says how
    precise the held-out metric will be at this size."""
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeRegressor

    table = _shops()
    regression = infer(table, "revenue")
    tree = DecisionTreeRegressor(max_depth=2, random_state=42)
    inputs = table.drop(columns=["revenue", "shop_id", "opened"]).assign(
        region=lambda t: pd.factorize(t.region)[0],
        tier=lambda t: pd.factorize(t.tier)[0],
        open_late=lambda t: pd.factorize(t.open_late)[0],
    )
    from lifecycle.modeling.select import folds

    by_hand = -cross_val_score(
        tree, inputs, table["revenue"], cv=folds("regression", 5, 42), scoring="neg_mean_absolute_error"
    ).mean()
    assert regression.overlay["metric_bar"] == pytest.approx(by_hand, rel=0.05)
    said = " ".join(regression.said)
    assert "a depth-2 decision tree (the obvious if-then rule)" in said
    assert regression.overlay["min_rows"] == 600 and "precision: the test split will hold about" in said
    assert "09 judges the model by repeated cross-validation" in said  # 102 test rows: fewer than 500
    classes = infer(table, "tier").overlay
    assert classes["min_rows_per_class"] == min(100, int(table["tier"].value_counts().min()) // 10 * 10)
    big = infer(_shops(6000), "open_late")
    assert big.overlay["min_rows"] == 1000 and "repeated cross-validation" not in " ".join(big.said)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda t: t.head(40), "has 40 labelled rows: fewer than 50"),
        (lambda t: t.assign(tier=["rare"] * 4 + list(t.tier[4:])), "class 'rare' of tier has 4 rows: fewer than 10"),
    ],
)
def test_below_the_floor_no_model_is_credible_and_init_says_so(change, words):
    with pytest.raises(InitError, match=re.escape(words)):
        infer(change(_shops()), "tier")


def test_a_unique_date_is_a_time_never_an_id_and_only_id_names_are_ids():
    days = pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=300).strftime("%Y-%m-%d"),
            "code": [f"x{i}" for i in range(300)],
            "temp": np.arange(300) % 17,
            "rain": np.where(np.arange(300) % 3 == 0, "yes", "no"),
        }
    )
    choices = infer(days, "rain")
    assert choices.overlay["time_column"] == "date" and choices.overlay["id_column"] == "code"
    unnamed = infer(days.rename(columns={"code": "name"}), "rain")
    assert unnamed.overlay["id_column"] == "row_id" and unnamed.overlay["make_id"]
    clash = infer(days.rename(columns={"code": "row_id"}).assign(row_id=lambda t: t.row_id.str[:1]), "rain")
    assert clash.overlay["id_column"] == "row_id_2"


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda t: t.assign(revenue=5.0), "target revenue has one value (5.0) on every row"),
        (lambda t: t.assign(revenue=np.nan), "target revenue has no values"),
        (lambda t: t.assign(revenue=[f"c{i}" for i in range(len(t))]), "too many classes"),
    ],
)
def test_a_target_that_cannot_be_learned_is_refused(change, words):
    with pytest.raises(InitError, match=re.escape(words)):
        infer(change(_shops()), "revenue")


def test_init_writes_params_that_pass_the_checks_and_keeps_their_comments(project):
    (project / "data").mkdir()
    _shops(400).to_csv(project / "data" / "small.csv", index=False)
    small = run_in(project, "lifecycle", "init", "--data", "data/small.csv", "--target", "revenue")
    assert small.returncode == 0 and "inferred data sufficiency: at least 400 labelled rows" in small.stdout
    _shops(1200).to_csv(project / "data" / "shops.csv", index=False)
    done = run_in(project, "lifecycle", "init", "--data", "data/shops.csv", "--target", "revenue")
    assert done.returncode == 0, done.stderr
    assert "inferred task: regression" in done.stdout and "inferred time column: opened" in done.stdout
    text = (project / "params" / "project.yaml").read_text()
    assert "task: regression             # binary | multiclass | regression" in text  # comments kept
    settings = yaml.safe_load(text)
    assert settings["source"] == {
        "kind": "csv",
        "path": "data/shops.csv",
        "events_path": None,
        "url": None,
        "query": None,
        "events_query": None,
        "make_id": False,
    }
    assert (settings["project_name"], settings["serving"]["model"], settings["id_column"]) == (
        "shops",
        "shops",
        "shop_id",
    )
    card = yaml.safe_load((project / "params" / "00_problem_definition.yaml").read_text())
    assert card["metric"] == "mae" and card["positive_class"] is None
    assert yaml.safe_load((project / "params" / "02_data_preparation.yaml").read_text())["valid_ranges"] == {}
    assert yaml.safe_load((project / "params" / "09_model_testing.yaml").read_text())["model_name"] == "shops"
    assert run_in(project, "lifecycle", "params", "check").returncode == 0
    collected = run_in(project, "lifecycle", "run", "--to", "01")
    assert collected.returncode == 0, collected.stdout + collected.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["--data", "data/shops.csv", "--target", "Revenue"],
            "--target Revenue: no such column (did you mean revenue?)",
        ),
        (["--data", "data/const.csv", "--target", "flag"], "target flag has one value (1) on every row"),
        (["--data", "data/shops.xlsx", "--target", "revenue"], "unsupported file type '.xlsx'"),
        (["--data", "data/missing.csv", "--target", "revenue"], "no such file"),
        (["--data", "sqlite:///data/x.db", "--target", "revenue"], "name the table or give a query with --query"),
    ],
)
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
    assert dated == {
        "reference_split": "train",
        "drift": {"chunks": 10},
        "exclude_features": ["opened_year"],
        "window": "M",
        "12_monitoring/min_rows": 61,
    }  # a month holds about 61 openings
    assert monitoring(_shops(600).assign(opened="2024-01-01"), "opened")["window"] == "D"
    undated = monitoring(_shops(8000), None)
    assert undated == {
        "reference_split": "train",
        "drift": {"chunks": 10},
        "exclude_features": [],
        "12_monitoring/min_rows": 200,
    }
    small = monitoring(_shops(200), None)  # 120 training rows, 40 test rows: one window of 40
    assert small["12_monitoring/min_rows"] == 40 and small["drift"] == {"chunks": 3}
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


def test_a_table_outside_the_project_is_copied_under_data(project, tmp_path):
    outside = tmp_path / "elsewhere" / "shops.csv"
    outside.parent.mkdir()
    _shops(300).to_csv(outside, index=False)
    done = run_in(project, "lifecycle", "init", "--data", str(outside), "--target", "revenue")
    assert done.returncode == 0, done.stderr
    assert f"copied {outside} to data/shops.csv" in done.stdout
    assert (project / "data" / "shops.csv").read_bytes() == outside.read_bytes()
    assert yaml.safe_load((project / "params" / "project.yaml").read_text())["source"]["path"] == "data/shops.csv"
    _shops(301).to_csv(outside, index=False)  # another table of the same name: never replaced
    clash = run_in(project, "lifecycle", "init", "--data", str(outside), "--target", "revenue")
    assert clash.returncode == 2 and "data/shops.csv already exists and differs" in clash.stderr
    assert len(pd.read_csv(project / "data" / "shops.csv")) == 300
    bad = tmp_path / "elsewhere" / "bad.csv"
    _shops(300).assign(revenue=1.0).to_csv(bad, index=False)  # refused after reading: nothing copied
    assert run_in(project, "lifecycle", "init", "--data", str(bad), "--target", "revenue").returncode == 2
    assert not (project / "data" / "bad.csv").exists()


def test_texts_yaml_would_read_as_something_else_are_written_in_quotes(tmp_path):
    """params/ are read with PyYAML (YAML 1.1): an unquoted positive class yes would become True."""
    from lifecycle.project.init import _edited

    path = tmp_path / "card.yaml"
    path.write_text("positive_class: null   # binary only\nmetric: roc_auc\nclasses: [a]\n")
    values = {"positive_class": "yes", "metric": "f1", "classes": ["on", "1.5", "b", ""], "note": "a: b"}
    text = _edited(path, values)
    assert yaml.safe_load(text) == values
    assert "positive_class: 'yes'  # binary only" in text and "metric: f1\n" in text  # plain texts stay plain


def test_a_boolean_positive_class_against_text_classes_says_to_quote_it():
    from sklearn.dummy import DummyClassifier

    from lifecycle.modeling.evaluate import positive_scores

    X, y = pd.DataFrame({"x": [0, 1, 0, 1]}), pd.Series(["no", "yes", "no", "yes"])
    with pytest.raises(
        ValueError,
        match=r"positive_class True is not a class the model learned \(\['no', 'yes'\]\); "
        r"fix positive_class in params/00_problem_definition.yaml \(in quotes",
    ):
        positive_scores(DummyClassifier().fit(X, y), X, True)


def test_a_database_table_with_its_password_in_the_environment(project, postgres_cluster, monkeypatch):
    """init reads a PostgreSQL table through a URL whose password is ${VAR}: params/ keep the reference, what it
    prints and the model card's intended use show no password, and 01 reads the table the same way."""
    import sqlalchemy as sa
    from conftest import POSTGRES_APP_PASSWORD as PASSWORD
    from conftest import POSTGRES_APP_ROLE as ROLE

    database = postgres_cluster.new_database()
    where = f"@/{database}?host={postgres_cluster.folder}"
    before = {p.name: p.read_text() for p in (project / "params").iterdir()}
    superuser = run_in(
        project,
        "lifecycle",
        "init",
        "--data",
        postgres_cluster.url(database),
        "--query",
        "shops",
        "--target",
        "revenue",
    )
    assert (
        superuser.returncode == 2
        and "cannot read 'shops' from postgresql+psycopg://postgres@/" in superuser.stderr
        and 'relation "shops" does not exist' in superuser.stderr
    ), superuser.stderr
    engine = sa.create_engine(f"postgresql+psycopg://{ROLE}:{PASSWORD}{where}")  # the role that reads it owns it
    _shops().to_sql("shops", engine, index=False)
    engine.dispose()
    refused = run_in(
        project,
        "lifecycle",
        "init",
        "--data",
        f"postgresql://{ROLE}:{PASSWORD}{where}",
        "--query",
        "shops",
        "--target",
        "revenue",
    )
    assert (
        refused.returncode == 2
        and "the URL holds a password, which params/ (kept in git) would keep" in refused.stderr
        and PASSWORD not in refused.stderr + refused.stdout
    )
    assert {p.name: p.read_text() for p in (project / "params").iterdir()} == before

    monkeypatch.setenv("SHOP_PASSWORD", PASSWORD)
    url = f"postgresql://{ROLE}:${{SHOP_PASSWORD}}{where}"
    done = run_in(project, "lifecycle", "init", "--data", url, "--query", "shops", "--target", "revenue")
    assert done.returncode == 0, done.stderr
    assert f"600 rows x 8 columns from table shops at postgresql://{ROLE}:***@/{database}?host=" in done.stdout
    assert yaml.safe_load((project / "params" / "project.yaml").read_text())["source"]["url"] == url
    card = yaml.safe_load((project / "params" / "09_model_testing.yaml").read_text())
    assert card["intended_use"] == "Predict revenue for new rows like those of table shops."
    collected = run_in(project, "lifecycle", "run", "--to", "01")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    written = [
        p
        for folder in ("params", "reports", "notebooks")
        for p in (project / folder).rglob("*")
        if p.is_file() and PASSWORD in p.read_text(errors="replace")
    ]
    assert written == [] and PASSWORD not in done.stdout + collected.stdout + collected.stderr
