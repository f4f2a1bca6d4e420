"""JupyterLab and the run report in a real browser: headless Chromium driven by Playwright.

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and the ``playwright`` package (no
browser download: Playwright drives the system browser). Without the browser the tests
are skipped and say why; CI sets ``LIFECYCLE_REQUIRE_BROWSER=1`` (``.ci/run`` installs it),
so there a missing browser fails instead.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time

import httpx
import nbformat
import pytest
from conftest import copy_project, run_in

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    reason = "no chromium on PATH (Debian: apt-get install -y --no-install-recommends chromium)"
    if os.environ.get("LIFECYCLE_REQUIRE_BROWSER"):
        raise RuntimeError(f"LIFECYCLE_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402  (after the skip when it is missing)

NOTEBOOK = "00_problem_definition.ipynb"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, in a copy of the project."""
    project = copy_project(tmp_path_factory.mktemp("lab") / "project", own_params=True)  # as the notebook says
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    settings = project / ".lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')  # every cell in the page
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={project}",
        f"--LabApp.user_settings_dir={project / '.lab-settings'}",
        f"--LabApp.workspaces_dir={project / '.lab-workspaces'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "JUPYTER_CONFIG_DIR": str(project / ".jupyter-config")}
    log = open(project / "lab.log", "w")
    process = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, (project / "lab.log").read_text()
        try:
            if httpx.get(f"{url}/api/status?token={token}", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    else:
        raise AssertionError(f"JupyterLab did not start: {(project / 'lab.log').read_text()[-2000:]}")
    yield {"url": url, "token": token, "project": project}
    process.terminate()
    process.wait(30)
    log.close()


def test_notebook_00_runs_all_cells_in_jupyterlab_without_errors(browser, lab):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{lab['url']}/lab/tree/notebooks/{NOTEBOOK}?token={lab['token']}")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(notebook.locator(".jp-Notebook")).to_be_visible(timeout=60_000)
    status = page.locator(".jp-Notebook-ExecutionIndicator")
    expect(status).to_have_attribute("data-status", "idle", timeout=60_000)  # the kernel is up
    count = sum(c.cell_type == "code" for c in nbformat.read(lab["project"] / "notebooks" / NOTEBOOK, 4).cells)
    expect(notebook.locator(".jp-CodeCell")).to_have_count(count, timeout=30_000)
    notebook.locator(".jp-Notebook").click()
    page.get_by_role("menuitem", name="Edit", exact=True).click()  # start from no outputs, as a reader would
    page.get_by_role("menuitem", name="Clear Outputs of All Cells", exact=True).click()
    expect(notebook.locator(".jp-OutputArea-output")).to_have_count(0)
    prompts = notebook.locator(".jp-CodeCell .jp-InputPrompt")
    asked, deadline = [], time.monotonic() + 180
    while time.monotonic() < deadline:  # until nothing is queued or running ([*]) and the kernel is idle
        texts = [t.strip().rstrip(":") for t in prompts.all_inner_texts()]
        if texts and "[*]" not in texts and texts[0] != "[ ]" and status.get_attribute("data-status") == "idle":
            break
        if set(texts) == {"[ ]"} and len(asked) < 3 and (not asked or time.monotonic() - asked[-1] > 20):
            # Run All Cells, again if nothing was queued 20 s after the last click (a busy machine can lose one)
            notebook.locator(".jp-Notebook").click()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            asked.append(time.monotonic())
        time.sleep(0.5)
    errors = notebook.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    assert errors.count() == 0, "\n".join(errors.all_inner_texts())
    assert all(re.fullmatch(r"\[\d+\]", t) for t in texts), f"not every cell ran: {texts} ({len(asked)} Run All)"
    outputs = notebook.locator(".jp-OutputArea-output")
    assert outputs.count() >= 4
    assert "The model ships only if its test" in notebook.inner_text()
    page.close()


def test_the_run_report_renders_its_headlines_plots_and_links(browser, tmp_path):
    project = copy_project(tmp_path / "project")
    done = run_in(project, "lifecycle", "run", "--to", "03")
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = (project / "reports" / "runs").iterdir()
    page = browser.new_page()
    page.goto((folder / "report.html").as_uri())
    expect(page.locator("#run-status")).to_have_text("ok")
    expect(page.locator("#phases tr")).to_have_count(5)  # a header and four phases
    text = page.inner_text("body")
    assert "The model ships only if its test roc_auc is at least 0.75" in text  # 00's verdict
    assert "Sufficient: all" in text and "Valid: all" in text  # 01's and 02's checks
    images = page.locator("section.phase img")
    assert images.count() >= 1
    widths = images.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert all(w > 100 for w in widths), widths  # every plot decoded
    page.locator("#phases a", has_text="02_data_preparation.html").click()
    page.wait_for_load_state()
    assert page.url.endswith("02_data_preparation.html") and "prepare.validate" in page.inner_text("body")
    page.close()
