"""The runner's kernels: native threads at one unless exported, and the heavy libraries imported ahead."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from conftest import ROOT

from lifecycle.run import kernels


def _ask(kernel: kernels.Kernel, expression: str):
    return json.loads(ast.literal_eval(kernel.run_silently("", x=expression)["x"]))


def test_a_kernel_starts_with_one_native_thread_and_imports_the_heavy_libraries_ahead(
    monkeypatch,
):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    kernel = kernels.Kernel()
    try:
        expression = (
            "__import__('json').dumps([__import__('os').environ.get('OMP_NUM_THREADS'), "
            "sorted(m for m in __import__('sys').modules if m in ('sklearn.ensemble', 'pandas', 'matplotlib.pyplot') "
            "or m.startswith('lifecycle'))])"
        )
        threads, before = _ask(kernel, expression)
        assert threads == "1" and before == []  # cold: nothing imported yet
        kernel.warm()
        threads, after = _ask(kernel, expression)
        assert after[:3] == ["lifecycle", "lifecycle.core", "lifecycle.core.database_url"]
        assert after[-3:] == ["matplotlib.pyplot", "pandas", "sklearn.ensemble"]
        # of lifecycle, just what importing lifecycle.core.params brings, which every phase does itself
        code = (
            "import json, sys, lifecycle.core.params\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('lifecycle'))))"
        )
        alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert [m for m in after if m.startswith("lifecycle")] == json.loads(alone.stdout)
    finally:
        kernel.stop()


def test_every_phase_imports_its_parameters_module_itself():
    """What a kernel imports ahead of lifecycle (lifecycle.core.params) is in every phase's record anyway."""
    for notebook in sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")):
        code = "\n".join(
            "".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"
        )
        assert "from lifecycle.core import params" in code and "params.load(" in code, notebook.name


def test_an_exported_thread_count_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    env = kernels.kernel_env()
    assert env["OMP_NUM_THREADS"] == "3" and env["OPENBLAS_NUM_THREADS"] == "1"
