"""A window of live data, aggregated in chunks on the reference's grid: what drift and quality tests read.

:class:`WindowSource` names the rows: served exposures of a deployment in the event log between two
instants (:meth:`WindowSource.from_log`), or any table (a Parquet or CSV path, a pandas or Arrow table;
:meth:`WindowSource.from_table`). DuckDB reads them; nothing is loaded whole. :func:`aggregate` makes
one streaming pass for the numeric columns (Arrow record batches of ``chunk_rows`` rows, each counted on
the reference's grid with ``numpy.searchsorted`` and added up), and one ``GROUP BY`` per categorical
column, so memory stays bounded by the chunk, not the window.

Per numeric feature the window keeps the counts on the reference grid (:class:`~loopline.features._binning.Binned`,
tails included), the present, missing (null, NaN or infinite) and invalid (text that is not a number)
counts, the mean, standard deviation, minimum and maximum. Per categorical or boolean feature: the count
of every value (booleans as ``'true'``/``'false'``) and the missing count. Over the window: rows, the
first and last event time and the rows per hour (volume and freshness).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from loopline._errors import MonitoringError
from loopline._progress import SILENT, Progress
from loopline.events import EventLog
from loopline.features._binning import Binned, bin_values, merge

CHUNK_ROWS = 262_144
COUNT_THREADS = max(1, min(2, os.cpu_count() or 1))
_VIEW = "monitored_window"
_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")


@dataclass(frozen=True)
class NumericWindow:
    """A numeric column of the window; ``binned`` is on the reference's grid (None without one)."""

    present: int
    missing: int
    invalid: int
    mean: float | None
    std: float | None
    minimum: float | None
    maximum: float | None
    binned: Binned | None
    kind: str = "numeric"

    @property
    def rows(self) -> int:
        return self.present + self.missing + self.invalid


@dataclass(frozen=True)
class CategoricalWindow:
    """A categorical (or boolean) column of the window: the count of each value, and the missing count."""

    counts: dict[str, int]
    missing: int
    kind: str = "categorical"

    @property
    def rows(self) -> int:
        return sum(self.counts.values()) + self.missing


ColumnWindow = NumericWindow | CategoricalWindow


@dataclass(frozen=True)
class WindowStats:
    """Everything the tests read about one window (see the module docstring)."""

    description: str
    rows: int
    start: datetime | None
    end: datetime | None
    first_ts: datetime | None
    last_ts: datetime | None
    hourly: list[tuple[datetime, int]]
    columns: dict[str, ColumnWindow]
    absent: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)


class WindowSource:
    """The rows of one window, as a DuckDB view (see the module docstring). Close it, or use ``with``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, description: str, time_column: str | None,
                 start: datetime | None, end: datetime | None) -> None:
        self.con = con
        self.description = description
        self.time_column = time_column
        self.start = start
        self.end = end
        described = con.sql(f"DESCRIBE {_VIEW}").fetchall()
        self.types: dict[str, str] = {str(row[0]): str(row[1]) for row in described}

    def __enter__(self) -> WindowSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @classmethod
    def from_log(cls, log: EventLog, *, start: datetime, end: datetime, deployment: str | None = None,
                 served_only: bool = True, model_version: str | int | None = None) -> WindowSource:
        """Exposures with ``start <= ts < end`` (of ``deployment``, served ones, of one model version if given)."""
        lo, hi = _utc("start", start), _utc("end", end)
        if not lo < hi:
            raise MonitoringError(f"the window is empty: start {lo.isoformat()} is not before end {hi.isoformat()}.")
        files = log.segments("exposures", start=lo, end=hi)
        where = [f"ts >= {_timestamp(lo)}", f"ts < {_timestamp(hi)}"]
        if deployment is not None:
            where.append(f"deployment = {_text(deployment)}")
        if served_only:
            where.append("served")
        if model_version is not None:
            where.append(f"model_version = {_text(str(model_version))}")
        who = f" of deployment {deployment!r}" if deployment is not None else ""
        description = f"the exposures{who} from {lo.isoformat()} to {hi.isoformat()} in {log.root}"
        if not files:
            raise MonitoringError(f"no exposures{who} between {lo.isoformat()} and {hi.isoformat()}: the event log at "
                                  f"{log.root} has no segment in that range. Check --window, or serve traffic first.")
        listing = "[" + ", ".join(_text(str(f)) for f in files) + "]"
        con = duckdb.connect()
        con.execute(f"CREATE VIEW {_VIEW} AS SELECT * FROM read_parquet({listing}, union_by_name=true, "
                    f"hive_partitioning=false) WHERE {' AND '.join(where)}")
        return cls(con, description=description, time_column="ts", start=lo, end=hi)

    @classmethod
    def from_table(cls, data: str | Path | pa.Table | pd.DataFrame, *, time_column: str | None = None,
                   start: datetime | None = None, end: datetime | None = None) -> WindowSource:
        """Any table: a Parquet or CSV path (globs allowed), or a table in memory; optionally cut by time."""
        con = duckdb.connect()
        if isinstance(data, pd.DataFrame | pa.Table):
            con.register("monitored_input", data)
            relation, description = "monitored_input", f"a table of {len(data):,} rows"
        else:
            text = str(data)
            reader = "read_csv_auto" if text.lower().endswith((".csv", ".csv.gz", ".tsv")) else "read_parquet"
            if "*" not in text and not Path(text).exists():
                con.close()
                raise MonitoringError(f"the table {text} does not exist; give a Parquet or CSV file (or a glob).")
            relation, description = f"{reader}({_text(text)})", text
        where: list[str] = []
        if time_column is not None:
            columns = [str(r[0]) for r in con.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
            if time_column not in columns:
                con.close()
                raise MonitoringError(f"{description} has no time column {time_column!r}; it has {columns}.")
            if start is not None:
                where.append(f"{_quote(time_column)} >= {_timestamp(_utc('start', start))}")
            if end is not None:
                where.append(f"{_quote(time_column)} < {_timestamp(_utc('end', end))}")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        con.execute(f"CREATE VIEW {_VIEW} AS SELECT * FROM {relation}{clause}")
        return cls(con, description=description, time_column=time_column, start=start, end=end)


def aggregate(source: WindowSource, *, numeric: Mapping[str, np.ndarray | None], categorical: Sequence[str],
              chunk_rows: int = CHUNK_ROWS, progress: Progress = SILENT) -> WindowStats:
    """The window's statistics for ``numeric`` columns (each with its reference grid edges, or None) and
    ``categorical`` ones (see the module docstring). Columns the source lacks are listed in ``absent``."""
    if chunk_rows < 1:
        raise MonitoringError(f"chunk_rows must be at least 1, got {chunk_rows}.")
    types = source.types
    wanted = [*numeric, *categorical]
    absent = [c for c in wanted if c not in types]
    rows, first, last, hourly = _volume(source)
    columns: dict[str, ColumnWindow] = {}
    present_numeric = [c for c in numeric if c in types]
    progress.start(f"reading {rows:,} rows", total=float(max(rows, 1)))
    columns.update(_numeric_pass(source, {c: numeric[c] for c in present_numeric}, chunk_rows, progress))
    progress.finish()
    for name in categorical:
        if name in types:
            columns[name] = _categorical(source, name)
    return WindowStats(description=source.description, rows=rows, start=source.start, end=source.end,
                       first_ts=first, last_ts=last, hourly=hourly, columns=columns, absent=absent,
                       types={c: types[c] for c in wanted if c in types})


# -- the passes ---------------------------------------------------------------------------------

def _volume(source: WindowSource) -> tuple[int, datetime | None, datetime | None, list[tuple[datetime, int]]]:
    column = source.time_column
    if column is None:
        (count,) = _one(source.con, f"SELECT count(*) FROM {_VIEW}")
        return int(count), None, None, []
    ts = _quote(column)
    found = source.con.sql(f"SELECT date_trunc('hour', {ts}) AS hour, count(*), min({ts}), max({ts}) FROM {_VIEW} "
                           "GROUP BY 1 ORDER BY 1").fetchall()
    hourly = [(_aware(h), int(n)) for h, n, _, _ in found if h is not None]
    rows = sum(int(n) for _, n, _, _ in found)
    firsts = [f for _, _, f, _ in found if f is not None]
    lasts = [t for _, _, _, t in found if t is not None]
    return rows, (_aware(min(firsts)) if firsts else None), (_aware(max(lasts)) if lasts else None), hourly


@dataclass
class _Running:
    """Streaming sums of one numeric column."""

    edges: np.ndarray | None
    binned: Binned | None = None
    present: int = 0
    missing: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, values: np.ndarray) -> None:
        finite = np.isfinite(values)
        present = values[finite]
        self.missing += int(values.size - present.size)
        if present.size == 0:
            return
        self.present += int(present.size)
        self.total += float(present.sum())
        self.total_sq += float(np.square(present).sum())
        self.minimum = min(self.minimum, float(present.min()))
        self.maximum = max(self.maximum, float(present.max()))
        if self.edges is not None:
            counted = bin_values(present, self.edges)
            self.binned = counted if self.binned is None else merge(self.binned, counted)

    def result(self, invalid: int) -> NumericWindow:
        n = self.present
        mean = self.total / n if n else None
        std = math.sqrt(max(self.total_sq / n - (self.total / n) ** 2, 0.0)) if n else None
        binned = self.binned
        if binned is None and self.edges is not None:
            binned = bin_values(np.empty(0), self.edges)
        return NumericWindow(present=n, missing=self.missing - invalid, invalid=invalid, mean=mean, std=std,
                             minimum=self.minimum if n else None, maximum=self.maximum if n else None,
                             binned=binned)


def _numeric_pass(source: WindowSource, grids: Mapping[str, np.ndarray | None], chunk_rows: int,
                  progress: Progress) -> dict[str, NumericWindow]:
    if not grids:
        return {}
    names = list(grids)
    casts, invalid_checks = [], []
    for name in names:
        quoted = _quote(name)
        if _is_numeric_type(source.types[name]) or source.types[name] == "BOOLEAN":
            casts.append(f"CAST({quoted} AS DOUBLE)")
        else:
            casts.append(f"TRY_CAST({quoted} AS DOUBLE)")
            invalid_checks.append(name)
    running = {name: _Running(None if grids[name] is None else np.asarray(grids[name], dtype=np.float64))
               for name in names}
    reader = _batches(source.con.sql(f"SELECT {', '.join(casts)} FROM {_VIEW}"), chunk_rows)

    def count(batch: pa.RecordBatch, i: int) -> None:
        running[names[i]].add(np.asarray(batch.column(i).to_numpy(zero_copy_only=False), dtype=np.float64))

    # numpy's searchsorted, isfinite and sums release the GIL: the columns of a batch are counted on two threads
    with ThreadPoolExecutor(max_workers=COUNT_THREADS) as pool:
        for batch in reader:
            list(pool.map(lambda i, b=batch: count(b, i), range(len(names))))
            progress.advance(float(batch.num_rows))
    invalid = _invalid_counts(source, invalid_checks)
    return {name: running[name].result(invalid.get(name, 0)) for name in names}


def _one(con: duckdb.DuckDBPyConnection, query: str) -> tuple[Any, ...]:
    """The one row an aggregate query returns."""
    rows = con.sql(query).fetchall()
    if len(rows) != 1:
        raise MonitoringError(f"internal: expected one row from {query!r}, got {len(rows)}.")
    return tuple(rows[0])


def _batches(relation: duckdb.DuckDBPyRelation, rows: int) -> Any:
    """A streaming reader of Arrow record batches (``to_arrow_reader`` since DuckDB 1.4, earlier
    ``fetch_record_batch``)."""
    read = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
    return read(rows)


def _invalid_counts(source: WindowSource, names: Sequence[str]) -> dict[str, int]:
    """Values present but not numbers (text in a numeric column): schema violations."""
    if not names:
        return {}
    parts = [f"count(*) FILTER (WHERE {_quote(n)} IS NOT NULL AND TRY_CAST({_quote(n)} AS DOUBLE) IS NULL)"
             for n in names]
    found = _one(source.con, f"SELECT {', '.join(parts)} FROM {_VIEW}")
    return {name: int(count) for name, count in zip(names, found, strict=True)}


def _categorical(source: WindowSource, name: str) -> CategoricalWindow:
    quoted = _quote(name)
    kind = source.types[name]
    key = (f"CASE WHEN {quoted} THEN 'true' ELSE 'false' END" if kind == "BOOLEAN" else
           f"CAST({quoted} AS VARCHAR)")
    found = source.con.sql(f"SELECT {key} AS k, count(*) FROM {_VIEW} GROUP BY {quoted}").fetchall()
    counts: dict[str, int] = {}
    missing = 0
    for value, count in found:
        if value is None:
            missing += int(count)
        else:
            counts[str(value)] = counts.get(str(value), 0) + int(count)
    return CategoricalWindow(counts=counts, missing=missing)


# -- SQL text -------------------------------------------------------------------------------------

def _is_numeric_type(kind: str) -> bool:
    return kind.split("(")[0] in _NUMERIC_TYPES


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _timestamp(value: datetime) -> str:
    return f"TIMESTAMPTZ {_text(value.isoformat())}"


def _utc(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise MonitoringError(f"{name}: expected a timezone-aware datetime (UTC), got {value!r}.")
    return value.astimezone(UTC)


def _aware(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()
