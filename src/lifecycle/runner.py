"""``lifecycle run``: execute the phase notebooks in order with papermill.

Each run gets its own folder ``reports/runs/<run-id>/`` (never reused) holding the
executed notebooks, the parameters each was given and ``run.json`` (what ran, how it
ended). ``store=True`` re-executes the notebooks in place with the default parameters so
their stored outputs are current.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from lifecycle import files, notebooks, paths, report
from lifecycle.params import ParamsError, resolve
from lifecycle.settings import PHASES


def select(
    start: str | None = None, end: str | None = None, only: Iterable[str] = ()
) -> list[str]:
    """The phases to run, in order: ``--only`` names, else the range ``--from`` .. ``--to``."""
    available = notebooks.phases()
    missing = [p for p in available if p not in PHASES]
    if missing:
        raise ParamsError(
            f"notebooks/{missing[0]}.ipynb has no parameter model; add one to PHASES in src/lifecycle/settings.py"
        )

    def find(token: str) -> int:
        for i, phase in enumerate(available):
            if token == phase or token.isdigit() and phase[:2] == f"{int(token):02d}":
                return i
        raise ParamsError(f"no phase '{token}'; phases are {', '.join(available)}")

    only = list(only)
    if only:
        return [available[i] for i in sorted({find(t) for t in only})]
    first = find(start) if start else 0
    last = find(end) if end else len(available) - 1
    if first > last:
        raise ParamsError(f"--from {start} comes after --to {end}")
    return available[first : last + 1]


def new_run_dir() -> Path:
    """A fresh folder for this run; an existing one is never reused."""
    while True:
        run_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        folder = paths.RUNS / run_id
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue


def _kernel_manager() -> type:
    """Kernels talk over local sockets (IPC): no ports to race for, no plain-TCP warning."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc")

    return IPCKernelManager


def run(
    phases: list[str],
    extra_files: Iterable[Path] = (),
    sets: Iterable[str] = (),
    store: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    """Run ``phases``; return the exit code (0 all passed, 1 a notebook failed).

    Parameters are validated for every phase before the first notebook starts
    (``ParamsError`` otherwise).
    """
    extra_files, sets = list(extra_files), list(sets)
    if store and (extra_files or sets):
        raise ParamsError("--store keeps the outputs of the default parameters; drop -f and --set")
    parameters = resolve(phases, extra_files, sets)

    import papermill  # ~2 s to import: once per run, and only once parameters are valid

    # Kernels import the same lifecycle as this process, even from a copy of the project.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.SRC), os.environ.get("PYTHONPATH")]))
    folder = new_run_dir()
    os.environ["LIFECYCLE_RUN_ID"] = folder.name  # kernels inherit it: the registry records which run made a model
    record = {"run_id": folder.name, "store": store, "phases": {}, "status": "running"}
    files.write_json(folder / "parameters.json", parameters)
    echo(f"run {folder.name}: {len(phases)} phase(s) -> {paths.relative(folder)}")
    started = time.perf_counter()
    for k, phase in enumerate(phases, 1):
        output = folder / f"{phase}.ipynb"
        source = notebooks.notebook_path(phase)
        if store:
            nb = notebooks.read(source)
            notebooks.set_parameters(nb, phase, parameters[phase])
            notebooks.write(nb, output)
            source = output
        echo(f"[{k}/{len(phases)}] {phase} ...")
        t0 = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(source),
                str(output),
                parameters=None if store else parameters[phase],
                cwd=str(paths.NOTEBOOKS),
                progress_bar=False,
                log_output=False,
                kernel_manager_class=_kernel_manager(),
                shutdown_kernel="immediate",  # the notebook is done; a graceful stop only adds time
            )
        except papermill.PapermillExecutionError as exc:
            seconds = time.perf_counter() - t0
            record["phases"][phase] = {"status": "failed", "seconds": round(seconds, 1)}
            record.update(status="failed", failed={"phase": phase, "cell": exc.exec_count, "error": exc.ename,
                                                   "message": exc.evalue})
            files.write_json(folder / "run.json", record)
            first_line = next((line for line in exc.source.splitlines() if line.strip()), "")
            echo(f"[{k}/{len(phases)}] {phase} FAILED after {seconds:.1f} s")
            echo(f"  cell In[{exc.exec_count}]: {first_line}")
            echo(f"  {exc.ename}: {exc.evalue}")
            echo(f"  partial notebook: {paths.relative(output)}")
            _report(folder, echo)
            return 1
        except KeyboardInterrupt:
            record.update(status="interrupted", failed={"phase": phase})
            files.write_json(folder / "run.json", record)
            echo(f"[{k}/{len(phases)}] {phase} interrupted; partial notebook: {paths.relative(output)}")
            _report(folder, echo)
            raise
        except Exception as exc:  # the kernel died or could not start: not a cell's error
            record.update(status="failed", failed={"phase": phase, "error": type(exc).__name__, "message": str(exc)})
            files.write_json(folder / "run.json", record)
            echo(f"[{k}/{len(phases)}] {phase} FAILED: {type(exc).__name__}: {exc}")
            _report(folder, echo)
            return 1
        seconds = time.perf_counter() - t0
        record["phases"][phase] = {"status": "ok", "seconds": round(seconds, 1)}
        if store:
            notebooks.write(notebooks.clean(notebooks.read(output)), notebooks.notebook_path(phase))
        echo(f"[{k}/{len(phases)}] {phase} done in {seconds:.1f} s")
    record["status"] = "ok"
    files.write_json(folder / "run.json", record)
    stored = "; stored outputs refreshed in notebooks/" if store else ""
    echo(f"done: {len(phases)} phase(s) in {time.perf_counter() - started:.1f} s{stored}")
    _report(folder, echo)
    return 0


def _report(folder: Path, echo: Callable[[str], None]) -> None:
    """Write the run report; a problem with it is said, never fails the run."""
    try:
        echo(f"report: {paths.relative(report.write(folder))}")
    except Exception as exc:  # noqa: BLE001
        echo(f"no report: {type(exc).__name__}: {exc}")
