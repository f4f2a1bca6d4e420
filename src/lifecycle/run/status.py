"""``lifecycle status``: each phase up to date, stale (and why) or never run; nothing runs.

The graph is the one the lock file implies: an arrow from the phase that wrote a file to
each phase that read it, drawn with matplotlib (``--graph``, SVG or PNG by suffix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lifecycle.core import files
from lifecycle.core.params import resolve
from lifecycle.run import lockfile

COLORS = {"up to date": "#5a9e5a", "stale": "#e0803a", "never run": "#9a9a9a", "pending": "#e8c170"}


@dataclass
class PhaseStatus:
    phase: str
    state: str  # "up to date", "stale", "never run"; "pending": up to date unless a stale writer's outputs change
    reasons: list[str] = field(default_factory=list)
    waits_on: list[str] = field(default_factory=list)


def status(phases: list[str], extra_files=(), sets=()) -> list[PhaseStatus]:
    """The state of every phase against the lock file, as ``lifecycle run`` would see it now."""
    parameters = resolve(phases, list(extra_files), list(sets))
    entries = lockfile.read()
    helpers = lockfile.helper_hashes()
    found: dict[str, PhaseStatus] = {}
    writers = {name: phase for phase, e in entries.items() for name in e.get("outputs", {})}
    for phase in phases:
        reasons = lockfile.reasons(entries.get(phase), lockfile.current(phase, parameters[phase], helpers))
        state = "up to date" if not reasons else "never run" if reasons == ["never run"] else "stale"
        waits = sorted(
            {
                writers[name]
                for name in entries.get(phase, {}).get("inputs", {})
                if writers.get(name, phase) < phase
                and found.get(writers[name])
                and found[writers[name]].state != "up to date"
            }
        )
        if state == "up to date" and waits:
            state = "pending"
        found[phase] = PhaseStatus(phase, state, reasons, waits)
    lockfile.save_cache()
    return list(found.values())


def lines(found: list[PhaseStatus]) -> list[str]:
    width = max((len(s.phase) for s in found), default=0) + 2
    shown = []
    for s in found:
        if s.state == "stale":
            text = "stale: " + "; ".join(s.reasons)
        elif s.state == "pending":
            text = f"up to date; re-runs if {', '.join(s.waits_on)} changes its outputs"
        else:
            text = s.state
        shown.append(f"{s.phase:<{width}}{text}")
    return shown


def draw(found: list[PhaseStatus], path: Path) -> Path:
    """The phase graph, coloured by state, as SVG or PNG (from the suffix)."""
    import matplotlib
    from matplotlib.figure import Figure

    entries = lockfile.read()
    names = [s.phase for s in found]
    arrows = [(a, b, shared) for a, b, shared in lockfile.edges(entries) if a in names and b in names]
    depth = {}
    for s in found:  # a phase sits one column right of the deepest phase it reads from
        depth[s.phase] = 1 + max((depth[a] for a, b, _ in arrows if b == s.phase), default=-1)
    where = {name: (depth[name], -i) for i, name in enumerate(names)}  # one row per phase, a column per depth
    ncols, nrows = max(depth.values(), default=0) + 1, len(names)
    with matplotlib.rc_context({"svg.hashsalt": "lifecycle", "font.size": 8}):
        fig = Figure(figsize=(1.9 * ncols + 1.5, 0.42 * nrows + 1.2), layout="constrained")
        ax = fig.subplots()
        for a, b, _ in arrows:
            ax.annotate(
                "",
                xy=where[b],
                xytext=where[a],
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": "#555555",
                    "lw": 0.7,
                    "shrinkA": 12,
                    "shrinkB": 12,
                    "connectionstyle": "arc3,rad=-0.25",
                },
            )
        for s in found:
            x, y = where[s.phase]
            ax.text(
                x,
                y,
                s.phase,
                ha="center",
                va="center",
                zorder=3,
                bbox={"boxstyle": "round,pad=0.3", "facecolor": COLORS[s.state], "edgecolor": "none"},
            )
        for i, (state, color) in enumerate(COLORS.items()):
            ax.text(
                -0.5 + 0.75 * i,
                1.1,
                state,
                ha="left",
                va="center",
                bbox={"boxstyle": "round,pad=0.3", "facecolor": color, "edgecolor": "none"},
            )
        ax.set_xlim(-0.7, max(ncols - 0.3, 2.6))
        ax.set_ylim(-nrows + 0.4, 1.5)
        ax.set_axis_off()
        ax.set_title("An arrow from the phase that wrote a file to each phase that read it", fontsize=9)
        suffix = Path(path).suffix.lower().lstrip(".") or "svg"
        metadata = {"Date": None, "Creator": None} if suffix == "svg" else {"Software": None}
        return files.write_atomic(Path(path), lambda tmp: fig.savefig(tmp, format=suffix, metadata=metadata))
