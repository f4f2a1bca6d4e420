"""The model registry: numbered, immutable versions of fitted pipelines under ``models/``.

``register`` saves a fitted pipeline with skops (never pickle) as ``models/<name>/<n>/``
with ``metadata.json``: what the caller knows (data version, lineage, parameters,
metrics, run id) and what the registry records itself (the file's SHA-256, the git
commit, the library versions, the types in the file). A version is written aside and
renamed into place whole, so a crash leaves no half version, and numbers are never
reused. Stages (candidate, production, archived) live in ``stages.json``; at most one
version is in production. ``load`` checks the SHA-256 and loads only allowed types
(``registry_trust.ALLOWED_TYPES``), so loading a model never runs code from its file.
"""

from __future__ import annotations

import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from lifecycle.core import files, paths
from lifecycle.core.files import sha256
from lifecycle.registry import metadata as version_metadata
from lifecycle.registry.metadata import METADATA
from lifecycle.registry.store import (
    STAGES,
    RegistryError,
    check_name,
    claim,
    code_version,
    environment,
    existing,
    locked,
    names,
    read_stages,
    shown,
    stage_of,
    version_number,
    write_stages,
)
from lifecycle.registry.trust import ALLOWED_TYPES, artifact_types, load_file

__all__ = [
    "ALLOWED_TYPES",
    "STAGES",
    "RegistryError",
    "Version",
    "load",
    "load_file",
    "names",
    "promote",
    "register",
    "show",
    "versions",
]

ARTIFACT = "model.skops"


class Version(NamedTuple):
    """A registered version: ``promote(name, v, ...)`` and ``load(name, v)`` accept it."""

    name: str
    version: int

    @property
    def folder(self) -> Path:
        return paths.MODELS / self.name / str(self.version)


def register(pipeline, name: str, metadata: dict | None = None) -> Version:
    """Save a fitted pipeline as the next version of ``name``, in stage ``candidate``.

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

        number = claim(name, built, write_metadata)
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


def promote(name: str, version, stage: str) -> str:
    """Move a version to ``stage``; promoting to production archives the previous one.

    Both changes are one atomic write of stages.json. Returns what changed, in a sentence.
    """
    if stage not in STAGES:
        raise RegistryError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    number = version_number(name, version)
    with locked():
        stages = read_stages(name)
        before = stages["production"]
        archived = set(stages["archived"]) - {number}
        production = None if before == number else before
        if stage == "production":
            if production is not None:
                archived.add(production)
            production = number
        elif stage == "archived":
            archived.add(number)
        write_stages(name, {"production": production, "archived": sorted(archived)})
    moved = f"; version {before} moved to archived" if stage == "production" and before not in (None, number) else ""
    return f"{name} version {number} is now {stage}{moved}."


def load(name: str, version=None, stage: str | None = None) -> tuple[Any, dict]:
    """The pipeline and metadata of a version: ``version``, else the latest in ``stage``,
    else the production version, else the latest.

    The file must match its recorded SHA-256 and hold only allowed types.
    """
    number = _pick(name, version, stage)
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


def show(name: str, version=None, stage: str | None = None) -> dict:
    """The metadata of a version (chosen as in ``load``), with its current stage."""
    number = _pick(name, version, stage)
    metadata = version_metadata.read(paths.MODELS / name / str(number))
    return {**metadata, "stage": stage_of(read_stages(name), number)}


def versions(name: str) -> pd.DataFrame:
    """One row per version: stage, registration order, the main metric(s) and the data version.

    Holds no clock times (a notebook showing it stays byte-stable).
    """
    stages = read_stages(name)
    rows = []
    for number in existing(name):
        metadata = version_metadata.read(paths.MODELS / name / str(number))
        rows.append(
            {
                "version": number,
                "stage": stage_of(stages, number),
                "created": metadata.get("created"),
                **version_metadata.main_metric(metadata),
                "data_version": metadata.get("data_version"),
            }
        )
    table = pd.DataFrame(rows).set_index("version")
    metrics = [c for c in table.columns if c not in ("stage", "created", "data_version")]
    return table[["stage", "created", *metrics, "data_version"]]


def _pick(name: str, version, stage: str | None) -> int:
    if version is not None and stage is not None:
        raise RegistryError("give a version or a stage, not both")
    if version is not None:
        return version_number(name, version)
    found, stages = existing(name), read_stages(name)
    if stage is None:
        return stages["production"] if stages["production"] in found else found[-1]
    if stage not in STAGES:
        raise RegistryError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    matching = [n for n in found if stage_of(stages, n) == stage]
    if not matching:
        held = ", ".join(f"{n} {stage_of(stages, n)}" for n in found)
        raise RegistryError(
            f"model '{name}' has no {stage} version (versions: {held}); "
            f"promote one with `lifecycle models promote {name} VERSION --stage {stage}`"
        )
    return matching[-1]
