"""``lifecycle run``: execute the phase notebooks with papermill, skipping what is up to date.

A phase runs when ``reports/lifecycle.lock`` says something it depends on changed (see
``lockfile``), then records what it ran with and what it made. Phases are decided in
order, each once every earlier phase it shares files with has finished, so a phase whose
inputs come out byte-identical stays up to date (early cutoff). With ``jobs > 1``,
phases that share no files run at once, each in its own kernel. The next kernel starts
while the current notebook runs.

Each run that executes something gets its own folder ``reports/runs/<run-id>/`` (never
reused) holding the executed notebooks, the parameters each was given and ``run.json``.
``store=True`` re-executes the notebooks in place with the default parameters so their
stored outputs are current (always, up to date or not; it records in the lock too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from lifecycle.core.params import ParamsError, resolve
from lifecycle.core.settings import PHASES
from lifecycle.run import lockfile, notebooks
from lifecycle.run.scheduler import PhaseResult, Run, RunResult, new_run_dir

__all__ = ["PhaseResult", "RunResult", "execute", "mark_clean", "new_run_dir", "run", "select"]


def select(start: str | None = None, end: str | None = None, only: Iterable[str] = ()) -> list[str]:
    """The phases to run, in order: ``--only`` names, else the range ``--from`` .. ``--to``."""
    available = notebooks.phases()
    missing = [p for p in available if p not in PHASES]
    if missing:
        raise ParamsError(
            f"notebooks/{missing[0]}.ipynb has no parameter model; add one to PHASES in src/lifecycle/core/settings.py"
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


def run(
    phases: list[str],
    extra_files: Iterable[Path] = (),
    sets: Iterable[str] = (),
    store: bool = False,
    force: Iterable[str] | None = None,
    jobs: int = 1,
    echo: Callable[[str], None] = print,
) -> int:
    """Run what is stale among ``phases``; return the exit code (0 ok, 1 a notebook failed)."""
    return execute(phases, extra_files, sets, store, force, jobs, echo).code


def execute(
    phases: list[str],
    extra_files: Iterable[Path] = (),
    sets: Iterable[str] = (),
    store: bool = False,
    force: Iterable[str] | None = None,
    jobs: int = 1,
    echo: Callable[[str], None] = print,
) -> RunResult:
    """Like ``run``, returning every phase's result.

    ``force``: phases to run even when up to date (all of ``phases`` when empty, none when
    None). Parameters are validated for every phase before anything starts (``ParamsError``).
    """
    extra_files, sets = list(extra_files), list(sets)
    if store and (extra_files or sets):
        raise ParamsError("--store keeps the outputs of the default parameters; drop -f and --set")
    if jobs < 1:
        raise ParamsError(f"--jobs must be 1 or more, got {jobs}")
    forced = set(phases) if store or force is not None and not list(force) else set(force or ())
    parameters = resolve(phases, extra_files, sets)
    with lockfile.exclusive():
        return Run(phases, parameters, store, forced, jobs, echo).go()


def mark_clean(
    phases: list[str], extra_files: Iterable[Path] = (), sets: Iterable[str] = (), echo: Callable[[str], None] = print
) -> int:
    """Accept the current notebooks, parameters, helpers and files of ``phases`` as up to date."""
    parameters = resolve(phases, list(extra_files), list(sets))
    with lockfile.exclusive():
        entries = lockfile.read()
        helpers = lockfile.helper_hashes()
        for phase in phases:
            try:
                entries[phase] = lockfile.accepted(
                    entries.get(phase), lockfile.current(phase, parameters[phase], helpers), "marked clean"
                )
            except lockfile.LockError as exc:
                echo(f"{phase}  cannot be marked clean: {exc}")
                return 1
        lockfile.write(entries)
    for phase in phases:
        echo(f"{phase}  marked clean")
    return 0
