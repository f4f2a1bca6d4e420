"""compute: the engine setting, a LocalCluster as a context manager, a fast failure to connect."""

import importlib.util
import subprocess
import sys
import time

import pytest
from conftest import require_dask
from pydantic import ValidationError

from lifecycle.core import compute
from lifecycle.core.settings import Compute


def test_local_engine_yields_nothing_and_never_imports_dask():
    code = (
        "import sys; from lifecycle.core import compute, params; from lifecycle.core.settings import Compute\n"
        "with compute.session(Compute()) as client: assert client is None\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'duckdb')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"engine": "spark"}, "'local' or 'dask'"),
        ({"scheduler": "localhost:8786"}, "e.g. tcp://10.0.0.5:8786"),
        ({"scheduler": "tcp://host"}, "e.g. tcp://10.0.0.5:8786"),
        ({"memory_limit": "lots"}, "such as 4GiB, 500MB or auto"),
        ({"workers": 0}, "greater than or equal to 1"),
        ({"timeout_s": 0}, "greater than 0"),
        ({"nodes": 3}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused(changes, expected):
    with pytest.raises(ValidationError, match=expected):
        Compute(**changes)


def test_scheduler_forms_accepted():
    assert Compute(scheduler="tcp://10.0.0.5:8786").scheduler == "tcp://10.0.0.5:8786"
    assert Compute(scheduler="tls://scheduler.example:8786", memory_limit="500MB").memory_limit == "500MB"


def test_progress_lines_are_quarters_or_powers_of_two_and_never_repeat():
    lines = []
    progress = compute.Progress("tuning", 12, "fits", lines.append)
    for done in (1, 3, 4, 11, 12, 12):
        progress.update(done)
    assert lines == [
        "tuning: 25% of 12 fits done",
        "tuning: 50% of 12 fits done",
        "tuning: 75% of 12 fits done",
        "tuning: 100% of 12 fits done",
    ]
    lines.clear()
    progress = compute.Progress("scoring", show=lines.append)
    for done in (1, 2, 3, 9, 9, 16):
        progress.update(done)
    assert lines == [f"scoring: {n} tasks done" for n in (1, 2, 4, 8, 16)]


def test_a_collection_on_the_cluster_reports_its_tasks(dask_client):
    import dask.bag as db

    lines = []

    def slowly(x):
        time.sleep(0.02)
        return 2 * x

    future = dask_client.compute(db.from_sequence(range(40), npartitions=8).map(slowly).sum())
    assert compute.result(future, "summing", lines.append, every_s=0.05) == 1560
    assert lines[-1].startswith("summing: 100% of ") and lines[-1].endswith(" tasks done")
    assert len(lines) == len(set(lines)) <= 4


def test_local_cluster_runs_work_and_prints_the_dashboard():
    require_dask("distributed")
    shown = []
    settings = Compute(engine="dask", workers=2, processes=False, memory_limit="1GiB")
    with compute.session(settings, show=shown.append, dashboard_address=":0") as client:
        assert client.submit(sum, [1, 2, 3]).result() == 6
        assert compute.workers(client) == 2
        # threads of this process: no memory limit, which would count the driver's memory against them
        assert {worker["memory_limit"] for worker in client.scheduler_info()["workers"].values()} == {0}
    assert len(shown) == 1 and "local Dask cluster of 2 worker(s); dashboard: " in shown[0]
    if importlib.util.find_spec("bokeh"):  # the dask extra pins it
        assert shown[0].endswith("/status") and "dashboard: http" in shown[0]
    else:
        assert "none, it needs bokeh" in shown[0]


def test_unreachable_scheduler_fails_within_the_timeout_with_one_line():
    require_dask("distributed")
    settings = Compute(engine="dask", scheduler="tcp://127.0.0.1:9", timeout_s=1)
    started = time.monotonic()
    with pytest.raises(compute.ComputeError) as error:
        with compute.session(settings):
            pass
    assert time.monotonic() - started < 30  # generous: the point is it does not hang
    message = str(error.value)
    assert "\n" not in message and "tcp://127.0.0.1:9" in message and "compute.scheduler" in message
