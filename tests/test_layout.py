"""The package's shape: the layers of pyproject.toml's import contract hold, and no module of
``lifecycle`` imports itself through others (a circle), not even from inside a function."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import grimp
from conftest import ROOT


def test_each_package_imports_only_the_packages_below_it():
    """import-linter's contract ([tool.importlinter] in pyproject.toml), as `make lint` runs it."""
    lint = [Path(sys.executable).parent / "lint-imports", "--config", ROOT / "pyproject.toml", "--no-cache"]
    result = subprocess.run(lint, cwd=ROOT / "src", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def circles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import one another in a circle (Tarjan's strongly connected components)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for imported in imports.get(module, ()):
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(imports):
        if module not in order:
            visit(module)
    return found


def test_circles_are_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("lifecycle", cache_dir=None)
    imports = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    assert circles(imports) == []


def modules() -> list[tuple[str, list[str], ast.Module]]:
    """Every module of the package: its path from the root, its lines, its tree."""
    found = []
    for path in sorted((ROOT / "src" / "lifecycle").rglob("*.py")):
        lines = path.read_text().splitlines()
        found.append((str(path.relative_to(ROOT)), lines, ast.parse("\n".join(lines))))
    return found


def functions() -> list[tuple[str, list[str], ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function of the package, with its module's path and lines."""
    return [
        (where, lines, node)
        for where, lines, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def test_imports_inside_functions_are_only_the_lazy_ones_and_say_why():
    """A lifecycle import inside a function hides a circle unless it keeps a heavy or optional
    dependency (Dask) or a command's own package from loading early; those say so (``# lazy: ...``)."""
    hidden = [
        f"{where}:{inner.lineno}"
        for where, lines, node in functions()
        for inner in ast.walk(node)
        if isinstance(inner, ast.ImportFrom)
        and (inner.module or "").startswith("lifecycle")
        and "# lazy: " not in lines[inner.end_lineno - 1]
    ]
    assert hidden == []


def test_no_module_over_300_lines_and_no_function_over_60():
    """A module that passes ~300 lines is two modules; a function past ~60 lines is two functions (CONTRIBUTING)."""
    long = [f"{where}: {len(lines)} lines" for where, lines, _ in modules() if len(lines) > 300]
    long += [
        f"{where}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for where, _, node in functions()
        if node.end_lineno - node.lineno >= 60
    ]
    assert long == []


def test_long_signatures_are_keyword_only_after_the_data():
    """At most four parameters (after self) may be passed by position; the settings after them by name."""
    positional = []
    for where, _, node in functions():
        names = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
        if len(names) + len(node.args.kwonlyargs) >= 8 and len(names) > 4:
            positional.append(f"{where}:{node.lineno} {node.name}({', '.join(names)})")
    assert positional == [], "put * after the data: the settings go by name"


def outside_uses() -> list[tuple[str, str]]:
    """(who, module): each import of one package's module by another package or by a notebook."""
    graph = grimp.build_graph("lifecycle", cache_dir=None)
    uses = [
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if importer.count(".") and imported.count(".") > 1 and importer.split(".")[1] != imported.split(".")[1]
    ]
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        tree = ast.parse("\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lifecycle."):
                uses += [(notebook.name, f"{node.module}.{alias.name}") for alias in node.names]
    return uses


def test_other_packages_and_the_notebooks_use_only_a_package_s_public_modules():
    """A package's ``__all__`` names the modules the rest of the project may use; the others are its own."""
    private = []
    for who, module in outside_uses():
        package, name = module.split(".")[1], module.split(".")[2]
        public = importlib.import_module(f"lifecycle.{package}").__all__
        if name not in public:
            private.append(f"{who} uses lifecycle.{package}.{name}, which lifecycle.{package}.__all__ does not name")
    assert not private, "\n".join(private)


def test_a_package_s_public_modules_load_on_first_use():
    code = (
        "import sys\nfrom lifecycle import monitoring\n"
        "assert 'lifecycle.monitoring.alerts' not in sys.modules and 'alerts' in dir(monitoring)\n"
        "assert monitoring.alerts.__name__ == 'lifecycle.monitoring.alerts'\n"
        "try:\n    monitoring.calibration\nexcept AttributeError as exc:\n    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "module 'lifecycle.monitoring' has no attribute 'calibration'"
