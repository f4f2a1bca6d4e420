import pytest
from conftest import ROOT

from lifecycle.core import paths


def test_root_is_found_from_the_code_not_the_cwd(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert paths.find_root() == ROOT == paths.ROOT


def test_root_search_fails_with_a_clear_message(tmp_path):
    with pytest.raises(RuntimeError, match="cannot find the project root"):
        paths.find_root(tmp_path)


def test_relative_hides_the_machine_path():
    assert paths.relative(paths.FIGURES / "x.png") == "reports/figures/x.png"
