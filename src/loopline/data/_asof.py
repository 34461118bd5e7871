"""Point-in-time (as-of) joins: each event gets the feature values that were known when it happened.

Rules of :func:`asof_join`, the same for every caller:

- It is a **left** join. Every event row comes back exactly once, in the order and with the index of
  ``events``, its own columns unchanged; the feature columns are added to the right.
- An event gets the values of the **latest** feature row with the same key whose feature time is at
  or before the event time. A value recorded at the very instant of the event counts as known
  (``feature_time <= event_time``): feature tables stamp a value when it became available, and an
  event at that same instant could have read it. Nothing stamped after the event is ever used.
- With ``max_age``, when that latest row is older than ``max_age`` (``event_time - feature_time >
  max_age``) the features are missing. An older row is never used instead.
- Events with a missing key or time, or with no feature row at or before their time, get missing
  values (NaN, NaT or None, as pandas fills the column's type; integer columns become float).
  Feature rows with a missing key or time are never used.
- Ties on (key, feature time) are broken first by the ``tie_break`` column (largest wins, missing
  loses), then by the order of the feature table (the row ingested last wins), so the same inputs
  always give the same training set.
- Times are instants: tz-aware columns in any zone are compared as UTC, naive ones are taken as UTC,
  ISO 8601 text is parsed. Times are compared at the finer of the two columns' resolutions.

How: the feature table is first reduced to one row per (key, time) with ``ROW_NUMBER``, then DuckDB's
``ASOF LEFT JOIN`` finds, for each event row number, the position of its feature row. Only keys,
times and row positions go through DuckDB (as Arrow arrays, without copying numeric columns); the
feature values are then taken from ``features`` by position, which keeps their pandas types.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import take

from loopline._errors import DataError
from loopline.data._columns import require_columns, to_utc
from loopline.spec import FeatureTableSpec

_EVENTS = "the events"
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def asof_join(events: pd.DataFrame, features: pd.DataFrame, *, keys: list[str], event_time: str, feature_time: str,
              max_age: timedelta | None = None, columns: list[str] | None = None, tie_break: str | None = None,
              prefix: str = "", connection: duckdb.DuckDBPyConnection | None = None,
              where: str = "the feature table") -> pd.DataFrame:
    """``events`` with the feature ``columns`` as they were at each event's time (rules in the module docstring).

    ``columns`` defaults to every feature column but the keys, the feature time and ``tie_break``.
    Each added column is named ``prefix + column``; a name already in ``events`` is an error.
    ``where`` names the feature table in error messages.

    >>> t = pd.Timestamp("2024-01-01", tz="UTC")
    >>> events = pd.DataFrame({"user": [1, 1, 2], "ts": [t, t + pd.Timedelta("2h"), t]})
    >>> spend = pd.DataFrame({"user": [1, 1], "at": [t, t + pd.Timedelta("1h")], "spend": [5.0, 7.0]})
    >>> asof_join(events, spend, keys=["user"], event_time="ts", feature_time="at")["spend"].tolist()
    [5.0, 7.0, nan]
    """
    if not keys:
        raise DataError(f"as-of join of {where}: give at least one key column (feature_tables.<name>.key).")
    require_columns(events, [*keys, event_time], where=_EVENTS, role="as-of join")
    require_columns(features, [*keys, feature_time, tie_break, *(columns or [])], where=where, role="as-of join")
    if max_age is not None and max_age < timedelta(0):
        raise DataError(f"as-of join of {where}: max_age must not be negative, got {max_age}.")
    wanted = columns if columns is not None else [
        str(c) for c in features.columns if c not in {*keys, feature_time, tie_break}]
    clash = [c for c in wanted if f"{prefix}{c}" in events.columns]
    if clash:
        raise DataError(f"as-of join of {where}: feature column(s) {clash} are already in the events. List the "
                        "wanted ones in `columns:` (feature_tables.<name>.columns) or give the table a prefix.")

    left_time, right_time, unit = _common_instants(events, features, event_time, feature_time, where)
    left = {"r": pa.array(np.arange(len(events), dtype=np.int64)), "t": left_time}
    right = {"i": pa.array(np.arange(len(features), dtype=np.int64)), "t": right_time}
    for n, key in enumerate(keys):
        left[f"k{n}"], right[f"k{n}"] = _key_pair(events[key], features[key], key, where)
    order = "i DESC"
    if tie_break is not None:
        right["b"] = _arrow(features[tie_break], tie_break, where)
        order = "b DESC NULLS LAST, i DESC"

    k = [f"k{n}" for n in range(len(keys))]
    found = "f.i" if max_age is None else (
        f"CASE WHEN e.t::HUGEINT - f.t <= {_in_unit(max_age, unit)} THEN f.i END")
    sql = f"""
        WITH latest AS (
            SELECT {', '.join(k)}, t, i FROM {{right}}
            WHERE t IS NOT NULL {''.join(f' AND {c} IS NOT NULL' for c in k)}
            QUALIFY row_number() OVER (PARTITION BY {', '.join(k)}, t ORDER BY {order}) = 1
        )
        SELECT e.r, coalesce({found}, -1) AS i
        FROM {{left}} e ASOF LEFT JOIN latest f ON {' AND '.join(f'e.{c} = f.{c}' for c in k)} AND e.t >= f.t
    """
    rows, positions = _run(sql, pa.table(left), pa.table(right), connection, where, keys)
    # Put each event's match back at its own row number: an O(n) sort by the carried row number.
    found_at = np.empty(len(events), dtype=np.int64)
    found_at[rows] = positions
    added = {f"{prefix}{c}": take(features[c].array, found_at, allow_fill=True) for c in wanted}
    return events.assign(**added)


def join_feature_tables(events: pd.DataFrame, tables: list[tuple[FeatureTableSpec, pd.DataFrame]], *,
                        event_time: str) -> pd.DataFrame:
    """``events`` as-of joined to each feature table in turn, with each table's spec (key, time, max_age, ...).

    A table's columns keep their names unless one of them is already taken (by the events or an
    earlier table); then all of that table's columns are named ``<table name>__<column>``, so the
    columns of one table are always named alike. Key and time columns of the tables are not added.
    """
    con = duckdb.connect()
    try:
        out = events
        for spec, frame in tables:
            where = f"feature table '{spec.name}' ({spec.source})"
            wanted = spec.columns if spec.columns is not None else [
                str(c) for c in frame.columns if c not in {*spec.keys, spec.time, spec.tie_break}]
            prefix = f"{spec.name}__" if any(c in out.columns for c in wanted) else ""
            out = asof_join(out, frame, keys=spec.keys, event_time=event_time, feature_time=spec.time,
                            max_age=spec.max_age, columns=wanted, tie_break=spec.tie_break, prefix=prefix,
                            connection=con, where=where)
        return out
    finally:
        con.close()


def _run(sql: str, left: pa.Table, right: pa.Table, connection: duckdb.DuckDBPyConnection | None, where: str,
         keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    con = connection if connection is not None else duckdb.connect()
    names = {side: f"__loopline_asof_{side}_{uuid.uuid4().hex}" for side in ("left", "right")}
    con.register(names["left"], left)
    con.register(names["right"], right)
    try:
        result = con.sql(sql.format(**names)).to_arrow_table()
    except duckdb.Error as exc:
        raise DataError(f"as-of join of {where} failed in DuckDB: {str(exc).splitlines()[0]} Check that the key "
                        f"column(s) {keys} hold the same kind of values in the events and in {where}.") from exc
    finally:
        con.unregister(names["left"])
        con.unregister(names["right"])
        if connection is None:
            con.close()
    rows, positions = result.column("r").to_numpy(), result.column("i").to_numpy()
    if len(rows) != left.num_rows:
        raise RuntimeError(f"as-of join returned {len(rows)} rows for {left.num_rows} events; please report this.")
    return rows, positions


def _common_instants(events: pd.DataFrame, features: pd.DataFrame, event_time: str, feature_time: str,
                     where: str) -> tuple[pa.Array, pa.Array, str]:
    """Both time columns as int64 counts since the epoch (UTC) in the finer of their two units."""
    left = _instants(events[event_time], event_time, _EVENTS)
    right = _instants(features[feature_time], feature_time, where)
    unit = min(left.type.unit, right.type.unit, key=lambda u: _NS_PER_UNIT[u])
    return _epoch(left, unit, event_time, _EVENTS), _epoch(right, unit, feature_time, where), unit


def _instants(values: pd.Series, column: str, where: str) -> pa.Array:
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = to_utc(values, column=column, where=where)
    return pa.Array.from_pandas(values)


def _epoch(values: pa.Array, unit: str, column: str, where: str) -> pa.Array:
    try:
        return values.cast(pa.timestamp(unit, tz=values.type.tz)).cast(pa.int64())
    except pa.ArrowInvalid as exc:
        raise DataError(f"time column '{column}' in {where} holds instants that do not fit in {unit} "
                        f"resolution ({exc}). Check for placeholder dates such as 0001-01-01.") from exc


def _in_unit(age: timedelta, unit: str) -> int:
    """``age`` as a whole number of ``unit`` ticks, rounded down: for whole ticks ``d > age`` iff ``d > floor(age)``."""
    return int(pd.Timedelta(age).value) // _NS_PER_UNIT[unit]


def _key_pair(left: pd.Series, right: pd.Series, key: str, where: str) -> tuple[pa.Array, pa.Array]:
    """The key as Arrow arrays of joinable types on both sides, or a :class:`DataError` saying what differs."""
    a, b = _arrow(left, key, _EVENTS), _arrow(right, key, where)
    kind_a, kind_b = _kind(a.type), _kind(b.type)
    if kind_a == "time" and kind_b == "time":
        unit = min(a.type.unit, b.type.unit, key=lambda u: _NS_PER_UNIT[u])
        return _epoch(a, unit, key, _EVENTS), _epoch(b, unit, key, where)
    if kind_a == "empty" or kind_b == "empty":
        typ = b.type if kind_a == "empty" else a.type
        typ = pa.int64() if pa.types.is_null(typ) else typ
        return (pa.nulls(len(a), typ) if kind_a == "empty" else a), (pa.nulls(len(b), typ) if kind_b == "empty" else b)
    if kind_a != kind_b or kind_a == "other":
        raise DataError(f"as-of join key '{key}' holds {kind_a} values ({left.dtype}) in the events but {kind_b} "
                        f"values ({right.dtype}) in {where}. Cast one side so both hold the same kind, e.g. "
                        f"frame['{key}'] = frame['{key}'].astype(str).")
    return a, b


def _arrow(values: pd.Series, column: str, where: str) -> pa.Array:
    try:
        array = pa.Array.from_pandas(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"column '{column}' in {where} mixes types ({exc}); give it one type, e.g. "
                        f"frame['{column}'] = frame['{column}'].astype(str).") from exc
    if isinstance(array, pa.DictionaryArray):
        array = array.dictionary_decode()
    return array


def _kind(typ: pa.DataType) -> str:
    if pa.types.is_null(typ):
        return "empty"
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return "numeric"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return "text"
    if pa.types.is_timestamp(typ):
        return "time"
    if pa.types.is_boolean(typ) or pa.types.is_date(typ):
        return "boolean" if pa.types.is_boolean(typ) else "date"
    return "other"
