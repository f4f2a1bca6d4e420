"""Models that break the service's scoring process (importable by it): one ends its process on a
marked record, one hangs while a gate file exists."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

# What a scoring process needs on its PYTHONPATH to import these models by name (support.dying_model): tests/
ON_PATH = str(Path(__file__).resolve().parents[1])


class DiesOnMarkedRecord:
    """Scores every record 0.5, except that a ``spend`` of -1 ends the process at once, as a crash would."""

    classes_ = np.array([0, 1])

    def predict_proba(self, X) -> np.ndarray:
        if (X["spend"] == -1).any():
            os._exit(3)
        return np.full((len(X), 2), 0.5)


class HangsWhileGateExists:
    """Scores every record 0.5, but hangs, as a deadlocked model would, while the file ``gate`` exists
    (a new process checking that it can score hangs too)."""

    classes_ = np.array([0, 1])

    def __init__(self, gate: str):
        self.gate = gate

    def predict_proba(self, X) -> np.ndarray:
        while os.path.exists(self.gate):
            time.sleep(0.05)
        return np.full((len(X), 2), 0.5)
