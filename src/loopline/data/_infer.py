"""Schema inference: which kind of feature each column is, from its dtype and values.

Rules, in order: a type override in ``features.types`` wins; booleans are ``boolean``; numbers are
``numeric``; datetimes (and strings that all parse as ISO 8601 times) are ``timestamp``; strings
whose values are long and mostly distinct (free text such as a message body) are ``text``; every
other string column is ``categorical``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from loopline._errors import DataError
from loopline.data._types import Column, Kind, Schema

TEXT_MIN_MEAN_LENGTH = 30
TEXT_MIN_UNIQUE_SHARE = 0.5
_SAMPLE = 2000


def infer_schema(frame: pd.DataFrame, *, types: Mapping[str, str] | None = None) -> Schema:
    """The :class:`Schema` of ``frame``; ``types`` maps column names to kinds that override inference."""
    overrides = dict(types or {})
    unknown = sorted(set(overrides) - {str(c) for c in frame.columns})
    if unknown:
        raise DataError(f"features.types names column(s) {unknown} that are not in the data; "
                        f"the columns are {[str(c) for c in frame.columns]}.")
    columns = []
    n = max(len(frame), 1)
    for name in frame.columns:
        values = frame[name]
        kind = Kind(overrides[str(name)]) if str(name) in overrides else infer_kind(values)
        n_unique = int(values.nunique(dropna=True))
        columns.append(Column(name=str(name), kind=kind, dtype=str(values.dtype), n_unique=n_unique,
                              missing_share=float(values.isna().sum()) / n))
    return Schema(tuple(columns))


def infer_kind(values: pd.Series) -> Kind:
    """The kind of one column (see the module docstring for the rules)."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return Kind.BOOLEAN
    if pd.api.types.is_numeric_dtype(dtype):
        return Kind.NUMERIC
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return Kind.TIMESTAMP
    sample = values.dropna()
    if sample.empty:
        return Kind.CATEGORICAL
    sample = sample.sample(min(len(sample), _SAMPLE), random_state=0).astype(str)
    if _looks_like_times(sample):
        return Kind.TIMESTAMP
    lengths = sample.str.len()
    if lengths.mean() >= TEXT_MIN_MEAN_LENGTH and sample.nunique() >= TEXT_MIN_UNIQUE_SHARE * len(sample) \
            and sample.str.contains(" ").mean() > 0.5:
        return Kind.TEXT
    return Kind.CATEGORICAL


def _looks_like_times(sample: pd.Series) -> bool:
    if not sample.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        return False
    parsed = pd.to_datetime(sample, utc=True, errors="coerce", format="ISO8601")
    return bool(parsed.notna().all())
