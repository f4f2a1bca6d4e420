"""Database URLs (``store.url``, ``source.url``) with their credentials kept out of the project.

A URL may name environment variables as ``${VAR}``, e.g. ``postgresql://app:${STORE_PASSWORD}@db/shop``
or ``${STORE_URL}`` whole. The parameters keep the reference, so params/, the notebooks papermill runs,
the stored notebooks and the run records never hold the secret; ``parse`` reads the variables when
the URL is used and names one that is not set. A PostgreSQL URL without a password (or without host,
user, ...) lets libpq take them from its own variables (``PGPASSWORD``, ``PGHOST``, ``PGUSER``,
``PGPASSFILE``). ``postgresql://`` uses psycopg 3 (SQLAlchemy's default), which the ``postgres`` extra installs.
``shown`` is a URL as messages show it: its password ``***``.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # SQLAlchemy is imported where a URL is parsed: the parameter checks stay light
    from sqlalchemy.engine import URL

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
PASSWORD = re.compile(r"[\w+]+://[^:/]*:(?P<password>[^@]*)@")  # where SQLAlchemy's make_url finds it
PARTS = ("username", "password", "host", "database")


class UnsetVariable(ValueError):
    """A ``${VAR}`` in a URL names an environment variable that is not set."""


def unset(text: str) -> list[str]:
    """The variables ``text`` refers to that the environment does not set."""
    return [name for name in dict.fromkeys(REFERENCE.findall(text)) if name not in os.environ]


def expand(text: str) -> str:
    """``text`` with each ``${VAR}`` replaced by the variable's value; ``UnsetVariable`` names a missing one."""
    missing = unset(text)
    if missing:
        raise UnsetVariable(
            f"environment variable {missing[0]} is not set: export it before running "
            f"(e.g. export {missing[0]}=...), or write the value in its place"
        )
    return REFERENCE.sub(lambda found: os.environ[found[1]], text)


def literal_password(text: str) -> bool:
    """Whether the URL written as ``text`` holds a password itself (not only ``${VAR}`` references)."""
    found = PASSWORD.match(text)  # none in ${STORE_URL}: the whole URL, password and all, is in the environment
    return bool(found) and bool(REFERENCE.sub("", found["password"]))


def parse(text: str) -> URL:
    """The URL ``text`` names, its ``${VAR}`` references read from the environment.

    A reference inside one part (user, password, host, database, a query value) fills that part, so a
    password with ``@`` or ``/`` needs no escaping. Raises ``ArgumentError`` for text that is no URL.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        written = make_url(text)
    except (ArgumentError, ValueError):
        written = None
    if written is None:  # the reference is the whole URL, or its driver or port
        whole = expand(text) if REFERENCE.search(text) else text
        try:
            written = make_url(whole)
        except (ArgumentError, ValueError):
            raise ArgumentError(f"cannot read {shown(text)!r} as a SQLAlchemy URL") from None
    parts = {part: expand(getattr(written, part)) for part in PARTS if getattr(written, part)}
    query = {
        key: tuple(map(expand, value)) if isinstance(value, tuple) else expand(value)
        for key, value in written.query.items()
    }
    return written.set(**parts, query=query)


def shown(url: str | URL | None) -> str:
    """``url`` as messages show it: the password as ``***`` (``${VAR}`` references as they are)."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return masked(str(url))


def masked(text: str) -> str:
    """``text`` with the password of any URL in it as ``***`` (e.g. ``--set store.url=...``)."""
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
