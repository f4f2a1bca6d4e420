"""Aliases: names people know (``champion``, ``challenger``, any of your own) for versions, as in MLflow's
registry since it deprecated stages (2.9). An alias points at one version; a version can have several.

::

    models/<name>/aliases.json    {"aliases": {"champion": 3, "challenger": 4},
                                   "history": [{"alias": "champion", "version": 3, "was": 2}, ...]}

Every change is one atomic write under ``models/.lock`` and is appended to ``history`` (``version`` null:
removed). A registry written before aliases holds ``stages.json`` instead; the first use migrates it
(production -> champion, the newest candidate -> challenger, archived -> no alias), says so once, keeps
the old file as ``stages.json.migrated`` and its content in the history.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from lifecycle.core import files, paths
from lifecycle.registry.store import RegistryError, check_name, locked, shown

CHAMPION, CHALLENGER = "champion", "challenger"
ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
RESERVED = ("latest",)  # `--shadow latest`: the newest version, whatever its aliases
# The stages aliases replace: an old command's --stage, and the migration of an old registry
FROM_STAGE = {"production": CHAMPION, "candidate": CHALLENGER}
STAGES = ("candidate", "production", "archived")

log = logging.getLogger("lifecycle.registry")


def aliases_path(name: str) -> Path:
    return paths.MODELS / name / "aliases.json"


def stages_path(name: str) -> Path:
    return paths.MODELS / name / "stages.json"


def check_alias(alias: str) -> str:
    """``alias`` when it can name a version; a ``RegistryError`` saying what an alias may be otherwise."""
    if not isinstance(alias, str) or not ALIAS.fullmatch(alias) or alias in RESERVED:
        raise RegistryError(
            f"alias {alias!r} cannot name a version: use a letter, then letters, digits, '_' or '-' "
            f"(at most 64; e.g. champion, challenger, my-test), not {' or '.join(RESERVED)}"
        )
    return alias


def parse_reference(reference: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME@ALIAS`` (``churn@champion``) as ``(name, alias or None)``."""
    name, at, alias = str(reference).partition("@")
    try:
        check_name(name)
        if at:
            check_alias(alias)
    except RegistryError as exc:
        raise RegistryError(
            f"model {reference!r} is not NAME or NAME@ALIAS (e.g. churn or churn@champion): {exc}"
        ) from None
    return name, (alias if at else None)


def read(name: str) -> dict[str, int]:
    """The aliases of ``name``, ``{alias: version}`` (an old ``stages.json`` migrated first)."""
    migrate(name)
    return _read(name)["aliases"]


def _read(name: str) -> dict:
    path = aliases_path(name)
    if not path.is_file():
        return {"aliases": {}, "history": []}
    try:
        data = files.read_json(path, "the aliases file")
    except ValueError as exc:
        raise RegistryError(f"{shown(path)}: {exc}; or fix its JSON by hand") from None
    pointers = data.get("aliases") if isinstance(data, dict) else None
    if not isinstance(pointers, dict) or not all(isinstance(a, str) and type(v) is int for a, v in pointers.items()):
        raise RegistryError(
            f'{shown(path)} should hold {{"aliases": {{"<alias>": <version>, ...}}, "history": [...]}}; '
            "fix it, or delete it (every version loses its aliases)"
        )
    return {"aliases": dict(sorted(pointers.items())), "history": list(data.get("history") or [])}


def change(name: str, moves: dict[str, int | None]) -> dict[str, int | None]:
    """Point each alias of ``moves`` at its version (None: remove it), in one write; what each pointed at."""
    migrate(name)
    with locked():
        data = _read(name)
        before = {alias: data["aliases"].get(alias) for alias in moves}
        for alias, version in moves.items():
            if version is None:
                data["aliases"].pop(alias, None)
            else:
                data["aliases"][alias] = version
            if before[alias] != version:
                data["history"].append({"alias": alias, "version": version, "was": before[alias]})
        _write(name, data)
    return before


def _write(name: str, data: dict) -> None:
    files.write_json(aliases_path(name), {"aliases": dict(sorted(data["aliases"].items())), "history": data["history"]})


def of_version(pointers: dict[str, int], number: int) -> list[str]:
    return sorted(alias for alias, version in pointers.items() if version == number)


def remembered(name: str) -> list[int]:
    """Every version the aliases and their history ever named (numbers are never reused)."""
    if stages_path(name).is_file() and not aliases_path(name).is_file():
        stages = _old_stages(name)
        return [v for v in [stages["production"], *stages["archived"]] if v is not None]
    data = _read(name)
    named = [*data["aliases"].values()]
    for event in data["history"]:
        named += [v for v in (event.get("version"), event.get("was")) if type(v) is int]
        old = event.get("stages") or {}
        named += [v for v in [old.get("production"), *(old.get("archived") or [])] if type(v) is int]
    return named


# --- migration from stages ----------------------------------------------------------------


def migrate(name: str) -> None:
    """Turn an old ``stages.json`` into aliases once: production -> champion, the newest candidate ->
    challenger, archived -> no alias; the old file kept as ``stages.json.migrated``."""
    if not stages_path(name).is_file():
        return
    with locked():
        if not stages_path(name).is_file():  # another process migrated it meanwhile
            return
        stages = _old_stages(name)
        data = _read(name)
        found = sorted(int(p.name) for p in (paths.MODELS / name).iterdir() if p.is_dir() and p.name.isdigit())
        candidates = [v for v in found if v != stages["production"] and v not in stages["archived"]]
        pointers = {CHAMPION: stages["production"], CHALLENGER: candidates[-1] if candidates else None}
        pointers = {alias: version for alias, version in pointers.items() if version is not None}
        data["aliases"] = {**pointers, **data["aliases"]}
        data["history"].append({"migrated_from": "stages.json", "stages": stages, "aliases": pointers})
        _write(name, data)
        stages_path(name).replace(stages_path(name).with_name("stages.json.migrated"))
    said = ", ".join(f"{name}@{alias} -> version {version}" for alias, version in pointers.items()) or "no alias"
    log.warning(
        "models/%s: stages are aliases now; migrated stages.json (production -> champion, the newest candidate "
        "-> challenger, archived -> no alias): %s. The old file is kept as models/%s/stages.json.migrated.",
        name,
        said,
        name,
    )


def _old_stages(name: str) -> dict:
    """``{"production": int | None, "archived": [int, ...]}`` from an old ``stages.json``."""
    path = stages_path(name)
    try:
        data = files.read_json(path, "the stages file")
    except ValueError as exc:
        raise RegistryError(f"{shown(path)}: {exc}; or delete it (no version gets an alias)") from None
    production, archived = (data.get("production"), data.get("archived", [])) if isinstance(data, dict) else (0, 0)
    if not (production is None or type(production) is int) or not (
        isinstance(archived, list) and all(type(v) is int for v in archived)
    ):
        raise RegistryError(
            f'{shown(path)} (a registry from before aliases) should hold {{"production": <version or null>, '
            '"archived": [<versions>]}; fix it or delete it (no version gets an alias)'
        )
    return {"production": production, "archived": sorted(set(archived))}
