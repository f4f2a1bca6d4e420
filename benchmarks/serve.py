"""Latency and throughput of the prediction service, against in-process scoring (the floor).

    python benchmarks/serve.py [--model churn] [--duration 10] [--concurrency 1 8 32]

The floor is ``scoring.score`` of one record in this process. The service runs as a
subprocess (``python -m lifecycle.serve``, access log off, prediction logging on) in a
temporary copy of the project holding the registered model, so its prediction store is
thrown away afterwards. Single-record POSTs (rotating over a few real records) come from
``wrk`` with a Lua script when it is installed, else from Python threads (which inflate
the tail: on 2 cores, expect p99 about 3x what wrk sees). While each level runs, /health
is probed every 100 ms to show the event loop stays free.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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

from lifecycle import paths, scoring, splits
from lifecycle.request_schema import Contract

LUA = """
local bodies = {%s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "/predict", nil, bodies[i])
end
"""


def sample_records(scorer: scoring.Scorer, n: int = 16) -> list[dict]:
    """Real rows of the test split as a client sends them (the schema's example if there is no split)."""
    contract = Contract(scorer.schema)
    try:
        rows = splits.read("test")[list(scorer.schema.index)].head(200).astype(object)
    except (FileNotFoundError, KeyError):
        return [contract.example()]
    records = [{k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}
               for row in rows.to_dict(orient="records")]
    valid = []
    for record in records:  # keep rows inside the service's accepted ranges
        try:
            contract.parse(json.dumps(record).encode())
            valid.append(record)
        except ValueError:
            pass
    return valid[:n] or [contract.example()]


def floor(scorer: scoring.Scorer, records: list[dict], seconds: float) -> dict:
    frames = [pd.DataFrame([r]) for r in records]
    for frame in frames:
        scoring.score(scorer, frame)
    times, end, i = [], time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        started = time.perf_counter()
        scoring.score(scorer, frames[i % len(frames)])
        times.append(time.perf_counter() - started)
        i += 1
    ms = np.array(times) * 1000
    return {"p50": np.percentile(ms, 50), "p99": np.percentile(ms, 99), "rps": len(ms) / sum(times)}


def start(model: str, folder: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    for name in ("src", "params"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", folder / "pyproject.toml")
    shutil.copytree(paths.MODELS / model, folder / "models" / model)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(folder / "src")}
    with open(folder / "serve.log", "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "lifecycle.serve", "--model", model, "--port", str(port),
                                    "--no-access-log", "--log-level", "warning", *extra], cwd=folder, env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service did not start: {(folder / 'serve.log').read_text()}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the service was not ready within 60 s")


def with_wrk(url: str, script: Path, concurrency: int, seconds: float) -> dict:
    threads = max(1, min(concurrency, 2))
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds:g}s", "--latency",
                          "--timeout", "10s", "-s", str(script), url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    count = (int(errors.group(1)) if errors else 0) + (sum(map(int, failed.groups())) if failed else 0)
    return {"p50": ms("50"), "p99": ms("99"), "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "errors": count}


def with_python(url: str, bodies: list[bytes], concurrency: int, seconds: float) -> dict:
    import httpx

    times, errors, lock = [], [0], threading.Lock()
    end = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, timeout=10, headers={"content-type": "application/json"}) as client:
            i = k
            while time.perf_counter() < end:
                started = time.perf_counter()
                ok = client.post("/predict", content=bodies[i % len(bodies)]).status_code == 200
                with lock:
                    times.append(time.perf_counter() - started)
                    errors[0] += not ok
                i += 1

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ms = np.array(times) * 1000
    return {"p50": np.percentile(ms, 50), "p99": np.percentile(ms, 99), "rps": len(ms) / seconds, "errors": errors[0]}


def probe_health(url: str, stop: threading.Event, found: list[float]) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get("/health")
            found.append((time.perf_counter() - started) * 1000)
            stop.wait(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="churn")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--python-client", action="store_true", help="use Python threads even if wrk is installed")
    parser.add_argument("--serve-args", nargs="*", default=[], metavar="ARG",
                        help="extra arguments for the service, e.g. --serve-args=--workers=1")
    args = parser.parse_args()

    scorer = scoring.load(args.model, stage="production")
    records = sample_records(scorer)
    bodies = [json.dumps(r).encode() for r in records]
    base = floor(scorer, records, min(args.duration, 5.0))
    wrk = None if args.python_client else shutil.which("wrk")
    print(f"model {scorer.name} version {scorer.version} ({len(scorer.schema)} inputs), {os.cpu_count()} CPU(s), "
          f"{len(records)} distinct records, {args.duration:g} s per level")
    print(f"floor, in-process scoring.score of one record: p50 {base['p50']:.2f} ms, p99 {base['p99']:.2f} ms, "
          f"{base['rps']:.0f} records/s on one thread")
    print("client: " + (f"wrk ({wrk}) with a Lua POST script" if wrk else
                        "Python threads (wrk not installed or --python-client): p99 is inflated, ~3x on 2 cores"))
    with tempfile.TemporaryDirectory() as folder:
        process, url = start(args.model, Path(folder), args.serve_args)
        try:
            script = Path(folder) / "post.lua"
            script.write_text(LUA % ", ".join(f"[==[{b.decode()}]==]" for b in bodies))
            run = (lambda c, s: with_wrk(f"{url}", script, c, s)) if wrk else (
                lambda c, s: with_python(url, bodies, c, s))
            run(8, 2.0)  # warm-up
            print(f"\n{'concurrency':>11} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'errors':>7} "
                  f"{'p50/floor':>9} {'/health max ms':>15}")
            for concurrency in args.concurrency:
                stop, health = threading.Event(), []
                prober = threading.Thread(target=probe_health, args=(url, stop, health))
                prober.start()
                result = run(concurrency, args.duration)
                stop.set()
                prober.join()
                print(f"{concurrency:>11} {result['p50']:>8.1f} {result['p99']:>8.1f} {result['rps']:>8.0f} "
                      f"{result['errors']:>7} {result['p50'] / base['p50']:>9.1f} "
                      f"{max(health) if health else float('nan'):>15.1f}")
            import httpx

            stats = httpx.get(f"{url}/health", timeout=10).json()
        finally:
            process.terminate()
            process.wait(30)
    print(f"\nprediction store: {stats['logged']} rows written (+{stats['log_pending']} pending at the end), "
          f"{stats['log_failures']} failures")


if __name__ == "__main__":
    main()
