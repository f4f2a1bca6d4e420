"""Which version ``lifecycle serve`` serves and shadows: ``--model NAME[@ALIAS]``, ``--version``, ``--shadow``
(a version, an alias, latest), and the stage names of older projects, mapped to their aliases with a word."""

from __future__ import annotations

import logging

import pytest
from support.serving import Toy

from lifecycle import registry
from lifecycle.core import paths
from lifecycle.modeling import scoring
from lifecycle.serving import serve

DEFAULTS = {"model": "toy", "shadow": None, "host": "127.0.0.1", "port": 8000, "workers": 1}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Toy:
    return Toy(tmp_path_factory.mktemp("aliases") / "project")  # toy@champion: 1, toy@challenger: 2


@pytest.fixture(autouse=True)
def toy_models(toy, monkeypatch):
    monkeypatch.setattr(paths, "MODELS", toy.project / "models")


def _which(*argv: str) -> tuple[str, str | None]:
    return serve._which(serve._parser(DEFAULTS).parse_args(list(argv)))


def test_the_model_is_named_with_an_alias_and_an_old_stage_still_works(capsys):
    assert _which() == ("toy", None)  # build() then serves the champion
    assert _which("--model", "toy@challenger") == ("toy", "challenger")
    assert _which("--version", "2") == ("toy", None)
    assert capsys.readouterr().err == ""
    assert _which("--stage", "production") == ("toy", "champion")
    assert "--stage is deprecated, stages are aliases now; serving toy@champion" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "toy@"], "model 'toy@' is not NAME or NAME@ALIAS (e.g. churn or churn@champion)"),
        (["--model", "toy@challenger", "--version", "1"], "give --version or --model toy@challenger, not both"),
        (
            ["--model", "toy", "--stage", "archived"],
            "--stage archived: stages are aliases now; serve one with --model toy@ALIAS",
        ),
    ],
)
def test_a_bad_choice_of_model_stops_with_one_line(capsys, argv, message):
    assert serve.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lifecycle serve: {message}") and err.count("\n") == 1, err


def test_an_unknown_alias_is_refused_naming_the_aliases_there_are():
    with pytest.raises(registry.RegistryError, match=r"model 'toy' has no alias 'nosuch' \(aliases: challenger -> 2"):
        serve.build({"model": "toy", "version": None, "alias": "nosuch", "shadow": None})


def test_the_shadow_is_a_version_an_alias_or_latest_and_candidate_means_challenger(caplog):
    served = scoring.load("toy", alias="champion")
    with caplog.at_level(logging.WARNING, logger="lifecycle.serving.serve"):
        assert serve._shadow("toy", "challenger", served).version == 2
        assert serve._shadow("toy", 2, served).version == 2
        assert serve._shadow("toy", "latest", served).version == 2
        assert caplog.records == []
        caplog.clear()
        assert serve._shadow("toy", "candidate", served).version == 2
        assert "stages are aliases now; shadowing challenger" in caplog.text
        caplog.clear()
        assert serve._shadow("toy", "nosuch", served) is None and "has no alias 'nosuch'" in caplog.text
