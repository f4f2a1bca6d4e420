import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lifecycle.core import plots


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "x": rng.normal(size=300),
            "plan": rng.choice(["a", "b"], 300),
            "y": rng.integers(0, 2, 300),
            "label": rng.choice(["yes", "no"], 300),
        }
    )


def test_every_plot_returns_a_figure():
    table = _table()
    figures = [
        plots.missingness(table),
        plots.distributions(table, ["x", "plan"]),
        plots.target_balance(pd.DataFrame({"rows": [200, 100]}, index=[0, 1]), "y"),
        plots.target_relations(table, "y", ["x", "plan"]),
        plots.target_relations(table, "label", ["x"]),
        plots.correlations(table[["x", "y"]].corr()),
        plots.trend(pd.DataFrame({"rows": [3, 4], "y mean": [0.1, 0.2]}, index=["2025-01", "2025-02"]), "when"),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    assert plots.trend(None, None) is None and plots.save(None, "nothing") is None


def test_save_writes_the_same_bytes_each_time(tmp_path, monkeypatch):
    monkeypatch.setattr(plots.paths, "FIGURES", tmp_path)
    plots.save(plots.missingness(_table()), "a")
    plots.save(plots.missingness(_table()), "b")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_a_saved_figure_shows_the_png_it_wrote_and_reads_as_the_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(plots.paths, "FIGURES", tmp_path)
    fig = plots.missingness(_table())
    shown = plots.save(fig, "a")
    assert shown._repr_png_() == (tmp_path / "a.png").read_bytes()  # drawn once: what the notebook shows is the file
    assert repr(shown) == repr(fig) and repr(shown).startswith("<Figure size ")  # the stored text/plain output
