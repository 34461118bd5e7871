"""Regression metrics (RMSE, MAE, R²) under row weights, with scikit-learn's conventions.

R² of a constant label is 1 when the predictions are exact and 0 otherwise, as in
``sklearn.metrics.r2_score``.

>>> import numpy as np
>>> s = RegressionScorer(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
>>> {k: round(v, 4) for k, v in s.compute().items()}
{'rmse': 1.1547, 'mae': 0.6667, 'r2': -1.0}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from loopline.evaluation._sums import dot
from loopline.spec import METRICS


class RegressionScorer:
    def __init__(self, y: np.ndarray, prediction: np.ndarray, *, names: Sequence[str] | None = None) -> None:
        self.names = tuple(names) if names is not None else METRICS["regression"]
        self.units = len(y)
        self._y = y
        error = prediction - y
        self._squared = error**2
        self._absolute = np.abs(error)

    def compute(self, weights: np.ndarray | None = None) -> dict[str, float]:
        w = np.ones(self.units) if weights is None else weights
        total = float(w.sum())
        mse = dot(w, self._squared) / total
        out = {"rmse": float(np.sqrt(mse)), "mae": dot(w, self._absolute) / total}
        if "r2" in self.names:
            mean = dot(w, self._y) / total
            spread = dot(w, (self._y - mean) ** 2) / total
            if spread > 0:
                out["r2"] = 1.0 - mse / spread
            else:
                out["r2"] = 1.0 if mse == 0 else 0.0
        return {name: out[name] for name in self.names}
