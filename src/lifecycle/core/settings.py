"""The typed parameter models: one for the shared project settings, one per phase.

Each phase model extends ``ProjectParams`` with the phase's own keys, so a notebook's
parameters are exactly the project file plus its phase file. Validation happens here,
once, at the edge; everything downstream trusts the types.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lifecycle.core import database_url, paths, table_formats
from lifecycle.core.metrics import METRICS, metrics_for

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
        raise ValueError("the URL holds a password, which params/ (kept in git, copied into every notebook) "
                         "must not: write it as ${VAR}, e.g. postgresql://app:${STORE_PASSWORD}@db/shop, and "
                         "export STORE_PASSWORD; or leave it out and export PGPASSWORD")
    missing = database_url.unset(url)
    if missing:
        raise ValueError(f"the URL names environment variable {missing[0]}, which is not set: export it "
                         f"(e.g. export {missing[0]}=...) before running")
    return url


class Source(Strict):
    """Where the data comes from: the built-in simulated product, a file, or SQL."""

    kind: str = Field("simulated", description="simulated, sql, or a file format: csv, parquet "
                                                "(any format in core.table_formats)")
    path: str | None = Field(None, description="csv / parquet: the main table, relative to the project root")
    events_path: str | None = Field(None, description="csv / parquet: an optional events table")
    url: str | None = Field(None, description="sql: a SQLAlchemy URL, e.g. sqlite:///data/shop.db")
    query: str | None = Field(None, description="sql: a query or a table name for the main table")
    events_query: str | None = Field(None, description="sql: an optional query or table name for events")
    make_id: StrictBool = Field(False, description="true: 01 adds id_column to a table without one, a stable "
                                                  "hash of each row's values (never a feature)")

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


Rule = Literal["reject", "flag"]


class Domain(Strict):
    """Values training never saw (``lifecycle.serving.request_schema``): a number outside the training range
    widened by ``tolerance`` spans on each side, or an unseen category."""

    tolerance: Annotated[float, Field(ge=0)] = 1.0
    default: Rule = "flag"  # reject: 422 naming the field; flag: scored, flagged in the answer and the log
    features: dict[str, Rule] = {}  # per-input exceptions, e.g. {age: reject}
    # a flagged number more than this many spans outside the training range is refused (422 naming the field):
    # it is an entry or unit error, and the model's arithmetic overflows on numbers near the float limit
    refuse_beyond: Annotated[float, Field(gt=0)] = 1e12

    @model_validator(mode="after")
    def _refuse_beyond_the_tolerance(self) -> Domain:
        if self.refuse_beyond <= self.tolerance:
            raise ValueError(f"refuse_beyond ({self.refuse_beyond:g}) must be more than tolerance "
                             f"({self.tolerance:g}): a number inside the accepted range would be refused")
        return self


class Serving(Strict):
    """The online prediction service (``lifecycle serve``)."""

    model: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "churn"
    host: Name = "127.0.0.1"
    port: Annotated[StrictInt, Field(ge=1, le=65535)] = 8000
    max_records: Annotated[StrictInt, Field(ge=1)] = 1000  # records per request; more is refused with 413
    max_body_bytes: Annotated[StrictInt, Field(ge=1024)] = 2_000_000
    shadow: StrictInt | Literal["candidate", "latest"] | None = None  # a version scored alongside, never returned
    domain: Domain = Domain()
    workers: Annotated[StrictInt, Field(ge=1, le=64)] = 1  # HTTP processes, each with a scoring process
    max_batch_rows: Annotated[StrictInt, Field(ge=1)] = 64  # records scored together in one call
    max_wait_ms: Annotated[float, Field(ge=0, le=1000)] = 2.0  # the longest wait for a batch to fill
    max_queue_rows: Annotated[StrictInt, Field(ge=1)] = 2000  # records waiting; beyond: 503 with Retry-After
    timeout_ms: Annotated[float, Field(gt=0)] = 5000.0  # a request not answered in this time: 504
    scoring_deadline_ms: Annotated[float, Field(gt=0)] = 10000.0  # a batch still scoring: 504, process replaced
    # the guards (lifecycle.serving.guard)
    token_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "LIFECYCLE_SERVE_TOKEN"
    allow_unauthenticated: StrictBool = False  # true: serve on a non-loopback host without a token
    allowed_hosts: list[Name] | None = None  # Host header values answered; null: loopback names on loopback, any else
    max_string_length: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1000  # longer strings: 422
    docs: StrictBool = True  # false: no /docs, /redoc, /openapi.json
    publish_domain: StrictBool = True  # false: training ranges and categories never leave the service
    max_connections: Annotated[StrictInt, Field(ge=1)] = 1000  # per worker; beyond: 503 (uvicorn limit_concurrency)
    keep_alive_s: Annotated[StrictInt, Field(ge=1, le=3600)] = 5  # an idle connection is closed after this
    max_header_bytes: Annotated[StrictInt, Field(ge=1024)] | None = 16384  # h11's limit; null: httptools, none
    body_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 30.0  # a body not received in this time: 408

    @model_validator(mode="after")
    def _queue_holds_a_request(self) -> Serving:
        if self.max_queue_rows < self.max_records:
            raise ValueError(f"max_queue_rows ({self.max_queue_rows}) must be at least max_records "
                             f"({self.max_records}), or a full-size request could never be queued")
        return self

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, hosts: list[str] | None) -> list[str] | None:
        for host in hosts or []:
            if not re.fullmatch(r"\*|(\*\.)?[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]", host):
                raise ValueError(f"'{host}' is not a host name: give names as a client writes them in the "
                                 "Host header, without port (api.example.com, *.example.com, 10.0.0.5, [::1]), "
                                 "or * for any")
        return hosts


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


def batch_store(url: str) -> str:
    """Where batches go by default for the log at ``url``: a SQLite file's sibling ``batch_<name>``,
    else ``url`` itself (another database, an in-memory SQLite, or a URL that does not parse)."""
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
            raise ValueError("give local (a cluster on this machine) or the scheduler's address, "
                             "e.g. tcp://10.0.0.5:8786")
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


class DataCollection(ProjectParams):
    """``params/01_data_collection.yaml``."""

    max_categories: Annotated[StrictInt, Field(ge=1)] = 30


class DataPreparation(ProjectParams):
    """``params/02_data_preparation.yaml``."""

    valid_ranges: dict[str, tuple[float, float]] = {}
    numeric_text_share: Annotated[float, Field(gt=0, le=1)] = 0.9

    @field_validator("valid_ranges")
    @classmethod
    def _ordered_ranges(cls, ranges: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for column, (low, high) in ranges.items():
            if low > high:
                raise ValueError(f"valid_ranges.{column}: [{low:g}, {high:g}] is empty; write [low, high]")
        return ranges


class ExploratoryAnalysis(ProjectParams):
    """``params/03_exploratory_analysis.yaml``."""

    max_features_plotted: Annotated[StrictInt, Field(ge=1, le=40)] = 8
    correlation_method: Literal["pearson", "spearman", "kendall"] = "spearman"
    trend_period: Literal["W", "M", "Q"] = "M"


class FeatureEngineering(ProjectParams):
    """``params/04_feature_engineering.yaml``."""

    windows_days: list[Annotated[StrictInt, Field(ge=1, le=3650)]] = [7, 30, 90]
    event_breakdowns: list[Name] = []  # events columns whose values get counts of their own (e.g. traffic_source)
    event_sums: list[Name] = []  # numeric events columns summed per window (e.g. amount)
    holiday_country: str | None = "US"  # days to / since the nearest public holiday; null to skip
    max_onehot_categories: Annotated[StrictInt, Field(ge=2)] = 20
    test_size: Annotated[float, Field(gt=0, lt=0.5)] = 0.2
    validation_size: Annotated[float, Field(gt=0, lt=0.5)] = 0.2
    out_of_time_share: Annotated[float, Field(ge=0, lt=0.5)] = 0.15


Family = Literal["dummy", "linear", "random_forest", "hist_gradient_boosting"]
SpaceValue = list | dict[Literal["uniform", "loguniform", "randint"], tuple[float, float]]


class ModelSelection(ProjectParams):
    """``params/05_model_selection.yaml``."""

    candidates: dict[Family, dict[str, StrictInt | float | str | StrictBool | None]] = {}
    cv_folds: Annotated[StrictInt, Field(ge=2, le=20)] = 5
    choice_rule: Literal["one_standard_error", "best_mean"] = "one_standard_error"
    n_jobs: Annotated[StrictInt, Field(ge=1)] = 2

    @field_validator("candidates")
    @classmethod
    def _some_candidates(cls, candidates: dict) -> dict:
        if not [name for name in candidates if name != "dummy"]:
            raise ValueError("list at least one candidate besides the dummy baseline (which is always included)")
        return candidates


class ModelTraining(ProjectParams):
    """``params/06_model_training.yaml``."""

    learning_curve_points: Annotated[StrictInt, Field(ge=2, le=20)] = 5
    cv_folds: Annotated[StrictInt, Field(ge=2, le=20)] = 5
    n_jobs: Annotated[StrictInt, Field(ge=1)] = 2


class Threshold(Strict):
    """How the decision threshold of a binary classifier is chosen on the validation set."""

    rule: Literal["cost", "max_f1", "fixed"] = "cost"
    cost_false_positive: Annotated[float, Field(ge=0)] = 1.0
    cost_false_negative: Annotated[float, Field(ge=0)] = 1.0
    fixed: Annotated[float, Field(gt=0, lt=1)] = 0.5


class ModelEvaluation(ProjectParams):
    """``params/07_model_evaluation.yaml``."""

    threshold: Threshold = Threshold()
    calibration_bins: Annotated[StrictInt, Field(ge=3, le=50)] = 10
    importance_repeats: Annotated[StrictInt, Field(ge=1, le=50)] = 5
    partial_dependence_features: Annotated[StrictInt, Field(ge=0, le=6)] = 3
    segment_max_categories: Annotated[StrictInt, Field(ge=2)] = 12
    n_jobs: Annotated[StrictInt, Field(ge=1)] = 2
    interval_level: Annotated[float, Field(gt=0.5, lt=1)] = 0.95  # each figure's bootstrap interval
    bootstrap_resamples: Annotated[StrictInt, Field(ge=100, le=100_000)] = 1000


class ModelTuning(ProjectParams):
    """``params/08_model_tuning.yaml``."""

    search: Literal["random", "halving"] = "random"
    n_iter: Annotated[StrictInt, Field(ge=1, le=500)] = 12
    cv_folds: Annotated[StrictInt, Field(ge=2, le=20)] = 3
    spaces: dict[Family, dict[str, SpaceValue]] = {}
    n_jobs: Annotated[StrictInt, Field(ge=1)] = 2


class ModelTesting(ProjectParams):
    """``params/09_model_testing.yaml``."""

    model_name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "churn"
    intended_use: Name
    limitations: list[str] = []
    promote_if_pass: StrictBool = True
    small_test_rows: Annotated[StrictInt, Field(ge=0)] = 500  # fewer test rows: the verdict rests on repeated CV
    cv_folds: Annotated[StrictInt, Field(ge=2, le=20)] = 5
    interval_level: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    bootstrap_resamples: Annotated[StrictInt, Field(ge=100, le=100_000)] = 1000


class Deployment(ProjectParams):
    """``params/10_deployment.yaml``."""

    sample_records: Annotated[StrictInt, Field(ge=1, le=100)] = 3
    burst_requests: Annotated[StrictInt, Field(ge=1, le=10_000)] = 200
    shadow_records: Annotated[StrictInt, Field(ge=1, le=1000)] = 500
    batch_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = "production-period"
    batch_chunk_rows: Annotated[StrictInt, Field(ge=100)] = 1000


class Experimentation(ProjectParams):
    """``params/11_experimentation.yaml``: the A/B test of the model-targeted retention offer."""

    log_path: str | None = Field(None, description="a CSV / Parquet experiment log; null simulates one")
    unit_column: Name = "user_id"
    arm_column: Name = "arm"
    outcome_column: Name = "churned"
    control: Name = "control"
    treatment: Name = "treatment"
    outcome: Literal["proportion", "continuous"] = "proportion"
    lower_is_better: StrictBool = True
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    power: Annotated[float, Field(gt=0.5, lt=1)] = 0.8
    treatment_share: Annotated[float, Field(gt=0, lt=1)] = 0.5
    srm_alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.001
    simulated_users: Annotated[StrictInt, Field(ge=200, le=1_000_000)] = 20000

    @field_validator("log_path")
    @classmethod
    def _log_exists(cls, value: str | None) -> str | None:
        if value is not None and not (paths.ROOT / value).is_file():
            raise ValueError(f"file '{value}' does not exist (paths are relative to the project root)")
        return value


class DriftThresholds(Strict):
    """Alert when the problem card's metric falls this far below the value the model was accepted on."""

    performance_drop: Annotated[float, Field(ge=0)] = 0.05  # the metric this far below its test value


Statistic = Literal["jensen_shannon", "wasserstein", "psi", "ks"]


class DriftSettings(Strict):
    """Drift by effect size, with thresholds learned from the reference (``lifecycle.monitoring.drift.thresholds``)."""

    statistics: Annotated[list[Statistic], Field(min_length=1)] = ["jensen_shannon", "wasserstein"]
    chunks: Annotated[StrictInt, Field(ge=3, le=1000)] = 10  # reference chunks, each compared with the rest
    k: Annotated[float, Field(gt=0)] = 4.0  # alert beyond the chunks' mean + k standard deviations
    variance_share: Annotated[float, Field(gt=0, lt=1)] = 0.9  # multivariate: PCA components kept


class Estimate(Strict):
    """The label-free performance estimate of a classifier (``lifecycle.monitoring.performance_estimate``)."""

    # always: isotonic on the validation split (removes the slight over-confidence of a fitted model, which
    # biases the estimate even when calibration error looks small); auto: only when it lowers the Brier score
    # out of fold
    calibrate: Literal["auto", "always", "never"] = "always"
    interval: Annotated[float, Field(gt=0.5, lt=1)] = 0.99  # the level of the interval of the realized metric


class Monitoring(ProjectParams):
    """``params/12_monitoring.yaml``."""

    log_table: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "simulated_predictions"
    labels_path: Name = "data/monitoring/labels.parquet"  # or sql:<URL>::<table or query> (monitor_store)
    simulate: StrictBool = True
    weeks: Annotated[StrictInt, Field(ge=1, le=104)] = 12
    users_per_week: Annotated[StrictInt, Field(ge=100)] = 1000
    drift_from_week: Annotated[StrictInt, Field(ge=1)] | None = 3
    concept_change: Annotated[float, Field(ge=0, le=1)] = 1.0
    concept_from_week: Annotated[StrictInt, Field(ge=1)] | None = 5
    correlation_change: Annotated[float, Field(ge=0, le=1)] = 1.0
    correlation_from_week: Annotated[StrictInt, Field(ge=1)] | None = 9
    window: Literal["D", "W", "M"] = "W"
    reference_split: Literal["all", "train", "validation", "test", "out_of_time"] = "all"
    exclude_features: list[Name] = []
    min_rows: Annotated[StrictInt, Field(ge=1)] = 200
    thresholds: DriftThresholds = DriftThresholds()
    drift: DriftSettings = DriftSettings()
    estimate: Estimate = Estimate()

    @field_validator("labels_path")
    @classmethod
    def _feed_credentials(cls, value: str) -> str:
        if value.startswith("sql:"):
            credentials_outside(value.removeprefix("sql:").partition("::")[0])
        return value


class FeedbackRetraining(ProjectParams):
    """``params/13_feedback_retraining.yaml``."""

    trigger: Literal["alert", "always"] = "alert"
    holdout_windows: Annotated[StrictInt, Field(ge=1)] = 1
    fresh_windows: Annotated[StrictInt, Field(ge=1)] = 3
    include_training_data: StrictBool = False
    margin: Annotated[float, Field(ge=0)] = 0.01
    promote: StrictBool = True


# Phase name (the notebook's file stem) -> its parameter model.
PHASES: dict[str, type[ProjectParams]] = {
    "00_problem_definition": ProblemDefinition,
    "01_data_collection": DataCollection,
    "02_data_preparation": DataPreparation,
    "03_exploratory_analysis": ExploratoryAnalysis,
    "04_feature_engineering": FeatureEngineering,
    "05_model_selection": ModelSelection,
    "06_model_training": ModelTraining,
    "07_model_evaluation": ModelEvaluation,
    "08_model_tuning": ModelTuning,
    "09_model_testing": ModelTesting,
    "10_deployment": Deployment,
    "11_experimentation": Experimentation,
    "12_monitoring": Monitoring,
    "13_feedback_retraining": FeedbackRetraining,
}
