"""compute: the engine setting, a LocalCluster as a context manager, a fast failure to connect."""

import subprocess
import sys
import time

import pytest
from pydantic import ValidationError

from lifecycle import compute
from lifecycle.settings import Compute

pytest.importorskip("distributed")


def test_local_engine_yields_nothing_and_never_imports_dask():
    code = ("import sys; from lifecycle import compute, params; from lifecycle.settings import Compute\n"
            "with compute.session(Compute()) as client: assert client is None\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'duckdb')]")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("changes, expected", [
    ({"engine": "spark"}, "'local' or 'dask'"),
    ({"scheduler": "localhost:8786"}, "e.g. tcp://10.0.0.5:8786"),
    ({"scheduler": "tcp://host"}, "e.g. tcp://10.0.0.5:8786"),
    ({"memory_limit": "lots"}, "such as 4GiB, 500MB or auto"),
    ({"workers": 0}, "greater than or equal to 1"),
    ({"timeout_s": 0}, "greater than 0"),
    ({"nodes": 3}, "Extra inputs are not permitted"),
])
def test_bad_settings_are_refused(changes, expected):
    with pytest.raises(ValidationError, match=expected):
        Compute(**changes)


def test_scheduler_forms_accepted():
    assert Compute(scheduler="tcp://10.0.0.5:8786").scheduler == "tcp://10.0.0.5:8786"
    assert Compute(scheduler="tls://scheduler.example:8786", memory_limit="500MB").memory_limit == "500MB"


def test_local_cluster_runs_work_and_prints_the_dashboard():
    shown = []
    settings = Compute(engine="dask", workers=2, processes=False, memory_limit="1GiB")
    with compute.session(settings, show=shown.append, dashboard_address=":0") as client:
        assert client.submit(sum, [1, 2, 3]).result() == 6
        assert compute.workers(client) == 2
    assert len(shown) == 1 and "local Dask cluster of 2 worker(s); dashboard: http" in shown[0]


def test_unreachable_scheduler_fails_within_the_timeout_with_one_line():
    settings = Compute(engine="dask", scheduler="tcp://127.0.0.1:9", timeout_s=1)
    started = time.monotonic()
    with pytest.raises(compute.ComputeError) as error:
        with compute.session(settings):
            pass
    assert time.monotonic() - started < 30  # generous: the point is it does not hang
    message = str(error.value)
    assert "\n" not in message and "tcp://127.0.0.1:9" in message and "compute.scheduler" in message
