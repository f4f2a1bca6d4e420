"""The awkward-columns setup of ``monitor_compare.py --setup awkward``: false alerts and detection of
univariate drift on columns of awkward shapes, at several window sizes, lifecycle beside NannyML.

Eight features: log-normal, Poisson counts (many ties), 30% zeros, bimodal, 5% missing, uniform, a 4-level
category with a 2% level and a 12-level long-tailed one; a reference of ``--reference-rows`` rows; for
each window size, production of that many windows, the second half with a subtle shift in one numeric
feature (``lognormal``: its log moved by 0.25 sd) and in the rare level (2% to 4%). Nothing else moves,
so every alert on another feature, or on a shifted one in the first half, is a false alert. Both tools at
their defaults: lifecycle's thresholds at params' false-alert rate, every statistic of params on each
feature (a feature-window alerts when any does); NannyML 0.13.1's Jensen-Shannon distance (its default
method, continuous and categorical) with its default threshold (reference chunks' mean +- 3 sd).

A rate of 1 in 1,000 needs tens of thousands of feature-windows to be measured: ``--null-windows`` more
undrifted windows of each size (made and checked in batches, lifecycle only; NannyML's rates are measured
on the production windows above, where they are large enough to show) give lifecycle's rate with a 95%
interval (exact, Poisson).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from scipy.stats import chi2

from lifecycle.core.settings import DriftSettings
from lifecycle.monitoring.drift import thresholds as drift_thresholds

NUMERIC = ["lognormal", "counts", "zeros", "bimodal", "missing", "uniform"]
CATEGORICAL = ["level4", "level12"]
FEATURES = [*NUMERIC, *CATEGORICAL]
SHIFTED = ("lognormal", "level4")
LONG_TAIL = 1 / np.arange(1, 13) ** 1.5

RUN_NANNYML = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import logging; logging.disable(logging.CRITICAL)
import pandas as pd, nannyml as nml
folder, sizes = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
reference = pd.read_parquet(f"{folder}/reference.parquet")
out = {}
for size in sizes:
    analysis = pd.read_parquet(f"{folder}/w{size}.parquet")
    start = time.perf_counter()
    drift = nml.UnivariateDriftCalculator(column_names=%(features)r, treat_as_categorical=%(categorical)r,
                                          continuous_methods=["jensen_shannon"], categorical_methods=["jensen_shannon"],
                                          chunk_size=size).fit(reference).calculate(analysis)
    seconds = time.perf_counter() - start
    d = drift.filter(period="analysis").to_df()
    d.columns = ["|".join(map(str, c)) for c in d.columns]
    out[size] = {"seconds": seconds,
                 "alerts": {f: d[f"{f}|jensen_shannon|alert"].astype(bool).tolist() for f in %(features)r}}
print(json.dumps(out))
""".replace("%(features)r", repr(FEATURES)).replace("%(categorical)r", repr(CATEGORICAL))


def table(n: int, rng: np.random.Generator, shifted: bool = False) -> pd.DataFrame:
    """``n`` rows of the awkward columns; ``shifted``: the subtle shift of ``SHIFTED``."""
    rare = 0.04 if shifted else 0.02
    frame = pd.DataFrame(
        {
            "lognormal": rng.lognormal(0.25 if shifted else 0.0, 1.0, n),
            "counts": rng.poisson(1.5, n).astype(float),
            "zeros": np.where(rng.random(n) < 0.3, 0.0, rng.gamma(2.0, 1.0, n)),
            "bimodal": np.where(rng.random(n) < 0.4, rng.normal(-2, 0.7, n), rng.normal(2, 1.0, n)),
            "missing": np.where(rng.random(n) < 0.05, np.nan, rng.normal(10, 2, n)),
            "uniform": rng.random(n),
            "level4": rng.choice(["a", "b", "c", "rare"], n, p=[0.5, 0.3, 0.2 - rare, rare]),
            "level12": rng.choice([f"l{k:02d}" for k in range(12)], n, p=LONG_TAIL / LONG_TAIL.sum()),
        }
    )
    return frame


def production(windows: int, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """``windows`` windows of ``rows``; the second half shifted."""
    return pd.concat(
        [table(rows, rng, shifted=k >= windows // 2).assign(chunk=k) for k in range(windows)], ignore_index=True
    )


def ours(reference: pd.DataFrame, analysis: pd.DataFrame, min_rows: int, seed: int) -> dict:
    """lifecycle's verdict per feature and window (any of params' statistics), at params' defaults."""
    start = time.perf_counter()
    baseline = drift_thresholds.fit(reference[FEATURES], DriftSettings(), seed=seed, min_rows=min_rows)
    codes, chunks = pd.factorize(analysis["chunk"], sort=True)
    alerts = {f: [False] * len(chunks) for f in FEATURES}
    for k, records in enumerate(
        drift_thresholds.measure_windows(baseline, analysis[FEATURES], codes, [str(c) for c in chunks], min_rows)
    ):
        for record in records:
            alerts[record.feature][k] |= record.alert
    return {"seconds": time.perf_counter() - start, "alerts": alerts}


def null_rate(reference: pd.DataFrame, rows: int, windows: int, min_rows: int, seed: int) -> dict:
    """lifecycle's false alerts on ``windows`` more undrifted windows of ``rows``, made and checked in batches
    of about two million rows; the rate per feature-window with its exact 95% interval."""
    baseline = drift_thresholds.fit(reference[FEATURES], DriftSettings(), seed=seed, min_rows=min_rows)
    rng = np.random.default_rng(seed + 1)
    per_batch = max(1, 2_000_000 // rows)
    alerts = dict.fromkeys(FEATURES, 0)
    for start in range(0, windows, per_batch):
        count = min(per_batch, windows - start)
        frame = table(rows * count, rng)
        codes = np.repeat(np.arange(count), rows)
        for records in drift_thresholds.measure_windows(baseline, frame, codes, list(map(str, range(count))), min_rows):
            for feature in {r.feature for r in records if r.alert}:
                alerts[feature] += 1
    checked, found = windows * len(FEATURES), sum(alerts.values())
    low = chi2.ppf(0.025, 2 * found) / 2 / checked if found else 0.0
    high = chi2.ppf(0.975, 2 * found + 2) / 2 / checked
    return {
        "window rows": f"{rows:,}",
        "undrifted feature-windows": f"{checked:,}",
        "false alerts": found,
        "rate": f"{found / checked:.5f}",
        "95% interval": f"{low:.5f} to {high:.5f}",
        "by feature": ", ".join(f"{f} {n}" for f, n in alerts.items() if n),
    }


def summary(tool: str, rows: int, alerts: dict, windows: int) -> dict:
    """False alerts (every feature-window that did not move) and detection (the shifted ones)."""
    drifted = np.arange(windows) >= windows // 2
    undrifted, caught = [], []
    for feature, found in alerts.items():
        found = np.asarray(found, bool)
        if feature in SHIFTED:
            caught += list(found[drifted])
            undrifted += list(found[~drifted])
        else:
            undrifted += list(found)
    return {
        "window rows": f"{rows:,}",
        "tool": tool,
        "false alerts": f"{int(np.sum(undrifted))} of {len(undrifted)} ({np.mean(undrifted):.2%})",
        "shifted caught": f"{int(np.sum(caught))} of {len(caught)}",
        **{f"{f} caught": f"{int(np.sum(np.asarray(alerts[f])[drifted]))}" for f in SHIFTED},
    }


def main(args, python) -> None:
    """Both tools on the awkward columns at each of ``args.sizes`` (window rows: windows)."""
    rng = np.random.default_rng(args.seed)
    reference = table(args.reference_rows, rng)
    sizes = {int(rows): int(count) for rows, count in (s.split(":") for s in args.sizes.split(","))}
    analyses = {rows: production(count, rows, rng) for rows, count in sizes.items()}
    found = []
    with tempfile.TemporaryDirectory() as folder:
        reference.to_parquet(f"{folder}/reference.parquet")
        for rows, analysis in analyses.items():
            analysis.drop(columns="chunk").to_parquet(f"{folder}/w{rows}.parquet")
        done = subprocess.run(
            [str(python), "-c", RUN_NANNYML, folder, ",".join(map(str, sizes))],
            check=False,
            capture_output=True,
            text=True,
        )
    if done.returncode:
        sys.exit(f"NannyML failed:\n{done.stderr[-3000:]}")
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    for rows, count in sizes.items():
        mine = ours(reference, analyses[rows], min(args.min_rows, rows), args.seed)
        found.append(summary(f"lifecycle (rate {DriftSettings().false_alert_rate:g})", rows, mine["alerts"], count))
        found.append(summary("NannyML 0.13.1", rows, theirs[str(rows)]["alerts"], count))
        found[-2]["seconds"], found[-1]["seconds"] = round(mine["seconds"], 2), round(theirs[str(rows)]["seconds"], 2)
    with pd.option_context("display.width", 200, "display.max_colwidth", 200):
        print(f"reference: {args.reference_rows:,} rows; shifted: {', '.join(SHIFTED)} in each second half")
        print(pd.DataFrame(found).to_string(index=False))
        if args.null_windows:
            rates = [
                null_rate(reference, rows, args.null_windows, min(args.min_rows, rows), args.seed) for rows in sizes
            ]
            rate = DriftSettings().false_alert_rate
            print(
                f"\nlifecycle's false-alert rate on {args.null_windows:,} more undrifted windows of each size "
                f"(params: {rate:g} per feature-window):"
            )
            print(pd.DataFrame(rates).to_string(index=False))
