"""Phase 09: the once-only look at the test and out-of-time sets, the verdict against the
problem card, the model card, and the registered version."""

from __future__ import annotations

import pandas as pd
from sklearn.base import clone

from lifecycle import evaluate, files, paths
from lifecycle.metrics import METRICS
from lifecycle.problem import ProblemCard
from lifecycle.select import estimator, metric_sign

MODEL_CARD = paths.REPORTS / "model_card.md"
RESULTS = paths.REPORTS / "test_results.json"


def card_metric(model, X: pd.DataFrame, y: pd.Series, card: ProblemCard) -> float:
    """The problem card's metric, in its own units."""
    from sklearn.metrics import get_scorer

    return float(metric_sign(card.metric) * get_scorer(METRICS[card.metric].scorer)(model, X, y))


def results(model, sets: dict[str, tuple[pd.DataFrame, pd.Series]], card: ProblemCard, threshold: float) -> pd.DataFrame:
    """The task's headline figures on each held-out set that has rows (one column per set)."""
    columns = {name: evaluate.headline(model, X, y, card.task, card.positive_class, threshold)
               for name, (X, y) in sets.items() if len(X)}
    return pd.DataFrame(columns)


def baseline(preprocessor, train: tuple[pd.DataFrame, pd.Series], test: tuple[pd.DataFrame, pd.Series],
             card: ProblemCard, seed: int) -> float:
    """The naive baseline of the problem card, fitted on train and scored on test."""
    from sklearn.pipeline import Pipeline

    dummy = Pipeline([("preprocess", clone(preprocessor)), ("model", estimator("dummy", card.task, seed=seed))])
    return card_metric(dummy.fit(*train), *test, card)


def verdict(card: ProblemCard, score: float, baseline_score: float) -> tuple[bool, str]:
    """Pass or fail against the bar, and the lift over the naive baseline."""
    better = card.greater_is_better
    passed = score >= card.metric_bar if better else score <= card.metric_bar
    lift = (score - baseline_score) if better else (baseline_score - score)
    relative = f" ({100 * lift / abs(baseline_score):+.0f}%)" if baseline_score else ""
    word = "PASS" if passed else "FAIL"
    relation = ("clears" if passed else "misses") + f" the bar of {card.metric} {'>=' if better else '<='} {card.metric_bar:g}"
    return passed, (f"{word}: test {card.metric} {score:.3f} {relation}; it beats the naive baseline "
                    f"({baseline_score:.3f}) by {lift:.3f}{relative}.")


def model_card(card: ProblemCard, lineage: dict, info: dict, table: pd.DataFrame, verdict_text: str,
               intended_use: str, limitations: list[str], threshold_text: str) -> str:
    """The model card in Markdown: what it is for, what it learned from, how good it is, where it falls short."""
    drop = _oot_gap(table, card)
    lines = [
        f"# Model card: {card.project_name}", "",
        f"**Intended use.** {intended_use}", "",
        f"**Decision.** {card.decision}", "",
        "## Model", "",
        f"- Family: {info['family']}{' (tuned)' if info.get('tuned') else ''}",
        f"- Target: `{card.target}` ({card.task})",
        f"- Decision rule: {threshold_text}", "",
        "## Data", "",
        f"- Data version: `{lineage['data_version']}` from {lineage['source']}",
        f"- Rows: {', '.join(f'{k} {v:,}' for k, v in lineage['rows'].items())}", "",
        "## Results (held-out, seen once)", "",
        _markdown_table(table), "",
        f"**Verdict.** {verdict_text}", "",
        "## Limitations", "",
        *[f"- {item}" for item in limitations],
    ]
    if drop is not None:
        lines.append(f"- On the out-of-time set, {card.metric} is {drop:+.3f} against the test set: "
                     "expect some decay on newer data.")
    return "\n".join(lines) + "\n"


def _oot_gap(table: pd.DataFrame, card: ProblemCard) -> float | None:
    if "out_of_time" not in table or card.metric not in table.index:
        return None
    return float(table.loc[card.metric, "out_of_time"] - table.loc[card.metric, "test"])


def _markdown_table(table: pd.DataFrame) -> str:
    rows = ["| metric | " + " | ".join(map(str, table.columns)) + " |", "|---" * (table.shape[1] + 1) + "|"]
    rows += [f"| {name} | " + " | ".join(f"{v:.4g}" for v in row) + " |" for name, row in table.iterrows()]
    return "\n".join(rows)


def write(markdown: str, table: pd.DataFrame, verdict_passed: bool, verdict_text: str) -> list[str]:
    files.write_text(MODEL_CARD, markdown)
    files.write_json(RESULTS, {"passed": verdict_passed, "verdict": verdict_text, "results": table.to_dict()})
    return [paths.relative(MODEL_CARD), paths.relative(RESULTS)]


def register(model, name: str, passed: bool, promote_if_pass: bool, metadata: dict) -> str:
    """Register the model as a new version; promote it to production when it passed and params allow."""
    import os

    from lifecycle import registry

    version = registry.register(model, name, {**metadata, "passed": passed, "run_id": os.environ.get("LIFECYCLE_RUN_ID")})
    stage = "candidate"
    if passed and promote_if_pass:
        registry.promote(name, version, "production")
        stage = "production"
    return f"Registered {name} as a new version (stage: {stage})."
