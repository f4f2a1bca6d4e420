"""The simulated product as a monitored service sees it, shared by the monitoring tests (test_monitor,
test_performance_estimate): model inputs as logged, weeks of production under a drift, and the champion's
score (the training world's true churn function)."""

from __future__ import annotations

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
