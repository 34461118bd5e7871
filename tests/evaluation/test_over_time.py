"""The primary metric per day or per week."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopline._errors import EvaluationError
from loopline.evaluation._over_time import as_utc, over_time


def test_daily_points_with_rows_and_values() -> None:
    text = pd.Series(["2024-03-01 23:59", "2024-03-01 00:00", "2024-03-03 12:00", None])
    times = pd.to_datetime(text, utc=True)
    points = over_time(times, lambda rows: float(len(rows)) * 10)
    assert [(p.start, p.rows, p.value) for p in points] == [("2024-03-01", 2, 20.0), ("2024-03-03", 1, 10.0)]


def test_weekly_points_start_on_monday_beyond_60_days() -> None:
    times = pd.Series(pd.date_range("2024-01-03", periods=90, freq="D", tz="UTC"))
    seen: list[list[int]] = []

    def measure(rows: np.ndarray) -> float:
        seen.append(rows.tolist())
        return 0.0

    points = over_time(times, measure)
    assert points[0].start == "2024-01-01" and points[0].rows == 5  # Wed 3rd .. Sun 7th
    assert points[1].start == "2024-01-08" and points[1].rows == 7
    assert seen[0] == [0, 1, 2, 3, 4]
    assert sum(p.rows for p in points) == 90


def test_times_are_read_as_utc() -> None:
    naive = as_utc(pd.Series(["2024-03-01 10:00"]), column="ts", where="the test split")
    assert str(naive.dt.tz) == "UTC"
    berlin = pd.Series(pd.to_datetime(["2024-03-01 00:30"]).tz_localize("Europe/Berlin"))
    assert as_utc(berlin, column="ts", where="x").iloc[0] == pd.Timestamp("2024-02-29 23:30", tz="UTC")
    with pytest.raises(EvaluationError, match="column 'ts' of the test split should hold event times"):
        as_utc(pd.Series(["soon", "later"]), column="ts", where="the test split")


def test_undefined_periods_keep_their_rows() -> None:
    times = pd.Series(pd.to_datetime(["2024-03-01", "2024-03-02"], utc=True))
    points = over_time(times, lambda rows: float("nan"))
    assert [p.rows for p in points] == [1, 1] and all(np.isnan(p.value) for p in points)
