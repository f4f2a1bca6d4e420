"""The service's toy project and the real service on loopback, shared by the serving tests (unit/serving/),
the fuzz (e2e/test_serve_fuzz.py) and the load tests (load/test_serve_load.py).

``Toy`` registers a small binary model (numeric, categorical and high-cardinality inputs, missing values)
in a copy of the project: version 1 the champion, version 2 the challenger the service scores as its shadow.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import copy_project

from lifecycle import registry
from lifecycle.core import paths
from lifecycle.core.params import resolve
from lifecycle.core.settings import FeatureEngineering
from lifecycle.data import features, splits
from lifecycle.modeling import scoring, select
from lifecycle.store import prediction_log

MAX_RECORDS, MAX_BYTES = 20, 50_000


def toy_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spend, visits = rng.gamma(2.0, 30.0, n), rng.poisson(3, n)
    plan = rng.choice(["basic", "plus", "pro"], n).astype(object)
    signal_ = spend / 60 + (plan == "pro") + 0.2 * visits + rng.normal(0, 0.5, n)
    plan[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "signup_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 600, n), unit="D"),
            "plan": plan,
            "city": rng.choice([f"c{i}" for i in range(40)], n),
            "spend": np.where(rng.random(n) < 0.1, np.nan, spend),
            "visits": visits,
            "balance": rng.normal(0, 50, n),
            "churned": (signal_ > np.quantile(signal_, 0.7)).astype(int),
        }
    )


def tiny_scaled_table() -> pd.DataFrame:
    """``toy_table`` with two inputs in [0, 0.001] pulling the label opposite ways (opposite coefficients):
    standardized, a number near 1e306 overflows, and the linear model's score is inf - inf."""
    table = toy_table()
    rng = np.random.default_rng(1)
    share, rate = rng.uniform(0, 1e-3, len(table)), rng.uniform(0, 1e-3, len(table))
    score = table["churned"] + share * 1e3 - rate * 1e3 + rng.normal(0, 0.3, len(table))
    return table.assign(share=share, rate=rate, churned=(score > np.quantile(score, 0.7)).astype(int))


def client_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as a client sends them: plain JSON values, null for missing."""
    return [
        {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]


class Toy:
    """A project copy with registered models, and what the tests compare against (``table``: the
    training table, ``toy_table()`` by default; ``rejected``: the inputs whose out-of-domain rule is reject)."""

    def __init__(
        self, root: Path, table: pd.DataFrame | None = None, rejected: tuple[str, ...] = ("balance", "visits")
    ):
        self.project = copy_project(root)
        settings_file = self.project / "params" / "project.yaml"
        settings = yaml.safe_load(settings_file.read_text())
        settings["serving"].update(
            max_records=MAX_RECORDS,
            max_body_bytes=MAX_BYTES,
            workers=1,
            domain={"tolerance": 1.0, "default": "flag", "features": dict.fromkeys(rejected, "reject")},
        )
        settings_file.write_text(yaml.safe_dump(settings))
        p = FeatureEngineering.model_validate(
            resolve(["04_feature_engineering"], sets=["holiday_country=null", "max_onehot_categories=10"])[
                "04_feature_engineering"
            ]
        )
        table = features.build_features(toy_table() if table is None else table, None, p)
        self.schema = features.feature_schema(table, p)
        self.X, self.y = X, y = table[list(self.schema.index)], table["churned"]
        meta = {
            "task": "binary",
            "positive_class": 1,
            "threshold": 0.4,
            "data_version": "toy-data",
            "feature_schema": splits.schema_records(self.schema),
        }
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(paths, "MODELS", self.project / "models")
            for family, settings in (("linear", {}), ("hist_gradient_boosting", {"max_iter": 20})):
                model = select.chosen_pipeline({"family": family, "settings": settings}, self.schema, "binary", 0)
                model.fit(X, y)
                registry.register(model, "toy", meta)
            registry.set_alias("toy", "champion", 1)
            registry.set_alias("toy", "challenger", 2)
            registry.register(model, "bare", {})  # lacks what scoring needs
            self.scorer, self.shadow = scoring.load("toy", 1), scoring.load("toy", 2)
        self.records = client_records(X)
        self.expected = scoring.score(self.scorer, pd.DataFrame(self.records))


class Service:
    """``python -m lifecycle.serving.serve`` in a project (its ``src`` first on the path), on a free loopback
    port; or ``command`` (e.g. ``[<venv>/bin/lifecycle, "serve"]``), as installed, with the path untouched."""

    def __init__(self, project: Path, *args: str, env: dict | None = None, command: list[str] | None = None):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = port = probe.getsockname()[1]
        self.url, self.log = f"http://127.0.0.1:{port}", project / f"serve-{port}.log"
        env = {**os.environ, **(env or {})}
        if command is None:
            command, env["PYTHONPATH"] = [sys.executable, "-m", "lifecycle.serving.serve"], str(project / "src")
        else:
            env.pop("PYTHONPATH", None)  # what the command's environment has installed, nothing else
        with open(self.log, "w") as stderr:
            self.process = subprocess.Popen(
                [*command, "--port", str(port), "--no-access-log", *args],
                cwd=project,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self.client = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 180  # a hang guard: seconds on a quiet machine, over 60 s seen on a busy one
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the service exited: {self.stderr()}"
            try:
                if self.client.get("/ready").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"not ready in 180 s: {self.stderr()}")

    def stderr(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(30)


def logged_rows(
    toy: Toy, ids: set[str], role: str, rows: int, wait: float = 15, url: str | None = None
) -> pd.DataFrame:
    """The store's rows of these requests and role, once ``rows`` of them are there (or ``wait`` passed);
    the store at ``url``, else the toy's default (``data/predictions.db``)."""
    url = url or f"sqlite:///{toy.project / 'data' / 'predictions.db'}"
    deadline = time.monotonic() + wait
    while True:
        found = prediction_log.read(url)
        found = found[found["request_id"].isin(ids) & (found["role"] == role)]
        if len(found) >= rows or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
