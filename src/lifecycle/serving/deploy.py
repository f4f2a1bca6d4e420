"""Phase 10: the model meets its users -- production data, the service as a process,
HTTP calls shown without what changes from run to run, and shadow validation."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lifecycle import registry
from lifecycle.core import paths
from lifecycle.core.settings import ProjectParams
from lifecycle.data import prepare, splits
from lifecycle.data.features import build_features
from lifecycle.data.sources import Dataset
from lifecycle.modeling import train
from lifecycle.simulation.simulate import Drift, period_dates, simulate_product
from lifecycle.store import prediction_log

VOLATILE = ("request_id", "model_version", "version", "scored_at", "timestamp")


def production_features(params: ProjectParams) -> tuple[pd.DataFrame, str]:
    """Model inputs for the later production period, prepared and featured exactly as in training.

    The simulated product has a drifted production period; any other source has none, so the
    out-of-time split (or the test split) stands in for it. Returns the rows and where they came from.
    """
    if params.source.kind != "simulated":
        return splits.held_out()

    sim, rule = params.simulation, params.labels
    _, cutoff = period_dates(sim.start.isoformat(), rule.cutoff.isoformat(), rule.window_days, "production")
    product = simulate_product(
        n_users=sim.production.n_users,
        start=sim.start.isoformat(),
        cutoff=rule.cutoff.isoformat(),
        label_window_days=rule.window_days,
        seed=params.seed,
        period="production",
        drift=Drift(sim.production.channel_shift, sim.production.activity_change, sim.production.new_category),
    )
    settings = splits.read_settings()
    settings = settings.model_copy(update={"labels": settings.labels.model_copy(update={"cutoff": cutoff.date()})})
    rules = prepare.read_rules()
    prepared = prepare.prepare(
        Dataset(product.users, product.events),
        settings,
        {k: tuple(v) for k, v in rules["valid_ranges"].items()},
        rules["numeric_text_share"],
    )
    return build_features(prepared.table, prepared.events, settings), (
        f"the simulated production period ({sim.production.n_users:,} users, prediction date {cutoff.date()})"
    )


def register_challenger(name: str, production: dict) -> str:
    """Register 06's untuned model as ``NAME@challenger``: the version the shadow compares against
    ``production`` (the champion's metadata)."""
    model, info = train.load("trained", "06_model_training")
    keep = {
        k: production[k]
        for k in (
            "data_version",
            "lineage",
            "task",
            "target",
            "positive_class",
            "threshold",
            "metric",
            "feature_schema",
        )
        if k in production
    }
    version = registry.register(model, name, {**keep, "family": info["family"], "tuned": False, "challenger": True})
    registry.set_alias(name, registry.CHALLENGER, version)
    return f"Registered the untuned {info['family']} model as {name}@challenger."


def agreement(production: pd.DataFrame, shadow: pd.DataFrame, task: str) -> pd.Series:
    """How far two models' answers on the same rows agree."""
    same = production["prediction"].astype(str).to_numpy() == shadow["prediction"].astype(str).to_numpy()
    result = {"rows": len(production), "agreement rate": same.mean()}
    probability = [c for c in production.columns if c.startswith("probability_")]
    if probability:
        gap = np.abs(production[probability].to_numpy() - shadow[probability].to_numpy()).max(axis=1)
        result.update({"mean probability gap": gap.mean(), "p95 probability gap": np.quantile(gap, 0.95)})
    else:
        gap = np.abs(production["prediction"].to_numpy(float) - shadow["prediction"].to_numpy(float))
        result.update({"mean absolute difference": gap.mean(), "p95 absolute difference": np.quantile(gap, 0.95)})
    return pd.Series(result, name=f"production vs shadow ({task})").round(4)


@dataclass
class Service:
    """A running ``lifecycle serve`` process on loopback."""

    process: subprocess.Popen
    url: str
    request_ids: list[str] = field(default_factory=list)  # every id the service answered with

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return "Service stopped."


def start_service(
    name: str, shadow: str | None = None, timeout: float = 180.0, workers: int = 1, *, version: int | None = None
) -> Service:
    """Start the service as a subprocess on a free loopback port; wait until it is ready.

    One worker process by default: a demonstration needs no more, and starts faster
    (``serving.workers`` in params is what ``lifecycle serve`` runs in production). It is ready in seconds on
    a quiet machine; ``timeout`` allows for a busy one (two lifecycles and a test suite on two cores: over 60 s).
    """
    import importlib

    import httpx

    # The service runs lifecycle.serving.serve in another process; importing it here too puts it in
    # this phase's set of helpers, so an edit to the service re-runs the phase.
    importlib.import_module("lifecycle.serving.serve")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "lifecycle",
        "serve",
        "--model",
        name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if version is not None:  # the champion (a rehearsal serves 09's version); default: NAME@champion
        command += ["--version", str(version)]
    if shadow:
        command += ["--shadow", shadow]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.SRC), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        command, cwd=paths.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service did not start: {process.stderr.read().strip()}")
        try:
            if httpx.get(f"{url}/ready", timeout=10).status_code == 200:
                return Service(process, url)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(
        f"the service was not ready within {timeout:.0f} s; is the machine busy? "
        "`lifecycle serve` in a terminal shows how it starts"
    )


def call(service: Service, method: str, path: str, payload=None, content: bytes | None = None) -> dict:
    """One HTTP call; the status and the body without what changes from run to run (ids, versions, times)."""
    import httpx

    response = httpx.request(
        method,
        f"{service.url}{path}",
        json=payload,
        content=content,
        timeout=30,
        headers={"content-type": "application/json"} if content is not None else None,
    )
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict) and body.get("request_id"):
        service.request_ids.append(body["request_id"])
    return {"status": response.status_code, "body": _stable(body)}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value


def records(frame: pd.DataFrame, schema: pd.DataFrame, n: int) -> list[dict]:
    """The first ``n`` rows as JSON records of the model's inputs (what a client sends)."""
    inputs = frame[list(schema.index)].head(n).astype(object)
    return [
        {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}
        for row in inputs.to_dict(orient="records")
    ]


def bad_requests(service: Service, good: dict) -> pd.DataFrame:
    """Four kinds of bad request and what the service answers to each (a value far outside the
    training range is refused or scored and flagged, as ``serving.domain`` says)."""
    numeric = next(k for k, v in good.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    cases = {
        f"missing field '{numeric}'": {k: v for k, v in good.items() if k != numeric},
        f"'{numeric}' is text": {**good, numeric: "many"},
        f"'{numeric}' far out of range": {**good, numeric: 1e12},
    }
    rows = [(case, *_answer(call(service, "POST", "/predict", payload))) for case, payload in cases.items()]
    rows.append(("body is not JSON", *_answer(call(service, "POST", "/predict", content=b"{not json"))))
    return pd.DataFrame(rows, columns=["request", "status", "answer"]).set_index("request")


def _answer(result: dict) -> tuple[int, str]:
    body = result["body"]
    if result["status"] == 200 and isinstance(body, dict) and body.get("predictions"):
        flags = sorted({f for p in body["predictions"] for f in p.get("flags", [])})
        return 200, "scored" + (f"; flagged outside the training domain: {', '.join(flags)}" if flags else "")
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail[:2])
    return result["status"], str(detail)[:160]


def burst(service: Service, payloads: list[dict], total: int, concurrency: int = 8) -> pd.Series:
    """``total`` requests, ``concurrency`` at a time: how many succeeded (answers only, no timings)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> int:
        return call(service, "POST", "/predict", payloads[i % len(payloads)])["status"]

    with ThreadPoolExecutor(concurrency) as pool:
        statuses = pd.Series(list(pool.map(one, range(total))))
    return statuses.value_counts().sort_index().rename("requests").rename_axis("status")


def shadow_traffic(service: Service, payloads: list[dict]) -> tuple[str, str]:
    """Send ``payloads`` as one request, so the shadow scores every record of it (a burst may make
    the service skip shadow work to protect production latency). Returns its request id and a sentence."""
    result = call(service, "POST", "/predict", payloads)
    if result["status"] != 200:
        raise RuntimeError(f"the service refused the shadow traffic: {result['body']}")
    return service.request_ids[-1], f"{len(payloads):,} records answered by production and scored by the shadow."


def batch_summary(url: str, table: str, batch_id: str) -> pd.DataFrame:
    """The batch read back from the database: rows and the share of each prediction."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(prediction_log.resolve_url(url))
    try:
        with engine.connect() as connection:
            frame = pd.read_sql(
                sqlalchemy.text(f'SELECT prediction FROM "{table}" WHERE batch_id = :b'),
                connection,
                params={"b": batch_id},
            )
    finally:
        engine.dispose()
    counts = frame["prediction"].astype(str).value_counts().sort_index()
    return pd.DataFrame({"rows": counts, "share": (counts / counts.sum()).round(3)}).rename_axis("prediction")


def shadow_from_log(url: str, table: str, task: str, request_ids: list[str]) -> pd.Series:
    """Production against shadow, on the logged answers to these requests."""
    log = prediction_log.read(url, table)
    log = log[log["request_id"].isin(request_ids)]
    keys = ["request_id", "record"]
    sides = {role: log[log["role"] == role].set_index(keys).sort_index() for role in ("production", "shadow")}
    common = sides["production"].index.intersection(sides["shadow"].index)
    outputs = {role: pd.json_normalize(sides[role].loc[common, "outputs"].map(json.loads).tolist()) for role in sides}
    return agreement(outputs["production"], outputs["shadow"], task)


def chunks(frame: pd.DataFrame, rows: int):
    """``frame`` in pieces of ``rows`` rows, as the batch job reads a large file."""
    for start in range(0, len(frame), rows):
        yield frame.iloc[start : start + rows]
