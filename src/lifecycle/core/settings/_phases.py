"""One parameter model per phase (params/NN_<phase>.yaml): each extends ``ProjectParams`` with the
phase's own keys, so a notebook's parameters are exactly the project file plus its phase file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from lifecycle.core import paths
from lifecycle.core.metrics import METRICS, metrics_for
from lifecycle.core.settings._project import Name, ProjectParams, Strict, credentials_outside


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
    # a window larger than 1/chunks of the reference keeps that size's threshold; the reference must hold
    # chunks windows of min_rows
    chunks: Annotated[StrictInt, Field(ge=3, le=1000)] = 10
    false_alert_rate: Annotated[float, Field(gt=0, le=0.1)] = 0.001  # alerts per feature and undrifted window
    resamples: Annotated[StrictInt, Field(ge=100, le=100_000)] = 1000  # draws of each statistic's null
    variance_share: Annotated[float, Field(gt=0, lt=1)] = 0.9  # multivariate: PCA components kept

    @model_validator(mode="before")
    @classmethod
    def _k_replaced(cls, values):
        if isinstance(values, dict) and "k" in values:
            raise ValueError(
                "drift.k (mean + k sd of the reference chunks) is replaced by drift.false_alert_rate: the "
                "share of undrifted windows a feature may alert on, e.g. 0.001 (one in 1,000); remove k"
            )
        return values


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
