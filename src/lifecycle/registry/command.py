"""``lifecycle models``: what the registry holds, and its aliases.

    lifecycle models list [NAME]                     the models (versions, latest, aliases), or one's versions
    lifecycle models show NAME[@ALIAS] [--version V] a version's metadata (default: the champion, else the latest)
    lifecycle models alias NAME ALIAS VERSION        point ALIAS at VERSION (champion, challenger, your own)
    lifecycle models alias NAME ALIAS --remove       remove it

The commands of the stages' time still work, saying what replaces them: ``show --stage S`` and
``promote NAME V --stage S`` (production: champion; candidate: challenger; archived: the version loses its
aliases).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import pandas as pd

from lifecycle import registry


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifecycle models", description="The model registry (models/).")
    commands = parser.add_subparsers(dest="models_command", required=True)
    listing = commands.add_parser("list", help="the registered models, or the versions of one with their aliases")
    listing.add_argument("name", nargs="?", metavar="NAME")
    show = commands.add_parser("show", help="the metadata of a version (default: the champion, else the latest)")
    show.add_argument("name", metavar="NAME[@ALIAS]", help="a model, or one of its aliases (churn@challenger)")
    which = show.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="V")
    which.add_argument("--stage", metavar="STAGE", help=argparse.SUPPRESS)  # deprecated: NAME@ALIAS
    alias = commands.add_parser("alias", help="point an alias (champion, challenger, your own) at a version")
    alias.add_argument("name", metavar="NAME")
    alias.add_argument("alias", metavar="ALIAS")
    alias.add_argument("version", nargs="?", metavar="VERSION")
    alias.add_argument("--remove", action="store_true", help="remove the alias instead")
    promote = commands.add_parser("promote", help="deprecated: `lifecycle models alias NAME champion VERSION`")
    promote.add_argument("name", metavar="NAME")
    promote.add_argument("version", metavar="VERSION")
    promote.add_argument("--stage", required=True, metavar="STAGE", help="production, candidate or archived")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print what was asked; 2 with one line on stderr when the registry cannot answer it."""
    args = _parser().parse_args(argv)
    try:
        if args.models_command == "alias":
            print(_alias(args))
        elif args.models_command == "promote":
            print(_promote(args.name, args.version, args.stage))
        elif args.models_command == "show":
            name, alias = registry.parse_reference(args.name)
            if args.stage is not None:
                alias = _from_stage(args.stage, f"lifecycle models show {name}@ALIAS")
            print(json.dumps(registry.show(name, args.version, alias), indent=2, ensure_ascii=False))
        elif args.name:
            print(registry.versions(args.name).to_string())
        else:
            print(_overview())
    except registry.RegistryError as exc:
        print(f"lifecycle: {exc}", file=sys.stderr)
        return 2
    return 0


def _alias(args: argparse.Namespace) -> str:
    if args.remove == (args.version is not None):
        raise registry.RegistryError(
            f"give a VERSION for {args.alias} (lifecycle models alias {args.name} {args.alias} 3) or --remove, not both"
            if args.remove
            else f"give the VERSION {args.alias} should name (lifecycle models alias {args.name} {args.alias} 3), "
            "or --remove"
        )
    if args.remove:
        return registry.remove_alias(args.name, args.alias)
    return registry.set_alias(args.name, args.alias, args.version)


def _overview() -> str:
    if not registry.names():
        return "no models registered yet"
    rows = []
    for name in registry.names():
        table, pointers = registry.versions(name), registry.aliases(name)
        rows.append(
            {
                "model": name,
                "versions": len(table),
                "latest": table.index.max(),
                "aliases": ", ".join(f"{alias}={version}" for alias, version in pointers.items()) or "-",
            }
        )
    return pd.DataFrame(rows).set_index("model").to_string()


def _from_stage(stage: str, instead: str) -> str:
    """The alias an old stage name stands for, saying on stderr what to use instead."""
    if stage not in registry.FROM_STAGE:
        raise registry.RegistryError(
            f"stage {stage!r} is not one of {', '.join(registry.FROM_STAGE)}; stages are aliases now: "
            f"use {instead} (e.g. champion, challenger)"
        )
    alias = registry.FROM_STAGE[stage]
    print(
        f"lifecycle: --stage is deprecated, stages are aliases now ({stage}: {alias}); use {instead}",
        file=sys.stderr,
    )
    return alias


def _promote(name: str, version: str, stage: str) -> str:
    """The old ``promote --stage``: production and candidate set champion and challenger, archived removes the
    version's aliases."""
    if stage == "archived":
        print(
            f"lifecycle: promote is deprecated, stages are aliases now (archived: no alias); use "
            f"`lifecycle models alias {name} ALIAS --remove`",
            file=sys.stderr,
        )
        with warnings.catch_warnings():  # said above, in the command's words
            warnings.simplefilter("ignore", DeprecationWarning)
            return registry.promote(name, version, stage)
    if stage not in registry.STAGES:
        raise registry.RegistryError(
            f"stage {stage!r} is not one of {', '.join(registry.STAGES)}; stages are aliases now: use "
            f"`lifecycle models alias {name} ALIAS {version}` (e.g. champion, challenger)"
        )
    alias = _from_stage(stage, f"`lifecycle models alias {name} {registry.FROM_STAGE[stage]} {version}`")
    return registry.set_alias(name, alias, version)
