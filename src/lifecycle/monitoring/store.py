"""Where monitoring's data comes from and goes to: the prediction log and the batch table of the
prediction store, the label feed, the training reference; the report and the labelled rows 13 uses.

The prediction log holds each record's inputs and outputs with its time (``prediction_log.read``);
the batch table only outputs (``batch.predict_batch``), so batches get prediction drift checks. Batches
are read from ``store.batch_url`` and, when that is another database, from ``store.url`` too (where
they went before the two were apart, or where ``--output`` put them). The
label feed is a table of ``id_column``, the target and ``labelled_at`` (when the outcome was known):
a file (Parquet, CSV or another format in ``core.table_formats``), or a database table or query,
``sql:<URL>::<table or query>`` as ``lifecycle predict --input`` reads it (e.g. ``sql:${STORE_URL}::labels``,
beside the predictions).
"""

from __future__ import annotations

import json
from typing import NamedTuple

import pandas as pd
import sqlalchemy as sa

from lifecycle.core import files, paths, table_formats
from lifecycle.core.settings import Store
from lifecycle.data import splits, tables
from lifecycle.modeling import scoring
from lifecycle.monitoring.alerts import alert_table, alerts
from lifecycle.monitoring.monitor import MonitorError, score_column, windows
from lifecycle.store import prediction_log

FOLDER = paths.DATA / "monitoring"
LABELLED = FOLDER / "labelled_production.parquet"
REPORT = paths.REPORTS / "monitoring.json"
LABEL_COLUMNS = ("labelled_at",)


def read_log(url: str, table: str, model: str, version: int) -> pd.DataFrame:
    """The production role's logged predictions of ``model`` ``version`` (the one monitored: its
    scores on the reference are what the logged ones are compared with): one row per record, its
    inputs as columns, its outputs (``prediction``, ``probability_<class>``) and ``timestamp``."""
    try:
        log = prediction_log.read(url, table)
    except ValueError as exc:
        raise MonitorError(str(exc)) from None
    log = log[(log["role"] == "production") & (log["model"] == model)]
    if log.empty:
        raise MonitorError(
            f"the prediction log (table '{table}') holds no production predictions of model "
            f"'{model}': serve or batch-score the model first, or point log_table at the table "
            "your service writes"
        )
    logged = sorted(log["version"].unique())
    log = log[log["version"] == version]
    if log.empty:
        raise MonitorError(
            f"the prediction log (table '{table}') holds no predictions of {model} version {version}, "
            f"{model}@champion, yet (it holds version(s) {', '.join(map(str, logged))}); "
            "monitor once it has served"
        )
    inputs = pd.DataFrame(log["inputs"].map(json.loads).tolist())
    outputs = pd.DataFrame(log["outputs"].map(json.loads).tolist())
    return pd.concat(
        [inputs, outputs.add_prefix("output_"), log[["timestamp", "version"]].reset_index(drop=True)], axis=1
    )


def attach_labels(
    frame: pd.DataFrame, labels: pd.DataFrame, id_column: str, target: str, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Add ``target`` where the label was known by ``as_of`` (missing otherwise)."""
    wanted = [id_column, target, *LABEL_COLUMNS]
    missing = [c for c in wanted if c not in labels.columns]
    if missing:
        raise MonitorError(f"the label feed lacks column(s) {', '.join(missing)}; it needs {', '.join(wanted)}")
    if id_column not in frame.columns:
        raise MonitorError(
            f"the logged inputs have no id column '{id_column}', so labels cannot be joined; log it with each record"
        )
    known = labels.loc[pd.to_datetime(labels["labelled_at"], utc=True) <= as_of, [id_column, target]]
    frame = frame.drop(columns=[target], errors="ignore")
    return frame.merge(known.drop_duplicates(id_column, keep="last"), on=id_column, how="left")


def reference(split: str) -> pd.DataFrame:
    """The rows production is compared with: one split, or ``all`` of them (the whole population
    at the training cutoff; the train split alone lacks the out-of-time rows' late sign-ups)."""
    if split != "all":
        return splits.read(split)
    return pd.concat([splits.read(name) for name in splits.NAMES], ignore_index=True)


def write(
    results: pd.DataFrame, production: pd.DataFrame, summary: str, period: str, *, false_alert_rate: float | None = None
) -> list[str]:
    """The monitoring report (JSON; with the false-alert rate the drift thresholds hold, when given) and the
    production rows with their window and the labels known (for 13_feedback_retraining)."""
    found = alerts(results)
    report = {
        "verdict": summary,
        "alert": bool(len(found)),
        "windows": sorted(results["window"].unique()),
        "alerts": found.to_dict(orient="records"),
        "alert_table": alert_table(results).to_dict(orient="records"),
        "checks": len(results),
        "period": period,
    }
    if false_alert_rate is not None:
        report["false_alert_rate"] = false_alert_rate  # per feature and undrifted window (drift thresholds)
    files.write_json(REPORT, report)
    files.write_parquet(LABELLED, production.assign(window=windows(production["timestamp"], period)))
    return [paths.relative(REPORT), paths.relative(LABELLED)]


def read_labelled() -> pd.DataFrame:
    """The production rows 12 monitored, with the labels known then (missing where not yet)."""
    return files.read_parquet(LABELLED, "the monitored production rows", "12_monitoring")


def read_report() -> dict:
    return files.read_json(REPORT, "the monitoring report", "12_monitoring")


def read_labels(path: str) -> pd.DataFrame:
    """The label feed: a file of a registered format (CSV, Parquet, ...; relative to the project root), or
    ``sql:<URL>::<table or query>``."""
    if path.startswith(tables.SQL):
        try:
            return tables.read_sql(path)
        except tables.TableError as exc:
            raise MonitorError(f"cannot read the label feed (labels_path, params/12_monitoring.yaml): {exc}") from None
    full, found = paths.ROOT / path, table_formats.format_of(path)
    if found is None:
        raise MonitorError(
            f"the label feed '{path}': cannot tell its format; give a {table_formats.endings()} "
            "file, or sql:<URL>::<table or query>, as labels_path in params/12_monitoring.yaml"
        )
    if not full.is_file():
        raise MonitorError(
            f"the label feed '{path}' does not exist; set labels_path in params/12_monitoring.yaml "
            "(with simulate: true, 12_monitoring writes it)"
        )
    files.record_read(full)
    try:
        return found.read(full)
    except Exception as exc:  # noqa: BLE001  (pandas and pyarrow raise many types for a bad file)
        raise MonitorError(
            f"cannot read the label feed '{path}' as {found.title} ({tables.reason(exc)}); check the file"
        ) from None


def write_labels(labels: pd.DataFrame, path: str) -> None:
    """Replace the label feed ``path`` (as ``read_labels`` takes it; SQL: a table) with ``labels``, in one step."""
    if not path.startswith(tables.SQL):
        files.write_parquet(paths.ROOT / path, labels)
        return
    try:
        url, table = tables.split_sql(path)
        if not tables.TABLE_NAME.fullmatch(table):
            raise MonitorError(
                f"labels_path: the label feed is written to a table, not a query ({table[:40]!r}); "
                "give sql:<URL>::<table name>, e.g. sql:${STORE_URL}::labels"
            )
        engine = tables.engine(url)
    except tables.TableError as exc:
        raise MonitorError(f"cannot write the label feed (labels_path, params/12_monitoring.yaml): {exc}") from None
    schema, _, name = table.rpartition(".")
    try:
        with engine.begin() as connection:
            labels.to_sql(name, connection, schema=schema or None, if_exists="replace", index=False)
    finally:
        engine.dispose()


def accepted_metric(metadata: dict, metric: str) -> float:
    """The card's metric the model was accepted on: its test score (a retrained model: its hold-out score)."""
    for part in ("test", "holdout"):
        value = (metadata.get("metrics") or {}).get(part, {}).get(metric)
        if isinstance(value, (int, float)):
            return float(value)
    raise MonitorError(
        f"the champion's metadata records no test or hold-out {metric}; register it with 09_model_testing"
    )


class Gathered(NamedTuple):
    production: pd.DataFrame  # logged predictions, labels attached where known
    reference: pd.DataFrame  # the reference's model inputs
    reference_scores: pd.Series  # the model's score on the reference rows
    accepted: float  # the card's metric the model was accepted on
    batches: pd.DataFrame  # the batch job's predictions of the model (batch_id, output_* columns)
    validation_scores: pd.Series | pd.DataFrame  # the model's score (multiclass: each class's probability) on
    # the validation split, which calibrates the estimate ...
    validation_truth: pd.Series  # ... and its labels
    sentence: str
    validation_inputs: pd.DataFrame | None = None  # the model's inputs on it (a regression model's error model)


def gather(params, card, scorer) -> Gathered:
    """Everything the checks compare: production rows with the labels known by the latest prediction,
    the reference inputs, the model's scores on them, the accepted metric, the batch job's
    predictions; and a sentence saying what was read."""
    production = read_log(params.store.url, params.log_table, scorer.name, scorer.version)
    as_of = production["timestamp"].max()
    production = attach_labels(production, read_labels(params.labels_path), params.id_column, params.target, as_of)
    batches = stored_batches(params.store, scorer.name, scorer.version)
    rows = reference(params.reference_split)
    inputs = rows[[c for c in scorer.schema.index if c in rows.columns]]
    scores = scoring.score(scorer, rows).add_prefix("output_")[score_column(production, card.task, card.positive_class)]
    window = windows(production["timestamp"], params.window)
    split = "every split" if params.reference_split == "all" else f"the {params.reference_split} split"
    sentence = (
        f"Production: {len(production):,} logged predictions in {window.nunique()} windows "
        f"({window.min()} to {window.max()}); labels known for "
        f"{int(production[params.target].notna().sum()):,} of them. Batch job: {len(batches):,} predictions "
        f"in {batches['batch_id'].nunique()} batch(es). Reference: {split}, {len(rows):,} rows."
    )
    validation = splits.read("validation")
    outputs = scoring.score(scorer, validation).add_prefix("output_").reset_index(drop=True)
    validation_scores = (
        outputs.filter(like="output_probability_")
        if card.task == "multiclass"
        else outputs[score_column(production, card.task, card.positive_class)]
    )
    return Gathered(
        production,
        inputs,
        scores,
        accepted_metric(scorer.metadata, card.metric),
        batches,
        validation_scores,
        validation[card.target].reset_index(drop=True),
        sentence,
        validation[[c for c in scorer.schema.index if c in validation.columns]].reset_index(drop=True),
    )


def stored_batches(store: Store, model: str, version: int) -> pd.DataFrame:
    """``read_batches`` from ``store.batch_url`` and, when it differs, from ``store.url``; a batch id
    found in both is taken from ``store.batch_url``."""
    found = read_batches(store.batch_url, store.batch_table, model, version)
    if store.batch_url == store.url:
        return found
    earlier = read_batches(store.url, store.batch_table, model, version)
    return pd.concat([found, earlier[~earlier["batch_id"].isin(found["batch_id"])]], ignore_index=True)


def read_batches(url: str, table: str, model: str, version: int) -> pd.DataFrame:
    """The batch job's predictions of ``model`` ``version`` in the store (``batch.predict_batch`` writes
    them): one row per prediction, ``batch_id`` and the outputs prefixed ``output_``. None yet: no rows."""
    none = pd.DataFrame({"batch_id": pd.Series(dtype=str)})
    try:
        found = prediction_log.sqlite_file(prediction_log.resolve_url(url))
    except ValueError as exc:
        raise MonitorError(str(exc)) from None
    if found is not None and not found.is_file():  # reading would create an empty database
        return none
    store = prediction_log.engine(url)
    try:
        with store.connect() as connection:
            if not sa.inspect(connection).has_table(table):
                return none
            frame = pd.read_sql(
                sa.text(f'SELECT * FROM "{table}" WHERE model_name = :model AND model_version = :v'),
                connection,
                params={"model": model, "v": int(version)},
            )
    except sa.exc.SQLAlchemyError as exc:
        raise MonitorError(f"cannot read the batch table '{table}': {str(exc).splitlines()[0]}") from None
    finally:
        store.dispose()
    outputs = [c for c in frame.columns if c == "prediction" or c.startswith("probability_")]
    return frame[["batch_id", *outputs]].rename(columns={c: f"output_{c}" for c in outputs})
