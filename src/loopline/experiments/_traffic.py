"""Traffic from the event log: recent traffic to design an experiment on, and an experiment's enrolment.

Over the last ``days`` days of served exposures: units per day (new units entering), and per unit the
exposures and the count of an outcome event matched to them (same ``request_id`` and ``item_id``).
From these come the baseline of each metric kind: the share of units with an outcome (proportion),
outcomes per unit with its standard deviation (mean), and outcomes per exposure (ratio, with the
per-unit moments the delta method needs).

An experiment's enrolment is not a constant rate: its first days enrol the returning units, which are
then already in, so new units per day fall. :func:`fit_enrolment` fits that curve to the new units of
each day, ``c_d ~ Poisson(w_d * r * q^(d - L))`` (``w_d`` the share of day ``d`` inside the window,
``L`` the last day, ``r`` the rate on it, ``q <= 1`` the day-on-day ratio), by maximum likelihood.
The days still to come then supply ``r q + r q^2 + ...``, at most ``r q / (1 - q)`` units: when the
experiment needs more than that, the eligible population is exhausted and no number of days will do.

>>> curve = fit_enrolment([4096, 3072, 2304, 1728, 1296, 972, 729])
>>> round(curve.decay, 6), round(curve.rate, 3), round(curve.remaining or 0, 3)
(0.75, 729.0, 2187.0)
>>> curve.days_for(1000), curve.days_for(3000)
(3, None)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
from numpy.typing import ArrayLike

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


TREND_DAYS = 3  # fewer days with enrolment than this give a flat rate, not a trend


@dataclass(frozen=True)
class Enrolment(ResultDict):
    """New units per UTC day of an experiment's window and the decaying curve fitted to them.

    ``coverage`` is the share of each day inside the window (the first and last are often partial);
    ``rate`` is the fitted new units on a whole last day and ``decay`` the fitted day-on-day ratio,
    never above 1 (a growing enrolment is held at its last rate, not extrapolated upward).
    ``remaining`` is what all the days to come can still supply (``None``: no limit, the rate is flat);
    ``fitted`` the curve's new units on each whole day.
    """

    days: tuple[str, ...]
    new_units: tuple[int, ...]
    coverage: tuple[float, ...]
    fitted: tuple[float, ...]
    rate: float
    decay: float
    remaining: float | None
    method: str

    def supply(self, days: int) -> float:
        """New units expected over the next ``days`` whole days after the last one."""
        q = self.decay
        return self.rate * days if q >= 1.0 else self.rate * q * (1.0 - q**days) / (1.0 - q)

    def days_for(self, units: float) -> int | None:
        """Whole days until ``units`` more units have enrolled, or ``None`` when the curve never gets there."""
        if units <= 0:
            return 0
        if self.rate <= 0 or (self.remaining is not None and units >= self.remaining):
            return None
        q = self.decay
        if q >= 1.0:
            days = math.ceil(units / self.rate - 1e-9)
        else:
            days = math.ceil(math.log(1.0 - units * (1.0 - q) / (self.rate * q)) / math.log(q) - 1e-9)
        while self.supply(days) < units * (1 - 1e-12):  # guard the rounding of the closed form
            days += 1
        return max(days, 1)


def _poisson_trend(counts: np.ndarray, coverage: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood ``(log r, log q)`` of ``counts ~ Poisson(coverage * r * q^x)`` (damped Newton)."""
    beta = np.array([math.log(counts.sum() / coverage.sum()), 0.0])
    design = np.column_stack([np.ones_like(x), x])

    def loglik(b: np.ndarray) -> float:
        eta = design @ b
        return float(np.sum(counts * eta - coverage * np.exp(eta)))

    for _ in range(200):
        mu = coverage * np.exp(design @ beta)
        score = design.T @ (counts - mu)
        hessian = design.T @ (design * mu[:, None])
        step = np.linalg.solve(hessian + 1e-12 * np.eye(2), score)
        current, size = loglik(beta), 1.0
        slack = 1e-12 * (abs(current) + 1.0)  # rounding of the log-likelihood near its maximum
        while loglik(beta + size * step) < current - slack and size > 1e-8:
            size /= 2
        beta = beta + size * step
        if float(np.max(np.abs(size * step))) < 1e-12:
            break
    return float(beta[0]), float(beta[1])


def fit_enrolment(new_units: ArrayLike, coverage: ArrayLike | None = None, *,
                  days: Sequence[str] | None = None) -> Enrolment:
    """Fit the enrolment curve to the new units of each consecutive day (see the module docstring).

    ``coverage[d]`` is the share of day ``d`` the window covers (1 for whole days, the default).
    With fewer than 3 days that have any coverage, the rate is flat: units over covered days.
    """
    counts = np.asarray(new_units, dtype=np.float64)
    share = np.ones_like(counts) if coverage is None else np.asarray(coverage, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0 or share.shape != counts.shape:
        raise ExperimentError(f"enrolment: expected one count of new units per day and one coverage per day, got "
                              f"shapes {counts.shape} and {share.shape}.")
    if not (np.all(np.isfinite(counts)) and np.all(counts >= 0) and np.all((share >= 0) & (share <= 1))):
        raise ExperimentError("enrolment: new units per day must be non-negative counts and coverage shares in "
                              f"[0, 1]; got {counts.tolist()} and {share.tolist()}.")
    labels = tuple(str(d) for d in days) if days is not None else tuple(f"day {i + 1}" for i in range(counts.size))
    if len(labels) != counts.size:
        raise ExperimentError(f"enrolment days: expected {counts.size} labels (one per count), got {len(labels)}.")
    covered = share > 0
    if counts.sum() == 0 or not covered.any():
        raise ExperimentError("enrolment: no new units on any day of the window; the experiment has not enrolled "
                              "anyone yet, so no duration can be estimated.")
    last = int(np.flatnonzero(covered)[-1])
    x = np.arange(counts.size, dtype=np.float64) - last
    if int(covered.sum()) < TREND_DAYS:
        rate, decay, method = float(counts.sum() / share.sum()), 1.0, "flat rate (fewer than 3 days of enrolment)"
    else:
        log_rate, log_decay = _poisson_trend(counts[covered], share[covered], x[covered])
        if log_decay >= 0:
            rate, decay = math.exp(log_rate), 1.0
            method = "Poisson trend of new units per day (not decaying: held at the last day's rate)"
        else:
            rate, decay = math.exp(log_rate), math.exp(log_decay)
            method = "Poisson trend of new units per day (geometric decay)"
    remaining = None if decay >= 1.0 else rate * decay / (1.0 - decay)
    return Enrolment(days=labels, new_units=tuple(round(float(c)) for c in counts),
                     coverage=tuple(float(w) for w in share), fitted=tuple(rate * decay ** float(k) for k in x),
                     rate=rate, decay=decay, remaining=remaining, method=method)
