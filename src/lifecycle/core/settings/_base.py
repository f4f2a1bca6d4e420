"""The building blocks of every parameter model: strict blocks, the common field types, and the rule
that keeps database passwords out of params/."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from lifecycle.core import database_url

Task = Literal["binary", "multiclass", "regression"]
Name = Annotated[str, Field(min_length=1)]
Seed = Annotated[StrictInt, Field(ge=0)]


class Strict(BaseModel):
    """A parameter block: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def credentials_outside(url: str | None) -> str | None:
    """A database URL's password comes from the environment (``${VAR}`` or libpq's ``PGPASSWORD``), never
    from params/, which is kept in git and handed to every notebook; a ``${VAR}`` it names must be set."""
    if url is None:
        return url
    if database_url.literal_password(url):
        raise ValueError(
            "the URL holds a password, which params/ (kept in git, copied into every notebook) "
            "must not: write it as ${VAR}, e.g. postgresql://app:${STORE_PASSWORD}@db/shop, and "
            "export STORE_PASSWORD; or leave it out and export PGPASSWORD"
        )
    missing = database_url.unset(url)
    if missing:
        raise ValueError(
            f"the URL names environment variable {missing[0]}, which is not set: export it "
            f"(e.g. export {missing[0]}=...) before running"
        )
    return url
