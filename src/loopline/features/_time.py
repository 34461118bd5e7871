"""Timestamp columns as calendar features: hour of day and day of week, in UTC.

Absolute time (the date, an age since some origin) is never emitted: a model would learn the
training period and fail to generalise to later data. Linear mode encodes both cycles as sin/cos
pairs (23:00 sits next to 00:00), fills missing times with 0 (the centre of the circle) and adds
``<column>__missing`` when training had missing values. Tree mode gives the integer hour (0-23)
and weekday (Monday = 0) with NaN for missing.

>>> enc = TimeEncoder("at", mode="tree")
>>> enc.fit_transform(pd.Series(pd.to_datetime(["2024-03-01T18:30:00Z"])), None).tolist()
[[18.0, 4.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline.features._coerce import as_utc
from loopline.features._encoder import Matrix, Mode, read_mode

_LINEAR = ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos")
_TREE = ("hour", "weekday")


class TimeEncoder:
    """One timestamp column."""

    def __init__(self, column: str, *, mode: Mode) -> None:
        self.column = column
        self.mode: Mode = mode
        self.indicator = False

    def _parts(self, values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        times = as_utc(values, self.column)
        hour = times.dt.hour.to_numpy(dtype=np.float64, na_value=np.nan)
        minutes = times.dt.minute.to_numpy(dtype=np.float64, na_value=np.nan)
        weekday = times.dt.day_of_week.to_numpy(dtype=np.float64, na_value=np.nan)
        return hour, minutes, weekday

    def fit(self, values: pd.Series, y: np.ndarray | None) -> None:
        hour, _, _ = self._parts(values)
        self.indicator = self.mode == "linear" and bool(np.isnan(hour).any())

    def fit_transform(self, values: pd.Series, y: np.ndarray | None) -> Matrix:
        self.fit(values, y)
        return self.transform(values)

    def transform(self, values: pd.Series) -> Matrix:
        hour, minutes, weekday = self._parts(values)
        if self.mode == "tree":
            return np.column_stack([hour, weekday])
        missing = np.isnan(hour)
        day_angle = 2 * np.pi * (hour + minutes / 60.0) / 24.0
        week_angle = 2 * np.pi * (weekday + (hour + minutes / 60.0) / 24.0) / 7.0
        columns = [np.sin(day_angle), np.cos(day_angle), np.sin(week_angle), np.cos(week_angle)]
        columns = [np.where(missing, 0.0, c) for c in columns]
        if self.indicator:
            columns.append(missing.astype(np.float64))
        return np.column_stack(columns)

    def names(self) -> list[str]:
        parts = _TREE if self.mode == "tree" else _LINEAR + (("missing",) if self.indicator else ())
        return [f"{self.column}__{p}" for p in parts]

    def categorical(self) -> list[int]:
        return []

    def get_state(self) -> dict[str, Any]:
        return {"type": "timestamp", "column": self.column, "mode": self.mode, "indicator": self.indicator}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TimeEncoder:
        enc = cls(state["column"], mode=read_mode(state))
        enc.indicator = bool(state["indicator"])
        return enc
