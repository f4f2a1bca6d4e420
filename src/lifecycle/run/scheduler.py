"""One ``lifecycle run``, phase by phase: decide, start, record (``runner`` is the entry point).

Phases are decided in order, each once every earlier phase it shares files with (by the
lock file's record of what they read and wrote) has finished, so a phase whose inputs came
out byte-identical is seen as up to date (early cutoff). Up to ``jobs`` stale phases run at
once, each on its own thread and kernel; the main thread alone writes the lock file and
``run.json``. While a notebook runs, the kernel for the next phase is already starting. What one
phase runs and the record it leaves are in ``phase``.
"""

from __future__ import annotations

import os
import queue
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from lifecycle.core import files, paths
from lifecycle.run import kernels, lockfile, notebooks, report
from lifecycle.run.phase import PhaseResult, failure, lock_entry, notebook_job


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


@dataclass
class RunResult:
    """The end of a run, for the caller (and a run report): per-phase results in phase order."""

    code: int
    run_id: str | None
    results: list[PhaseResult]
    seconds: float


class Run:
    """One run: decides each phase in order, runs the stale ones, keeps the lock current."""

    def __init__(self, phases, parameters, store, forced, jobs, echo):
        self.phases, self.parameters, self.store, self.forced, self.jobs, self.echo = (
            phases,
            parameters,
            store,
            forced,
            jobs,
            echo,
        )
        self.entries = lockfile.read()
        self.results: dict[str, PhaseResult] = {}
        self.running: dict[str, kernels.Worker] = {}
        self.spare: kernels.Worker | None = None  # a kernel already starting for the next phase
        self.events: queue.Queue = queue.Queue()
        self.folder: Path | None = None
        self.record: dict = {}
        self.failed = False
        helpers = lockfile.helper_hashes()
        # A phase whose notebook or helpers changed may read and write other files than last
        # time: until it has run again, it shares files with every phase.
        self.known = {
            p
            for p in phases
            if p in self.entries
            and self.entries[p].get("notebook") == lockfile.notebook_hash(p)
            and all(helpers.get(m) == h for m, h in self.entries[p].get("helpers", {}).items())
        }

    # --- the schedule --------------------------------------------------------------------

    def go(self) -> RunResult:
        started = time.perf_counter()
        try:
            while len(self.results) < len(self.phases):
                self._decide()
                if self.running:
                    self._finish(*self._next_event())
                elif len(self.results) < len(self.phases):
                    for phase in self.phases:  # stopped after a failure: the rest never started
                        self.results.setdefault(phase, PhaseResult(phase, "not run"))
        except KeyboardInterrupt:
            self._interrupted()
            raise
        finally:
            if self.spare:
                self.spare.cancel()
            lockfile.save_cache()
        return self._end(time.perf_counter() - started)

    def _io(self, phase: str) -> dict | None:
        return self.entries.get(phase) if phase in self.known else None

    def _blocked(self, phase: str) -> bool:
        index = self.phases.index(phase)
        return any(
            earlier not in self.results or earlier in self.running
            for earlier in self.phases[:index]
            if lockfile.conflict(self._io(earlier), self._io(phase))
        )

    def _ready(self) -> list[str]:
        if self.failed:
            return []
        return [p for p in self.phases if p not in self.results and p not in self.running and not self._blocked(p)]

    def _decide(self) -> None:
        """Skip or start every phase that can be decided now; again while that frees others."""
        progress = True
        while progress:
            progress = False
            for phase in self._ready():
                if len(self.running) >= self.jobs:
                    break
                self._decide_one(phase)
                progress = True
        waiting = [p for p in self.phases if p not in self.results and p not in self.running]
        if self.running and waiting and not self.failed and (self.spare is None or self.spare.phase not in waiting):
            if self.spare is not None:
                self.spare.cancel()
            self.spare = kernels.Worker(waiting[0], self.events)  # its kernel boots while the others run

    def _decide_one(self, phase: str) -> None:
        current = lockfile.current(phase, self.parameters[phase], lockfile.helper_hashes())
        reasons = ["forced"] if phase in self.forced else lockfile.reasons(self.entries.get(phase), current)
        if not reasons:
            self.results[phase] = PhaseResult(phase, "up to date")
            self.echo(f"{phase}  up to date")
            return
        self._start(phase, current, reasons)

    def _next_event(self):
        while True:
            try:
                return self.events.get(timeout=0.2)
            except queue.Empty:
                continue

    # --- one phase -----------------------------------------------------------------------

    def _start(self, phase: str, current: lockfile.Current, reasons: list[str]) -> None:
        first = self.folder is None
        if first:
            self._open_run_dir()
        worker = (
            self.spare if self.spare is not None and self.spare.phase == phase else kernels.Worker(phase, self.events)
        )
        if self.spare is worker:
            self.spare = None
        if first:  # ~2 s to import: once per run, only when a notebook runs, while the first kernel boots
            import papermill  # noqa: F401  (the import is the point: paid while the kernel boots)

            kernels.register_engine()
        k = self.phases.index(phase) + 1
        self.echo(f"[{k}/{len(self.phases)}] {phase} ... ({'; '.join(reasons[:3])})")
        previous = self.entries.get(phase) or {}
        self.entries[phase] = {**previous, "state": "running", "run": self.folder.name}
        lockfile.write(self.entries)
        candidates = set(previous.get("inputs", {})).union(*(e.get("outputs", {}) for e in self.entries.values()))
        before = lockfile.hashes(candidates)  # inputs are hashed before the notebook starts
        output = self.folder / f"{phase}.ipynb"
        job = notebook_job(phase, self.parameters[phase], self.store, output)
        worker.context = {
            "current": current,
            "reasons": reasons,
            "before": before,
            "started": time.time_ns(),
            "k": k,
            "output": output,
        }
        self.running[phase] = worker
        worker.begin(job)

    def _finish(self, phase: str, outcome, seconds: float) -> None:
        worker = self.running.pop(phase)
        context = worker.context
        if isinstance(outcome, BaseException):
            self._failed(phase, outcome, seconds, context)
            return
        k, total, output = context["k"], len(self.phases), context["output"]
        cells = sum(c.get("metadata", {}).get("papermill", {}).get("duration") or 0 for c in outcome.cells)
        self.entries[phase] = lock_entry(outcome.metadata.get("lifecycle", {}), context, self.folder.name)
        if self.store:  # what ran is the stored notebook now, its parameters cell rewritten from params/
            notebooks.write(notebooks.clean(notebooks.read(output)), notebooks.notebook_path(phase))
            self.entries[phase]["notebook"] = lockfile.notebook_hash(phase)
        self.known.add(phase)
        lockfile.write(self.entries)
        peak = outcome.metadata.get("lifecycle", {}).get("peak_mib")
        self.results[phase] = PhaseResult(phase, "ok", context["reasons"], round(seconds, 1), round(cells, 1), peak)
        self._write_record()
        self.echo(f"[{k}/{total}] {phase} done in {seconds:.1f} s" + (f", peak {peak} MiB" if peak else ""))

    def _failed(self, phase: str, outcome: BaseException, seconds: float, context: dict) -> None:
        self.failed = True
        k, total = context["k"], len(self.phases)
        error = failure(outcome)
        if "cell" in error:
            first_line = next((line for line in outcome.source.splitlines() if line.strip()), "")
            self.echo(f"[{k}/{total}] {phase} FAILED after {seconds:.1f} s")
            self.echo(f"  cell In[{outcome.exec_count}]: {first_line}")
            self.echo(f"  {outcome.ename}: {outcome.evalue}")
            self.echo(f"  partial notebook: {paths.relative(context['output'])}")
        else:  # the kernel died or could not start: not a cell's error
            self.echo(f"[{k}/{total}] {phase} FAILED: {type(outcome).__name__}: {outcome}")
        self.entries[phase]["state"] = "failed"
        lockfile.write(self.entries)
        self.results[phase] = PhaseResult(phase, "failed", context["reasons"], round(seconds, 1), error=error)
        self.record.update(status="failed", failed={"phase": phase, **error})
        self._write_record()

    # --- the run's own records ----------------------------------------------------------

    def _open_run_dir(self) -> None:
        # Kernels import the same lifecycle as this process, even from a copy of the project.
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.SRC), os.environ.get("PYTHONPATH")]))
        self.folder = new_run_dir()
        os.environ["LIFECYCLE_RUN_ID"] = self.folder.name  # the registry records which run made a model
        self.record = {"run_id": self.folder.name, "store": self.store, "phases": {}, "status": "running"}
        files.write_json(self.folder / "parameters.json", self.parameters)
        self.echo(f"run {self.folder.name}: {len(self.phases)} phase(s) -> {paths.relative(self.folder)}")

    def _write_record(self) -> None:
        if self.folder is None:
            return
        self.record["phases"] = {
            r.phase: {k: v for k, v in asdict(r).items() if k != "phase" and v not in (None, [])}
            for r in self.results.values()
        }
        files.write_json(self.folder / "run.json", self.record)

    def _interrupted(self) -> None:
        if self.spare is not None:
            self.spare.kill()
        for phase, worker in list(self.running.items()):
            worker.kill()
            self.results[phase] = PhaseResult(phase, "interrupted", worker.context["reasons"])
            self.echo(f"{phase} interrupted; partial notebook: {paths.relative(worker.context['output'])}")
            self.record.update(status="interrupted", failed={"phase": phase})
        lockfile.write(self.entries)  # finished phases recorded; the interrupted one stays "running"
        self._write_record()
        self._report()

    def _end(self, seconds: float) -> RunResult:
        results = [self.results[p] for p in self.phases]
        ran = sum(r.status in ("ok", "failed") for r in results)
        code = 1 if self.failed else 0
        if not self.failed:
            self.record["status"] = "ok"
            self._write_record()
            skipped = sum(r.status == "up to date" for r in results)
            stored = "; stored outputs refreshed in notebooks/" if self.store and ran else ""
            self.echo(
                f"done: {ran} phase(s) run, {skipped} up to date, in {seconds:.1f} s{stored}"
                if ran
                else f"nothing to run: {skipped} phase(s) up to date"
            )
        self._report()
        return RunResult(code, self.folder.name if self.folder else None, results, round(seconds, 1))

    def _report(self) -> None:
        """Write the run report; a problem with it is said, never fails the run."""
        if self.folder is None:
            return
        try:
            self.echo(f"report: {paths.relative(report.write(self.folder))}")
        except Exception as exc:  # noqa: BLE001  (a report that fails must not fail the run it reports)
            self.echo(f"no report: {type(exc).__name__}: {exc}")
