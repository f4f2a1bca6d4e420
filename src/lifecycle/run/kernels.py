"""Kernels for ``lifecycle run``: started ahead of time, asked at the end what they did.

``Kernel`` starts a kernel on the thread that will run the notebook (each thread has its
own event loop), so the runner can start the next one while the current notebook runs.
The papermill engine ``lifecycle`` runs a notebook on such a kernel and, once the last
cell is done, asks the kernel (silently: no cell, no output) which ``lifecycle`` modules
it imported and what ``lifecycle.core.files`` read and wrote. The answer goes in the executed
notebook's metadata under ``lifecycle``. ``Worker`` is the thread that owns one such kernel
and runs one notebook on it when told to.

A kernel started ahead also imports the heavy libraries the notebooks use (``WARM``) while the
current notebook runs: two to three seconds a phase that no longer wait in its first cell. Of
``lifecycle`` only ``lifecycle.core.params``, which every phase imports first (its parameters): which
other ``lifecycle`` modules a phase imports stays its own record.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import signal
import sys
import threading
import time

from lifecycle.core import paths

MODULES = (
    "__import__('json').dumps(sorted({getattr(m, '__file__', None) or '' for n, m in "
    "list(__import__('sys').modules.items()) if n == 'lifecycle' or n.startswith('lifecycle.')}))"
)
# The kernel's own peak resident memory (its workers' not included): KiB on Linux, bytes on macOS.
PEAK = "__import__('json').dumps(__import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss)"
IO = (
    "__import__('sys').modules['lifecycle.core.files'].recorded() "
    "if 'lifecycle.core.files' in __import__('sys').modules else '{}'"
)


# Imported, silently, by a kernel while it waits for its notebook; a module missing here is skipped.
WARM = (
    "numpy",
    "pandas",
    "scipy.stats",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.inspection",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "matplotlib.pyplot",
    "IPython.display",
    "pydantic",
    "yaml",
    "lifecycle.core.params",
)
# Native thread pools (OpenMP, BLAS) get one thread in the kernels: a phase parallelizes across
# processes (``n_jobs``), and a second thread per process only oversubscribes two cores
# (HistGradientBoosting's cross-validation on the default data: 6.7 s at one thread, 38 s at two
# on a busy machine). One thread also fits the same bits on any machine, so the stored outputs do
# not depend on its core count. A value exported before ``lifecycle run`` wins.
THREADS = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")


def kernel_env() -> dict[str, str]:
    """The environment a phase's kernel starts with: ours, native threads at one unless set."""
    return {**THREADS, **os.environ}


WARM_CODE = "\n".join(f"try:\n    import {m}\nexcept Exception:\n    pass" for m in WARM)


def kernel_manager_class() -> type:
    """Kernels talk over local sockets (IPC): no ports to race for, no plain-TCP warning."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc")

    return IPCKernelManager


class Kernel:
    """A kernel started in the notebooks' folder; use it and stop it on the same thread."""

    def __init__(self, kernel_name: str = "python3") -> None:
        import secrets
        import tempfile

        from jupyter_core.utils import run_sync

        # IPC socket names are relative to the cwd unless absolute; the kernel's cwd is not ours.
        self.where = os.path.join(tempfile.gettempdir(), f"lifecycle-kernel-{secrets.token_hex(4)}")
        self.km = kernel_manager_class()(kernel_name=kernel_name, ip=self.where)
        run_sync(self.km.start_kernel)(cwd=str(paths.NOTEBOOKS), env=kernel_env())

    def warm(self, timeout: float = 120) -> None:
        """Import ``WARM`` in the kernel; best effort (a cold kernel still runs the notebook, only slower)."""
        try:
            self.run_silently(WARM_CODE, timeout=timeout)
        except Exception:  # noqa: BLE001  (best effort, as said)
            pass

    def run_silently(self, code: str, timeout: float = 120, **expressions: str) -> dict:
        """Run ``code`` with no output and no history; the values of ``expressions`` (their reprs).

        The client is the manager's own, so a busy machine's late heartbeat is not taken for a death,
        and a kernel killed meanwhile ends the wait at once (RuntimeError) rather than at ``timeout``."""
        from jupyter_core.utils import run_sync

        client = self.km.client()
        client.start_channels()
        try:
            run_sync(client.wait_for_ready)(timeout=timeout)
            msg_id = client.execute(code, silent=True, store_history=False, user_expressions=expressions)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    reply = run_sync(client.get_shell_msg)(timeout=1)
                except queue.Empty:
                    if not run_sync(self.km.is_alive)() or time.monotonic() > deadline:
                        raise RuntimeError("the kernel died or did not answer") from None
                    continue
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
        finally:
            client.stop_channels()
        answers = reply["content"].get("user_expressions", {})
        return {name: answer["data"]["text/plain"] for name, answer in answers.items()}

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        return getattr(provisioner, "pid", None)

    def stop(self) -> None:
        from jupyter_core.utils import run_sync

        try:
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001  (already gone: nothing left to stop)
            self.kill()

    def kill(self) -> None:
        """Stop the kernel process from any thread (Ctrl-C): no event loop needed; leave no files."""
        import glob

        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for leftover in [*glob.glob(f"{self.where}-*"), self.km.connection_file]:
            if leftover:
                try:
                    os.unlink(leftover)
                except OSError:
                    pass


SAVE_EVERY = 2.0  # seconds between saves of the partial executed notebook


def _throttle_saves(nb_man) -> None:
    """papermill writes the whole executed notebook before and after every cell (images
    included): seconds per run. Save at most every ``SAVE_EVERY`` seconds instead; papermill
    still writes it at the end, and on a failing cell."""
    save, last = nb_man.save, [time.monotonic()]

    def throttled(**kwargs):
        if time.monotonic() - last[0] >= SAVE_EVERY:
            save(**kwargs)
            last[0] = time.monotonic()

    nb_man.save = throttled


def register_engine() -> None:
    """Make ``engine_name="lifecycle"`` available to ``papermill.execute_notebook``."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class RecordingClient(PapermillNotebookClient):
        def papermill_execute_cells(self):
            super().papermill_execute_cells()
            failed = any(o.get("output_type") == "error" for c in self.nb.cells for o in c.get("outputs", []))
            if not failed:
                self.nb.metadata["lifecycle"] = self._ask()

        def _ask(self) -> dict:
            msg_id = self.kc.execute(
                "", silent=True, store_history=False, user_expressions={"modules": MODULES, "io": IO, "peak": PEAK}
            )
            reply = self.wait_for_reply(msg_id)
            answers = reply["content"]["user_expressions"]
            values = {k: json.loads(ast.literal_eval(v["data"]["text/plain"])) for k, v in answers.items()}
            peak_mib = round(values["peak"] / (2**20 if sys.platform == "darwin" else 2**10))
            modules = [paths.relative(m) for m in values["modules"] if m]
            return {"modules": modules, "peak_mib": peak_mib, **values["io"]}

    class RecordingEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man,
            kernel_name,
            log_output=False,
            stdout_file=None,
            stderr_file=None,
            start_timeout=60,
            execution_timeout=None,
            **kwargs,
        ):
            from papermill.engines import logger, merge_kwargs, remove_args

            _throttle_saves(nb_man)
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(
                kwargs,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            return RecordingClient(nb_man, **final).execute()

    papermill_engines.register("lifecycle", RecordingEngine)


class Worker:
    """A thread with its own kernel, started at once; it runs a job when given one."""

    def __init__(self, phase: str, events: queue.Queue) -> None:
        self.phase, self.events = phase, events
        self.context: dict = {}
        self.kernel = None
        self._job = None
        self._go = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"phase-{phase}", daemon=True)
        self._thread.start()

    def begin(self, job) -> None:
        self._job = job
        self._go.set()

    def cancel(self) -> None:
        """Not needed after all: stop its kernel, and wait for that (no kernel outlives the run)."""
        self._go.set()
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            self.kill()

    def kill(self) -> None:
        if self.kernel is not None:
            self.kernel.kill()

    def _main(self) -> None:
        try:
            self.kernel = Kernel()
        except Exception as exc:  # noqa: BLE001  (reported as the phase's failure)
            failure = exc
        else:
            failure = None
            self.kernel.warm()
        self._go.wait()
        if self._job is None:
            if self.kernel is not None:
                self.kernel.stop()
            return
        t0 = time.perf_counter()
        try:
            outcome = failure if failure is not None else self._job(self.kernel)
        except BaseException as exc:  # noqa: BLE001  (handed to the main thread, which reports it)
            outcome = exc
        finally:
            if self.kernel is not None:
                self.kernel.stop()
        self.events.put((self.phase, outcome, time.perf_counter() - t0))
