"""The primary metric per day or per week."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopline._errors import EvaluationError
from loopline.evaluation._over_time import MIN_PERIOD_ROWS, as_utc, merge_small, over_time


def _counting(rows: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    return float(len(rows)) * 10, np.full(n, float(len(rows)) * 10)


def test_daily_points_with_rows_and_values() -> None:
    text = pd.Series(["2024-03-01 23:59", "2024-03-01 00:00", "2024-03-03 12:00", None])
    times = pd.to_datetime(text, utc=True)
    points = over_time(times, _counting, min_rows=1)
    assert [(p.start, p.end, p.rows, p.value) for p in points] == [("2024-03-01", "2024-03-01", 2, 20.0),
                                                                  ("2024-03-03", "2024-03-03", 1, 10.0)]


def test_periods_with_too_few_rows_are_merged_with_their_neighbours() -> None:
    assert MIN_PERIOD_ROWS == 100
    assert merge_small([150, 40, 30, 50, 200, 20]) == [[0], [1, 2, 3], [4, 5]]
    assert merge_small([10, 20]) == [[0, 1]] and merge_small([]) == []
    days = np.repeat(pd.date_range("2024-03-01", periods=6, freq="D", tz="UTC"), [150, 40, 30, 50, 200, 20])
    rng = np.random.default_rng(0)
    y = (rng.random(len(days)) < 0.3).astype(float)
    seen: list[np.ndarray] = []

    def rate(rows: np.ndarray, n: int) -> tuple[float, np.ndarray]:
        seen.append(rows)
        draws = np.array([y[rows[rng.integers(0, len(rows), len(rows))]].mean() for _ in range(n)])
        return float(y[rows].mean()), draws

    points = over_time(pd.Series(days), rate, n_boot=200)
    assert [(p.start, p.end, p.rows) for p in points] == [
        ("2024-03-01", "2024-03-01", 150), ("2024-03-02", "2024-03-04", 120), ("2024-03-05", "2024-03-06", 220)]
    assert [len(r) for r in seen] == [150, 120, 220] and seen[1].tolist() == list(range(150, 270))
    for point, rows in zip(points, seen, strict=True):
        assert point.value == pytest.approx(y[rows].mean())
        # a 95% interval of a rate on n rows is about +-1.96 sqrt(p(1-p)/n) wide
        half = 1.96 * np.sqrt(point.value * (1 - point.value) / point.rows)
        assert point.low is not None and point.high is not None
        assert point.high - point.low == pytest.approx(2 * half, rel=0.3)


def test_weekly_points_start_on_monday_beyond_60_days() -> None:
    times = pd.Series(pd.date_range("2024-01-03", periods=90, freq="D", tz="UTC"))
    seen: list[list[int]] = []

    def measure(rows: np.ndarray, n: int) -> tuple[float, np.ndarray]:
        seen.append(rows.tolist())
        return 0.0, np.zeros(n)

    points = over_time(times, measure, min_rows=1)
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
    points = over_time(times, lambda rows, n: (float("nan"), np.full(n, np.nan)), min_rows=1)
    assert [p.rows for p in points] == [1, 1] and all(np.isnan(p.value) for p in points)
    assert all(p.low is None and p.high is None for p in points)
