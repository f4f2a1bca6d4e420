"""Monitoring side by side with NannyML: drift verdicts and label-free estimates per chunk, run time.

usage: python benchmarks/monitor_compare.py [--chunks 100] [--chunk-rows 2000] [--big-rows 1000000] [--repeats 3]
       python benchmarks/monitor_compare.py --setup awkward [--reference-rows 200000]
                                            [--sizes 500:200,5000:40,20000:40] [--null-windows 2500]

``--setup awkward`` (``monitor_awkward``): false alerts and detection on columns of awkward shapes (ties,
zero-inflation, missing values, rare levels) at several window sizes, both tools; what follows is the
default setup, ``--setup synthetic``.

A synthetic binary problem with a known truth (six numeric features, two of them correlated, and one
categorical; the label drawn from a fixed logistic function), a logistic-regression model fitted on
its own training sample, a reference of 10 chunks of ``--chunk-rows`` labelled rows, and ``--chunks``
production chunks in which feature ``x0`` is shifted by 0.5 sd in the second half (covariate drift:
the label's dependence on the features is unchanged, so the model's probabilities stay right).

Both tools get the same reference and chunks: lifecycle's effect-size drift with thresholds learned
from the reference (``drift_thresholds``, params' defaults) and its label-free estimate
(``performance_estimate``, calibrated on the reference's labels as params' default says); NannyML 0.13.1's
univariate drift (Jensen-Shannon, its default thresholds: mean +- 3 sd over reference chunks) and CBPE.
Printed per chunk: both verdicts on ``x0``, both AUC estimates and the realized AUC; then detection and
false-alert rates, estimate errors, how often each interval held the realized AUC and its mean width
(lifecycle's at params' level, at 95% and at the level of NannyML's +-3 sampling errors), and both
tools' run time on ``--big-rows`` production rows, ``--repeats`` times each, alternating.

NannyML runs in a virtual environment of its own under ``.cache/`` (created on first use; it needs
statsmodels beside it): the project's pins never meet it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import monitor_awkward
import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from lifecycle.core.settings import DriftSettings, Estimate
from lifecycle.monitoring import performance_estimate
from lifecycle.monitoring.drift import thresholds as drift_thresholds

ROOT = Path(__file__).resolve().parents[1]
NANNYML = ("nannyml==0.13.1", "statsmodels", "pyarrow")
NUMERIC = [f"x{k}" for k in range(6)]
FEATURES = [*NUMERIC, "colour"]
REFERENCE_CHUNKS = 10

RUN_NANNYML = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd, nannyml as nml
folder, chunk_rows, names = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
reference = pd.read_parquet(f"{folder}/reference.parquet")
out = {}
for name in names:
    analysis = pd.read_parquet(f"{folder}/{name}.parquet")
    start = time.perf_counter()
    drift = nml.UnivariateDriftCalculator(column_names=%(features)r, treat_as_categorical=["colour"],
                                          continuous_methods=["jensen_shannon"], categorical_methods=["jensen_shannon"],
                                          chunk_size=chunk_rows).fit(reference).calculate(analysis)
    cbpe = nml.CBPE(y_pred_proba="proba", y_pred="pred", y_true="y", metrics=["roc_auc"], chunk_size=chunk_rows,
                    problem_type="classification_binary").fit(reference).estimate(analysis)
    seconds = time.perf_counter() - start
    d = drift.filter(period="analysis").to_df()
    d.columns = ["|".join(map(str, c)) for c in d.columns]
    e = cbpe.filter(period="analysis").to_df()
    e.columns = ["|".join(map(str, c)) for c in e.columns]
    out[name] = {"seconds": seconds,
                 "alerts": {f: d[f"{f}|jensen_shannon|alert"].astype(bool).tolist() for f in %(features)r},
                 "auc": e["roc_auc|value"].tolist(), "low": e["roc_auc|lower_confidence_boundary"].tolist(),
                 "high": e["roc_auc|upper_confidence_boundary"].tolist()}
print(json.dumps(out))
""".replace("%(features)r", repr(FEATURES))


def table(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    """``n`` rows of the synthetic problem: features, the label from the fixed truth, ``x0`` moved by ``shift`` sd."""
    z = rng.normal(size=(6, n))
    z[1] = 0.8 * z[0] + 0.6 * z[1]
    frame = pd.DataFrame({name: z[k] for k, name in enumerate(NUMERIC)})
    frame["x0"] += shift
    frame["colour"] = rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2])
    logit = -1.0 + 1.2 * frame["x0"] - 0.8 * frame["x2"] + 0.5 * frame["x3"] + 0.7 * (frame["colour"] == "blue")
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def production(chunks: int, chunk_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """``chunks`` chunks; ``x0`` shifted by 0.5 sd in the second half."""
    return pd.concat(
        [table(chunk_rows, rng, 0.5 if k >= chunks // 2 else 0.0).assign(chunk=k) for k in range(chunks)],
        ignore_index=True,
    )


def score(model: LogisticRegression, frame: pd.DataFrame) -> pd.DataFrame:
    inputs = pd.get_dummies(frame[FEATURES], columns=["colour"], dtype=float)
    proba = model.predict_proba(inputs)[:, 1]
    return frame.assign(proba=proba, pred=(proba > 0.5).astype(int))


def nannyml_python() -> Path:
    """NannyML's own virtual environment under .cache/, made on first use."""
    folder = ROOT / ".cache" / "nannyml-0.13.1"
    python = folder / "bin" / "python"
    if not (folder / ".ready").exists():
        print(f"creating {folder.relative_to(ROOT)} with {', '.join(NANNYML)} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *NANNYML], check=True
        )
        (folder / ".ready").touch()
    return python


def ours(
    reference: pd.DataFrame,
    analysis: pd.DataFrame,
    chunk_rows: int,
    seed: int,
    levels: tuple[float, ...] = (Estimate().interval,),
) -> dict:
    """lifecycle's drift verdicts per feature and chunk, and its AUC estimate per chunk with its interval at
    each of ``levels``."""
    settings = DriftSettings(chunks=REFERENCE_CHUNKS)
    start = time.perf_counter()
    baseline = drift_thresholds.fit(reference[FEATURES], settings, seed=seed, min_rows=chunk_rows // 10)
    calibration = performance_estimate.calibrate(
        reference["proba"], reference["y"] == 1, Estimate().calibrate, seed=seed
    )
    codes, chunks = pd.factorize(analysis["chunk"], sort=True)
    alerts = {f: [False] * len(chunks) for f in FEATURES}
    for k, records in enumerate(
        drift_thresholds.measure_windows(baseline, analysis[FEATURES], codes, [str(c) for c in chunks], min_rows=1)
    ):
        for record in records:
            alerts[record.feature][k] |= record.alert
    found = {
        level: performance_estimate.by_window(
            analysis,
            window=analysis["chunk"],
            scores=["proba"],
            prediction="pred",
            classes=[1],
            calibrations=[calibration],
            interval=level,
            min_rows=1,
        ).query("metric == 'roc_auc'")
        for level in levels
    }
    first = found[levels[0]]
    return {
        "seconds": time.perf_counter() - start,
        "alerts": alerts,
        "auc": first["estimate"].tolist(),
        "low": first["low"].tolist(),
        "high": first["high"].tolist(),
        "levels": {level: (table["low"].tolist(), table["high"].tolist()) for level, table in found.items()},
    }


def held(realized: np.ndarray, low, high) -> str:
    """How often ``[low, high]`` held the realized value, and the interval's mean width."""
    low, high = np.asarray(low, float), np.asarray(high, float)
    return f"{int(np.sum((low <= realized) & (realized <= high)))} of {len(realized)}, width {np.mean(high - low):.3f}"


def summary(name: str, found: dict, realized: np.ndarray, chunks: int) -> dict:
    drifted = np.arange(chunks) >= chunks // 2
    caught = int(np.sum(np.array(found["alerts"]["x0"])[drifted]))
    undrifted = [a for f, values in found["alerts"].items() for k, a in enumerate(values) if f != "x0"]
    undrifted += list(np.array(found["alerts"]["x0"])[~drifted])
    auc = np.array(found["auc"], float)
    return {
        "tool": name,
        "x0 caught": f"{caught} of {drifted.sum()}",
        "false alerts": f"{int(np.sum(undrifted))} of {len(undrifted)} ({np.mean(undrifted):.1%})",
        "AUC MAE (covariate half)": round(float(np.mean(np.abs(auc - realized)[drifted])), 4),
        "AUC MAE (all)": round(float(np.mean(np.abs(auc - realized))), 4),
        "interval held (mean width)": held(realized, found["low"], found["high"]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=2000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each tool on the big table")
    parser.add_argument("--setup", choices=["synthetic", "awkward"], default="synthetic")
    parser.add_argument("--reference-rows", type=int, default=200_000, help="awkward: the reference's rows")
    parser.add_argument("--sizes", default="500:200,5000:40,20000:40", help="awkward: window rows:windows, ...")
    parser.add_argument("--min-rows", type=int, default=200, help="awkward: params' min_rows")
    parser.add_argument("--null-windows", type=int, default=2500, help="awkward: more undrifted windows per size")
    args = parser.parse_args(argv)
    if args.setup == "awkward":
        monitor_awkward.main(args, nannyml_python())
        return
    rng = np.random.default_rng(args.seed)
    train = table(20_000, rng)
    model = LogisticRegression(max_iter=1000).fit(
        pd.get_dummies(train[FEATURES], columns=["colour"], dtype=float), train["y"]
    )
    reference = score(model, table(REFERENCE_CHUNKS * args.chunk_rows, rng))
    analysis = score(model, production(args.chunks, args.chunk_rows, rng))
    big_chunks = args.big_rows // args.chunk_rows
    big = score(model, production(big_chunks, args.chunk_rows, rng))
    realized = analysis.groupby("chunk").apply(lambda f: roc_auc_score(f["y"], f["proba"]), include_groups=False)
    realized = realized.to_numpy()

    three_sd = float(2 * norm.cdf(3) - 1)  # the level of NannyML's band: estimate +- 3 sampling errors
    levels = (Estimate().interval, 0.95, three_sd)
    mine = ours(reference, analysis, args.chunk_rows, args.seed, levels)
    timings = {"lifecycle": [], "NannyML": []}
    with tempfile.TemporaryDirectory() as folder:
        reference.drop(columns="chunk", errors="ignore").to_parquet(f"{folder}/reference.parquet")
        analysis.drop(columns="chunk").to_parquet(f"{folder}/production.parquet")
        big.drop(columns="chunk").to_parquet(f"{folder}/big.parquet")
        theirs = nannyml(folder, args.chunk_rows, "production")
        for _ in range(args.repeats):  # alternately, so both tools meet the same load on a shared machine
            timings["NannyML"].append(nannyml(folder, args.chunk_rows, "big")["seconds"])
            timings["lifecycle"].append(ours(reference, big, args.chunk_rows, args.seed)["seconds"])

    per_chunk = pd.DataFrame(
        {
            "x0 shifted": np.arange(args.chunks) >= args.chunks // 2,
            "lifecycle x0 alert": mine["alerts"]["x0"],
            "NannyML x0 alert": theirs["alerts"]["x0"],
            "realized AUC": realized.round(4),
            "lifecycle AUC": np.round(mine["auc"], 4),
            "NannyML AUC": np.round(theirs["auc"], 4),
        }
    )
    rows = []
    for level in levels:
        row = summary(
            f"lifecycle, {level:.2%} interval" + (" (params)" if level == levels[0] else ""),
            mine,
            realized,
            args.chunks,
        )
        row["interval held (mean width)"] = held(realized, *mine["levels"][level])
        rows.append(row)
    rows.append(summary("NannyML 0.13.1, +-3 sampling errors", theirs, realized, args.chunks))
    with pd.option_context("display.max_rows", 200, "display.width", 200):
        print(per_chunk.to_string())
        print()
        print(pd.DataFrame(rows).to_string(index=False))
    shown = {tool: ", ".join(f"{t:.2f}" for t in found) for tool, found in timings.items()}
    print(
        f"\nrun time on {len(big):,} production rows ({big_chunks} chunks): univariate drift + AUC estimate, fit "
        f"included, {args.repeats} runs each, alternating: lifecycle median {np.median(timings['lifecycle']):.2f} s "
        f"({shown['lifecycle']}), NannyML median {np.median(timings['NannyML']):.2f} s ({shown['NannyML']})"
    )


def nannyml(folder: str, chunk_rows: int, name: str) -> dict:
    """NannyML's verdicts, estimates and run time on ``name``.parquet in ``folder`` (in its own environment)."""
    done = subprocess.run(
        [str(nannyml_python()), "-c", RUN_NANNYML, folder, str(chunk_rows), name],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"NannyML failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])[name]


if __name__ == "__main__":
    main()
