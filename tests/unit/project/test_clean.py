"""``lifecycle clean``: derived outputs go; tables, snapshots, stores, the label feed and models stay;
``--all`` removes everything only when confirmed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from conftest import copy_project

from lifecycle import cli
from lifecycle.core import paths
from lifecycle.data import prepare, splits
from lifecycle.modeling import evaluate, select, train
from lifecycle.monitoring import experiment
from lifecycle.monitoring import store as monitor_store
from lifecycle.project import clean
from lifecycle.run import lockfile

KEPT = [
    "data/cars.csv",  # the user's table, where `lifecycle init` copies it
    "data/shop.db",  # a SQLite source
    "data/raw/3f2a9c1b0d4e/table.parquet",
    "data/raw/current.json",  # the snapshot 01 took
    "data/predictions.db",
    "data/batch_predictions.db",  # the service's log, the batch job's tables
    "data/monitoring/labels.parquet",  # the label feed
    "data/experiment/ab_test.csv",  # the user's experiment log (log_path)
    "models/churn/1/model.skops",
    "models/churn/aliases.json",
    "models/churn/stages.json",
]
DERIVED = [
    "data/interim/table.parquet",
    "data/processed/train.parquet",
    "data/processed/feature_schema.json",
    "data/training/final.skops",
    "data/experiment/simulated_log.parquet",
    "data/monitoring/labelled_production.parquet",
    "reports/model_card.md",
    "reports/figures/07_roc.png",
    "reports/runs/20260101-000000/run.json",
    "reports/lifecycle.lock",
]


def _settings(project: Path, name: str, **changes) -> None:
    path = project / "params" / name
    settings = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        section, _, leaf = key.rpartition(".")
        (settings[section] if section else settings)[leaf] = value
    path.write_text(yaml.safe_dump(settings))


@pytest.fixture
def made(tmp_path) -> Path:
    """A project with a file of each kind, its params naming the user's table and experiment log."""
    project = copy_project(tmp_path / "project")
    _settings(project, "project.yaml", **{"source.kind": "csv", "source.path": "data/cars.csv"})
    _settings(project, "11_experimentation.yaml", log_path="data/experiment/ab_test.csv")
    for name in KEPT + DERIVED:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(name)
    return project


def _files(project: Path, under: tuple[str, ...] = ("data", "models", "reports")) -> set[str]:
    return {p.relative_to(project).as_posix() for folder in under for p in (project / folder).rglob("*") if p.is_file()}


def test_clean_removes_what_a_run_makes_again_and_keeps_the_rest(made):
    done = clean.clean(made)
    assert _files(made) == set(KEPT)
    assert not (made / "reports").exists() and not (made / "data" / "interim").exists()
    assert sorted(done) == sorted(
        f"removed {name}"
        for name in [
            "data/interim",
            "data/processed",
            "data/training",
            "data/experiment/simulated_log.parquet",
            "data/monitoring/labelled_production.parquet",
            "reports",
        ]
    )
    assert clean.clean(made) == [] and _files(made) == set(KEPT)  # again: nothing left to remove


def test_a_derived_folder_holding_a_file_params_name_is_kept_and_said(made):
    _settings(made, "project.yaml", **{"source.events_path": "data/processed/events.parquet"})
    (made / "data" / "processed" / "events.parquet").write_text("the user's events")
    done = clean.clean(made)
    assert (made / "data/processed/events.parquet").is_file() and (made / "data/processed/train.parquet").is_file()
    assert (
        "kept data/processed: it holds data/processed/events.parquet, which params/ names; move that file "
        "out of it to clean it" in done
    )
    assert not (made / "data" / "interim").exists()


def test_the_stores_named_in_params_are_kept_wherever_they_are(made):
    _settings(made, "project.yaml", **{"store.url": "sqlite:///data/training/log.db", "store.batch_url": None})
    (made / "data" / "training" / "log.db").write_text("the service's log")
    (made / "data" / "training" / "batch_log.db").write_text("the batch job's tables")
    done = clean.clean(made)
    assert (made / "data/training/log.db").is_file() and (made / "data/training/batch_log.db").is_file()
    assert any(line.startswith("kept data/training: it holds data/training/") for line in done)


def test_nothing_is_removed_while_a_run_holds_the_project(made):
    with lockfile.exclusive(made / "reports" / ".lifecycle-run"):
        with pytest.raises(lockfile.Busy):
            clean.clean(made)
    assert _files(made) >= set(KEPT + DERIVED)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "stdin, removed", [(io.StringIO(""), False), (Terminal("no\n"), False), (Terminal("yes\n"), True)]
)
def test_clean_all_removes_everything_only_when_confirmed(made, monkeypatch, capsys, stdin, removed):
    monkeypatch.setattr(paths, "ROOT", made)
    monkeypatch.setattr("sys.stdin", stdin)
    code = cli.main(["clean", "--all"])
    out, err = capsys.readouterr()
    if removed:
        assert code == 0 and not any((made / name).exists() for name in ("data", "models", "reports"))
        assert (made / "params" / "project.yaml").is_file() and (made / "src").is_dir()
    elif stdin.isatty():
        assert code == 0 and out.startswith("Delete data/, models/, reports/ in ") and "Type yes to delete" in out
        assert out.endswith("lifecycle clean: nothing removed\n") and _files(made) == set(KEPT + DERIVED)
    else:  # no terminal to ask on: refused, saying how
        assert code == 2 and "make clean-all CONFIRM=yes" in err and err.count("\n") == 1
        assert _files(made) == set(KEPT + DERIVED)


def test_clean_all_with_yes_does_not_ask(made, monkeypatch, capsys):
    monkeypatch.setattr(paths, "ROOT", made)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert clean.main(["--all", "--yes"]) == 0
    assert capsys.readouterr().out.splitlines() == ["removed data", "removed models", "removed reports"]
    assert not (made / "data").exists()


def test_the_command_cleans_the_project_it_is_run_in(made, monkeypatch, capsys):
    monkeypatch.setattr(paths, "ROOT", made)
    assert cli.main(["clean"]) == 0
    assert "removed reports" in capsys.readouterr().out and _files(made) == set(KEPT)


def test_the_derived_paths_are_where_the_phases_write_them():
    written = {
        prepare.TABLE.parent,
        splits.SCHEMA.parent,
        train.TRAINING,
        select.CHOICE.parent,
        evaluate.EVALUATION.parent,
        experiment.SIMULATED_LOG,
        experiment.EXAMPLE_LOG,
        monitor_store.LABELLED,
        paths.REPORTS,
    }
    assert {paths.relative(path) for path in written} == set(clean.DERIVED)
