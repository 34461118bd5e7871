"""Column checks shared by the data stage: required columns, UTC timestamps and label values.

Values a message shows go through :func:`plain` first: numpy 2 writes its scalars as ``np.int64(0)`` in a list or
with ``!r``, which means nothing to someone reading about their own table.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import DataError
from loopline.spec import Task

_TRUE = {"1", "1.0", "true", "yes", "y", "t", "positive", "pos"}
_FALSE = {"0", "0.0", "false", "no", "n", "f", "negative", "neg"}


def require_columns(frame: pd.DataFrame, columns: Iterable[str | None], *, where: str, role: str) -> None:
    """Raise a :class:`DataError` naming each absent column, with the closest existing names."""
    available = [str(c) for c in frame.columns]
    for column in columns:
        if column is None or column in frame.columns:
            continue
        close = get_close_matches(column, available, n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise DataError(f"{role} column '{column}' is not in {where}.{hint} Its columns are: "
                        f"{', '.join(available[:40])}{' ...' if len(available) > 40 else ''}")


def to_utc(values: pd.Series, *, column: str, where: str) -> pd.Series:
    """``values`` as tz-aware UTC timestamps; naive ones are taken as UTC; unparseable ones are an error."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        converted: pd.Series = values.dt.tz_convert("UTC")
        return converted
    if pd.api.types.is_datetime64_dtype(values.dtype):
        localized: pd.Series = values.dt.tz_localize("UTC")
        return localized
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise DataError(f"column '{column}' in {where} holds numbers ({values.dtype}), not timestamps. "
                        "Give ISO 8601 times (2024-05-01T12:00:00Z) or point event_time at a time column.")
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna() & values.notna()
    if bad.any():
        examples = ", ".join(repr(v) for v in values[bad].astype(str).unique()[:3])
        raise DataError(f"column '{column}' in {where}: {int(bad.sum())} of {len(values)} values cannot be "
                        f"parsed as timestamps (e.g. {examples}). Use ISO 8601 times such as "
                        "2024-05-01T12:00:00Z.")
    return parsed


def plain(value: Any) -> Any:
    """``value`` as the Python scalar it stands for when it is a numpy one, so that messages show ``0``, ``0.5``,
    ``'a'`` and ``True`` rather than numpy's reprs; anything else is returned as it is.

    >>> [plain(np.int64(0)), plain(np.float64(0.5)), plain(np.str_("a")), plain(np.bool_(True)), plain("b")]
    [0, 0.5, 'a', True, 'b']
    """
    return value.item() if isinstance(value, np.generic) else value


def whole_numbers(values: pd.Series) -> pd.Series:
    """A float column whose values are all whole numbers, as int64; any other column unchanged.

    A column of integers with missing values is read as floats (NaN needs a float), so once the rows without a
    value are gone, ``0``/``1`` labels would otherwise be seen, and shown, as ``0.0``/``1.0``.

    >>> whole_numbers(pd.Series([1.0, 0.0])).tolist(), whole_numbers(pd.Series([0.5, 1.0])).tolist()
    ([1, 0], [0.5, 1.0])
    """
    if not pd.api.types.is_float_dtype(values.dtype) or values.isna().any():
        return values
    array = values.to_numpy()
    if not (np.isfinite(array).all() and (np.abs(array) < 2.0**53).all() and (array == np.round(array)).all()):
        return values
    return values.astype("int64")


def normalize_label(values: pd.Series, task: Task, *, column: str, where: str,
                    positive: Any = None) -> pd.Series:
    """The label in the form models expect: 0/1 ints (binary), floats (regression, ranking), as-is (multiclass).

    Rows with a missing label must be dropped before this is called.
    """
    if values.empty:
        raise DataError(f"no rows with a label '{column}' in {where}.")
    distinct = np.asarray(pd.unique(values))
    if task in ("binary", "multiclass") and len(distinct) < 2:
        raise DataError(f"label '{column}' in {where} has one class ({plain(distinct[0])!r}) in every row: "
                        "a model needs examples of at least two classes. Check the label column or its window.")
    if task == "multiclass":
        return values
    if task == "binary":
        return _binary(values, distinct, column=column, where=where, positive=positive)
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        try:
            return values.astype("float64")
        except (TypeError, ValueError) as exc:
            raise DataError(f"label '{column}' in {where} must be numeric for task '{task}', got "
                            f"{values.dtype} (e.g. {plain(distinct[0])!r}).") from exc
    return values.astype("float64")


def _binary(values: pd.Series, distinct: np.ndarray, *, column: str, where: str, positive: Any) -> pd.Series:
    if len(distinct) > 2:
        shown = ", ".join(repr(plain(v)) for v in list(distinct)[:5])
        raise DataError(f"label '{column}' in {where} has {len(distinct)} distinct values ({shown}), but task "
                        "'binary' needs two. Use task 'multiclass' or 'regression', or build a 0/1 label.")
    if positive is not None:
        matches = [v for v in distinct if _same_value(v, positive)]
        if not matches:
            raise DataError(f"label.positive is {plain(positive)!r}, but label '{column}' in {where} holds "
                            f"{[str(v) for v in distinct]}; set label.positive to one of them.")
        return values.isin(matches).astype("int64")
    text = {str(v).strip().lower() for v in distinct}
    if text <= _TRUE | _FALSE and text & _TRUE and text & _FALSE:
        return values.astype(str).str.strip().str.lower().isin(_TRUE).astype("int64")
    raise DataError(f"label '{column}' in {where} holds {[str(v) for v in distinct]}; say which value is the "
                    "positive class with label.positive.")


def _same_value(value: Any, positive: Any) -> bool:
    """Whether a label value is ``label.positive``: the same text, the same number (``1`` is ``1.0``), or for
    ``positive: true``/``false`` a value that reads as true/false (``1.0``, ``"yes"``, ``0``, ...)."""
    if str(value) == str(positive):
        return True
    if isinstance(positive, bool | np.bool_):
        return str(plain(value)).strip().lower() in (_TRUE if positive else _FALSE)
    numbers = [_number(plain(v)) for v in (value, positive)]
    return numbers[0] is not None and numbers[0] == numbers[1]


def _number(value: Any) -> float | None:
    """``value`` as a number when it is one or reads as one (``"1"``); None otherwise (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None
