"""Request inputs as one numpy array per feature, checked and coerced to what the encoders read.

Inputs come as JSON-like rows, a dict of arrays, an Arrow table or a pandas frame; each becomes a
dict of 1-d arrays (:func:`raw_columns`), then every feature column is coerced by its kind in the
training schema (:func:`coerce`):

=============  ==========================================================================
kind           checked array
=============  ==========================================================================
numeric        float64, NaN for missing; numbers and numeric strings; infinity refused
boolean        float64 0/1, NaN for missing; true/false, yes/no, t/f, y/n, 1/0
timestamp      datetime64[ns] in UTC, NaT for missing; ISO 8601 strings (naive = UTC)
categorical    object array of the training keys (``1.0`` and ``1`` are both ``'1'``), None for missing
text           object array of str, ``''`` for missing
=============  ==========================================================================

None, NaN and NaT mean missing; the model imputes them as in training. Errors are
:class:`~loopline.InputError` naming the column (``field``) and, for a bad value, its row.

>>> rows = [{"age": 31, "plan": "pro"}, {"age": None, "plan": 2.0}]
>>> columns = columns_from_rows(rows, ["age", "plan"])
>>> coerce("numeric", "age", columns["age"]).tolist(), coerce("categorical", "plan", columns["plan"]).tolist()
([31.0, nan], ['pro', '2'])
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from loopline._errors import InputError

TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
KINDS = ("numeric", "boolean", "timestamp", "categorical", "text")
_NON_SCALAR = (list, tuple, dict, set, frozenset, bytes, bytearray, Mapping)


def columns_from_rows(rows: Sequence[Mapping[str, Any]], features: Sequence[str]) -> dict[str, np.ndarray]:
    """One object array per feature from JSON-like rows; a row without a feature's key is refused.

    >>> columns_from_rows([{"x": 1}, {"x": None}], ["x"])["x"].tolist()
    [1, None]
    """
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence):
        raise InputError(f"rows must be a list of objects (one per row), got {type(rows).__name__}", field="rows")
    if set(map(type, rows)) - {dict}:  # JSON rows are dicts: one pass, then per-row checks only if not
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InputError(f"row {i} must be an object mapping feature names to values, got "
                                 f"{type(row).__name__}", field="rows")
    columns: dict[str, np.ndarray] = {}
    for name in features:
        try:  # a column at a time (fromiter keeps a list value as one object, never broadcasting it)
            columns[name] = np.fromiter((row[name] for row in rows), dtype=object, count=len(rows))
        except KeyError:
            i = next(i for i, row in enumerate(rows) if name not in row)
            raise InputError(f"row {i} lacks the feature '{name}'; send every feature of the model "
                             f"({list(features)}), with null for a missing value", field=name) from None
    return columns


def raw_columns(data: Any, features: Sequence[str]) -> tuple[dict[str, np.ndarray], int]:
    """The feature columns of ``data`` as 1-d arrays (not yet coerced), and the row count.

    ``data`` is a mapping of column name to array-like, a ``pyarrow.Table``, a ``pandas.DataFrame``
    or a sequence of row mappings. Other columns are ignored.
    """
    if isinstance(data, pa.Table | pa.RecordBatch):
        _require(features, data.schema.names)
        return {name: data.column(name).to_numpy(zero_copy_only=False) for name in features}, data.num_rows
    if isinstance(data, pd.DataFrame):
        _require(features, [str(c) for c in data.columns])
        return {name: _from_series(data[name]) for name in features}, len(data)
    if isinstance(data, Mapping):
        _require(features, [str(k) for k in data])
        columns = {name: _array(data[name], name) for name in features}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            sizes = {name: len(v) for name, v in columns.items()}
            raise InputError(f"the columns have different lengths {sizes}; give every column one value per row",
                             field=max(sizes, key=lambda k: sizes[k]))
        n = lengths.pop() if lengths else _mapping_length(data)
        return columns, n
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return columns_from_rows(data, features), len(data)
    raise InputError(f"cannot score a {type(data).__name__}: give a list of row objects, a dict of column arrays, "
                     "a pyarrow.Table or a pandas.DataFrame", field="rows")


def _require(features: Sequence[str], present: Sequence[str]) -> None:
    found = set(present)
    absent = [f for f in features if f not in found]
    if absent:
        raise InputError(f"the input lacks the feature column(s) {absent}; the model needs {list(features)}. Add "
                         "them with the same names as in training (null values are allowed).", field=absent[0])


def _mapping_length(data: Mapping[str, Any]) -> int:
    for value in data.values():
        return len(_array(value, "?"))
    return 0


def _array(values: Any, name: str) -> np.ndarray:
    if isinstance(values, np.ndarray):
        array = values
    elif isinstance(values, pa.ChunkedArray | pa.Array):
        array = values.to_numpy(zero_copy_only=False)
    elif isinstance(values, pd.Series):
        array = _from_series(values)
    elif isinstance(values, Sequence) and not isinstance(values, str | bytes):
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
    else:
        raise InputError(f"column '{name}' must be an array or a list of values, got {type(values).__name__}",
                         field=name)
    if array.ndim != 1:
        raise InputError(f"column '{name}' must be one-dimensional, got shape {array.shape}", field=name)
    return array


def _from_series(series: pd.Series) -> np.ndarray:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return np.asarray(series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy())
    if pd.api.types.is_extension_array_dtype(dtype):
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
        return np.asarray(series.astype(object).where(series.notna(), None).to_numpy())
    return np.asarray(series.to_numpy())


# -- coercion by kind ---------------------------------------------------------------------------

def coerce(kind: str | None, name: str, values: np.ndarray, *, offset: int = 0) -> np.ndarray:
    """``values`` of feature ``name`` checked and coerced for ``kind`` (see the module docstring).

    ``kind`` None (a feature of unknown kind, as for a rule's columns) keeps numbers and strings as
    given after the same missing-value and infinity checks. ``offset`` is added to row numbers in errors.
    """
    if kind == "numeric":
        return _numeric(name, values, offset)
    if kind == "boolean":
        return _boolean(name, values, offset)
    if kind == "timestamp":
        return _timestamp(name, values, offset)
    if kind == "categorical":
        return _categorical(name, values, offset)
    if kind == "text":
        return _text(name, values, offset)
    return _untyped(name, values, offset)


def _bad(name: str, kind: str, row: int, value: Any, expected: str) -> InputError:
    return InputError(f"feature '{name}' is {kind} but row {row} holds {value!r} ({type(value).__name__}); "
                      f"send {expected}, or null for a missing value", field=name)


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return False


def _refuse_infinite(name: str, values: np.ndarray, offset: int) -> None:
    bad = np.isinf(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"feature '{name}' is {values[row]} in row {row + offset}; infinity is not a valid value. "
                         "Send a finite number, or null for a missing value.", field=name)


def _numeric(name: str, values: np.ndarray, offset: int) -> np.ndarray:
    if values.dtype.kind in "fiub":
        out = values.astype(np.float64)
    elif values.dtype.kind in "OUS":
        try:  # numbers, numeric strings and None (as NaN) convert in one step; anything else is found below
            out = values.astype(np.float64)
        except (TypeError, ValueError):
            out = np.empty(len(values), dtype=np.float64)
            for i, value in enumerate(values):
                out[i] = _number(name, value, i + offset)
    else:
        raise InputError(f"feature '{name}' is numeric but the column has dtype '{values.dtype}'; send numbers",
                         field=name)
    _refuse_infinite(name, out, offset)
    return out


def _number(name: str, value: Any, row: int) -> float:
    if _is_missing(value):
        return math.nan
    if isinstance(value, bool | np.bool_ | int | np.integer | float | np.floating):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _bad(name, "numeric", row, value, "a number")


def _boolean(name: str, values: np.ndarray, offset: int) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    if values.dtype.kind in "fiub":
        out[:] = values
        bad = ~np.isnan(out) & (out != 0.0) & (out != 1.0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise _bad(name, "boolean", row + offset, values[row].item(), "true/false or 0/1")
        return out
    for i, value in enumerate(values):
        if _is_missing(value):
            out[i] = math.nan
            continue
        if isinstance(value, bool | np.bool_ | int | np.integer | float | np.floating) and float(value) in (0.0, 1.0):
            out[i] = float(value)
            continue
        word = str(value).strip().lower() if isinstance(value, str) else None
        if word in TRUE:
            out[i] = 1.0
        elif word in FALSE:
            out[i] = 0.0
        else:
            raise _bad(name, "boolean", i + offset, value, "true/false, yes/no or 0/1")
    return out


def _timestamp(name: str, values: np.ndarray, offset: int) -> np.ndarray:
    if values.dtype.kind == "M":
        return values.astype("datetime64[ns]")
    if values.dtype.kind not in "OUS":
        raise InputError(f"feature '{name}' is a timestamp but the column has dtype '{values.dtype}'; send ISO 8601 "
                         "times such as '2024-03-01T12:00:00Z'", field=name)
    if len(values) > 16 and all(v is None or isinstance(v, str | dt.datetime) for v in values):
        try:  # many rows: pandas' parser in one call (an index, never a frame); one by one on failure
            parsed = pd.to_datetime(pd.Index(values, dtype=object), utc=True, format="ISO8601")
            return np.asarray(parsed.tz_localize(None).as_unit("ns").to_numpy())
        except (ValueError, TypeError, OverflowError):
            pass
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        out[i] = _instant_ns(name, value, i + offset)
    return out.view("datetime64[ns]")


_NAT = np.iinfo(np.int64).min


def _instant_ns(name: str, value: Any, row: int) -> int:
    """Nanoseconds since the epoch in UTC (NaT's integer for missing)."""
    if _is_missing(value):
        return int(_NAT)
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ns]").astype(np.int64))
    if isinstance(value, str | dt.datetime):
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError):
            stamp = None
        if pd.isna(stamp) and stamp is not None:  # '' and 'NaT' are missing, as pandas reads them in training
            return int(_NAT)
        if isinstance(stamp, pd.Timestamp):
            if stamp.tzinfo is not None:
                stamp = stamp.tz_convert("UTC").tz_localize(None)
            return int(stamp.as_unit("ns").value)
    raise _bad(name, "a timestamp", row, value, "an ISO 8601 time such as '2024-03-01T12:00:00Z'")


def category_key(value: Any) -> str:
    """The training key of one categorical value: integral floats and integers share one (``'1'``)."""
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
    return str(value)


def _categorical(name: str, values: np.ndarray, offset: int) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    if values.dtype.kind in "iub":
        out[:] = [str(v) for v in values.tolist()]
        return out
    if values.dtype.kind == "f":
        out[:] = [None if math.isnan(v) else category_key(v) for v in values.tolist()]
        return out
    if values.dtype.kind not in "OUS":
        raise InputError(f"feature '{name}' is categorical but the column has dtype '{values.dtype}'; send strings "
                         "or numbers", field=name)
    listed = values.tolist()
    if all(type(v) is str for v in listed):  # the common case (JSON strings): already training's keys
        out[:] = listed
        return out
    for i, value in enumerate(values):
        if _is_missing(value):
            out[i] = None
        elif isinstance(value, _NON_SCALAR):
            raise _bad(name, "categorical", i + offset, value, "a string or a number")
        else:
            out[i] = category_key(value)
    return out


def _text(name: str, values: np.ndarray, offset: int) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    if values.dtype.kind not in "OUS":
        raise InputError(f"feature '{name}' is text but the column has dtype '{values.dtype}'; send strings",
                         field=name)
    for i, value in enumerate(values):
        if _is_missing(value):
            out[i] = ""
        elif isinstance(value, str):
            out[i] = value
        else:
            raise _bad(name, "text", i + offset, value, "a string")
    return out


def _untyped(name: str, values: np.ndarray, offset: int) -> np.ndarray:
    """A column of unknown kind: numbers become float64 (int64 when all are integers), strings stay strings."""
    if values.dtype.kind in "fiubM":
        if values.dtype.kind == "f":
            _refuse_infinite(name, values, offset)
        return values
    if values.dtype.kind in "US":
        return values.astype(object)
    present = [v for v in values if not _is_missing(v)]
    if present and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in present):
        if len(present) == len(values):
            return np.asarray(values.tolist(), dtype=np.int64)
        return _numeric(name, values, offset)
    if present and all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
                       for v in present):
        return _numeric(name, values, offset)
    for i, value in enumerate(values):
        if isinstance(value, _NON_SCALAR):
            raise _bad(name, "a rule input", i + offset, value, "a number or a string")
    out = np.empty(len(values), dtype=object)
    out[:] = [None if _is_missing(v) else v for v in values]
    return out
