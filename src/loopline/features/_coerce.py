"""Raw pandas columns turned into the typed arrays the encoders work on, with errors that name the column.

Every encoder reads its column through one of these functions, both when fitting and when
transforming, so a column that arrives with another dtype at serving time is either converted the
same way or refused with a message that says what to fix.

>>> category_keys(pd.Series([1.0, None, 2.5]))[0].tolist()
['1', '', '2.5']
>>> as_bool(pd.Series(["yes", "No", None]), "opted_in").tolist()
[1.0, 0.0, nan]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopline._errors import FeatureError

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
_NON_SCALAR = (list, tuple, dict, set, frozenset, bytes, bytearray)


def _examples(series: pd.Series, limit: int = 3) -> list[object]:
    seen: dict[str, object] = {}
    for value in series.dropna().to_numpy(dtype=object):
        value = value.item() if isinstance(value, np.generic) else value  # shown as 0, not np.int64(0)
        seen.setdefault(repr(value), value)
        if len(seen) == limit:
            break
    return list(seen.values())


def _unsupported(column: str, kind: str, series: pd.Series, fix: str) -> FeatureError:
    return FeatureError(
        f"feature '{column}' is {kind} in the schema but has dtype '{series.dtype}' "
        f"(values such as {_examples(series)!r}), which cannot be read as {kind}. {fix}"
    )


def _is_texty(series: pd.Series) -> bool:
    dtype = series.dtype
    return (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype))


def as_float(series: pd.Series, column: str) -> np.ndarray:
    """A numeric column as float64 with NaN for missing; infinities count as missing.

    Strings that all parse as numbers are accepted (a CSV column read as text).
    """
    dtype = series.dtype
    if (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)) and not (
            pd.api.types.is_complex_dtype(dtype)):
        numbers = series
    elif _is_texty(series):
        try:
            numbers = pd.to_numeric(series.astype(object), errors="raise")
        except (ValueError, TypeError) as exc:
            raise _unsupported(
                column, "numeric", series,
                f"Clean the column, or set features.types.{column} to 'categorical' in loopline.yaml.",
            ) from exc
    else:
        raise _unsupported(column, "numeric", series,
                           f"Set features.types.{column} to the right kind in loopline.yaml.")
    try:
        values = np.array(numbers.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise _unsupported(column, "numeric", series, "Clean the column before training.") from exc
    values[~np.isfinite(values)] = np.nan
    return values


def as_bool(series: pd.Series, column: str) -> np.ndarray:
    """A boolean column as 0.0/1.0 with NaN for missing.

    Accepts bool dtypes, the numbers 0 and 1, and the strings true/false, t/f, yes/no, y/n, 1/0
    (any case).
    """
    missing = series.isna().to_numpy(dtype=bool)
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        values = as_float(series, column)
        values[missing] = np.nan
        bad = ~missing & ~np.isin(values, (0.0, 1.0))
    else:
        words = series.astype(object).where(~series.isna(), "").map(lambda v: str(v).strip().lower())
        text = words.to_numpy(dtype=object)
        is_true = np.isin(text, list(_TRUE))
        is_false = np.isin(text, list(_FALSE))
        values = np.where(is_true, 1.0, np.where(is_false, 0.0, np.nan))
        bad = ~missing & ~is_true & ~is_false
    if bad.any():
        raise FeatureError(
            f"feature '{column}' is boolean in the schema but holds values such as "
            f"{_examples(series[bad])!r}; expected true/false, yes/no or 0/1. Clean the column, or set "
            f"features.types.{column} to 'categorical' in loopline.yaml."
        )
    values[missing] = np.nan
    return np.asarray(values, dtype=np.float64)


def _float_key(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def category_keys(series: pd.Series, column: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Canonical string keys of a categorical column (object array) and its missing mask.

    Integral floats and integers share a key (``1.0`` and ``1`` are both ``'1'``), so a column that
    gains a missing value at serving time and turns float still finds its categories. Missing
    entries get the key ``''`` and are flagged in the mask.
    """
    missing = series.isna().to_numpy(dtype=bool)
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        keys = np.array(["" if m else _float_key(float(v)) for v, m in zip(values, missing, strict=True)],
                        dtype=object)
        return keys, missing
    if pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return np.asarray(series.astype(str).to_numpy(dtype=object, na_value=""), dtype=object), missing
    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(series.dtype):
        return np.asarray(series.to_numpy(dtype=object, na_value=""), dtype=object), missing
    objects = series.to_numpy(dtype=object)
    if (pd.api.types.is_object_dtype(series.dtype)
            and pd.api.types.infer_dtype(series, skipna=True) in ("mixed", "unknown-array")
            and any(isinstance(v, _NON_SCALAR) for v in objects)):
        raise _unsupported(column, "categorical", series,
                           "Flatten the values to strings or numbers before training.")
    keys = np.empty(len(objects), dtype=object)
    for i, (value, miss) in enumerate(zip(objects, missing, strict=True)):
        keys[i] = "" if miss else (_float_key(value) if isinstance(value, float) else str(value))
    return keys, missing


def as_utc(series: pd.Series, column: str) -> pd.Series:
    """A timestamp column as tz-aware UTC datetimes (naive values are taken to be UTC)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return pd.Series(series.dt.tz_convert("UTC"))
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return pd.Series(series.dt.tz_localize("UTC"))
    if _is_texty(series):
        try:
            return pd.to_datetime(series, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise _unsupported(column, "timestamp", series,
                               "Store ISO 8601 times (e.g. 2024-03-01T12:00:00Z) or datetimes.") from exc
    raise _unsupported(column, "timestamp", series,
                       f"Convert it to datetimes, or set features.types.{column} to the right kind.")


def as_text(series: pd.Series, column: str) -> list[str]:
    """A text column as a list of strings, missing as the empty string."""
    if not _is_texty(series):
        raise _unsupported(column, "text", series, f"Set features.types.{column} to the right kind.")
    objects = series.to_numpy(dtype=object)
    missing = series.isna().to_numpy(dtype=bool)
    out: list[str] = []
    for value, miss in zip(objects, missing, strict=True):
        if miss:
            out.append("")
        elif isinstance(value, str):
            out.append(value)
        else:
            raise _unsupported(column, "text", series, "Store the text as strings.")
    return out


def positions(keys: np.ndarray, missing: np.ndarray, categories: list[str] | pd.Index) -> np.ndarray:
    """For each key, its position in ``categories``; -1 when unknown or missing.

    Pass a ``pd.Index`` built once (:func:`category_index`) when calling repeatedly: building the
    hash table is the expensive part for a single row.
    """
    index = categories if isinstance(categories, pd.Index) else category_index(categories)
    found = index.get_indexer(pd.Index(keys, dtype=object))
    found[missing] = -1
    return np.asarray(found, dtype=np.int64)


def category_index(categories: list[str]) -> pd.Index:
    """A lookup table for :func:`positions`."""
    return pd.Index(categories, dtype=object)
