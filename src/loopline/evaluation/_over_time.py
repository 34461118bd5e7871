"""The primary metric per day of the evaluated window (per week when it spans more than 60 days).

Weeks start on Monday; a period is named by its first day (UTC, ``YYYY-MM-DD``). Rows without a
time are left out. Each point carries its row count and a 95% percentile bootstrap interval
(resampling the point's rows).

A period with fewer than ``MIN_PERIOD_ROWS`` = 100 rows says little on its own, so consecutive periods
are merged, oldest first, until a point holds at least that many; a short remainder at the end joins
the point before it. A merged point is named by its first period (``start``) and its last (``end``).
A point whose metric is undefined (one class only) keeps its row count and a NaN value, so a gap in
the data is visible rather than silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from loopline._errors import EvaluationError
from loopline.evaluation._slices import N_BOOT, Resample, percentile_interval
from loopline.evaluation._types import TimePoint

WEEKLY_AFTER_DAYS = 60
MIN_PERIOD_ROWS = 100


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


def merge_small(counts: Sequence[int], *, min_rows: int = MIN_PERIOD_ROWS) -> list[list[int]]:
    """Consecutive period indexes grouped so each group holds at least ``min_rows`` rows (oldest first;
    a short remainder joins the group before it; one group when all rows together are fewer).

    >>> merge_small([150, 40, 30, 50, 200, 20], min_rows=100)
    [[0], [1, 2, 3], [4, 5]]
    """
    groups: list[list[int]] = []
    current: list[int] = []
    held = 0
    for i, count in enumerate(counts):
        current.append(i)
        held += count
        if held >= min_rows:
            groups.append(current)
            current, held = [], 0
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return groups


def over_time(times: pd.Series, resample: Resample, *, min_rows: int = MIN_PERIOD_ROWS,
              n_boot: int = N_BOOT) -> list[TimePoint]:
    """The metric (``resample``: the metric on row positions, with bootstrap draws) per period, oldest
    first, periods of fewer than ``min_rows`` rows merged with their neighbours."""
    starts, _ = periods(times)
    known = ~pd.isna(starts)
    codes, uniques = pd.factorize(starts[known], sort=True)
    positions = np.flatnonzero(known)
    members = [positions[codes == i] for i in range(len(uniques))]
    names = [pd.Timestamp(start).strftime("%Y-%m-%d") for start in uniques]
    points = []
    for group in merge_small([len(m) for m in members], min_rows=min_rows):
        rows = np.concatenate([members[i] for i in group])
        value, draws = resample(rows, n_boot)
        low, high = percentile_interval(draws, value)
        points.append(TimePoint(start=names[group[0]], rows=len(rows), value=value, end=names[group[-1]],
                                low=low, high=high))
    return points
