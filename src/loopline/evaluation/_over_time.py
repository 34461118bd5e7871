"""The primary metric per day of the evaluated window (per week when it spans more than 60 days).

Weeks start on Monday; a period is named by its first day (UTC, ``YYYY-MM-DD``). Rows without a
time are left out. A period whose metric is undefined (one class only) keeps its row count and a
NaN value, so a gap in the data is visible rather than silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from loopline._errors import EvaluationError
from loopline.evaluation._types import TimePoint

WEEKLY_AFTER_DAYS = 60


def as_utc(values: pd.Series, *, column: str, where: str) -> pd.Series:
    """``values`` as tz-aware UTC timestamps; naive timestamps are taken to be UTC."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        converted: pd.Series = values.dt.tz_convert("UTC")
        return converted
    text = pd.api.types.is_string_dtype(values) or values.dtype == object
    try:
        return pd.to_datetime(values, utc=True, format="ISO8601" if text else None)
    except (TypeError, ValueError):
        raise EvaluationError(
            f"column '{column}' of {where} should hold event times, got values like "
            f"{', '.join(map(str, values.dropna().head(3).tolist()))}; point 'time' at the event-time column"
        ) from None


def periods(times: pd.Series) -> tuple[np.ndarray, str]:
    """The start of each row's period (NaT when the time is missing) and the period's name."""
    day = times.dt.floor("D")
    span = day.max() - day.min() if day.notna().any() else pd.Timedelta(0)
    if span > pd.Timedelta(days=WEEKLY_AFTER_DAYS):
        start = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
        return start.dt.tz_convert(None).to_numpy(), "week"
    return day.dt.tz_convert(None).to_numpy(), "day"


def over_time(times: pd.Series, measure: Callable[[np.ndarray], float]) -> list[TimePoint]:
    """``measure`` (a metric on row positions) for each period, oldest first."""
    starts, _ = periods(times)
    known = ~pd.isna(starts)
    codes, uniques = pd.factorize(starts[known], sort=True)
    positions = np.flatnonzero(known)
    points = []
    for i, start in enumerate(uniques):
        rows = positions[codes == i]
        points.append(TimePoint(start=pd.Timestamp(start).strftime("%Y-%m-%d"), rows=len(rows), value=measure(rows)))
    return points
