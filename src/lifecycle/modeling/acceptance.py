"""Phase 09: the once-only look at the test and out-of-time sets, the verdict against the
problem card, the model card, and the registered version."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import clone

from lifecycle import registry
from lifecycle.core import files, paths
from lifecycle.core.metrics import METRICS
from lifecycle.data.problem import ProblemCard
from lifecycle.modeling import evaluate, intervals
from lifecycle.modeling.select import estimator, folds, folds_text, metric_sign

MODEL_CARD = paths.REPORTS / "model_card.md"
RESULTS = paths.REPORTS / "test_results.json"


def card_metric(model, X: pd.DataFrame, y: pd.Series, card: ProblemCard) -> float:
    """The problem card's metric, in its own units."""
    from sklearn.metrics import get_scorer

    return float(metric_sign(card.metric) * get_scorer(METRICS[card.metric].scorer)(model, X, y))


def results(
    model,
    sets: dict[str, tuple[pd.DataFrame, pd.Series]],
    card: ProblemCard,
    threshold: float,
    *,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The task's headline figures on each held-out set that has rows, each with its bootstrap interval: columns
    ``<set>``, ``<set> low``, ``<set> high``."""
    columns = {}
    for name, (X, y) in sets.items():
        if len(X):
            table = evaluate.with_interval(
                model,
                X,
                y,
                task=card.task,
                positive=card.positive_class,
                threshold=threshold,
                level=level,
                resamples=resamples,
                seed=seed,
            )
            columns.update({name: table["value"], f"{name} low": table.iloc[:, 1], f"{name} high": table.iloc[:, 2]})
    return pd.DataFrame(columns)


def values(table: pd.DataFrame) -> pd.DataFrame:
    """``results`` without the intervals: one column per set (what the registry records as metrics)."""
    return table[[c for c in table.columns if not c.endswith((" low", " high"))]]


class Estimate(NamedTuple):
    """The figure the verdict rests on: the card's metric, its interval, and how it was measured."""

    value: float
    low: float
    high: float
    how: str


def estimate(
    model,
    table: pd.DataFrame,
    sets: dict[str, tuple[pd.DataFrame, pd.Series]],
    card: ProblemCard,
    *,
    threshold: float,
    small_test_rows: int,
    cv_folds: int = 5,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> Estimate:
    """The card's metric on the test split when it holds ``small_test_rows`` rows or more. On fewer, one split
    would decide the verdict by luck: every in-time row is scored by a model that never saw it -- the train and
    validation rows out of fold (the final recipe, repeated stratified cross-validation, each fold's model
    trained on about as many rows as the final one), the test rows by the final model -- and the pooled
    predictions are bootstrapped."""
    test_rows = len(sets["test"][0])
    if test_rows >= small_test_rows:
        row = table.loc[card.metric]
        return Estimate(
            float(row["test"]), float(row["test low"]), float(row["test high"]), f"on the {test_rows:,} test rows"
        )
    X = pd.concat([sets[name][0] for name in ("train", "validation")])
    y = pd.concat([sets[name][1] for name in ("train", "validation")])
    tested = evaluate.truth_and_output(model, *sets["test"], card.task, card.positive_class)
    outputs = [np.concatenate([oof, tested[1]]) for oof in _out_of_fold(model, X, y, card, cv_folds, seed)]
    truth = np.concatenate([evaluate.truth(y, card.task, card.positive_class), tested[0]])
    pooled = intervals.pooled(
        card.task,
        truth,
        outputs,
        threshold=threshold,
        classes=getattr(model, "classes_", None),
        level=level,
        resamples=resamples,
        seed=seed,
    ).loc[card.metric]
    how = (
        f"on all {len(truth):,} in-time rows, each scored by a model that never saw it "
        f"({folds_text(cv_folds, len(X))} of the final recipe on the train and validation rows, "
        f"the final model on the {test_rows:,} test rows, "
        f"fewer than small_test_rows, {small_test_rows:,})"
    )
    return Estimate(*(round(float(pooled[k]), 4) for k in ("value", "low", "high")), how)  # as the test split's


def _out_of_fold(model, X: pd.DataFrame, y: pd.Series, card: ProblemCard, cv_folds: int, seed: int) -> list:
    """One out-of-fold output of the final recipe per repeat of the cross-validation."""
    splits = list(folds(card.task, cv_folds, seed, len(X)).split(X, y if card.task != "regression" else None))
    outputs = []
    for start in range(0, len(splits), cv_folds):
        output = None
        for train_rows, test_rows in splits[start : start + cv_folds]:
            fitted = clone(model).fit(X.iloc[train_rows], y.iloc[train_rows])
            part = evaluate.truth_and_output(
                fitted, X.iloc[test_rows], y.iloc[test_rows], card.task, card.positive_class
            )[1]
            output = np.zeros((len(X), *part.shape[1:])) if output is None else output
            output[test_rows] = part
        outputs.append(output)
    return outputs


def baseline(
    preprocessor,
    train: tuple[pd.DataFrame, pd.Series],
    test: tuple[pd.DataFrame, pd.Series],
    card: ProblemCard,
    seed: int,
) -> float:
    """The naive baseline of the problem card, fitted on train and scored on test."""
    from sklearn.pipeline import Pipeline

    dummy = Pipeline([("preprocess", clone(preprocessor)), ("model", estimator("dummy", card.task, seed=seed))])
    return card_metric(dummy.fit(*train), *test, card)


def verdict(card: ProblemCard, found: Estimate, baseline_score: float) -> tuple[bool, str]:
    """Pass or fail against the bar, on the point estimate, and in plain words whether the whole interval clears
    the bar, only the point estimate does, or neither; with the lift over the naive baseline."""
    better = card.greater_is_better
    clears = (lambda v: v >= card.metric_bar) if better else (lambda v: v <= card.metric_bar)
    worst, best = (found.low, found.high) if better else (found.high, found.low)
    passed = clears(found.value)
    bar = f"the bar of {card.metric} {'>=' if better else '<='} {card.metric_bar:g}"
    if passed and clears(worst):
        word, how = "PASS", f"clears {bar} with its whole interval"
    elif passed:
        word, how = (
            "PASS (point estimate only)",
            (f"clears {bar}, but its interval reaches past it: more data could still show the model misses it"),
        )
    elif clears(best):
        word, how = (
            "FAIL (point estimate only)",
            (f"misses {bar}, but its interval reaches it: more data could still show the model clears it"),
        )
    else:
        word, how = "FAIL", f"misses {bar} with its whole interval"
    lift = (found.value - baseline_score) if better else (baseline_score - found.value)
    relative = f" ({100 * lift / abs(baseline_score):+.0f}%)" if baseline_score else ""
    return passed, (
        f"{word}: {card.metric} {found.value:.3f} (interval {found.low:.3f} to {found.high:.3f}), "
        f"measured {found.how}, {how}. It beats the naive baseline ({baseline_score:.3f}) by "
        f"{lift:.3f}{relative}."
    )


def model_card(
    card: ProblemCard,
    *,
    lineage: dict,
    info: dict,
    table: pd.DataFrame,
    verdict_text: str,
    intended_use: str,
    limitations: list[str],
    threshold_text: str,
) -> str:
    """The model card in Markdown: what it is for, what it learned from, how good it is, where it falls short."""
    drop = _oot_gap(table, card)
    lines = [
        f"# Model card: {card.project_name}",
        "",
        f"**Intended use.** {intended_use}",
        "",
        f"**Decision.** {card.decision}",
        "",
        "## Model",
        "",
        f"- Family: {info['family']}{' (tuned)' if info.get('tuned') else ''}",
        f"- Target: `{card.target}` ({card.task})",
        f"- Decision rule: {threshold_text}",
        "",
        "## Data",
        "",
        f"- Data version: `{lineage['data_version']}` from {lineage['source']}",
        f"- Rows: {', '.join(f'{k} {v:,}' for k, v in lineage['rows'].items())}",
        "",
        "## Results (held-out, seen once; low and high bound each figure's bootstrap interval)",
        "",
        _markdown_table(table),
        "",
        f"**Verdict.** {verdict_text}",
        "",
        "## Limitations",
        "",
        *[f"- {item}" for item in limitations],
    ]
    if drop is not None:
        lines.append(
            f"- On the out-of-time set, {card.metric} is {drop:+.3f} against the test set: "
            "expect some decay on newer data."
        )
    return "\n".join(lines) + "\n"


def _oot_gap(table: pd.DataFrame, card: ProblemCard) -> float | None:
    if "out_of_time" not in table or card.metric not in table.index:
        return None
    return float(table.loc[card.metric, "out_of_time"] - table.loc[card.metric, "test"])


def _markdown_table(table: pd.DataFrame) -> str:
    rows = ["| metric | " + " | ".join(map(str, table.columns)) + " |", "|---" * (table.shape[1] + 1) + "|"]
    rows += [f"| {name} | " + " | ".join(f"{v:.4g}" for v in row) + " |" for name, row in table.iterrows()]
    return "\n".join(rows)


def write(
    markdown: str, table: pd.DataFrame, verdict_passed: bool, verdict_text: str, found: Estimate | None = None
) -> list[str]:
    """The model card, and the results with the estimate the verdict rests on (``reports/test_results.json``)."""
    files.write_text(MODEL_CARD, markdown)
    files.write_json(
        RESULTS,
        {
            "passed": verdict_passed,
            "verdict": verdict_text,
            "results": table.astype(object).where(table.notna(), None).to_dict(),
            "estimate": found._asdict() if found else None,
        },
    )
    return [paths.relative(MODEL_CARD), paths.relative(RESULTS)]


def register(model, name: str, passed: bool, promote_if_pass: bool, metadata: dict) -> str:
    """Register the model as a new version: the champion (``NAME@champion``) when it passed and params allow,
    else the challenger, waiting for a decision."""
    import os

    version = registry.register(
        model, name, {**metadata, "passed": passed, "run_id": os.environ.get("LIFECYCLE_RUN_ID")}
    )
    alias = registry.CHAMPION if passed and promote_if_pass else registry.CHALLENGER
    registry.set_alias(name, alias, version)
    return f"Registered {name} as a new version: {name}@{alias}."
