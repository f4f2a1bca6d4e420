"""The simulated product as a monitored service sees it, shared by the monitoring tests (test_monitor,
test_performance_estimate): model inputs as logged, weeks of production under a drift, and the champion's
score (the training world's true churn function)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle.core.settings import DriftSettings
from lifecycle.simulation.simulate import (
    Drift,
    behaviour_summary,
    period_dates,
    simulate_product,
    true_churn_probability,
)

SETTINGS = DriftSettings()
DROP = 0.05


def logged_frame(product, period: str = "training") -> pd.DataFrame:
    """Model inputs as a service would log them: behaviour features plus channel and device; id and label."""
    users = product.users.set_index("user_id")
    features = behaviour_summary(product.users, product.events, period_dates(period=period)[1])
    features = features.assign(channel=users["channel"].astype(str), device=users["device"].astype(str))
    labels = product.labels.set_index("user_id")["churned"]
    return features.assign(churned=labels).reset_index()


def production_weeks(drift_: Drift, weeks: int = 2, n: int = 1000) -> pd.DataFrame:
    """``weeks`` of production under ``drift_``, ``n`` users a week, each row stamped with its week."""
    frames = []
    for week in range(weeks):
        product = simulate_product(n, seed=10 + week, period="production", drift=drift_, messy=False)
        frame = logged_frame(product, "production")
        frames.append(frame.assign(timestamp=pd.Timestamp("2026-12-01", tz="UTC") + pd.Timedelta(days=7 * week)))
    return pd.concat(frames, ignore_index=True)


def champion_score(frame: pd.DataFrame) -> pd.Series:
    """The 'model': the training world's true churn function (a perfect champion before any concept change)."""
    return true_churn_probability(frame.set_index("user_id", drop=False)).reset_index(drop=True)


def regression_rows(n: int, seed: int, shift: float = 0.0, concept: float = 0.0) -> pd.DataFrame:
    """A regression table with its model's prediction: the noise grows with ``|x0|`` and the model misses a
    bend in ``x1`` (both make its error depend on the inputs); ``shift`` moves ``x0`` (covariate drift: the
    error model still knows where the model errs), ``concept`` adds to the target what no input shows."""
    rng = np.random.default_rng(seed)
    x0, x1 = rng.normal(shift, 1, n), rng.normal(0, 1, n)
    group = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    prediction = 2 * x0 - x1 + (group == "b")
    noise = rng.normal(0, 0.3 + 0.5 * np.abs(x0) + 0.5 * (group == "c"), n)
    target = prediction + 0.4 * x1**2 - 0.4 + noise + concept * rng.normal(0, 1.5, n)
    return pd.DataFrame({"x0": x0, "x1": x1, "group": group, "output_prediction": prediction, "y": target})


def awkward_columns(n: int, seed: int) -> pd.DataFrame:
    """Columns of awkward shapes (as ``benchmarks/monitor_awkward.py``): log-normal, Poisson counts (ties),
    30% zeros, bimodal, 5% missing, uniform, a 4-level category with a 2% level, a 12-level long tail."""
    rng = np.random.default_rng(seed)
    tail = 1 / np.arange(1, 13) ** 1.5
    return pd.DataFrame(
        {
            "lognormal": rng.lognormal(0.0, 1.0, n),
            "counts": rng.poisson(1.5, n).astype(float),
            "zeros": np.where(rng.random(n) < 0.3, 0.0, rng.gamma(2.0, 1.0, n)),
            "bimodal": np.where(rng.random(n) < 0.4, rng.normal(-2, 0.7, n), rng.normal(2, 1.0, n)),
            "missing": np.where(rng.random(n) < 0.05, np.nan, rng.normal(10, 2, n)),
            "uniform": rng.random(n),
            "level4": rng.choice(["a", "b", "c", "rare"], n, p=[0.5, 0.3, 0.18, 0.02]),
            "level12": rng.choice([f"l{k:02d}" for k in range(12)], n, p=tail / tail.sum()),
        }
    )
