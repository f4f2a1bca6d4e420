"""Fill the generated folder with the template project, then apply the answers.

cookiecutter renders this file (Jinja) and runs it with its own Python, in the new project's
folder. The template is the repository around the starter folder (``_repo_dir``'s parent): its
files tracked by git are copied (a git URL is cloned first, so these are its committed files; a
folder that is not a git checkout is walked, leaving out runtime output). The starter folder and
its test are generation machinery and stay behind. A table, when given, is copied under ``data/``
and ``lifecycle init`` (the project's own code, run from the copied ``src``) writes ``params/``
for it. Any failure prints one line and exits 1: cookiecutter then deletes the half-made folder.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS = {
    "name": """{{ cookiecutter.project_name }}""",
    "slug": """{{ cookiecutter.project_slug }}""",
    "description": """{{ cookiecutter.description }}""",
    "data": """{{ cookiecutter.data }}""".strip(),
    "target": """{{ cookiecutter.target }}""".strip(),
    "task": """{{ cookiecutter.task }}""",
    "template": """{{ cookiecutter._repo_dir }}""",
}
# What generates projects and what checks the template on public tables (the gallery): not part of a project
MACHINERY = (
    "starter/",
    "tests/e2e/test_starter.py",
    "tests/e2e/gallery.py",
    "tests/e2e/test_gallery.py",
    "CHANGELOG.md",
)
RUNTIME = {
    ".git",
    ".venv",
    ".lock-venv",
    ".cache",
    "data",
    "models",
    "reports",
    "__pycache__",
    ".ipynb_checkpoints",
    ".pytest_cache",
}
PLACEHOLDER = ".starter"  # the one file of the rendered folder, so that git keeps it


class StarterError(Exception):
    """A choice or a step the starter cannot complete; the message says what to do."""


def template_files(root: Path) -> list[str]:
    """The template's files, relative to ``root``: tracked by git when it is a checkout, else walked."""
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, text=True, check=False)
    top = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
    )
    if listed.returncode == 0 and top.returncode == 0 and Path(top.stdout.strip()).resolve() == root.resolve():
        names = [n for n in listed.stdout.split("\0") if n and (root / n).is_file()]
    else:
        names = [
            path.relative_to(root).as_posix()
            for path in sorted(root.rglob("*"))
            if path.is_file()
            and not RUNTIME & set(path.relative_to(root).parts)
            and not path.name.endswith(".egg-info")
        ]
    return [n for n in names if not n.startswith(MACHINERY)]


def copy_template(root: Path, dest: Path) -> int:
    names = template_files(root)
    if "src/lifecycle/project/init.py" not in names:
        raise StarterError(
            f"{root} does not look like the lifecycle template (no src/lifecycle/project/init.py); "
            "run cookiecutter on the template repository with --directory starter"
        )
    for name in names:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    (dest / PLACEHOLDER).unlink(missing_ok=True)
    return len(names)


def name_project(dest: Path, name: str, description: str) -> None:
    """The README's title and opening paragraph, and pyproject's description, become the project's own;
    the README's sections on starting a project from the template (this is one) and on the gallery go."""
    readme = dest / "README.md"
    text = readme.read_text(encoding="utf-8")
    body = text.split("\n\n", 2)[2]  # after the title and the template's opening paragraph
    body = re.sub(r"## (Start your own project|The gallery)\n.*?(?=^## )", "", body, flags=re.DOTALL | re.MULTILINE)
    intro = (
        f"{description}\n\nMade from the lifecycle template: one numbered Jupyter notebook per phase of the "
        "machine-learning lifecycle, thin, calling tested helpers in `src/lifecycle/`, parameterized from "
        "`params/`, run by papermill, their stored outputs checked by nbval."
    )
    readme.write_text(f"# {name}\n\n{intro}\n\n{body}", encoding="utf-8")
    pyproject = dest / "pyproject.toml"
    toml = pyproject.read_text(encoding="utf-8")
    quoted = description.replace("\\", "\\\\").replace('"', '\\"')
    pyproject.write_text(
        re.sub(r'^description = ".*"$', f'description = "{quoted}"', toml, count=1, flags=re.MULTILINE),
        encoding="utf-8",
    )


def point_at_data(dest: Path, data: str, target: str, task: str, slug: str) -> str:
    """Copy the table under ``data/`` and run the project's ``lifecycle init`` on it; what init said."""
    if not target:
        raise StarterError("a table was given without a target: answer target with the column to predict")
    source = Path(data).expanduser()
    if not source.is_absolute():  # relative to the folder cookiecutter was run in
        source = Path(os.environ.get("PWD") or dest.parent) / source
    if not source.is_file():
        raise StarterError(f"data {data}: no such file")
    copied = dest / "data" / source.name
    copied.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, copied)
    command = [
        sys.executable,
        "-m",
        "lifecycle",
        "init",
        "--data",
        f"data/{source.name}",
        "--target",
        target,
        "--name",
        slug,
        *(["--task", task] if task != "infer" else []),
    ]
    env = {**os.environ, "PYTHONPATH": str(dest / "src")}
    done = subprocess.run(command, cwd=dest, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        missing = re.search(r"No module named '([^']+)'", done.stderr)
        if missing:
            raise StarterError(
                f"pointing the project at {data} runs its own code, which needs its dependencies "
                f"({missing[1]} is missing from {sys.executable}): install cookiecutter into the "
                "project's environment (pip install -r requirements.lock), or generate without "
                "data and run `lifecycle init` in the new project"
            )
        said = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise StarterError(said[-1].removeprefix("lifecycle init: "))
    return done.stdout


def main() -> int:
    dest = Path.cwd()
    try:
        copied = copy_template(Path(ANSWERS["template"]).parent, dest)
        name_project(dest, ANSWERS["name"], ANSWERS["description"])
        said = ""
        if ANSWERS["target"] and not ANSWERS["data"]:
            raise StarterError(f"target {ANSWERS['target']} was given without a table: answer data with its file")
        if ANSWERS["data"]:
            said = point_at_data(dest, ANSWERS["data"], ANSWERS["target"], ANSWERS["task"], ANSWERS["slug"])
    except (StarterError, OSError) as exc:
        print(f"starter: {exc}", file=sys.stderr)
        return 1
    print(f"{dest.name}: {copied} files from the lifecycle template.")
    if said:
        print(said.rstrip())
        print("Next: make notebooks (runs the lifecycle on your table and stores its outputs), then make test.")
    else:
        print(
            "It runs on the built-in simulated product: make run, make test; "
            "point it at your table with lifecycle init (README: Your own data)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
