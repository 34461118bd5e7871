"""Labels from an event log: an outcome event within a window after each exposure.

An exposure at time ``t`` is positive when a feedback record with the same keys (``on``) and the
outcome ``event`` arrives at a time in ``[t, t + window]``. Feedback before the exposure never
counts. Exposures too recent for their window to have closed (``t + window`` after the last
recorded time in the logs) are *censored*: their label is not yet known, so they are dropped
rather than counted as negatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from loopline._errors import DataError
from loopline.data._arrow import to_frame
from loopline.data._columns import require_columns, to_utc
from loopline.spec import EventLabelSpec


@dataclass(frozen=True)
class LabelReport:
    """What building the label did: exposures in, censored, positives out."""

    exposures: int
    censored: int
    positives: int


def make_labels(exposures: pd.DataFrame, feedback: pd.DataFrame, *, event_time: str, spec: EventLabelSpec,
                name: str, connection: duckdb.DuckDBPyConnection | None = None,
                horizon: datetime | None = None) -> tuple[pd.DataFrame, LabelReport]:
    """``exposures`` with a label column ``name``, in their original order, censored rows removed.

    ``aggregate`` sets the label: ``any`` (0/1), ``count`` (matching events) or ``sum`` (of ``value``).
    ``horizon`` is the time up to which the feedback log is complete (a label window that ends after it is
    still open); by default the last time recorded in either log.
    """
    require_columns(exposures, [event_time, *spec.on], where="the exposures (data.source)", role="label.from_events")
    require_columns(feedback, [spec.feedback_time, *spec.on, "event"], where=f"the feedback log {spec.feedback}",
                    role="label.from_events")
    if spec.aggregate == "sum":
        require_columns(feedback, ["value"], where=f"the feedback log {spec.feedback}", role="aggregate 'sum'")
    if name in exposures.columns:
        raise DataError(f"label.name '{name}' is already a column of the exposures; choose another label.name.")
    con = connection or duckdb.connect()
    ex_time = to_utc(exposures[event_time], column=event_time, where="the exposures")
    fb = feedback[feedback["event"] == spec.event]
    fb_time = to_utc(fb[spec.feedback_time], column=spec.feedback_time, where=f"the feedback log {spec.feedback}")
    last = max(ex_time.max(), fb_time.max() if len(fb_time) else ex_time.max())
    if horizon is not None and (horizon.tzinfo is None or horizon.utcoffset() is None):
        raise DataError(f"horizon={horizon.isoformat()} has no time zone; event times are UTC instants. Pass e.g. "
                        "datetime(2026, 1, 1, tzinfo=timezone.utc).")
    complete = last if horizon is None else pd.Timestamp(horizon).tz_convert("UTC")

    keys = pd.DataFrame({f"k{i}": exposures[c].to_numpy() for i, c in enumerate(spec.on)})
    keys["_row"] = range(len(exposures))
    keys["_t"] = ex_time.to_numpy()
    outcomes = pd.DataFrame({f"k{i}": fb[c].to_numpy() for i, c in enumerate(spec.on)})
    outcomes["_t"] = fb_time.to_numpy()
    outcomes["_v"] = fb["value"].astype("float64").to_numpy() if spec.aggregate == "sum" else 1.0
    window_us = int(spec.window.total_seconds() * 1_000_000)
    on = " AND ".join(f"e.k{i} = f.k{i}" for i in range(len(spec.on)))
    value = {"any": "CAST(count(f._t) > 0 AS INTEGER)", "count": "count(f._t)",
             "sum": "coalesce(sum(f._v), 0)"}[spec.aggregate]
    con.register("_ll_exposures", keys)
    con.register("_ll_outcomes", outcomes)
    try:
        labels = to_frame(con.sql(f"""
            SELECT e._row, {value} AS label
            FROM _ll_exposures e LEFT JOIN _ll_outcomes f
              ON {on} AND f._t >= e._t AND f._t <= e._t + to_microseconds({window_us})
            GROUP BY e._row ORDER BY e._row
        """))
    finally:
        con.unregister("_ll_exposures")
        con.unregister("_ll_outcomes")
    closed = (ex_time + spec.window <= complete).to_numpy()
    out = exposures.loc[closed].copy()
    out[name] = labels["label"].to_numpy()[closed]
    out = out.reset_index(drop=True)
    positives = int((out[name] > 0).sum())
    return out, LabelReport(exposures=len(exposures), censored=int((~closed).sum()), positives=positives)
