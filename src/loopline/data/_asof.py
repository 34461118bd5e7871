"""Point-in-time joins: each event gets the feature values that were known when it happened.

Semantics of :func:`asof_join`:

- A **left** join: every event row comes back exactly once, in its original order, unchanged.
- An event gets the latest feature row with the same key whose feature time is **at or before** the
  event time (a value recorded at the very instant of the event counts as known). Nothing recorded
  after the event is ever used.
- With ``max_age``, when that latest row is older than ``max_age`` the features are null: an
  older row is never used instead.
- Events with a null key, or no earlier feature row, get nulls.
- Ties on (key, feature time) are broken by the ``tie_break`` column (largest wins), else by the
  order of the feature table (the last row ingested wins), so the same inputs give the same rows.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pandas as pd

from loopline._errors import DataError
from loopline.data._arrow import to_frame
from loopline.data._columns import require_columns, to_utc
from loopline.spec import FeatureTableSpec

_ROW = "__ll_row"
_ORDER = "__ll_ingested"


def asof_join(events: pd.DataFrame, features: pd.DataFrame, *, keys: list[str], event_time: str, feature_time: str,
              max_age: timedelta | None = None, columns: list[str] | None = None, tie_break: str | None = None,
              prefix: str = "", connection: duckdb.DuckDBPyConnection | None = None,
              where: str = "the feature table") -> pd.DataFrame:
    """``events`` with the feature ``columns`` as of each event's time (see the module docstring)."""
    require_columns(events, [*keys, event_time], where="the events", role="as-of join")
    require_columns(features, [*keys, feature_time, *(columns or []), tie_break], where=where, role="as-of join")
    value_columns = columns if columns is not None else [c for c in features.columns
                                                         if c not in {*keys, feature_time, tie_break}]
    renamed = {c: f"{prefix}{c}" for c in value_columns}
    clash = sorted(set(renamed.values()) & set(events.columns))
    if clash:
        raise DataError(f"{where}: column(s) {clash} are already in the events; list the wanted ones in "
                        "'columns' or give the table a prefix.")
    con = connection or duckdb.connect()
    left = pd.DataFrame({f"k{i}": events[k].to_numpy() for i, k in enumerate(keys)})
    left["t"] = to_utc(events[event_time], column=event_time, where="the events").to_numpy()
    left[_ROW] = range(len(events))
    right = pd.DataFrame({f"k{i}": features[k].to_numpy() for i, k in enumerate(keys)})
    right["t"] = to_utc(features[feature_time], column=feature_time, where=where).to_numpy()
    right[_ORDER] = range(len(features))
    tie = "" if tie_break is None else f'"{_quoted(tie_break)}" DESC NULLS LAST, '
    if tie_break is not None:
        right[tie_break] = features[tie_break].to_numpy()
    for i, c in enumerate(value_columns):
        right[f"v{i}"] = features[c].to_numpy()
    key_list = ", ".join(f"k{i}" for i in range(len(keys)))
    on = " AND ".join(f"e.k{i} = f.k{i}" for i in range(len(keys)))
    age = "" if max_age is None else f" AND f.t >= e.t - to_microseconds({int(max_age.total_seconds() * 1e6)})"
    values = ", ".join(f"CASE WHEN f.t IS NOT NULL{age} THEN f.v{i} END AS v{i}" for i in range(len(value_columns)))
    con.register("__ll_left", left)
    con.register("__ll_right", right)
    try:
        joined = to_frame(con.sql(f"""
            WITH latest AS (
                SELECT * FROM __ll_right
                WHERE t IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY {key_list}, t ORDER BY {tie}{_ORDER} DESC) = 1
            )
            SELECT e.{_ROW}{', ' + values if values else ''}
            FROM __ll_left e ASOF LEFT JOIN latest f ON {on} AND e.t >= f.t
            ORDER BY e.{_ROW}
        """))
    except duckdb.Error as exc:
        raise DataError(f"{where}: the as-of join failed in DuckDB: {str(exc).splitlines()[0]}. Check that the key "
                        f"column(s) {keys} have the same type in the events and the feature table.") from exc
    finally:
        con.unregister("__ll_left")
        con.unregister("__ll_right")
    out = events.reset_index(drop=True).copy()
    for i, c in enumerate(value_columns):
        out[renamed[c]] = joined[f"v{i}"].to_numpy()
    return out


def join_feature_tables(events: pd.DataFrame, tables: list[tuple[FeatureTableSpec, pd.DataFrame]], *,
                        event_time: str) -> pd.DataFrame:
    """Apply each feature table in turn. A feature column whose name is already taken is prefixed
    with ``<table name>__``; the tables' key and time columns are never added."""
    con = duckdb.connect()
    out = events
    for spec, frame in tables:
        where = f"feature_tables.{spec.name} ({spec.source})"
        wanted = spec.columns if spec.columns is not None else [
            c for c in frame.columns if c not in {*spec.keys, spec.time, spec.tie_break}]
        taken = set(out.columns)
        prefix = f"{spec.name}__" if any(c in taken for c in wanted) else ""
        out = asof_join(out, frame, keys=spec.keys, event_time=event_time, feature_time=spec.time,
                        max_age=spec.max_age, columns=wanted, tie_break=spec.tie_break, prefix=prefix,
                        connection=con, where=where)
    return out


def _quoted(name: str) -> str:
    return name.replace('"', '""')
