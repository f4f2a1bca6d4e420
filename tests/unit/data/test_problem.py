import pytest

from lifecycle.core.params import resolve
from lifecycle.core.settings import ProblemDefinition
from lifecycle.data import problem

PHASE = "00_problem_definition"


def _params(*sets: str) -> ProblemDefinition:
    return ProblemDefinition.model_validate(resolve([PHASE], sets=sets)[PHASE])


def test_binary_card_has_a_known_baseline_and_a_class_rule():
    card = problem.define(_params())
    assert (card.baseline, card.baseline_score, card.positive_class) == ("prior", 0.5, 1)
    assert problem.verdict(card) == (
        "The model ships only if its test roc_auc is at least 0.75, 0.25 beyond the naive baseline's 0.5."
    )
    assert "at least 100 rows of every class of 'churned'" in problem.sufficiency(card)


def test_regression_card_uses_the_mean_and_no_class_rule():
    card = problem.define(_params("task=regression", "target=revenue", "metric=mae", "metric_bar=12.5"))
    assert (card.baseline, card.baseline_score, card.min_rows_per_class, card.positive_class) == (
        "mean",
        None,
        None,
        None,
    )
    assert card.greater_is_better is False
    assert "is at most 12.5; 05_model_selection measures the baseline" in problem.verdict(card)
    assert "class" not in problem.sufficiency(card)
    assert problem.framing(card).loc["bar to clear", "value"] == "mae <= 12.5"


def test_multiclass_card():
    card = problem.define(_params("task=multiclass", "target=plan", "metric=f1_macro", "positive_class=null"))
    assert card.baseline == "prior" and card.positive_class is None
    assert problem.framing(card).loc["naive baseline", "value"] == "always predict the training class shares"


def test_card_round_trips_through_json(tmp_path, monkeypatch):
    monkeypatch.setattr(problem, "CARD_JSON", tmp_path / "card.json")
    monkeypatch.setattr(problem, "CARD_MARKDOWN", tmp_path / "card.md")
    card = problem.define(_params())
    problem.write(card)
    assert problem.read() == card
    assert (tmp_path / "card.md").read_text().startswith("# Problem card: churn\n")


def test_reading_a_missing_card_says_which_phase_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(problem, "CARD_JSON", tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="run 00_problem_definition first"):
        problem.read()
