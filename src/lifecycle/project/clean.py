"""``lifecycle clean``: remove what ``lifecycle run`` makes again, never what it cannot.

    lifecycle clean            # the derived outputs (``DERIVED``)
    lifecycle clean --all      # data/, models/ and reports/, everything; asks first (--yes: does not)

Derived: the prepared table (02), the features and splits (04), the training records (05-09),
a simulated or example experiment log (11), the monitored rows with their labels (12), and
reports/ (cards, figures, each run's executed notebooks and report, the run lock file).

Kept: your tables (wherever ``lifecycle init`` or you put them, e.g. ``data/cars.csv``);
``data/raw/``, whose snapshots are the only record of what a source that changes (a database,
a file you edit) held when a model was trained; the prediction store and the batch store the
service and ``lifecycle predict`` write; the label feed; the experiment log you name; and the
registry, ``models/``. A derived path that holds a file params/ names is kept, and said.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lifecycle.core import paths
from lifecycle.core.params import PROJECT_FILE, ParamsError, read_yaml
from lifecycle.core.settings import Experimentation, Monitoring, Store, batch_store
from lifecycle.run import lockfile
from lifecycle.store import prediction_log

DERIVED = (
    "data/interim",
    "data/processed",
    "data/training",
    "data/experiment/simulated_log.parquet",
    "data/experiment/example_log.parquet",
    "data/monitoring/labelled_production.parquet",
    "reports",
)
EVERYTHING = ("data", "models", "reports")


class CleanError(ValueError):
    """Nothing can be removed safely; the message says why and what to do."""


def named_in_params(root: Path) -> list[Path]:
    """The files params/ under ``root`` names: the source tables, the stores (SQLite), the experiment
    log and the label feed."""
    folder = root / "params"
    project = read_yaml(folder / PROJECT_FILE)
    source, store = project.get("source") or {}, project.get("store") or {}
    experiment, monitoring = (
        read_yaml(folder / name) if (folder / name).is_file() else {}
        for name in ("11_experimentation.yaml", "12_monitoring.yaml")
    )
    url = store.get("url") or Store.model_fields["url"].default
    urls = [url, store.get("batch_url") or batch_store(url), source.get("url")]
    files = [
        source.get("path"),
        source.get("events_path"),
        experiment.get("log_path", Experimentation.model_fields["log_path"].default),
        monitoring.get("labels_path", Monitoring.model_fields["labels_path"].default),
    ]
    named = [root / name for name in files if isinstance(name, str) and name]
    return named + [root / path for path in (_sqlite_file(u) for u in urls if isinstance(u, str)) if path]


def derived(root: Path) -> tuple[list[Path], list[str]]:
    """The derived paths that exist under ``root``, and a sentence for each one kept because it holds a
    file params/ names."""
    named = [path.resolve() for path in named_in_params(root)]
    found, kept = [], []
    for relative in DERIVED:
        path = root / relative
        if not path.exists():
            continue
        inside = [n for n in named if n == path.resolve() or path.resolve() in n.parents]
        if inside:
            kept.append(
                f"kept {relative}: it holds {inside[0].relative_to(root.resolve()).as_posix()}, which "
                "params/ names; move that file out of it to clean it"
            )
        else:
            found.append(path)
    return found, kept


def remove(found: list[Path]) -> None:
    for path in found:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def clean(root: Path, everything: bool = False) -> list[str]:
    """Remove the derived outputs under ``root`` (``everything``: data/, models/ and reports/ whole), unless
    a ``lifecycle run`` holds the project; what was done, a line each."""
    if everything:
        found, said = [root / name for name in EVERYTHING if (root / name).exists()], []
    else:
        found, said = derived(root)
    lock = root / "reports" / ".lifecycle-run"  # a run holds it; without reports/, no run is on
    with lockfile.exclusive(lock) if lock.parent.is_dir() else contextlib.nullcontext():
        remove(found)
    return [f"removed {path.relative_to(root).as_posix()}" for path in found] + said


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL as written (relative: to the project root); None for anything else."""
    try:
        return prediction_log.sqlite_file(make_url(url))
    except (ArgumentError, ValueError):
        return None


def _confirmed(root: Path, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise CleanError(
            "--all deletes your tables under data/, the prediction store, the label feed and every "
            "registered model, and there is no terminal to confirm on; run `make clean-all "
            "CONFIRM=yes` (or `lifecycle clean --all --yes`)"
        )
    shown = ", ".join(f"{name}/" for name in EVERYTHING if (root / name).exists())
    answer = input(
        f"Delete {shown} in {root}: your tables, the prediction store, the label feed and every "
        "registered model, which `lifecycle run` cannot make again? Type yes to delete: "
    )
    return answer.strip().lower() == "yes"


def main(argv: list[str] | None = None) -> int:
    """``lifecycle clean [--all] [--yes]``: 0 when done (or declined), 2 when it cannot or must not run."""
    parser = argparse.ArgumentParser(prog="lifecycle clean", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--all", dest="everything", action="store_true", help="remove data/, models/ and reports/ whole (asks first)"
    )
    parser.add_argument("--yes", action="store_true", help="with --all: do not ask")
    args = parser.parse_args(argv)
    try:
        if args.everything and not _confirmed(paths.ROOT, args.yes):
            print("lifecycle clean: nothing removed")
            return 0
        done = clean(paths.ROOT, args.everything)
    except (CleanError, ParamsError, lockfile.Busy) as exc:
        print(f"lifecycle clean: {exc}", file=sys.stderr)
        return 2
    print("\n".join(done) if done else "lifecycle clean: nothing to remove")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
