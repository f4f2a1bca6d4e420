"""The ``lifecycle`` command. Each command imports its own package inside its function (marked
``# lazy``), so `lifecycle status` starts without loading pandas, scikit-learn or FastAPI."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from pathlib import Path

import lifecycle
from lifecycle.core import extras
from lifecycle.core.params import ParamsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifecycle", description="Run and check the ML lifecycle notebooks.")
    parser.add_argument("--version", action="version", version=f"lifecycle {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    _run_parser(commands)
    _status_parser(commands)
    _report_and_params_parsers(commands)
    _delegated_parsers(commands)
    return parser


def version() -> str:
    """The installed package's version (its metadata); a checkout on PYTHONPATH, not installed: the source's."""
    try:
        return importlib.metadata.version("lifecycle")
    except importlib.metadata.PackageNotFoundError:
        return lifecycle.__version__


def _layers(command: argparse.ArgumentParser) -> None:
    """``-f YAML`` and ``--set KEY=VALUE`` for ``status`` and ``params check`` (``run`` has its own, with help)."""
    command.add_argument("-f", "--file", dest="files", action="append", default=[], type=Path, metavar="YAML")
    command.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")


def _run_parser(commands) -> None:
    run = commands.add_parser("run", help="execute the phase notebooks in order with papermill")
    run.add_argument("--from", dest="start", metavar="NN", help="first phase to run (number or name)")
    run.add_argument("--to", dest="end", metavar="NN", help="last phase to run")
    run.add_argument("--only", nargs="+", default=[], metavar="NN", help="run just these phases")
    run.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        default=[],
        type=Path,
        metavar="YAML",
        help="extra parameter file layered over params/ (repeatable)",
    )
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter, e.g. --set seed=7 or --set simulation.n_users=2000",
    )
    run.add_argument(
        "--store", action="store_true", help="re-execute the notebooks in place so their stored outputs are current"
    )
    _incremental_flags(run)


def _status_parser(commands) -> None:
    status = commands.add_parser("status", help="which phases are up to date, stale (and why) or never run")
    _layers(status)
    status.add_argument(
        "--graph",
        nargs="?",
        const="",
        metavar="PATH",
        help="also draw the phase graph (.svg or .png; default reports/lifecycle-graph.svg)",
    )


def _report_and_params_parsers(commands) -> None:
    report = commands.add_parser("report", help="write a run's HTML report (default: the newest run)")
    report.add_argument("run_id", nargs="?", metavar="RUN_ID", help="a folder name under reports/runs/")
    params = commands.add_parser("params", help="parameter tools")
    params_commands = params.add_subparsers(dest="params_command", required=True)
    _layers(params_commands.add_parser("check", help="validate params/ (and extra layers) for every phase"))


def _delegated_parsers(commands) -> None:
    """Commands with parsers of their own: listed here for --help, run by their modules."""
    commands.add_parser("init", help="write params/ for your own table (lifecycle init --help)", add_help=False)
    commands.add_parser("serve", help="the online prediction service (lifecycle serve --help)", add_help=False)
    commands.add_parser(
        "predict", help="batch predictions into a database or Parquet (lifecycle predict --help)", add_help=False
    )
    commands.add_parser(
        "monitor", help="drift and performance checks; exit 1 on an alert (lifecycle monitor --help)", add_help=False
    )
    commands.add_parser(
        "models", help="the model registry: versions and aliases (lifecycle models --help)", add_help=False
    )
    commands.add_parser(
        "clean",
        help="remove what lifecycle run makes again; --all: everything, after asking (lifecycle clean --help)",
        add_help=False,
    )


def _incremental_flags(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--force",
        nargs="*",
        metavar="NN",
        help="run these phases (all selected ones when none is named) even if up to date",
    )
    run.add_argument(
        "--mark-clean",
        nargs="+",
        metavar="NN",
        help="accept these phases' current state as up to date without running them",
    )
    run.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run up to N independent stale phases at once, each in its own kernel",
    )


def _run(args: argparse.Namespace) -> int:
    """``lifecycle run`` and ``lifecycle status``."""
    from lifecycle.run import lockfile, runner, status  # lazy: a command loads only its own package

    try:
        if args.command == "status":
            found = status.status(runner.select(), args.files, args.sets)
            print("\n".join(status.lines(found)))
            if args.graph is not None:
                from lifecycle.core import paths  # lazy: a command loads only its own package

                where = Path(args.graph).resolve() if args.graph else paths.REPORTS / "lifecycle-graph.svg"
                print(f"graph: {paths.relative(status.draw(found, where))}")
            return 0
        if args.mark_clean:
            return runner.mark_clean(runner.select(only=args.mark_clean), args.files, args.sets)
        phases = runner.select(args.start, args.end, args.only)
        force = None if args.force is None else [p for p in runner.select(only=args.force)] if args.force else []
        return runner.run(phases, args.files, args.sets, store=args.store, force=force, jobs=args.jobs)
    except (lockfile.Busy, lockfile.LockError) as exc:
        print(f"lifecycle: {exc}", file=sys.stderr)
        return 2


def _delegated(command: str):
    if command == "init":
        from lifecycle.project.init import main as init  # lazy: a command loads only its own package

        return init
    if command == "monitor":
        from lifecycle.monitoring.command import main as monitor  # lazy: a command loads only its own package

        return monitor
    if command == "serve":
        from lifecycle.serving.serve import main as serve  # lazy: a command loads only its own package

        return serve
    if command == "clean":
        from lifecycle.project.clean import main as clean  # lazy: a command loads only its own package

        return clean
    if command == "models":
        from lifecycle.registry.command import main as models  # lazy: a command loads only its own package

        return models
    from lifecycle.batch import main as predict  # lazy: a command loads only its own package

    return predict


def _require_extras(args: argparse.Namespace) -> None:
    """``MissingExtra`` when the command needs an extra this install lacks (run, status, report: notebooks)."""
    if args.command == "status":
        extras.require("status --graph" if args.graph is not None else "status")
    elif args.command in ("run", "report"):
        extras.require(args.command)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("serve", "predict", "monitor", "init", "clean", "models"):
        return _delegated(argv[0])(argv[1:])
    args = _parser().parse_args(argv)
    try:
        _require_extras(args)
    except extras.MissingExtra as exc:
        print(f"lifecycle: {exc}", file=sys.stderr)
        return 2
    if args.command == "report":
        from lifecycle.core import paths  # lazy: a command loads only its own package
        from lifecycle.run import report  # lazy: a command loads only its own package

        try:
            print(paths.relative(report.write(report.run_folder(args.run_id))))
        except (FileNotFoundError, ValueError) as exc:
            print(f"lifecycle report: {exc}", file=sys.stderr)
            return 2
        return 0
    from lifecycle.core.params import resolve  # lazy: a command loads only its own package
    from lifecycle.run import runner  # lazy: a command loads only its own package

    try:
        if args.command == "params":
            phases = runner.select()
            resolve(phases, args.files, args.sets)
            print(f"params OK for {len(phases)} phase(s)")
            return 0
        return _run(args)
    except ParamsError as exc:
        print(f"lifecycle: bad parameters\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lifecycle: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
