"""Read, layer and validate parameters: project file, phase file, extra files, ``--set``.

Layers are deep-merged (papermill's own ``-f`` merge is shallow) and every leaf keeps
the name of the layer it came from, so an error names the file to fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from lifecycle.core import database_url, paths
from lifecycle.core.settings import PHASES, ProjectParams

PROJECT_FILE = "project.yaml"


class ParamsError(ValueError):
    """Parameters that cannot be used; the message says which file, key and value."""


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one parameter file with the safe loader; it must hold a mapping."""
    name = paths.relative(path)
    if not path.is_file():
        raise ParamsError(f"{name}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ParamsError(f"{name}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{name}: must be a mapping of key: value lines, got a {type(data).__name__}")
    return data


def parse_set(expression: str) -> dict[str, Any]:
    """Turn ``key=value`` (``a.b=value`` for nested keys) into a mapping; the value is YAML."""
    key, sep, text = expression.partition("=")
    if not sep or not key.strip():
        raise ParamsError(f"--set {expression!r}: expected key=value, e.g. --set seed=7 or --set source.kind=csv")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def deep_merge(
    base: dict, layer: Mapping, origin: dict, name: str, prefix: tuple = (), whole: Iterable[str] = ()
) -> dict:
    """Merge ``layer`` into ``base`` in place; record ``name`` as the origin of each leaf.

    Sections merge key by key; the top-level keys in ``whole`` hold a mapping of data
    (such as column -> range) and are replaced whole, so a layer can drop an entry.
    """
    for key, value in layer.items():
        where = (*prefix, key)
        if isinstance(value, Mapping) and isinstance(base.get(key), dict) and not (not prefix and key in whole):
            deep_merge(base[key], value, origin, name, where)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
            origin[where] = name
            if isinstance(value, Mapping):
                for leaf in _leaves(value, where):
                    origin[leaf] = name
    return base


def _leaves(mapping: Mapping, prefix: tuple) -> Iterable[tuple]:
    for key, value in mapping.items():
        yield (*prefix, key)
        if isinstance(value, Mapping):
            yield from _leaves(value, (*prefix, key))


def phase_file(phase: str) -> Path:
    return paths.PARAMS / f"{phase}.yaml"


def resolve(
    phases: Iterable[str], extra_files: Iterable[Path] = (), sets: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """Validate the layered parameters of each phase; return them as plain, JSON-ready mappings.

    Raises ``ParamsError`` listing every problem, each naming its file and key.
    """
    phases = list(phases)
    for phase in phases:
        if phase not in PHASES:
            raise ParamsError(f"unknown phase '{phase}'; known phases: {', '.join(PHASES)}")
    project_path = paths.PARAMS / PROJECT_FILE
    project = read_yaml(project_path)
    extras = [(paths.relative(Path(f)), read_yaml(Path(f))) for f in extra_files]
    extras += [(f"--set {database_url.masked(s)}", parse_set(s)) for s in sets]  # a message never shows a password
    _refuse_unknown_extras(extras)

    resolved, problems = {}, []
    for phase in phases:
        model = PHASES[phase]
        merged: dict[str, Any] = {}
        origin: dict[tuple, str] = {}
        whole = [key for key, field in model.model_fields.items() if get_origin(field.annotation) is dict]
        deep_merge(merged, project, origin, paths.relative(project_path))
        deep_merge(merged, read_yaml(phase_file(phase)), origin, paths.relative(phase_file(phase)))
        for name, layer in extras:
            deep_merge(merged, {k: v for k, v in layer.items() if k in model.model_fields}, origin, name, whole=whole)
        try:
            resolved[phase] = model.model_validate(merged).model_dump(mode="json")
        except ValidationError as exc:
            problems += [m for m in _messages(exc, model, phase, origin) if m not in problems]
    if problems:
        raise ParamsError("\n".join(problems))
    return resolved


def _refuse_unknown_extras(extras: list[tuple[str, dict]]) -> None:
    known = {key for model in PHASES.values() for key in model.model_fields}
    for name, layer in extras:
        for key in layer:
            if key not in known:
                raise ParamsError(f"{name}: unknown key '{key}'{_suggest(key, known)}; no phase takes it")


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _messages(exc: ValidationError, model: type[BaseModel], phase: str, origin: dict[tuple, str]) -> list[str]:
    messages = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        dotted = ".".join(str(part) for part in loc)
        source = _origin(loc, origin, model, phase)
        text = error["msg"].removeprefix("Value error, ")
        key = "" if source.startswith("--set") or not dotted else f"{dotted}: "
        if error["type"] == "extra_forbidden":
            allowed = _allowed(loc, model, source)
            messages.append(
                f"{source}: unknown key '{dotted}'{_suggest(loc[-1], allowed)}; allowed keys: {', '.join(allowed)}"
            )
        elif error["type"] == "missing":
            messages.append(f"{source}: missing key '{dotted}'; add it ({_describe(model, loc)})")
        elif error["type"] == "value_error":
            messages.append(f"{source}: {key}{text}")
        else:
            messages.append(f"{source}: {key}{text[0].lower() + text[1:]}, got {error['input']!r}")
    return messages


def _origin(loc: tuple, origin: dict[tuple, str], model: type[BaseModel], phase: str) -> str:
    # The last layer that set this key or anything under it is the one to fix.
    layers = list(dict.fromkeys(origin.values()))
    under = [name for where, name in origin.items() if where[: len(loc)] == loc]
    if loc and under:
        return max(under, key=layers.index)
    for end in range(len(loc) - 1, 0, -1):
        if loc[:end] in origin:
            return origin[loc[:end]]
    own = loc and loc[0] in model.model_fields and loc[0] not in ProjectParams.model_fields
    return paths.relative(phase_file(phase) if own else paths.PARAMS / PROJECT_FILE)


def _allowed(loc: tuple, model: type[BaseModel], source: str) -> list[str]:
    target: Any = model
    for part in loc[:-1]:
        target = target.model_fields[part].annotation
    fields = list(target.model_fields)
    if len(loc) == 1 and source.endswith(PROJECT_FILE):
        return list(ProjectParams.model_fields)
    if len(loc) == 1 and source.startswith("params/"):
        return [f for f in fields if f not in ProjectParams.model_fields]
    return fields


def _describe(model: type[BaseModel], loc: tuple) -> str:
    field = model.model_fields.get(loc[0])
    return field.description if field is not None and field.description else "see the other params files for its form"


def load(phase: str, namespace: Mapping[str, Any]) -> ProjectParams:
    """Validate the parameters a notebook was given (its ``parameters`` cell or papermill's).

    Parameters
    ----------
    phase : the notebook's name, e.g. ``"00_problem_definition"``.
    namespace : the notebook's ``globals()``; only the phase's own keys are read.
    """
    model = PHASES[phase]
    given = {key: namespace[key] for key in model.model_fields if key in namespace}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        raise ParamsError("\n".join(_messages(exc, model, phase, {}))) from None
