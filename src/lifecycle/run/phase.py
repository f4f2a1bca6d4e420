"""One phase in a run: the job its kernel runs (papermill on its notebook), how it ended, and the
lock record it leaves. ``scheduler`` decides when each phase runs and calls these."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lifecycle.core import paths
from lifecycle.run import lockfile, notebooks


@dataclass
class PhaseResult:
    """How one phase ended in a run: ``ok``, ``up to date``, ``failed``, ``interrupted`` or ``not run``."""

    phase: str
    status: str
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0  # wall time, kernel included
    cell_seconds: float = 0.0  # the notebook's own cells
    peak_mib: int | None = None  # its kernel's peak resident memory
    error: dict | None = None


def notebook_job(phase: str, parameters: dict, store: bool, output: Path) -> Callable[[object], object]:
    """The job a kernel runs for ``phase``: papermill executes its notebook into ``output``.

    With ``store`` the notebook is copied to ``output`` first, its parameters cell rewritten from
    ``parameters``, and run as it is; otherwise papermill injects ``parameters``.
    """
    source = notebooks.notebook_path(phase)
    if store:
        nb = notebooks.read(source)
        notebooks.set_parameters(nb, phase, parameters)
        notebooks.write(nb, output)
        source = output
    injected = None if store else parameters

    def job(kernel) -> object:
        import papermill

        return papermill.execute_notebook(
            str(source),
            str(output),
            parameters=injected,
            engine_name="lifecycle",
            km=kernel.km,
            progress_bar=False,
            log_output=False,
        )

    return job


def failure(outcome: BaseException) -> dict:
    """What ``run.json`` says of a failed phase: the error, its message and, when a cell raised it, the cell."""
    import papermill

    error = {
        "error": getattr(outcome, "ename", type(outcome).__name__),
        "message": getattr(outcome, "evalue", str(outcome)),
    }
    if isinstance(outcome, papermill.PapermillExecutionError):
        error["cell"] = outcome.exec_count
    return error


def lock_entry(recorded: dict, context: dict, run_id: str) -> dict:
    """The lock record of a phase that just finished, from what its kernel reported (``recorded``)."""
    written = set(recorded.get("written", []))
    outputs = {name: digest for name, digest in lockfile.hashes(written).items() if digest is not None}
    inputs = {}
    for name in set(recorded.get("read", [])) - written:
        digest = context["before"].get(name)
        if digest is None:
            try:
                changed = os.stat(paths.ROOT / name).st_mtime_ns >= context["started"]
            except FileNotFoundError:
                continue
            digest = lockfile.CHANGED_DURING_RUN if changed else lockfile.file_hash(name)
        inputs[name] = digest
    src = paths.SRC.resolve()
    modules = [m for m in recorded.get("modules", []) if (paths.ROOT / m).resolve().is_relative_to(src)]
    return lockfile.entry(context["current"], modules, inputs, outputs, run_id)
