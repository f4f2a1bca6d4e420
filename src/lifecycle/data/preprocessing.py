"""Phase 04's preprocessing step: one scikit-learn branch per kind of model input in the feature schema.

Built from the schema (``features.feature_schema``), so it follows the data rather than a hand-kept
list, and made of scikit-learn parts only, so a saved model loads without trusting code.
"""

from __future__ import annotations

import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

KINDS = ("numeric", "boolean", "categorical", "high_cardinality")
MISSING = "(missing)"
MIN_CATEGORY_SHARE = 0.01  # rarer categories share one "infrequent" one-hot column
TARGET_TYPES = {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}
STEPS = {
    "numeric": "median imputation + missing indicator, then standard scaling",
    "boolean": "most frequent imputation + missing indicator, as 0/1",
    "categorical": f"'{MISSING}' for missing, then one-hot (categories under {MIN_CATEGORY_SHARE:.0%} "
    "of rows and unseen ones share an 'infrequent' column)",
    "high_cardinality": f"'{MISSING}' for missing, then target encoding (cross-fitted on train; "
    "unseen categories get the target mean)",
}


def preprocessor(schema: pd.DataFrame, task: str, seed: int) -> ColumnTransformer:
    """The preprocessing step for ``task``, one branch per kind of column in ``schema``.

    Unfitted; fit it on the training split only. Takes the feature table (other columns
    are dropped) and gives a DataFrame of floats.
    """
    if task not in TARGET_TYPES:
        raise ValueError(f"task '{task}' is not one of {', '.join(TARGET_TYPES)}; fix task in params/project.yaml")
    if schema.empty:
        raise ValueError("the schema lists no feature columns: the model would have no inputs")
    folds = (KFold if task == "regression" else StratifiedKFold)(5, shuffle=True, random_state=seed)
    fill = SimpleImputer(strategy="constant", fill_value=MISSING, keep_empty_features=True)
    steps = {
        "numeric": [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ],
        "boolean": [("impute", SimpleImputer(strategy="most_frequent", add_indicator=True, keep_empty_features=True))],
        "categorical": [
            ("impute", clone(fill)),
            (
                "encode",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist", min_frequency=MIN_CATEGORY_SHARE, sparse_output=False
                ),
            ),
        ],
        "high_cardinality": [
            ("impute", clone(fill)),
            ("encode", TargetEncoder(target_type=TARGET_TYPES[task], cv=folds)),
        ],
    }
    unknown = sorted(set(schema["kind"]) - set(KINDS))
    if unknown:
        raise ValueError(f"the schema has unknown kind(s) {', '.join(unknown)}; kinds are {', '.join(KINDS)}")
    branches = [
        (kind, Pipeline(steps[kind]), schema.index[schema["kind"] == kind].tolist())
        for kind in KINDS
        if (schema["kind"] == kind).any()
    ]
    return ColumnTransformer(branches, remainder="drop").set_output(transform="pandas")


def describe_preprocessor(schema: pd.DataFrame) -> pd.DataFrame:
    """Per kind of column: how many, a few example names, and the steps applied."""
    rows = []
    for kind in KINDS:
        names = schema.index[schema["kind"] == kind].tolist()
        if names:
            examples = ", ".join(map(str, names[:4])) + (", ..." if len(names) > 4 else "")
            rows.append((kind, len(names), examples, STEPS[kind]))
    return pd.DataFrame(rows, columns=["kind", "columns", "examples", "steps"]).set_index("kind")
