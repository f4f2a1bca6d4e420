"""Phase 00: the problem card -- what is predicted, how success is measured, how much data it needs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from lifecycle.core import files, paths
from lifecycle.core.metrics import METRICS, baseline_strategy
from lifecycle.core.settings import ProblemDefinition

CARD_JSON = paths.REPORTS / "problem_card.json"
CARD_MARKDOWN = paths.REPORTS / "problem_card.md"


class ProblemCard(BaseModel):
    """The contract later phases are judged against (``09`` compares the model with it)."""

    project_name: str
    business_question: str
    decision: str
    target: str
    task: str
    positive_class: int | bool | str | None
    metric: str
    metric_meaning: str
    greater_is_better: bool
    metric_bar: float
    baseline: str
    baseline_score: float | None
    min_rows: int
    min_rows_per_class: int | None


def define(params: ProblemDefinition) -> ProblemCard:
    """Frame the business question as a machine-learning problem."""
    metric = METRICS[params.metric]
    return ProblemCard(
        project_name=params.project_name,
        business_question=params.business_question,
        decision=params.decision,
        target=params.target,
        task=params.task,
        positive_class=params.positive_class if params.task == "binary" else None,
        metric=params.metric,
        metric_meaning=metric.meaning,
        greater_is_better=metric.greater_is_better,
        metric_bar=params.metric_bar,
        baseline=baseline_strategy(params.task),
        baseline_score=metric.baseline_score,
        min_rows=params.min_rows,
        min_rows_per_class=None if params.task == "regression" else params.min_rows_per_class,
    )


def framing(card: ProblemCard) -> pd.DataFrame:
    """The card as a two-column table, for a notebook to show."""
    rows = {
        "business question": card.business_question,
        "decision it drives": card.decision,
        "target": card.target,
        "task": card.task,
        "positive class": card.positive_class,
        "success metric": f"{card.metric} ({card.metric_meaning})",
        "bar to clear": f"{card.metric} {'>=' if card.greater_is_better else '<='} {card.metric_bar:g}",
        "naive baseline": _baseline_text(card),
        "minimum rows": card.min_rows,
        "minimum rows per class": card.min_rows_per_class,
    }
    table = pd.DataFrame({"value": {k: ("-" if v is None else str(v)) for k, v in rows.items()}})
    table.index.name = "item"
    return table


def _baseline_text(card: ProblemCard) -> str:
    what = "the training mean" if card.baseline == "mean" else "the training class shares"
    score = f", which scores {card.metric} = {card.baseline_score:g}" if card.baseline_score is not None else ""
    return f"always predict {what}{score}"


def verdict(card: ProblemCard) -> str:
    """One sentence on what the model must achieve, computed from the card."""
    direction = "at least" if card.greater_is_better else "at most"
    if card.baseline_score is None:
        margin = "; 05_model_selection measures the baseline on the data"
    else:
        gap = abs(card.metric_bar - card.baseline_score)
        margin = f", {gap:g} beyond the naive baseline's {card.baseline_score:g}"
    return f"The model ships only if its test {card.metric} is {direction} {card.metric_bar:g}{margin}."


def sufficiency(card: ProblemCard) -> str:
    """The data-sufficiency rule in one sentence."""
    rule = f"The data must hold at least {card.min_rows:,} labelled rows"
    if card.min_rows_per_class is not None:
        rule += f", with at least {card.min_rows_per_class:,} rows of every class of '{card.target}'"
    return rule + "; 01_data_collection checks it before anything is trained."


def to_markdown(card: ProblemCard) -> str:
    lines = [f"# Problem card: {card.project_name}", "", "| item | value |", "|---|---|"]
    lines += [f"| {item} | {value} |" for item, value in framing(card)["value"].items()]
    return "\n".join(lines + ["", verdict(card), "", sufficiency(card), ""])


def write(card: ProblemCard) -> list[str]:
    """Write the card as JSON (for later phases) and Markdown (for people); return the paths."""
    written: list[Path] = [
        files.write_json(CARD_JSON, card.model_dump(mode="json")),
        files.write_text(CARD_MARKDOWN, to_markdown(card)),
    ]
    return [paths.relative(p) for p in written]


def read() -> ProblemCard:
    """The card written by 00_problem_definition."""
    return ProblemCard.model_validate(files.read_json(CARD_JSON, "the problem card", "00_problem_definition"))
