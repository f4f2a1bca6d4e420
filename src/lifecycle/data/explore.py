"""Phase 03: tables and sentences that describe the prepared data, computed, never typed in."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

from lifecycle.core.settings import ProjectParams


def feature_columns(table: pd.DataFrame, params: ProjectParams) -> list[str]:
    """Every column but the id, the target and the time column."""
    roles = {params.id_column, params.target, params.time_column}
    return [c for c in table.columns if c not in roles]


def summary(table: pd.DataFrame, params: ProjectParams) -> pd.DataFrame:
    """One row per feature: kind, missing share, distinct values, and a centre and spread."""
    rows = []
    for column in feature_columns(table, params):
        values = table[column]
        numeric = pd.api.types.is_numeric_dtype(values)
        top = values.value_counts()
        rows.append(
            {
                "column": column,
                "kind": "numeric" if numeric else "categorical",
                "missing %": round(100 * values.isna().mean(), 1),
                "distinct": int(values.nunique()),
                "median / top": round(float(values.median()), 2)
                if numeric
                else (str(top.index[0]) if len(top) else "-"),
                "IQR / top %": (
                    round(float(values.quantile(0.75) - values.quantile(0.25)), 2)
                    if numeric
                    else round(100 * top.iloc[0] / max(values.notna().sum(), 1), 1)
                    if len(top)
                    else 0.0
                ),
            }
        )
    return pd.DataFrame(rows).set_index("column")


def target_balance(table: pd.DataFrame, params: ProjectParams) -> pd.DataFrame:
    """Rows and share per class, or the target's quantiles for regression."""
    target = table[params.target]
    if params.task == "regression":
        return target.describe().round(2).to_frame()
    counts = target.value_counts().sort_index()
    return pd.DataFrame({"rows": counts, "share %": (100 * counts / counts.sum()).round(1)})


def target_relations(table: pd.DataFrame, params: ProjectParams) -> pd.DataFrame:
    """How much each feature tells about the target (mutual information), strongest first."""
    features = feature_columns(table, params)
    encoded, discrete = [], []
    for column in features:
        values = table[column]
        if pd.api.types.is_numeric_dtype(values):
            encoded.append(values.fillna(values.median()).to_numpy(dtype=float))
            discrete.append(False)
        else:
            encoded.append(pd.factorize(values.astype("string").fillna("(missing)"))[0].astype(float))
            discrete.append(True)
    X = np.column_stack(encoded)
    score = mutual_info_classif if params.task != "regression" else mutual_info_regression
    mi = score(X, table[params.target], discrete_features=np.array(discrete), random_state=params.seed)
    result = pd.DataFrame({"mutual information": np.round(mi, 4)}, index=pd.Index(features, name="feature"))
    return result.sort_values("mutual information", ascending=False, kind="stable")


def correlations(table: pd.DataFrame, params: ProjectParams, method: str) -> pd.DataFrame:
    """Correlation of the numeric features (and the target when it is numeric)."""
    columns = [c for c in feature_columns(table, params) if pd.api.types.is_numeric_dtype(table[c])]
    if pd.api.types.is_numeric_dtype(table[params.target]):
        columns.append(params.target)
    return table[columns].corr(method=method).round(2)


def trend(table: pd.DataFrame, params: ProjectParams, period: str) -> pd.DataFrame | None:
    """Rows per period of the time column, and the target's mean when it is numeric; None without one."""
    if not params.time_column:
        return None
    target = table[params.target]
    grouped = target.groupby(table[params.time_column].dt.to_period(period))
    result = grouped.size().rename("rows").to_frame()
    if pd.api.types.is_numeric_dtype(target):
        result[f"{params.target} mean"] = grouped.mean().round(3)
    return result


def event_summary(events: pd.DataFrame | None, params: ProjectParams) -> pd.DataFrame | str:
    """Events per type, with the ids that have them and the time span; a sentence when there are none."""
    if events is None:
        return "No events table: only the main table's columns describe each row."
    roles = params.events
    grouped = events.groupby(roles.type_column, observed=True)
    result = grouped.agg(
        events=(roles.time_column, "size"),
        ids=(params.id_column, "nunique"),
        first=(roles.time_column, "min"),
        last=(roles.time_column, "max"),
    )
    result["first"], result["last"] = result["first"].dt.date, result["last"].dt.date
    return result.sort_values("events", ascending=False, kind="stable")


def anomalies(table: pd.DataFrame, params: ProjectParams, fence: float = 3.0) -> pd.DataFrame:
    """What looks unusual: far outliers (beyond ``fence`` IQRs), rare categories, constant columns."""
    rows = []
    for column in feature_columns(table, params):
        values = table[column].dropna()
        if values.nunique() <= 1:
            rows.append((column, "constant", len(values), "a single value: carries no information"))
        elif pd.api.types.is_numeric_dtype(values):
            q1, q3 = values.quantile([0.25, 0.75])
            low, high = q1 - fence * (q3 - q1), q3 + fence * (q3 - q1)
            far = int((~values.between(low, high)).sum())
            if far:
                rows.append((column, "far outliers", far, f"outside [{low:.4g}, {high:.4g}]"))
        else:
            shares = values.value_counts(normalize=True)
            rare = shares[shares < 0.01]
            if len(rare):
                rows.append((column, "rare categories", len(rare), ", ".join(map(str, rare.index[:5]))))
    return pd.DataFrame(rows, columns=["column", "finding", "count", "detail"]).set_index("column")


def findings(
    table: pd.DataFrame, params: ProjectParams, relations: pd.DataFrame, trend_table: pd.DataFrame | None
) -> list[str]:
    """The few sentences a reader should take away, each computed from the data."""
    lines = [f"{len(table):,} rows and {len(feature_columns(table, params))} features."]
    if params.task != "regression":
        shares = table[params.target].value_counts(normalize=True)
        lines.append(
            f"The rarest class of {params.target} ({shares.idxmin()}) is {100 * shares.min():.1f}% of rows"
            + (": imbalanced, so accuracy would mislead." if shares.min() < 0.3 else ".")
        )
    missing = table[feature_columns(table, params)].isna().mean().sort_values(ascending=False, kind="stable")
    if missing.iloc[0] > 0:
        lines.append(f"{missing.index[0]} has the most gaps ({100 * missing.iloc[0]:.1f}% missing).")
    top = relations.index[:3].tolist()
    lines.append(f"Most informative about {params.target}: {', '.join(top)}.")
    if trend_table is not None and f"{params.target} mean" in trend_table and len(trend_table) >= 4:
        column = trend_table[f"{params.target} mean"]
        half = len(column) // 2
        early, late = column.iloc[:half].mean(), column.iloc[half:].mean()
        lines.append(
            f"Mean {params.target} moves from {early:.3f} in the earlier half of {params.time_column} "
            f"periods to {late:.3f} in the later half."
        )
    return lines
