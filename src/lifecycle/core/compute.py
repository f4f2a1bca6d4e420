"""Where the heavy steps run: this process, or a Dask cluster (``compute`` in params/project.yaml).

``session(compute)`` is a context manager. With ``engine: local`` it yields None and
imports nothing. With ``engine: dask`` it yields a ``distributed.Client``: to a
``LocalCluster`` it starts (and stops) itself for ``scheduler: local``, or to the running
scheduler at ``tcp://HOST:PORT``, which must answer within ``timeout_s``. Either way it
prints one line with the dashboard link (or, when the scheduler has no bokeh, what the
dashboard needs). ``Progress`` and ``result`` print plain progress lines for long cluster jobs.
Dask is an optional extra (``pip install 'lifecycle[dask]'``); it is imported only here and in
the Dask paths of the steps.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lifecycle.core import paths
from lifecycle.core.params import PROJECT_FILE, ParamsError, read_yaml
from lifecycle.core.settings import Compute

PARAMS_FILE = "params/project.yaml"


class ComputeError(RuntimeError):
    """The cluster cannot be used; the one-line message says why and what to change."""


@contextmanager
def session(
    compute: Compute, show: Callable[[str], Any] | None = print, dashboard_address: str | None = ":8787"
) -> Iterator[Any]:
    """A Dask client for ``compute`` (None for ``engine: local``), closed on exit.

    Parameters
    ----------
    compute : the validated ``compute`` block of the parameters.
    show : called with the one line naming the cluster and its dashboard; None to stay quiet.
    dashboard_address : where a LocalCluster serves its dashboard (``:0`` for any free port,
        None for none).
    """
    if compute.engine == "local":
        yield None
        return
    Client, LocalCluster = _distributed()
    if compute.scheduler == "local":
        with warnings.catch_warnings():  # a busy dashboard port: another is taken, and the line below names it
            warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
            cluster = LocalCluster(
                n_workers=compute.workers,
                threads_per_worker=compute.threads_per_worker,
                memory_limit=compute.memory_limit if compute.processes else None,
                processes=compute.processes,
                dashboard_address=dashboard_address,
                silence_logs=logging.ERROR,
            )
        with cluster, Client(cluster, timeout=f"{compute.timeout_s}s") as client:
            _show(show, client, f"a local Dask cluster of {compute.workers} worker(s)")
            yield client
        return
    client = connect(compute.scheduler, compute.timeout_s)
    with client:
        _show(show, client, f"the Dask scheduler at {compute.scheduler}")
        yield client


def from_params() -> Compute:
    """The ``compute`` block of params/project.yaml, validated (a ``ParamsError`` naming the key)."""
    from pydantic import ValidationError

    try:
        return Compute.model_validate(read_yaml(paths.PARAMS / PROJECT_FILE).get("compute") or {})
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ParamsError(f"{PARAMS_FILE}: compute.{'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None


def connect(address: str, timeout_s: float) -> Any:
    """A client of the running scheduler at ``address``; a ``ComputeError`` after ``timeout_s`` seconds."""
    Client, _ = _distributed()
    try:
        return Client(address, timeout=f"{timeout_s}s")
    except (OSError, TimeoutError) as exc:
        raise ComputeError(
            f"cannot reach the Dask scheduler at {address} within {timeout_s:g} s "
            f"({type(exc).__name__}); start it (dask scheduler) or fix compute.scheduler "
            f"in {PARAMS_FILE}"
        ) from None


def say(line: str) -> None:
    """Print a line now (progress is read while the job runs, also through a pipe)."""
    print(line, flush=True)


class Progress:
    """Plain progress lines for a long cluster job: ``what: 25% of 120 tasks done`` at each quarter
    (or ``what: 8 tasks done`` at each power of two when the total is not known). No timings:
    the same job prints the same lines, in a terminal or a notebook's stored output."""

    def __init__(self, what: str, total: int | None = None, unit: str = "tasks", show: Callable[[str], Any] = say):
        self.what, self.total, self.unit, self.show = what, total, unit, show
        self.shown = 0  # quarters shown, or the last power of two shown

    def update(self, done: int, total: int | None = None) -> None:
        total = total or self.total
        if total:
            for quarter in range(self.shown + 1, min(4, 4 * done // total) + 1):
                self.show(f"{self.what}: {25 * quarter}% of {total:,} {self.unit} done")
                self.shown = quarter
            return
        while done >= max(1, 2 * self.shown):
            self.shown = max(1, 2 * self.shown)
            self.show(f"{self.what}: {self.shown:,} {self.unit} done")


FEED_S = 0.1  # how often the scheduler sends a job's task counts to ``result``


def result(future: Any, what: str, show: Callable[[str], Any] | None = say, every_s: float = 0.5) -> Any:
    """The result of ``future`` (of a Dask collection), with ``Progress`` lines over all the tasks
    it waits for (printed here, in the caller's thread) while the cluster works."""
    if show is None:
        return future.result()
    from distributed import wait
    from distributed.diagnostics.progressbar import ProgressBar

    counts: dict[str, int] = {}

    class Tally(ProgressBar):  # the scheduler's counts, fed to the client's event loop
        def _draw_bar(self, remaining: int, all: int, **kwargs) -> None:
            counts.update(done=all - remaining, total=all)

    tally = Tally([future], scheduler=future.client.scheduler.address, interval=f"{FEED_S}s")
    future.client.loop.add_callback(tally.listen)
    progress = Progress(what, show=show)
    while True:
        try:
            wait(future, timeout=every_s)
        except TimeoutError:
            if counts:
                progress.update(counts["done"], counts["total"])
            continue
        break
    value = future.result()  # raises the task's error, if any, before the last line
    # The scheduler's last count can come just after the result: wait a moment for it.
    deadline = time.monotonic() + 10 * every_s
    while (not counts or counts["done"] < counts["total"]) and time.monotonic() < deadline:
        time.sleep(every_s / 10)
    if counts:
        progress.update(counts["total"], counts["total"])
    # The scheduler notices the feed has ended at its next send: let it, before anyone closes the
    # cluster (which would cancel the feed mid-sleep and log that as an error).
    time.sleep(2 * FEED_S)
    return value


def workers(client: Any) -> int:
    """How many workers the cluster has now."""
    return len(client.scheduler_info().get("workers", {}))


def _show(show: Callable[[str], Any] | None, client: Any, what: str) -> None:
    if show is None:
        return
    # The scheduler serves the dashboard's pages only with bokeh installed where it runs.
    if client.run_on_scheduler(_has_bokeh):
        show(f"Running on {what}; dashboard: {client.dashboard_link}")
    else:
        show(
            f"Running on {what}; dashboard: none, it needs bokeh beside the scheduler "
            "(pip install 'lifecycle[dask]' there)"
        )


def _has_bokeh() -> bool:
    return importlib.util.find_spec("bokeh") is not None


def _distributed() -> tuple[type, type]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ComputeError(
            f"compute.engine is 'dask' in {PARAMS_FILE} but Dask is not installed: "
            "pip install 'lifecycle[dask]', or set compute.engine: local"
        ) from None
    return Client, LocalCluster
