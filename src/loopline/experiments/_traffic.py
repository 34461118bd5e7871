"""Recent traffic from the event log, to design an experiment on the numbers it will actually see.

Over the last ``days`` days of served exposures: units per day (new units entering), and per unit the
exposures and the count of an outcome event matched to them (same ``request_id`` and ``item_id``).
From these come the baseline of each metric kind: the share of units with an outcome (proportion),
outcomes per unit with its standard deviation (mean), and outcomes per exposure (ratio, with the
per-unit moments the delta method needs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np

from loopline._errors import ExperimentError
from loopline.events import EventLog
from loopline.experiments._design import MeanMetric, ProportionMetric, RatioMetric
from loopline.experiments._result import ResultDict


@dataclass(frozen=True)
class Traffic(ResultDict):
    """What the last ``days`` days of the log looked like, per unit."""

    days: float
    start: str
    end: str
    units: int
    daily_units: float
    exposures_per_unit: float
    event: str
    engaged_share: float
    events_per_unit: float
    events_per_unit_sd: float
    events_per_exposure: float

    def proportion(self) -> ProportionMetric:
        return ProportionMetric(self.engaged_share, name=f"units with a {self.event}")

    def mean(self) -> MeanMetric:
        return MeanMetric(sigma=self.events_per_unit_sd, mean=self.events_per_unit, name=f"{self.event}s per unit")

    def ratio(self, x: np.ndarray, y: np.ndarray) -> RatioMetric:
        return RatioMetric.from_units(x, y, name=f"{self.event}s per exposure")


def recent_traffic(log: EventLog, *, event: str = "click", days: float = 7.0) -> tuple[Traffic, np.ndarray, np.ndarray]:
    """The traffic of the last ``days`` days, and per-unit (event count, exposure count) arrays."""
    exposures, feedback = log.glob("exposures"), log.glob("feedback")
    con: duckdb.DuckDBPyConnection = duckdb.connect()
    try:
        source = f"read_parquet('{exposures}', union_by_name=true, hive_partitioning=false)"
        try:
            end = con.execute(f"SELECT epoch_us(max(ts)) FROM {source} WHERE served").fetchall()[0]
        except duckdb.Error as exc:
            raise ExperimentError(f"no exposures in the event log at {log.root}: {str(exc).splitlines()[0]}. "
                                  "Serve or simulate traffic first, or give the baseline by hand.") from exc
        if end is None or end[0] is None:
            raise ExperimentError(f"no served exposures in the event log at {log.root}.")
        stop = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(end[0]))
        begin = stop - timedelta(days=days)
        begin_us = int(end[0]) - int(days * 86_400_000_000)
        per_unit = con.sql(f"""
            WITH ex AS (SELECT unit_id, request_id, item_id, ts FROM {source} WHERE served AND epoch_us(ts) > $begin),
            fb AS (SELECT DISTINCT request_id, item_id FROM read_parquet('{feedback}', union_by_name=true,
                   hive_partitioning=false) WHERE event = $event AND epoch_us(ts) > $begin)
            SELECT ex.unit_id, count(*) AS exposures, count(fb.request_id) AS events
            FROM ex LEFT JOIN fb ON ex.request_id = fb.request_id AND ex.item_id IS NOT DISTINCT FROM fb.item_id
            GROUP BY ex.unit_id
        """, params={"begin": begin_us, "event": event}).to_arrow_table()
    finally:
        con.close()
    x = per_unit.column("events").to_numpy().astype(float)
    y = per_unit.column("exposures").to_numpy().astype(float)
    if len(x) < 2:
        raise ExperimentError(f"fewer than 2 units were exposed in the last {days:g} days of {log.root}.")
    traffic = Traffic(days=days, start=begin.isoformat(), end=stop.isoformat(), units=len(x),
                      daily_units=len(x) / days, exposures_per_unit=float(y.mean()), event=event,
                      engaged_share=float((x > 0).mean()), events_per_unit=float(x.mean()),
                      events_per_unit_sd=float(x.std(ddof=1)), events_per_exposure=float(x.sum() / y.sum()))
    if traffic.engaged_share in (0.0, 1.0):
        raise ExperimentError(f"every unit or no unit had a '{event}' in the last {days:g} days; the event name may be "
                              "wrong or the window too short.")
    return traffic, x, y
