"""The shared project settings (params/project.yaml): ``ProjectParams`` and its sections (the service's,
``Serving``, in ``_serving``)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from lifecycle.core import paths, table_formats
from lifecycle.core.settings._base import Name, Seed, Strict, Task, credentials_outside
from lifecycle.core.settings._serving import Serving


class Source(Strict):
    """Where the data comes from: the built-in simulated product, a file, or SQL."""

    kind: str = Field(
        "simulated", description="simulated, sql, or a file format: csv, parquet (any format in core.table_formats)"
    )
    path: str | None = Field(None, description="csv / parquet: the main table, relative to the project root")
    events_path: str | None = Field(None, description="csv / parquet: an optional events table")
    url: str | None = Field(None, description="sql: a SQLAlchemy URL, e.g. sqlite:///data/shop.db")
    query: str | None = Field(None, description="sql: a query or a table name for the main table")
    events_query: str | None = Field(None, description="sql: an optional query or table name for events")
    make_id: StrictBool = Field(
        False,
        description="true: 01 adds id_column to a table without one, a stable "
        "hash of each row's values (never a feature)",
    )

    _url = field_validator("url")(credentials_outside)

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, kind: object) -> object:
        kinds = ["simulated", *table_formats.FORMATS, "sql"]
        if kind not in kinds:
            raise ValueError(f"input should be {table_formats.either(map(repr, kinds))}, got {kind!r}")
        return kind

    @model_validator(mode="after")
    def _complete(self) -> Source:
        if self.kind in table_formats.FORMATS:
            if not self.path:
                raise ValueError(f"source.kind '{self.kind}' needs source.path: the file with your table")
            for key in ("path", "events_path"):
                value = getattr(self, key)
                if value and not (paths.ROOT / value).is_file():
                    raise ValueError(
                        f"source.{key}: file '{value}' does not exist (paths are relative to the project root)"
                    )
        if self.kind == "sql" and not (self.url and self.query):
            raise ValueError("source.kind 'sql' needs source.url (a SQLAlchemy URL) and source.query")
        return self


class EventRoles(Strict):
    """Column roles in the events table (when the source has one); it joins on ``id_column``."""

    time_column: Name = "timestamp"
    type_column: Name = "event_type"


class LabelRule(Strict):
    """The moment of prediction, and how a missing target is made from events.

    Features see only what happened before ``cutoff``; when the table has no target
    column, a row is positive if it has an ``event_type`` event in the ``window_days``
    after ``cutoff``.
    """

    cutoff: date
    window_days: Annotated[StrictInt, Field(ge=1, le=365)] = 30
    event_type: Name = "cancel"


class Production(Strict):
    """The later, drifted period the deployment, experiment and monitoring phases draw from."""

    n_users: Annotated[StrictInt, Field(ge=100)] = 2000
    channel_shift: Annotated[float, Field(ge=0, le=1)] = 0.3
    activity_change: Annotated[float, Field(ge=-0.9, le=5)] = -0.2
    new_category: StrictBool = True


class Simulation(Strict):
    """Knobs of the built-in simulated subscription product (``source.kind: simulated``)."""

    n_users: Annotated[StrictInt, Field(ge=100)] = 5000
    start: date = date(2025, 1, 1)
    production: Production = Production()
    treatment_effect: Annotated[float, Field(ge=0, le=0.5)] = 0.05


class Store(Strict):
    """The prediction store: the service's log at ``url``, the batch job's tables at ``batch_url``;
    monitoring reads both.

    ``batch_url`` unset: a SQLite ``url`` gets a file of its own beside it (``data/predictions.db`` ->
    ``data/batch_predictions.db``), since SQLite lets one writer at a time into a file and a batch
    must never make the service's log writer wait; any other database keeps ``url``.
    """

    # relative SQLite paths are under the project root; ${VAR} is read from the environment (database_url)
    url: Name = "sqlite:///data/predictions.db"
    predictions_table: Name = "predictions"
    batch_table: Name = "batch_predictions"
    batch_url: Name = "sqlite:///data/batch_predictions.db"  # see above; filled in from url when unset

    @model_validator(mode="before")
    @classmethod
    def _batches_beside_the_log(cls, data):
        if isinstance(data, dict) and data.get("batch_url") is None:
            data = {**data, "batch_url": batch_store(data.get("url") or cls.model_fields["url"].default)}
        return data

    _urls = field_validator("url", "batch_url")(credentials_outside)


# A plain SQLite file URL (the default store) is split without SQLAlchemy, whose import would be
# most of a no-change `lifecycle run`; anything else goes through SQLAlchemy's parser.
PLAIN_SQLITE = re.compile(r"(?P<scheme>sqlite(\+\w+)?:///)(?P<database>[^?:]+)")


def batch_store(url: str) -> str:
    """Where batches go by default for the log at ``url``: a SQLite file's sibling ``batch_<name>``,
    else ``url`` itself (another database, an in-memory SQLite, or a URL that does not parse)."""
    plain = PLAIN_SQLITE.fullmatch(url)
    if plain:
        database = PurePosixPath(plain["database"])
        return f"{plain['scheme']}{database.with_name(f'batch_{database.name}')}"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # said when the store is used
        return url
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return url
    beside = PurePosixPath(database).with_name(f"batch_{PurePosixPath(database).name}")
    return parsed.set(database=str(beside)).render_as_string(hide_password=False)


class Compute(Strict):
    """Where the heavy steps run (``lifecycle.core.compute``): this process, or a Dask cluster.

    ``engine: local`` is the default and never imports Dask. With ``engine: dask``,
    ``scheduler: local`` starts a ``LocalCluster`` of ``workers`` processes (threads when
    ``processes`` is false) on this machine, each with ``threads_per_worker`` threads and
    ``memory_limit`` (worker processes only: threads share this process, whose memory holds
    the driver's data too, so a limit would pause them for memory that is not theirs);
    ``scheduler: tcp://HOST:8786`` joins a running cluster, failing after ``timeout_s``
    seconds when it does not answer.
    """

    engine: Literal["local", "dask"] = "local"
    scheduler: str = "local"
    workers: Annotated[StrictInt, Field(ge=1, le=512)] = 2
    threads_per_worker: Annotated[StrictInt, Field(ge=1, le=256)] = 1
    memory_limit: str = "4GiB"
    processes: StrictBool = True
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str) -> str:
        if value != "local" and not re.fullmatch(r"(tcp|tls)://[^\s/:]+:[0-9]{1,5}", value):
            raise ValueError(
                "give local (a cluster on this machine) or the scheduler's address, e.g. tcp://10.0.0.5:8786"
            )
        return value

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, value: str) -> str:
        if value != "auto" and not re.fullmatch(r"[0-9]+(\.[0-9]+)?\s*([kMGT]i?B|[KMGT]B|B)", value):
            raise ValueError("give a size per worker such as 4GiB, 500MB or auto")
        return value


class ProjectParams(Strict):
    """``params/project.yaml``: the settings every phase shares."""

    project_name: Name
    seed: Seed
    task: Task
    target: Name
    id_column: str | None = None
    time_column: str | None = None
    source: Source
    events: EventRoles = EventRoles()
    labels: LabelRule
    simulation: Simulation = Simulation()
    serving: Serving = Serving()
    store: Store = Store()
    compute: Compute = Compute()

    @model_validator(mode="after")
    def _simulation_before_cutoff(self) -> ProjectParams:
        if self.source.kind == "simulated":
            if self.simulation.start >= self.labels.cutoff:
                raise ValueError(
                    f"simulation.start ({self.simulation.start}) must come before labels.cutoff ({self.labels.cutoff})"
                )
            if self.id_column is None:
                raise ValueError("id_column is required with source.kind 'simulated': set it to user_id")
        if self.source.make_id and not self.id_column:
            raise ValueError("source.make_id needs id_column: the name of the id column 01 makes, e.g. row_id")
        return self
