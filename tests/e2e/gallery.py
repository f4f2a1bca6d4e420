"""The gallery: real public tables that ship inside pinned packages (no download at run time), each
as a new user would meet it -- a CSV with the columns as published, no id, dates as text."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pandas as pd


class Table(NamedTuple):
    load: Callable[[], pd.DataFrame]
    target: str
    task: str
    about: str


def _sklearn(name: str, target: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")(as_frame=True)
        frame = bunch.frame.rename(columns={"target": target})
        if hasattr(bunch, "target_names") and name != "diabetes":  # classes by name, as published
            frame[target] = bunch.target_names[frame[target].to_numpy()]
        return frame

    return load


def _vega(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from vega_datasets import local_data

        with warnings.catch_warnings():  # vega_datasets 0.9 passes read_json a keyword pandas 3 deprecates
            warnings.simplefilter("ignore", DeprecationWarning)
            frame = getattr(local_data, name.replace("-", "_"))()
        dates = frame.select_dtypes("datetime").columns  # a CSV holds dates as text
        return frame.assign(**{c: frame[c].dt.strftime("%Y-%m-%d") for c in dates})

    return load


def _penguins() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins()  # sorted by species, then island


def _fair() -> pd.DataFrame:
    from statsmodels.datasets import fair

    frame = fair.load_pandas().data
    return frame.assign(had_affair=(frame.pop("affairs") > 0).map({True: "yes", False: "no"}))


GALLERY: dict[str, Table] = {
    "breast_cancer": Table(
        _sklearn("breast_cancer", "diagnosis"), "diagnosis", "binary", "scikit-learn: 569 tumours, 30 measurements"
    ),
    "wine": Table(_sklearn("wine", "cultivar"), "cultivar", "multiclass", "scikit-learn: 178 wines, 3 cultivars"),
    "penguins": Table(
        _penguins,
        "species",
        "multiclass",
        "palmerpenguins: 344 penguins, rows sorted by species, categories, missing values",
    ),
    "seattle_weather": Table(
        _vega("seattle-weather"),
        "weather",
        "multiclass",
        "vega_datasets: 1,461 days, one row per date, a rare class (snow, 23 days)",
    ),
    "cars": Table(
        _vega("cars"),
        "Miles_per_Gallon",
        "regression",
        "vega_datasets: 406 cars, a name per row, the model year as a date, missing values",
    ),
    "fair": Table(_fair, "had_affair", "binary", "statsmodels: 6,366 survey answers (Fair, 1978)"),
}


def write(name: str, folder: Path) -> Path:
    """The table as a CSV in ``folder``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    GALLERY[name].load().to_csv(path, index=False)
    return path


METRIC = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "mae"}  # what init chooses


def baseline(name: str, seed: int = 0) -> float:
    """A careful hand-made baseline: gradient boosting on the table as a person would prepare it (dates as
    year, month and day of year; text as native categories; a near-unique name dropped), 5-fold cross-validated
    with shuffled (stratified) folds; in the metric ``lifecycle init`` chooses, in its own units."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    table = GALLERY[name]
    frame = table.load()
    frame = frame[frame[table.target].notna()].reset_index(drop=True)  # unlabelled rows teach nothing
    y = frame.pop(table.target)
    X = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            X[column] = values
            continue
        dates = pd.to_datetime(values, errors="coerce", format="ISO8601")
        if dates.notna().mean() > 0.9:
            X.update(
                {
                    f"{column}_year": dates.dt.year,
                    f"{column}_month": dates.dt.month,
                    f"{column}_doy": dates.dt.day_of_year,
                }
            )
        elif values.nunique() < 0.5 * values.notna().sum():
            X[column] = values.astype("category")
    X = pd.DataFrame(X)
    if table.task == "regression":
        model, cv = HistGradientBoostingRegressor(random_state=seed), KFold(5, shuffle=True, random_state=seed)
        scoring, sign = "neg_mean_absolute_error", -1
    else:
        model = HistGradientBoostingClassifier(random_state=seed, categorical_features="from_dtype")
        cv, sign = StratifiedKFold(5, shuffle=True, random_state=seed), 1
        scoring = METRIC[table.task] if table.task == "multiclass" else "roc_auc"
    return float(sign * cross_val_score(model, X, y, cv=cv, scoring=scoring).mean())
