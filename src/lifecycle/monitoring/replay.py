"""Production replayed as the service would have logged it: rows scored into the prediction log
table, their labels into the label feed. For 12's simulated weeks (``traffic.weeks``) and, on your
own table, for its held-out rows.
"""

from __future__ import annotations

from datetime import UTC

import pandas as pd

from lifecycle.data import splits
from lifecycle.modeling import scoring
from lifecycle.monitoring import store as monitor_store
from lifecycle.store import prediction_log


def replay(
    frame: pd.DataFrame,
    scorer,
    *,
    url: str,
    table: str,
    id_column: str,
    target: str,
    window_days: int,
    labels_path: str,
) -> str:
    """Score simulated weeks with ``scorer`` and log them as the service would (``prediction_log``
    rows stamped with each week's prediction date, the id among the inputs), replacing the table;
    write the label feed ``labels_path`` (``monitor_store.write_labels``; each label known
    ``window_days`` after its prediction date)."""
    _log(frame, frame["week"].map("simulated-week-{:02d}".format), scorer, url, table, id_column)
    _label_feed(frame, frame["predicted_at"] + pd.Timedelta(days=window_days), id_column, target, labels_path)
    return (
        f"Replayed {len(frame):,} simulated predictions over {frame['week'].nunique()} weeks into table "
        f"'{table}', and their labels into the label feed (each known {window_days} days after its prediction)."
    )


def replay_held_out(params, scorer) -> str:
    """Your own table has no production period: its held-out rows (``splits.held_out``) are replayed
    into ``log_table`` as production, stamped with their ``time_column`` (without one, all at
    ``labels.cutoff``: one window), and their labels, which the table holds, go to the label feed at once."""
    if params.id_column is None:
        raise ValueError(
            "monitoring joins labels to predictions by id_column, and this table has none: add a "
            "column with a unique value per row, set id_column in params/project.yaml, and run again"
        )
    frame, origin = splits.held_out()
    if params.time_column and params.time_column in frame.columns:
        when = pd.to_datetime(frame[params.time_column], utc=True).dt.tz_localize(None)
        stamped = f"each stamped with its {params.time_column}"
    else:
        when = pd.Series(pd.Timestamp(params.labels.cutoff), index=frame.index)
        stamped = f"all stamped {params.labels.cutoff} (labels.cutoff: no time column, so one window)"
    frame = frame.assign(predicted_at=when).sort_values("predicted_at", kind="stable").reset_index(drop=True)
    _log(frame, pd.Series("held-out", index=frame.index), scorer, params.store.url, params.log_table, params.id_column)
    _label_feed(frame, frame["predicted_at"], params.id_column, params.target, params.labels_path)
    return (
        f"Your table has no production period: {origin.split(' (')[0]} stands in for it, compared with the "
        f"training reference. Replayed its {len(frame):,} rows into table '{params.log_table}', {stamped}; "
        "their labels (your table holds them) are known at once."
    )


def _log(frame: pd.DataFrame, requests: pd.Series, scorer, url: str, table: str, id_column: str) -> None:
    """Score ``frame`` and write it to the prediction log table as the service would, replacing the table."""
    outputs = scoring.score(scorer, frame)
    inputs = frame[[id_column, *scorer.schema.index]].astype(object)
    inputs = inputs.where(inputs.notna(), None)
    rows = [
        prediction_log.row(
            request,
            record=record,
            model=scorer.name,
            version=scorer.version,
            role="production",
            inputs={k: (v.item() if hasattr(v, "item") else v) for k, v in values.items()},
            outputs={k: (v.item() if hasattr(v, "item") else v) for k, v in answer.items()},
            timestamp=when.to_pydatetime().replace(tzinfo=UTC),
        )
        for record, (request, when, values, answer) in enumerate(
            zip(requests, frame["predicted_at"], inputs.to_dict(orient="records"), outputs.to_dict(orient="records"))
        )
    ]
    store = prediction_log.engine(url)
    try:
        defined = prediction_log.predictions_table(table)
        with store.begin() as connection:
            defined.drop(connection, checkfirst=True)
            defined.create(connection)
        prediction_log.write(store, defined, rows)
    finally:
        store.dispose()


def _label_feed(frame: pd.DataFrame, labelled_at: pd.Series, id_column: str, target: str, labels_path: str) -> None:
    labels = pd.DataFrame(
        {id_column: frame[id_column], target: frame[target], "labelled_at": labelled_at.dt.tz_localize("UTC")}
    )
    monitor_store.write_labels(labels, labels_path)
