from pathlib import Path

import pytest
import yaml
from conftest import run_in

from lifecycle.core import params
from lifecycle.core.params import ParamsError, deep_merge, parse_set, resolve

PHASE = "00_problem_definition"


def test_defaults_validate_and_are_json_ready():
    resolved = resolve([PHASE])[PHASE]
    assert resolved["task"] == "binary"
    assert resolved["labels"]["cutoff"] == "2025-12-01"  # dates as ISO strings, as papermill injects them


def test_set_parses_yaml_values_and_nested_keys():
    assert parse_set("seed=7") == {"seed": 7}
    assert parse_set("simulation.n_users=2000") == {"simulation": {"n_users": 2000}}
    assert parse_set("target=churned") == {"target": "churned"}
    with pytest.raises(ParamsError, match="expected key=value"):
        parse_set("seed")


def test_deep_merge_keeps_siblings_and_records_origin():
    base = {"simulation": {"n_users": 5000, "seed": 1}, "task": "binary"}
    origin: dict = {}
    deep_merge(base, {"simulation": {"n_users": 10}}, origin, "extra.yaml")
    assert base == {"simulation": {"n_users": 10, "seed": 1}, "task": "binary"}
    assert origin == {("simulation", "n_users"): "extra.yaml"}


def test_a_data_mapping_is_replaced_whole_so_entries_can_be_dropped():
    resolved = resolve(["02_data_preparation"], sets=["valid_ranges={spend: [0, 100]}"])["02_data_preparation"]
    assert resolved["valid_ranges"] == {"spend": [0.0, 100.0]}


def test_set_overrides_one_nested_key():
    resolved = resolve([PHASE], sets=["simulation.n_users=2000"])[PHASE]
    assert resolved["simulation"]["n_users"] == 2000
    assert resolved["simulation"]["start"] == "2025-01-01"


def test_extra_file_layers_over_phase_file(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("metric_bar: 0.8\nseed: 3\n")
    resolved = resolve([PHASE], extra_files=[extra])[PHASE]
    assert (resolved["metric_bar"], resolved["seed"]) == (0.8, 3)


@pytest.mark.parametrize(
    "setting, expected",
    [
        ("seed=abc", r"--set seed=abc: input should be a valid integer, got 'abc'"),
        ("sede=4", r"unknown key 'sede' \(did you mean 'seed'\?\)"),
        ("task=clustering", r"--set task=clustering: input should be 'binary', 'multiclass' or 'regression'"),
        ("metric=r2", r"'r2' does not suit task 'binary'; for task 'binary' choose one of roc_auc"),
        ("metric=rmsle", r"'rmsle' is not a metric this template knows"),
        ("min_rows=0", r"--set min_rows=0: input should be greater than or equal to 1, got 0"),
        ("source.kind=csv", r"source.kind 'csv' needs source.path"),
        ("source.paht=x", r"unknown key 'source.paht' \(did you mean 'path'\?\)"),
        ("labels.cutoff=2024-01-01", r"simulation.start \(2025-01-01\) must come before labels.cutoff"),
        ("positive_class=null", r"required when task is 'binary'"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_allowed(setting, expected):
    with pytest.raises(ParamsError, match=expected):
        resolve([PHASE], sets=[setting])


def test_missing_data_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match=r"source.path: file 'data/mine.csv' does not exist"):
        resolve([PHASE], sets=["source.kind=csv", "source.path=data/mine.csv"])


def test_regression_drops_the_positive_class_rule():
    resolved = resolve([PHASE], sets=["task=regression", "metric=rmse", "positive_class=null"])[PHASE]
    assert resolved["metric"] == "rmse"


def test_bad_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\n  nested: [\n")
    with pytest.raises(ParamsError, match=r"bad.yaml: not valid YAML \(line \d+"):
        resolve([PHASE], extra_files=[bad])


def test_yaml_is_read_with_the_safe_loader(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("seed: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        resolve([PHASE], extra_files=[evil])


def test_notebook_load_validates_the_namespace():
    namespace = {**resolve([PHASE])[PHASE], "seed": -1, "unrelated": object()}
    with pytest.raises(ParamsError, match="seed: input should be greater than or equal to 0"):
        params.load(PHASE, namespace)


def _edit(project: Path, name: str, **changes) -> None:
    path = project / "params" / name
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(
    "file, changes, expected",
    [
        ("project.yaml", {"sede": 1}, "params/project.yaml: unknown key 'sede' (did you mean 'seed'?)"),
        ("00_problem_definition.yaml", {"metric_bar": "high"}, "params/00_problem_definition.yaml: metric_bar:"),
        ("project.yaml", {"task": "ranking"}, "params/project.yaml: task: input should be 'binary'"),
        (
            "project.yaml",
            {"source": {"kind": "parquet", "path": "data/users.parquet"}},
            "params/project.yaml: source: source.path: file 'data/users.parquet' does not exist",
        ),
    ],
)
def test_cli_stops_before_any_notebook_with_one_message(project, file, changes, expected):
    _edit(project, file, **changes)
    for command in (["lifecycle", "run"], ["lifecycle", "params", "check"]):
        result = run_in(project, *command)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr
        assert "Traceback" not in result.stderr
        assert not (project / "reports").exists()  # nothing started


def test_params_check_passes_on_the_defaults(project):
    result = run_in(project, "lifecycle", "params", "check")
    assert result.returncode == 0, result.stderr
    assert "params OK" in result.stdout


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///data/predictions.db",
        "sqlite:////abs/folder/log.db",
        "sqlite+pysqlite:///log.db",
        "sqlite:///data/log.db?timeout=5",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:log?mode=ro&uri=true",
        "sqlite:///C:/log.db",
        "postgresql://user:secret@host/db",
        "not a url",
    ],
)
def test_the_batch_store_beside_a_log_is_what_sqlalchemy_would_build(url):
    """batch_store splits a plain SQLite file URL itself (SQLAlchemy's import is most of a no-change run):
    the answer is the one SQLAlchemy's parser gives."""
    from pathlib import PurePosixPath

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from lifecycle.core.settings import batch_store

    try:
        parsed = make_url(url)
    except ArgumentError:
        expected = url
    else:
        database = parsed.database or ""
        if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
            expected = url
        else:
            beside = PurePosixPath(database).with_name(f"batch_{PurePosixPath(database).name}")
            expected = parsed.set(database=str(beside)).render_as_string(hide_password=False)
    assert batch_store(url) == expected
