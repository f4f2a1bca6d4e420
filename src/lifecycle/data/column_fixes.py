"""Phase 02's fixes of one column: text read as dates or as numbers, categories spelled one way.

Each fix returns the fixed column and a line for the report (``prepare``), or the column as it was.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_NUMBER_TEXT = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
# a date written with digits (2024-05-01, 1/5/2024, 2024.05.01), with an optional time and zone; words such as
# "March" are never taken for dates (the parser would fill in today's year)
_DATE_TEXT = re.compile(
    r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
DATE_SHARE = 0.9  # a text column reads as dates when this share of its values do


def read_as_dates(values: pd.Series, share: float = DATE_SHARE) -> pd.Series | None:
    """``values`` parsed as dates when they are text and at least ``share`` of them are digit-written dates
    (unreadable ones become missing); None otherwise."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    text = values.dropna().astype("string").str.strip()
    if text.empty or text.str.fullmatch(_DATE_TEXT.pattern).fillna(False).mean() < share:
        return None
    try:
        return pd.to_datetime(values.astype("string").str.strip(), errors="coerce", format="mixed")
    except (ValueError, TypeError):  # mixed time zones, out-of-range years
        return None


def fix_column(values: pd.Series, name: str, is_time: bool, numeric_share: float):
    """Parse the time column, turn numbers stored as text into numbers, normalise categories."""
    if is_time:
        parsed = pd.to_datetime(values, errors="coerce")
        bad = int((parsed.isna() & values.notna()).sum())
        return parsed, ("types", name, bad, "parsed as dates; unreadable dates set to missing")
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values, None
    dates = read_as_dates(values)
    if dates is not None:
        bad = int((dates.isna() & values.notna()).sum())
        return dates, ("types", name, int(values.notna().sum()), f"text read as dates; {bad} unreadable set to missing")
    text = values.astype("string")
    present = text.dropna()
    stripped = present.str.strip().str.replace(r"^[$€£]\s*|\s*[$€£]$", "", regex=True)
    looks_numeric = stripped.str.fullmatch(_NUMBER_TEXT.pattern).fillna(False)
    if len(present) and looks_numeric.mean() >= numeric_share:
        numbers = pd.to_numeric(stripped.where(looks_numeric).str.replace(",", ".", regex=False), errors="coerce")
        fixed = pd.Series(np.nan, index=values.index, dtype="float64")
        fixed[numbers.index] = numbers.astype("float64")
        unreadable = int((~looks_numeric).sum())
        return fixed, (
            "types",
            name,
            int(len(present)),
            f"text converted to numbers; {unreadable} unreadable set to missing",
        )
    canonical = _canonical_spellings(present)
    fixed = text.map(canonical)
    changed = int((fixed.dropna() != present).sum())
    if not changed:
        return values, None
    before, after = present.nunique(), fixed.dropna().nunique()
    return fixed.astype("category"), (
        "categories",
        name,
        changed,
        f"case and spacing unified: {before} spellings -> {after} categories",
    )


def _canonical_spellings(present: pd.Series) -> dict[str, str]:
    """Map each spelling to the most common spelling of its group (same text up to case and spacing)."""
    counts = present.str.strip().str.replace(r"\s+", " ", regex=True).value_counts()
    keys = counts.index.str.casefold()
    best = pd.Series(counts.index, index=keys).groupby(level=0).first()  # value_counts sorts by frequency
    return {
        spelling: best[_normalise_text(pd.Series([spelling], dtype="string")).iloc[0]] for spelling in present.unique()
    }


def normalised_categories(values: pd.Series) -> pd.Series:
    """Trimmed, lower-case categories; the work is done once per distinct value, not per row."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = _normalise_text(pd.Series(uniques, dtype="string")).to_numpy(dtype=object)
    categories = pd.Index(pd.unique(names[pd.notna(names)]))
    mapped = categories.get_indexer(names)  # distinct spellings may share one normalised category
    new_codes = np.where(codes >= 0, mapped[np.maximum(codes, 0)] if len(mapped) else -1, -1)
    return pd.Series(pd.Categorical.from_codes(new_codes, categories), index=values.index, name=values.name)


def _normalise_text(text: pd.Series) -> pd.Series:
    return text.str.strip().str.replace(r"\s+", " ", regex=True).str.casefold()
