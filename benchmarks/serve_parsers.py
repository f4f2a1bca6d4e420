"""CPU per request of the service's HTTP process: uvicorn's h11 parser (``serving.max_header_bytes`` set,
the default) against httptools (``max_header_bytes: null``: no header limit).

    python benchmarks/serve_parsers.py [--project PATH] [--model churn] [--runs 3] [--seconds 8]

Each run starts ``python -m lifecycle.serving.serve`` (one worker, access log off) in a temporary copy
of the project holding the registered model, posts single records from 8 Python threads over
keep-alive connections for ``--seconds``, and divides the CPU time the HTTP process used
(``/proc/<pid>/stat``: user + system; the scoring process is a child of its own and not
counted) by the requests it answered. Runs alternate between the parsers, so a machine shared
with other work slows both alike; the medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]


def copy_project(project: Path, model: str, folder: Path, max_header_bytes: int | None) -> None:
    for name in ("src", "params"):
        shutil.copytree(project / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(project / "pyproject.toml", folder / "pyproject.toml")
    shutil.copytree(project / "models" / model, folder / "models" / model)
    settings_file = folder / "params" / "project.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["serving"].update(max_header_bytes=max_header_bytes, workers=1)
    settings_file.write_text(yaml.safe_dump(settings))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(project: Path, model: str, max_header_bytes: int | None, seconds: float) -> float:
    """Microseconds of the HTTP process's CPU per answered request."""
    with tempfile.TemporaryDirectory() as name, socket.socket() as probe:
        folder = Path(name)
        copy_project(project, model, folder, max_header_bytes)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        env = {**os.environ, "PYTHONPATH": str(folder / "src")}
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
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            body = json.dumps(wait_ready(process, url)).encode()
            before = cpu_seconds(process.pid)
            answered = drive(url, body, seconds)
            return (cpu_seconds(process.pid) - before) / answered * 1e6
        finally:
            process.terminate()
            process.wait(60)


def wait_ready(process: subprocess.Popen, url: str) -> dict:
    """Once the service is ready, the example record of its OpenAPI docs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the service did not start")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                body = httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]["/predict"]["post"]["requestBody"]
                return body["content"]["application/json"]["examples"]["one record"]["value"]
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service was not ready within 120 s")


def drive(url: str, body: bytes, seconds: float, threads: int = 8) -> int:
    answered, lock, end = [0], threading.Lock(), time.perf_counter() + seconds

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=10, headers={"content-type": "application/json"}) as client:
            while time.perf_counter() < end:
                if client.post("/predict", content=body).status_code == 200:
                    with lock:
                        answered[0] += 1

    running = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return answered[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT, help="a project folder with the model registered")
    parser.add_argument("--model", default="churn")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    found: dict[str, list[float]] = {"h11 (max_header_bytes 16384)": [], "httptools (null)": []}
    for _ in range(args.runs):
        for (label, runs), limit in zip(found.items(), (16384, None)):
            runs.append(one_run(args.project, args.model, limit, args.seconds))
            print(f"{label}: {runs[-1]:.0f} us of HTTP-process CPU per request", flush=True)
    for label, runs in found.items():
        print(f"median {label}: {statistics.median(runs):.0f} us ({', '.join(f'{r:.0f}' for r in runs)})")


if __name__ == "__main__":
    main()
