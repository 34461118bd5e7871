"""Numeric and boolean columns: impute, flag missing, scale (linear models) or pass through (trees).

Linear mode fills a missing numeric value with the training median (a boolean with its most common
value), adds a ``<column>__missing`` 0/1 column when training had missing values, and standardises
numeric columns exactly as ``sklearn.preprocessing.StandardScaler`` fitted on the imputed column
(whose ``mean_`` and ``scale_`` are reused). Tree mode passes values through with NaN for missing,
which LightGBM routes on its own.

>>> enc = NumericEncoder("age", mode="linear")
>>> enc.fit_transform(pd.Series([1.0, None, 3.0]), None).round(3).tolist()
[[-1.225, 0.0], [0.0, 1.0], [1.225, 0.0]]
>>> enc.names()
['age', 'age__missing']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from loopline.features._coerce import as_bool, as_float
from loopline.features._encoder import Matrix, Mode, finite, read_mode


class NumericEncoder:
    """One numeric (or, with ``boolean=True``, boolean) column."""

    def __init__(self, column: str, *, mode: Mode, boolean: bool = False) -> None:
        self.column = column
        self.mode: Mode = mode
        self.boolean = boolean
        self.fill = 0.0
        self.mean = 0.0
        self.scale = 1.0
        self.indicator = False

    def _read(self, values: pd.Series) -> np.ndarray:
        return as_bool(values, self.column) if self.boolean else as_float(values, self.column)

    def fit(self, values: pd.Series, y: np.ndarray | None) -> None:
        x = self._read(values)
        if self.mode == "tree":
            return
        missing = np.isnan(x)
        seen = x[~missing]
        if seen.size == 0:
            self.fill = 0.0
        elif self.boolean:
            self.fill = 1.0 if seen.mean() > 0.5 else 0.0
        else:
            self.fill = finite(np.median(seen), self.column, "median")
        self.indicator = bool(missing.any())
        if not self.boolean:
            scaler = StandardScaler().fit(np.where(missing, self.fill, x).reshape(-1, 1))
            self.mean = finite(scaler.mean_[0], self.column, "mean")
            self.scale = finite(scaler.scale_[0], self.column, "scale")

    def fit_transform(self, values: pd.Series, y: np.ndarray | None) -> Matrix:
        self.fit(values, y)
        return self.transform(values)

    def transform(self, values: pd.Series) -> Matrix:
        x = self._read(values)
        if self.mode == "tree":
            return x.reshape(-1, 1)
        missing = np.isnan(x)
        filled = np.where(missing, self.fill, x)
        if not self.boolean:
            filled -= self.mean
            filled /= self.scale
        columns = [filled, missing.astype(np.float64)] if self.indicator else [filled]
        return np.column_stack(columns)

    def names(self) -> list[str]:
        return [self.column, f"{self.column}__missing"] if self.indicator else [self.column]

    def categorical(self) -> list[int]:
        return []

    def get_state(self) -> dict[str, Any]:
        return {"type": "boolean" if self.boolean else "numeric", "column": self.column, "mode": self.mode,
                "fill": self.fill, "mean": self.mean, "scale": self.scale, "indicator": self.indicator}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NumericEncoder:
        enc = cls(state["column"], mode=read_mode(state), boolean=state["type"] == "boolean")
        enc.fill, enc.mean, enc.scale = float(state["fill"]), float(state["mean"]), float(state["scale"])
        enc.indicator = bool(state["indicator"])
        return enc
