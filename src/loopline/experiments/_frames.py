"""Per-unit data of one experiment, aggregated from the event log in DuckDB.

Rules (each one a line of SQL below):
- units are the experiment's assignments (in ``deployment`` when set); a unit's first assignment wins
  (ties broken by arm name) and units assigned to several arms are counted (``arms`` > 1);
- the window runs from ``start`` (default: the first assignment) to ``end`` (default: just after the
  last exposure); only units first assigned inside it are analysed;
- a unit's exposures are its served exposures in the window at or after its assignment;
- feedback is matched to the latest such exposure with the same ``request_id`` and ``item_id`` (null
  item ids match each other, as for plain predictions) at or before the feedback; feedback counts up
  to ``end`` when ``end`` is given, else whatever has been logged;
- the pre-period (CUPED) is ``[start - pre_days, start)``: the unit's served exposures then, and the
  feedback matched to them that arrived before ``start``; 0 when none.
Everything is aggregated in SQL; Python only scatters per-unit sums into arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from loopline._errors import ExperimentError
from loopline.events import EventLog
from loopline.experiments._definition import ExperimentSpec

DAY_US = 86_400_000_000
_NO_TIME = np.iinfo(np.int64).min


@dataclass(frozen=True)
class UnitFrame:
    """One row per unit (``units``) plus the per-arm aggregates the analysis needs.

    ``units`` columns: ``unit``, ``arm``, ``assigned``, ``arms`` (distinct arms assigned),
    ``first_exposure``, ``exposures``, ``<event>_count`` and ``<event>_sum`` for every metric event and,
    with CUPED, ``pre_exposures``, ``pre_<event>_count``, ``pre_<event>_sum``.
    """

    units: pd.DataFrame
    start: datetime
    end: datetime
    events_matched: tuple[str, ...]


def _us(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def _time(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def micros(times: pd.Series) -> np.ndarray:
    """Microseconds since the epoch of a UTC datetime series without missing values."""
    naive = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(naive.to_numpy().astype("datetime64[us]").astype(np.int64))


def _times(us: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(us, dtype=np.int64).view("datetime64[us]")).dt.tz_localize("UTC")


class Session:
    """A DuckDB connection holding the experiment's ``units``, ``expo`` and ``matched`` tables."""

    def __init__(self, log: EventLog, spec: ExperimentSpec) -> None:
        self.log, self.spec = log, spec
        self.con = duckdb.connect()
        self.kinds = {k for k in ("assignments", "exposures", "feedback") if self._view(k)}
        self.start_us = self.end_us = 0
        self.explicit_end = spec.end is not None

    def close(self) -> None:
        self.con.close()

    def table(self, sql: str, **params: Any) -> pa.Table:
        return self.con.sql(sql, params=params or None).to_arrow_table()

    def _view(self, kind: str) -> bool:
        if not self.log.segments(kind):  # type: ignore[arg-type]
            return False
        glob = self.log.glob(kind).replace("'", "''")  # type: ignore[arg-type]
        self.con.execute(f"CREATE TEMP VIEW {kind} AS SELECT * FROM read_parquet('{glob}', union_by_name=true, "
                         "hive_partitioning=false)")
        return True

    def _unit_column(self, kind: str) -> str:
        columns = self.con.sql(f"SELECT * FROM {kind} LIMIT 0").columns
        if self.spec.unit not in columns:
            raise ExperimentError(f"experiment '{self.spec.name}', unit: the {kind} log at {self.log.root / kind} has "
                                  f"no column '{self.spec.unit}'; columns: {', '.join(columns)}. Set 'unit:' to the "
                                  "randomization unit column present in assignments and exposures.")
        return '"' + self.spec.unit.replace('"', '""') + '"'

    def load_units(self) -> None:
        """Create ``units`` (uidx, unit, arm, assigned, n_arms) and fix the window start."""
        spec = self.spec
        if "assignments" not in self.kinds:
            raise ExperimentError(f"experiment '{spec.name}': the event log at {self.log.root} has no assignments "
                                  "log. Log an assignment per unit and experiment (serving does this for experiment "
                                  "traffic) before analysing.")
        unit = self._unit_column("assignments")
        dep = " AND deployment = $dep" if spec.deployment is not None else ""
        bounds = [c for c, v in (("assigned >= $start", spec.start), ("assigned < $end", spec.end)) if v is not None]
        window = f" WHERE {' AND '.join(bounds)}" if bounds else ""
        params: dict[str, Any] = {"exp": spec.name}
        if spec.deployment is not None:
            params["dep"] = spec.deployment
        if spec.start is not None:
            params["start"] = _us(spec.start)
        if spec.end is not None:
            params["end"] = _us(spec.end)
        self.con.execute(f"""CREATE TEMP TABLE units AS
            SELECT (row_number() OVER (ORDER BY unit) - 1)::INTEGER AS uidx, unit, arm, assigned, n_arms FROM (
              SELECT {unit} AS unit, first(arm ORDER BY ts, arm) AS arm, epoch_us(min(ts)) AS assigned,
                     count(DISTINCT arm) AS n_arms
              FROM assignments WHERE experiment = $exp{dep} AND {unit} IS NOT NULL GROUP BY {unit}){window}""",
                         params)
        self._check_units()
        first = self.table("SELECT min(assigned) AS s FROM units").column("s")[0].as_py()
        self.start_us = _us(spec.start) if spec.start is not None else int(first)

    def _check_units(self) -> None:
        spec = self.spec
        counts = dict(self.con.sql("SELECT arm, count(*) FROM units GROUP BY arm").fetchall())
        if not counts:
            found = [r[0] for r in self.con.sql("SELECT DISTINCT experiment FROM assignments ORDER BY 1").fetchall()]
            if spec.name not in found:
                raise ExperimentError(f"unknown experiment '{spec.name}': the assignments log at "
                                      f"{self.log.root / 'assignments'} holds {', '.join(map(str, found)) or 'none'}. "
                                      "Check 'name:' in the experiment spec.")
            raise ExperimentError(f"experiment '{spec.name}' has no assignments with deployment={spec.deployment!r}, "
                                  f"start={spec.start}, end={spec.end}. Widen the window or fix 'deployment:'.")
        unknown = sorted(str(a) for a in counts if a not in spec.arms)
        if unknown:
            raise ExperimentError(f"experiment '{spec.name}': units are assigned to arm(s) {', '.join(unknown)} that "
                                  f"the spec does not configure (arms: {', '.join(spec.arms)}). Add them to 'arms' "
                                  "with their configured weight.")
        empty = [a for a in spec.arm_names if a not in counts]
        if empty:
            raise ExperimentError(f"experiment '{spec.name}': arm(s) {', '.join(empty)} have no units; assignments "
                                  f"name only {', '.join(sorted(map(str, counts)))}. Check the router sends traffic to "
                                  "every arm, or remove the arm from 'arms'.")

    def assignments(self) -> pd.DataFrame:
        """The ``units`` table as a frame: unit, arm, assigned (UTC), arms."""
        table = self.table("SELECT unit, arm, assigned, n_arms FROM units ORDER BY uidx")
        frame = pd.DataFrame({"unit": table.column("unit").to_pandas(), "arm": table.column("arm").to_pandas(),
                              "assigned": _times(table.column("assigned").to_numpy()),
                              "arms": table.column("n_arms").to_numpy().astype(np.int64)})
        return frame

    def load_exposures(self) -> None:
        """Create ``expo`` (window and pre-period exposures of the units) and ``unit_expo``; fix the end."""
        spec = self.spec
        if "exposures" not in self.kinds:
            raise ExperimentError(f"experiment '{spec.name}': the event log at {self.log.root} has no exposures; "
                                  "log served exposures before analysing.")
        unit = self._unit_column("exposures")
        pre_us = 0 if spec.cuped is None else int(spec.cuped.pre_days * DAY_US)
        params: dict[str, Any] = {"start": self.start_us, "lo": self.start_us - pre_us}
        extra = ""
        if spec.deployment is not None:
            extra += " AND e.deployment = $dep"
            params["dep"] = spec.deployment
        if spec.end is not None:
            extra += " AND epoch_us(e.ts) < $end"
            params["end"] = _us(spec.end)
        self.con.execute(f"""CREATE TEMP TABLE expo AS
            SELECT u.uidx, epoch_us(e.ts) AS t, e.score, e.request_id, e.item_id, epoch_us(e.ts) < $start AS pre
            FROM exposures e JOIN units u ON e.{unit} = u.unit
            WHERE e.served AND epoch_us(e.ts) >= $lo{extra}
              AND (epoch_us(e.ts) < $start OR epoch_us(e.ts) >= u.assigned)""", params)
        self.con.execute("""CREATE TEMP TABLE unit_expo AS
            SELECT uidx, count(*) FILTER (WHERE NOT pre) AS n, min(t) FILTER (WHERE NOT pre) AS first,
                   count(*) FILTER (WHERE pre) AS n_pre FROM expo GROUP BY uidx""")
        last = self.table("SELECT max(t) AS t FROM expo WHERE NOT pre").column("t")[0].as_py()
        if last is None:
            raise ExperimentError(f"experiment '{spec.name}': none of its units has a served exposure in the window "
                                  f"from {_time(self.start_us).isoformat()}"
                                  f"{'' if spec.end is None else ' to ' + spec.end.isoformat()}. Check 'deployment:', "
                                  f"'{spec.unit}' values and that exposures are logged with served=true.")
        self.end_us = _us(spec.end) if spec.end is not None else int(last) + 1

    def load_feedback(self) -> None:
        """Create ``matched``: feedback of the metric events, each matched to one exposure in ``expo``."""
        end = " AND (pre OR ft < $end)" if self.explicit_end else ""
        params: dict[str, Any] = {"events": list(self.spec.events), "start": self.start_us}
        if self.explicit_end:
            params["end"] = self.end_us
        source = "feedback" if "feedback" in self.kinds else \
            "(SELECT NULL::VARCHAR AS request_id, NULL::VARCHAR AS item_id, NULL::VARCHAR AS event, " \
            "NULL::DOUBLE AS value, NULL::TIMESTAMPTZ AS ts WHERE false)"
        self.con.execute(f"""CREATE TEMP TABLE matched AS SELECT * FROM (
              SELECT e.uidx, e.pre, f.event, coalesce(f.value, 0)::DOUBLE AS value, epoch_us(f.ts) AS ft, e.t AS et,
                     e.request_id, e.item_id, e.score
              FROM (SELECT request_id, item_id, event, value, ts, row_number() OVER () AS fid FROM {source}
                    WHERE list_contains($events, event)) f
              JOIN expo e ON f.request_id = e.request_id AND f.item_id IS NOT DISTINCT FROM e.item_id
                         AND epoch_us(f.ts) >= e.t
              QUALIFY row_number() OVER (PARTITION BY f.fid ORDER BY e.t DESC) = 1)
            WHERE (NOT pre OR ft < $start){end}""", params)

    def events_present(self) -> tuple[str, ...]:
        if "feedback" not in self.kinds:
            return ()
        return tuple(str(r[0]) for r in self.con.sql("SELECT DISTINCT event FROM feedback ORDER BY 1").fetchall())

    def check_events(self, matched: tuple[str, ...]) -> None:
        """Raise when a metric's event (or denominator event) never matched an exposure of the window."""
        for metric in self.spec.metrics:
            for event in metric.events:
                if event not in matched:
                    present = self.events_present()
                    raise ExperimentError(
                        f"experiment '{self.spec.name}', metric '{metric.name}': no '{event}' feedback matches "
                        f"the experiment's exposures in the window (matched events: {', '.join(matched) or 'none'}; "
                        f"events in the feedback log: {', '.join(present) or 'none'}). Fix the metric's event "
                        "name, or check that feedback carries the exposures' request_id and item_id.")

    def unit_frame(self) -> UnitFrame:
        """The per-unit table (see :class:`UnitFrame`)."""
        frame = self.assignments()
        n = len(frame)
        agg = self.table("SELECT uidx, n, first, n_pre FROM unit_expo")
        idx = agg.column("uidx").to_numpy()
        first = np.full(n, _NO_TIME, dtype=np.int64)
        first[idx] = agg.column("first").fill_null(_NO_TIME).to_numpy()
        frame["first_exposure"] = _times(first)
        frame["exposures"] = _scatter(n, idx, agg.column("n"), np.int64)
        events = self.table("SELECT uidx, pre, event, count(*) AS c, sum(value) AS s FROM matched GROUP BY ALL")
        matched = tuple(sorted({str(e) for e, p in zip(events.column("event").to_pylist(),
                                                         events.column("pre").to_pylist(), strict=True) if not p}))
        self.check_events(matched)
        periods = [False] if self.spec.cuped is None else [False, True]
        for pre in periods:
            prefix = "pre_" if pre else ""
            if pre:
                frame["pre_exposures"] = _scatter(n, idx, agg.column("n_pre"), np.int64)
            for event in self.spec.events:
                rows = events.filter(pc.and_(pc.equal(events.column("event"), event),
                                             pc.equal(events.column("pre"), pre)))
                at = rows.column("uidx").to_numpy()
                frame[f"{prefix}{event}_count"] = _scatter(n, at, rows.column("c"), np.int64)
                frame[f"{prefix}{event}_sum"] = _scatter(n, at, rows.column("s"), np.float64)
        return UnitFrame(units=frame, start=_time(self.start_us), end=_time(self.end_us), events_matched=matched)


def _scatter(n: int, idx: np.ndarray, values: pa.ChunkedArray, dtype: type[np.generic]) -> np.ndarray:
    out = np.zeros(n, dtype=dtype)
    out[idx] = values.to_numpy().astype(dtype)
    return out


def unit_table(log: EventLog, spec: ExperimentSpec) -> pd.DataFrame:
    """The experiment's per-unit table from ``log`` (see :class:`UnitFrame` for its columns and rules)."""
    session = Session(log, spec)
    try:
        session.load_units()
        session.load_exposures()
        session.load_feedback()
        return session.unit_frame().units
    finally:
        session.close()
