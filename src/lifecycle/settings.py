"""The typed parameter models: one for the shared project settings, one per phase.

Each phase model extends ``ProjectParams`` with the phase's own keys, so a notebook's
parameters are exactly the project file plus its phase file. Validation happens here,
once, at the edge; everything downstream trusts the types.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from lifecycle import paths
from lifecycle.metrics import METRICS, metrics_for

Task = Literal["binary", "multiclass", "regression"]
Name = Annotated[str, Field(min_length=1)]
Seed = Annotated[StrictInt, Field(ge=0)]


class Strict(BaseModel):
    """A parameter block: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where the data comes from: the built-in simulated product, a file, or SQL."""

    kind: Literal["simulated", "csv", "parquet", "sql"] = "simulated"
    path: str | None = Field(None, description="csv / parquet: the main table, relative to the project root")
    events_path: str | None = Field(None, description="csv / parquet: an optional events table")
    url: str | None = Field(None, description="sql: a SQLAlchemy URL, e.g. sqlite:///data/shop.db")
    query: str | None = Field(None, description="sql: a query or a table name for the main table")
    events_query: str | None = Field(None, description="sql: an optional query or table name for events")

    @model_validator(mode="after")
    def _complete(self) -> Source:
        if self.kind in ("csv", "parquet"):
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


class Simulation(Strict):
    """Knobs of the built-in simulated subscription product."""

    n_users: Annotated[StrictInt, Field(ge=100)] = 5000
    start: date = date(2025, 1, 1)
    cutoff: date = date(2025, 12, 1)
    label_window_days: Annotated[StrictInt, Field(ge=1, le=365)] = 30

    @model_validator(mode="after")
    def _ordered(self) -> Simulation:
        if self.cutoff <= self.start:
            raise ValueError(f"simulation.cutoff ({self.cutoff}) must come after simulation.start ({self.start})")
        return self


class ProjectParams(Strict):
    """``params/project.yaml``: the settings every phase shares."""

    project_name: Name
    seed: Seed
    task: Task
    target: Name
    id_column: str | None = None
    time_column: str | None = None
    source: Source
    simulation: Simulation


class ProblemDefinition(ProjectParams):
    """``params/00_problem_definition.yaml``: the question, the metric and its bar."""

    business_question: Name
    decision: Name
    positive_class: StrictInt | StrictBool | str | None = Field(None, validate_default=True)
    metric: Name
    metric_bar: float
    min_rows: Annotated[StrictInt, Field(ge=1)]
    min_rows_per_class: Annotated[StrictInt, Field(ge=1)]

    @field_validator("metric")
    @classmethod
    def _metric_suits_task(cls, metric: str, info) -> str:
        task = info.data.get("task")
        if task and metric not in metrics_for(task):
            why = f"does not suit task '{task}'" if metric in METRICS else "is not a metric this template knows"
            raise ValueError(f"'{metric}' {why}; for task '{task}' choose one of {', '.join(metrics_for(task))}")
        return metric

    @field_validator("positive_class")
    @classmethod
    def _positive_class_for_binary(cls, value, info):
        if info.data.get("task") == "binary" and value is None:
            raise ValueError("required when task is 'binary': the label value to detect, e.g. 1")
        return value


# Phase name (the notebook's file stem) -> its parameter model.
PHASES: dict[str, type[ProjectParams]] = {
    "00_problem_definition": ProblemDefinition,
}
