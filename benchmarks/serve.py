"""Latency and throughput of the prediction service, against in-process scoring (the floor) and MLflow.

    python benchmarks/serve.py [--model churn] [--duration 10] [--concurrency 1 8 32 64]
                               [--workers N] [--compare-mlflow]
                               [--with-batch ROWS [--batch-into-log]] [--store-url URL]

The floor is ``scoring.score`` in this process, of one record and of a batch (per record).
The service runs as a subprocess (``python -m lifecycle.serving.serve``, access log off, prediction
logging on) in a temporary copy of the project holding the registered model, so its
prediction store is thrown away afterwards. Single-record POSTs (rotating over a few real
records) come over keep-alive connections from ``wrk`` with a Lua script when it is
installed, else from Python threads (which inflate the tail: on 2 cores, expect p99 about
3x what wrk sees). While each level runs, /health is probed every 100 ms to show the event
loop stays free.

``--compare-mlflow`` serves the same registered pipeline with ``mlflow models serve
--env-manager local`` (uvicorn, one worker, one predict per request) from a virtual
environment of its own under ``.cache/`` (created on first use: MLflow's pins never touch
the project's), drives it with the same load in the same run, and prints the ratios.

``--with-batch ROWS`` then drives the highest concurrency level again for as long as
``lifecycle predict`` writes a batch of ROWS rows (test rows repeated, each its own id) into
the store (``store.batch_url``, as the command does by default: a SQLite file beside the log, or
the log's own PostgreSQL database; ``--batch-into-log``: the log's own database, SQLite's same
file). It prints p99 without and with the batch, and counts rows end to end once the log has
drained: answered (the service's HTTP 200s to /predict) against rows in the store, and repeats.
``--store-url`` points the service's store elsewhere (e.g. PostgreSQL; no password in it: use
PGPASSWORD).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import serve_batch

from lifecycle import batch
from lifecycle.core import database_url, paths
from lifecycle.data import splits
from lifecycle.modeling import scoring
from lifecycle.serving.request_schema import Contract

LUA = """
local bodies = {%s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "%s", nil, bodies[i])
end
"""


def sample_records(scorer: scoring.Scorer, n: int = 16) -> list[dict]:
    """Real rows of the test split as a client sends them (the schema's example if there is no split)."""
    contract = Contract(scorer.schema)
    try:
        rows = splits.read("test")[list(scorer.schema.index)].head(200).astype(object)
    except (FileNotFoundError, KeyError):
        return [contract.example()]
    records = [
        {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}
        for row in rows.to_dict(orient="records")
    ]
    valid = []
    for record in records:  # keep rows inside the service's accepted ranges
        try:
            contract.parse(json.dumps(record).encode())
            valid.append(record)
        except ValueError:
            pass
    return valid[:n] or [contract.example()]


def floor(scorer: scoring.Scorer, records: list[dict], seconds: float, batch: int = 1) -> dict:
    """In-process ``scoring.score`` of ``batch`` records at a time: latency per call, records per second."""
    rows = [records[(i + k) % len(records)] for i in range(len(records)) for k in range(batch)]
    frames = [pd.DataFrame(rows[i * batch : (i + 1) * batch]) for i in range(len(records))]
    for frame in frames:
        scoring.score(scorer, frame)
    times, end, i = [], time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        started = time.perf_counter()
        scoring.score(scorer, frames[i % len(frames)])
        times.append(time.perf_counter() - started)
        i += 1
    ms = np.array(times) * 1000
    return {"p50": np.percentile(ms, 50), "p99": np.percentile(ms, 99), "rps": len(ms) * batch / sum(times)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(process: subprocess.Popen, url: str, log: Path, seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service did not start: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the service was not ready within {seconds:.0f} s: {log.read_text()[-2000:]}")


def copy_project(model: str, folder: Path) -> None:
    """What the service needs to run in ``folder``: the package, params and the registered model."""
    for name in ("src", "params"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", folder / "pyproject.toml")
    shutil.copytree(paths.MODELS / model, folder / "models" / model)


def start(model: str, folder: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    """The service in the copy in ``folder`` (``copy_project``), once ready; its base URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(folder / "src")}
    with open(folder / "serve.log", "w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lifecycle.serving.serve",
                "--model",
                model,
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
                *extra,
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, f"{url}/ready", folder / "serve.log")
    return process, url


# --- MLflow, in a virtual environment of its own ---------------------------------------------

MLFLOW = "mlflow==3.17.2"  # the newest on PyPI when this was written; saves scikit-learn models with skops
SAVE_FOR_MLFLOW = """
import sys, pandas as pd, skops.io as sio, mlflow.sklearn
from mlflow.models import infer_signature
artifact, target, sample = sys.argv[1:4]
pipeline = sio.load(artifact, trusted=sio.get_untrusted_types(file=artifact))
example = pd.read_json(sample, orient="records")
example = example.astype({c: float for c in example.select_dtypes("number").columns})  # numbers may be missing
signature = infer_signature(example, pipeline.predict(example))
mlflow.sklearn.save_model(pipeline, target, signature=signature, serialization_format="skops",
                          skops_trusted_types=sio.get_untrusted_types(file=artifact))
"""


def mlflow_env() -> Path:
    """A virtual environment with MLflow and the project's scikit-learn, made once under .cache/."""
    import sklearn
    import skops

    folder = ROOT / ".cache" / f"{MLFLOW.replace('==', '-')}-sklearn-{sklearn.__version__}"
    python = folder / "bin" / "python"
    if not (folder / ".installed").is_file():
        print(f"creating {folder.relative_to(ROOT)} (once; a few minutes) ...", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        done = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                MLFLOW,
                f"scikit-learn=={sklearn.__version__}",
                f"skops=={skops.__version__}",
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(f"could not install {MLFLOW} into {folder}:\n{done.stderr[-3000:]}")
        (folder / ".installed").write_text(MLFLOW + "\n")
    return folder


def start_mlflow(scorer: scoring.Scorer, records: list[dict], folder: Path) -> tuple[subprocess.Popen, str]:
    """``mlflow models serve`` of the registered pipeline as it was trained (one predict per request)."""
    env_folder = mlflow_env()
    python = env_folder / "bin" / "python"
    sample = folder / "sample.json"
    sample.write_text(json.dumps(records))
    artifact = paths.MODELS / scorer.name / str(scorer.version) / "model.skops"
    subprocess.run(
        [str(python), "-c", SAVE_FOR_MLFLOW, str(artifact), str(folder / "mlflow-model"), str(sample)],
        check=True,
        capture_output=True,
    )
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{env_folder / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": f"file://{folder / 'mlruns'}",
    }
    env.pop("PYTHONPATH", None)
    with open(folder / "mlflow.log", "w") as log:
        process = subprocess.Popen(
            [
                str(env_folder / "bin" / "mlflow"),
                "models",
                "serve",
                "-m",
                str(folder / "mlflow-model"),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, f"{url}/ping", folder / "mlflow.log")
    return process, url


def with_wrk(url: str, script: Path, concurrency: int, seconds: float, until: subprocess.Popen | None = None) -> dict:
    """wrk for ``seconds``, or (``until``) for as long as that process runs; ``ok``: the 2xx answers."""
    threads = max(1, min(concurrency, 2))
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(concurrency),
        "-d",
        f"{seconds if until is None else 86400:g}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    if until is None:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    else:
        load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        until.wait()
        load.send_signal(signal.SIGINT)  # wrk stops and prints what it measured
        out = load.communicate(timeout=60)[0]

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    count = (int(errors.group(1)) if errors else 0) + (sum(map(int, failed.groups())) if failed else 0)
    done = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "p50": ms("50"),
        "p99": ms("99"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "errors": count,
        "ok": done - (int(errors.group(1)) if errors else 0),
    }


def with_python(
    url: str, path: str, bodies: list[bytes], concurrency: int, seconds: float, until: subprocess.Popen | None = None
) -> dict:
    """Python threads for ``seconds``, or (``until``) for as long as that process runs."""
    import httpx

    times, errors, lock = [], [0], threading.Lock()
    started, end = time.perf_counter(), time.perf_counter() + (seconds if until is None else 86400)

    def going() -> bool:
        return time.perf_counter() < end and (until is None or until.poll() is None)

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, timeout=10, headers={"content-type": "application/json"}) as client:
            i = k
            while going():
                started = time.perf_counter()
                ok = client.post(path, content=bodies[i % len(bodies)]).status_code == 200
                with lock:
                    times.append(time.perf_counter() - started)
                    errors[0] += not ok
                i += 1

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ms, elapsed = np.array(times) * 1000, time.perf_counter() - started
    return {
        "p50": np.percentile(ms, 50),
        "p99": np.percentile(ms, 99),
        "rps": len(ms) / elapsed,
        "errors": errors[0],
        "ok": len(ms) - errors[0],
    }


def probe_health(url: str, stop: threading.Event, found: list[float]) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get("/health")
            found.append((time.perf_counter() - started) * 1000)
            stop.wait(0.1)


def drive(
    url: str,
    path: str,
    bodies: list[bytes],
    levels: list[int],
    seconds: float,
    wrk: str | None,
    folder: Path,
    health: bool,
    until: subprocess.Popen | None = None,
) -> dict[int | str, dict]:
    """Each concurrency level in turn (after a warm-up, kept as "warm-up"); /health probed alongside when
    ``health``. With ``until`` (a process): no warm-up, each level lasts as long as that process runs."""
    script = folder / f"post-{abs(hash(path))}.lua"
    script.write_text(LUA % (", ".join(f"[==[{b.decode()}]==]" for b in bodies), path))

    def run(concurrency: int, duration: float) -> dict:
        if wrk:
            return with_wrk(url, script, concurrency, duration, until)
        return with_python(url, path, bodies, concurrency, duration, until)

    results = {} if until else {"warm-up": run(8, 2.0)}
    for concurrency in levels:
        stop, probes = threading.Event(), []
        prober = threading.Thread(target=probe_health, args=(url, stop, probes)) if health else None
        if prober:
            prober.start()
        results[concurrency] = run(concurrency, seconds)
        stop.set()
        if prober:
            prober.join()
        results[concurrency]["health_max"] = max(probes) if probes else float("nan")
    return results


def beside_a_batch(
    url: str, bodies: list[bytes], scorer: scoring.Scorer, records: list[dict], args, wrk: str | None, folder: Path
) -> tuple[dict, str]:
    """The highest concurrency level for as long as ``lifecycle predict`` writes ``args.with_batch`` rows;
    the load's figures and the batch's last line."""
    id_column = batch.store_defaults()["id_column"] or "row_id"
    rows = serve_batch.batch_input(scorer, records, id_column, args.with_batch, folder / "batch.parquet")
    process = serve_batch.start_batch(folder, args.model, rows)
    try:
        during = drive(
            url, "/predict", bodies, [max(args.concurrency)], args.duration, wrk, folder, health=True, until=process
        )
    finally:
        if process.poll() is None:
            process.kill()
    return during[max(args.concurrency)], serve_batch.batch_said(process)


def report_batch(without: dict, during: dict, said: str, ends: dict, args, stores: tuple[str, str]) -> None:
    """p99 without and with the batch; rows answered against rows logged."""
    log, into = (database_url.shown(url) for url in stores)
    print(f"\nbeside a batch of {args.with_batch:,} rows (lifecycle predict into {into}; the log at {log}):\n  {said}")
    print(
        f"concurrency {max(args.concurrency)}: p99 {without['p99']:.1f} ms without the batch, {during['p99']:.1f} ms "
        f"with it (p50 {without['p50']:.1f} / {during['p50']:.1f} ms, {without['rps']:.0f} / {during['rps']:.0f} "
        f"req/s, errors {without['errors']} / {during['errors']}, /health max {during['health_max']:.1f} ms)"
    )
    equal = ends["answered"] == ends["rows"] == ends["distinct"] and not ends["spooled"]
    print(
        f"rows end to end: {ends['answered']:,.0f} answered (the service's HTTP 200s; the clients got "
        f"{ends['received']:,}: wrk drops what is in flight when it stops), {ends['rows']:,} new in the store, "
        f"{ends['rows'] - ends['distinct']:,} repeated, {ends['spooled']:,} left in the spool "
        f"({ends['pending']:.0f} pending at stop): {'equal' if equal else 'NOT EQUAL'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="churn")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--python-client", action="store_true", help="use Python threads even if wrk is installed")
    parser.add_argument("--compare-mlflow", action="store_true", help=f"also serve the pipeline with {MLFLOW}")
    parser.add_argument(
        "--serve-args",
        nargs="*",
        default=[],
        metavar="ARG",
        help="extra arguments for the service, e.g. --serve-args=--workers=1",
    )
    parser.add_argument(
        "--with-batch",
        type=int,
        metavar="ROWS",
        help="then the highest level again while lifecycle predict writes ROWS rows to the store",
    )
    parser.add_argument(
        "--batch-into-log", action="store_true", help="the batch into the log's own database (default: store.batch_url)"
    )
    parser.add_argument("--store-url", help="the service's store.url (default: params, data/predictions.db)")
    args = parser.parse_args()

    scorer = scoring.load(args.model, alias="champion")
    records = sample_records(scorer)
    bodies = [json.dumps(r).encode() for r in records]
    one = floor(scorer, records, min(args.duration, 5.0))
    many = floor(scorer, records, min(args.duration, 5.0), batch=64)
    wrk = None if args.python_client else shutil.which("wrk")
    print(
        f"model {scorer.name} version {scorer.version} ({len(scorer.schema)} inputs), {os.cpu_count()} CPU(s), "
        f"{len(records)} distinct records, {args.duration:g} s per level"
    )
    print(
        f"floor, in-process scoring.score: one record p50 {one['p50']:.2f} ms, p99 {one['p99']:.2f} ms "
        f"({one['rps']:.0f} records/s on one thread); 64 records p50 {many['p50']:.2f} ms "
        f"({many['rps']:.0f} records/s)"
    )
    print(
        "client: "
        + (
            f"wrk ({wrk}) with a Lua POST script, keep-alive connections"
            if wrk
            else "Python threads (wrk not installed or --python-client): p99 is inflated, ~3x on 2 cores"
        )
    )
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        copy_project(args.model, folder)
        store, batch_store = serve_batch.point_store(folder, args.store_url, args.batch_into_log)
        earlier = serve_batch.store_rows(store) if args.with_batch else (0, 0)  # a store of its own may hold some
        process, url = start(args.model, folder, args.serve_args)
        try:
            ours = drive(url, "/predict", bodies, args.concurrency, args.duration, wrk, folder, health=True)
            if args.with_batch:
                during, said = beside_a_batch(url, bodies, scorer, records, args, wrk, folder)
                ends = dict(zip(("answered", "pending"), serve_batch.settled(url)))
            import httpx

            text = httpx.get(f"{url}/metrics", timeout=10).text  # summed over the workers
            stats = {
                name: float(re.search(rf"^lifecycle_{name}_total (\S+)$", text, re.MULTILINE).group(1))
                for name in ("log_rows", "log_failures")
            }
        finally:
            process.terminate()
            process.wait(60)
        if args.with_batch:  # once the service has stopped: what its log wrote, all of it
            rows, distinct = serve_batch.store_rows(store)
            ends["rows"], ends["distinct"] = rows - earlier[0], distinct - earlier[1]
            ends["spooled"], ends["received"] = serve_batch.spooled(folder), sum(r["ok"] for r in ours.values())
            ends["received"] += during["ok"]
        theirs = None
        if args.compare_mlflow:
            process, url = start_mlflow(scorer, records, folder)
            try:
                wrapped = [json.dumps({"dataframe_records": [r]}).encode() for r in records]
                theirs = drive(url, "/invocations", wrapped, args.concurrency, args.duration, wrk, folder, health=False)
            finally:
                process.terminate()
                process.wait(60)
    workers = next((a.split("=")[1] for a in args.serve_args if a.startswith("--workers=")), "params")
    print(f"\nlifecycle serve (workers: {workers}; micro-batching)" + (f" vs {MLFLOW} models serve" if theirs else ""))
    header = f"{'concurrency':>11} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'errors':>7} {'/health max ms':>15}"
    if theirs:
        header += f" | {'mlflow p50':>10} {'p99':>8} {'req/s':>8} {'errors':>7} | {'x req/s':>7} {'p99 / ours':>10}"
    print(header)
    for c in args.concurrency:
        r = ours[c]
        line = f"{c:>11} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['rps']:>8.0f} {r['errors']:>7} {r['health_max']:>15.1f}"
        if theirs:
            m = theirs[c]
            line += (
                f" | {m['p50']:>10.1f} {m['p99']:>8.1f} {m['rps']:>8.0f} {m['errors']:>7} | "
                f"{r['rps'] / m['rps']:>7.1f} {m['p99'] / r['p99']:>10.1f}"
            )
        print(line)
    print(
        f"\nprediction store: {stats['log_rows']:.0f} rows written, {stats['log_failures']:.0f} refused; "
        "targets: c8 p99 <= 20 ms and >= 10x MLflow's req/s; "
        "c64 p99 <= 100 ms, 0 errors"
    )
    if args.with_batch:
        report_batch(ours[max(args.concurrency)], during, said, ends, args, (store, batch_store))


if __name__ == "__main__":
    main()
