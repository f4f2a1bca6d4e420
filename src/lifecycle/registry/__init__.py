"""The model registry: numbered, immutable versions of fitted pipelines under ``models/``.

``register`` saves a fitted pipeline with skops (never pickle) as ``models/<name>/<n>/``
with ``metadata.json``: what the caller knows (data version, lineage, parameters,
metrics, run id) and what the registry records itself (the file's SHA-256, the git
commit, the library versions, the types in the file). A version is written aside and
renamed into place whole, so a crash leaves no half version, and numbers are never
reused. Aliases name versions (``champion``, ``challenger`` or any of your own; ``aliases.json``): an
alias points at one version, a version can have several, and ``NAME@ALIAS`` refers to one
(``churn@champion``). ``load`` checks the SHA-256 and loads only allowed types
(``registry_trust.ALLOWED_TYPES``), so loading a model never runs code from its file.
"""

from __future__ import annotations

import secrets
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from lifecycle.core import files, paths
from lifecycle.core.files import sha256
from lifecycle.registry import aliases as version_aliases
from lifecycle.registry import metadata as version_metadata
from lifecycle.registry.aliases import CHALLENGER, CHAMPION, FROM_STAGE, STAGES, check_alias, parse_reference
from lifecycle.registry.metadata import METADATA
from lifecycle.registry.store import (
    RegistryError,
    check_name,
    claim,
    code_version,
    environment,
    existing,
    names,
    shown,
    version_number,
)
from lifecycle.registry.trust import ALLOWED_TYPES, artifact_types, load_file

__all__ = [
    "ALLOWED_TYPES",
    "command",  # the module behind `lifecycle models`
    "trust",  # the module that loads a skops file only with the types it trusts
    "CHALLENGER",
    "CHAMPION",
    "FROM_STAGE",
    "STAGES",
    "RegistryError",
    "Version",
    "aliases",
    "load",
    "load_file",
    "names",
    "parse_reference",
    "promote",
    "register",
    "remove_alias",
    "set_alias",
    "show",
    "versions",
]

ARTIFACT = "model.skops"


class Version(NamedTuple):
    """A registered version: ``set_alias(name, alias, v)`` and ``load(name, v)`` accept it."""

    name: str
    version: int

    @property
    def folder(self) -> Path:
        return paths.MODELS / self.name / str(self.version)


def register(pipeline, name: str, metadata: dict | None = None) -> Version:
    """Save a fitted pipeline as the next version of ``name`` (no alias yet: ``set_alias`` gives one).

    ``metadata`` (data version and lineage, parameters, metrics, run id, ...) is stored
    with what the registry adds; its values must be JSON-like (numpy scalars are fine).
    """
    check_name(name)
    record = version_metadata.from_caller(metadata or {})
    _require_fitted(pipeline, name)

    folder = paths.MODELS / name
    folder.mkdir(parents=True, exist_ok=True)
    built = folder / f".new-{secrets.token_hex(4)}"
    built.mkdir()
    try:
        artifact = built / ARTIFACT
        types = _save(pipeline, artifact, name)
        added = {
            "name": name,
            "artifact": ARTIFACT,
            "sha256": sha256(artifact),
            "code": code_version(),
            "environment": environment(),
            "types": types,
            "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

        def write_metadata(number: int, created: int) -> None:
            files.write_json(built / METADATA, {**record, **added, "version": number, "created": created})

        number = claim(name, built, write_metadata, version_aliases.remembered)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    files.record_write(paths.MODELS / name / str(number))  # built aside, renamed into place: record where it is
    return Version(name, number)


def _require_fitted(pipeline, name: str) -> None:
    """Refuse (``RegistryError``) a pipeline that is not fitted."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(pipeline)
    except (NotFittedError, TypeError) as exc:
        raise RegistryError(f"cannot register {type(pipeline).__name__} as '{name}': {exc}") from None


def _save(pipeline, artifact: Path, name: str) -> list[str]:
    """Write ``pipeline`` with skops to ``artifact``; the types the file holds, every one allowed."""
    try:
        files.write_skops(artifact, pipeline)
    except OSError:
        raise
    except Exception as exc:
        raise RegistryError(
            f"skops cannot save this pipeline ({type(exc).__name__}: {exc}); "
            "use steps made of scikit-learn and numpy objects"
        ) from exc
    types = artifact_types(artifact)
    refused = sorted(set(types) - ALLOWED_TYPES)
    if refused:
        raise RegistryError(
            f"cannot register '{name}': the pipeline holds {', '.join(refused)}, which the registry "
            "would refuse to load; use allowed steps, or add the type to ALLOWED_TYPES in "
            "src/lifecycle/registry/trust.py if it is safe to load"
        )
    return types


def aliases(name: str) -> dict[str, int]:
    """``{alias: version}`` for ``name`` (a registry with the old ``stages.json`` is migrated first)."""
    existing(name)
    return version_aliases.read(name)


def set_alias(name: str, alias: str, version) -> str:
    """Point ``alias`` at ``version`` (it leaves the version it named). Returns what changed, in a sentence."""
    check_alias(alias)
    number = version_number(name, version)
    was = version_aliases.change(name, {alias: number})[alias]
    moved = f" (it named version {was})" if was not in (None, number) else ""
    return f"{name}@{alias} is version {number}{moved}."


def remove_alias(name: str, alias: str) -> str:
    """Remove ``alias`` from the version it names; a ``RegistryError`` naming the aliases there are if none."""
    check_alias(alias)
    pointers = aliases(name)
    if alias not in pointers:
        raise RegistryError(f"model '{name}' has no alias '{alias}' ({_listed(pointers)})")
    was = version_aliases.change(name, {alias: None})[alias]
    return f"{name}@{alias} removed (it named version {was}); the version stays in the registry."


def promote(name: str, version, stage: str) -> str:
    """Deprecated (stages are aliases now): production sets ``champion``, candidate ``challenger``, archived
    removes the version's aliases."""
    warnings.warn(
        "registry.promote is deprecated: stages are aliases now; use registry.set_alias(name, 'champion', version)",
        DeprecationWarning,
        stacklevel=2,
    )
    if stage in FROM_STAGE:
        return set_alias(name, FROM_STAGE[stage], version)
    if stage != "archived":
        raise RegistryError(f"stage {stage!r} is not one of {', '.join(STAGES)}; stages are aliases now: use set_alias")
    number = version_number(name, version)
    said = [remove_alias(name, alias) for alias, named in aliases(name).items() if named == number]
    return " ".join(said) or f"{name} version {number} has no alias."


def _listed(pointers: dict[str, int]) -> str:
    return "aliases: " + ", ".join(f"{a} -> {v}" for a, v in pointers.items()) if pointers else "it has no aliases"


def load(name: str, version=None, alias: str | None = None) -> tuple[Any, dict]:
    """The pipeline and metadata of a version: ``version``, else the one ``alias`` names, else the
    champion, else the latest.

    The file must match its recorded SHA-256 and hold only allowed types.
    """
    number = _pick(name, version, alias)
    folder = paths.MODELS / name / str(number)
    metadata = version_metadata.read(folder)
    artifact = folder / ARTIFACT
    if not artifact.is_file():
        raise RegistryError(f"{shown(artifact)} is missing; the version is damaged: register the model again")
    if sha256(artifact) != metadata.get("sha256"):
        raise RegistryError(
            f"{shown(artifact)} does not match its recorded SHA-256: the file was changed "
            "or corrupted; re-register the model"
        )
    return load_file(artifact, shown(artifact)), metadata


def show(name: str, version=None, alias: str | None = None) -> dict:
    """The metadata of a version (chosen as in ``load``), with its current aliases."""
    number = _pick(name, version, alias)
    metadata = version_metadata.read(paths.MODELS / name / str(number))
    return {**metadata, "aliases": version_aliases.of_version(aliases(name), number)}


def versions(name: str) -> pd.DataFrame:
    """One row per version: its aliases ("-" for none), registration order, the main metric(s) and the data
    version. Holds no clock times (a notebook showing it stays byte-stable).
    """
    pointers = aliases(name)
    rows = []
    for number in existing(name):
        metadata = version_metadata.read(paths.MODELS / name / str(number))
        rows.append(
            {
                "version": number,
                "aliases": ", ".join(version_aliases.of_version(pointers, number)) or "-",
                "created": metadata.get("created"),
                **version_metadata.main_metric(metadata),
                "data_version": metadata.get("data_version"),
            }
        )
    table = pd.DataFrame(rows).set_index("version")
    metrics = [c for c in table.columns if c not in ("aliases", "created", "data_version")]
    return table[["aliases", "created", *metrics, "data_version"]]


def _pick(name: str, version, alias: str | None) -> int:
    if version is not None and alias is not None:
        raise RegistryError(f"give a version or an alias, not both (got version {version!r} and alias {alias!r})")
    if version is not None:
        return version_number(name, version)
    found, pointers = existing(name), aliases(name)
    if alias is None:
        return pointers[CHAMPION] if pointers.get(CHAMPION) in found else found[-1]
    check_alias(alias)
    if alias not in pointers:
        raise RegistryError(
            f"model '{name}' has no alias '{alias}' ({_listed(pointers)}; versions: {', '.join(map(str, found))}); "
            f"set it with `lifecycle models alias {name} {alias} VERSION`"
        )
    if pointers[alias] not in found:
        raise RegistryError(
            f"{name}@{alias} names version {pointers[alias]}, which is no longer in the registry (versions: "
            f"{', '.join(map(str, found))}); point it at one with `lifecycle models alias {name} {alias} VERSION`"
        )
    return pointers[alias]
