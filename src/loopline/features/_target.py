"""High-cardinality categorical columns as a smoothed target mean, fitted out of fold on train.

Each category becomes the m-estimate ``(sum_y + m * prior) / (n + m)``: categories seen rarely are
pulled toward the training mean ``prior``; unseen categories get ``prior`` itself; missing values
are one more category. In ``fit_transform`` every training row is encoded by a mapping fitted on
the other folds (K seeded folds), so a row never sees its own label; ``transform`` (validation,
test, serving) uses the mapping fitted on all of train. Without this, a column of nearly unique ids
would encode each row's own label and look perfectly predictive on train.

Linear mode outputs ``(encoding - prior) / std(y)`` so the column is on the scale of the others;
tree mode outputs the encoding itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from loopline._errors import FeatureError
from loopline.features._coerce import category_index, category_keys, positions
from loopline.features._encoder import Matrix, Mode, column_vector, finite, read_mode


def _label(y: np.ndarray | None, column: str, n: int) -> np.ndarray:
    if y is None:
        raise FeatureError(
            f"feature '{column}' is target-encoded and needs the label to fit: call fit(X, y) or "
            "fit_transform(X, y) with the training labels, or set features.high_cardinality_encoding "
            "to 'hash' in loopline.yaml."
        )
    target = np.asarray(y, dtype=np.float64).reshape(-1)
    if target.shape[0] != n:
        raise FeatureError(f"feature '{column}': got {target.shape[0]} labels for {n} rows; pass one label per row")
    if not np.isfinite(target).all():
        raise FeatureError(f"feature '{column}': the label has missing or infinite values; drop those rows first")
    return target


class _Mapping:
    """Category keys to smoothed means, fitted on one set of rows."""

    def __init__(self, keys: np.ndarray, missing: np.ndarray, y: np.ndarray, smoothing: float) -> None:
        self.prior = float(y.mean())
        present = ~missing
        cats, inverse = np.unique(keys[present].astype(str), return_inverse=True)
        sums = np.bincount(inverse, weights=y[present], minlength=len(cats))
        counts = np.bincount(inverse, minlength=len(cats)).astype(np.float64)
        self.categories = [str(c) for c in cats]
        self.values = (sums + smoothing * self.prior) / (counts + smoothing)
        n_missing = int(missing.sum())
        self.missing_value = (
            float((y[missing].sum() + smoothing * self.prior) / (n_missing + smoothing)) if n_missing else None
        )

    @staticmethod
    def apply(keys: np.ndarray, missing: np.ndarray, categories: list[str] | pd.Index, values: np.ndarray, prior: float,
              missing_value: float | None) -> np.ndarray:
        found = positions(keys, missing, categories)
        out = np.where(found >= 0, values[np.maximum(found, 0)] if len(values) else prior, prior)
        if missing_value is not None:
            out[missing] = missing_value
        return np.asarray(out, dtype=np.float64)


class TargetEncoder:
    """One high-cardinality categorical column as its smoothed, out-of-fold target mean."""

    def __init__(self, column: str, *, mode: Mode, smoothing: float = 10.0, folds: int = 5, seed: int = 0) -> None:
        self.column = column
        self.mode: Mode = mode
        self.smoothing = smoothing
        self.folds = folds
        self.seed = seed
        self.prior = 0.0
        self.spread = 1.0
        self.categories: list[str] = []
        self.values: list[float] = []
        self.missing_value: float | None = None
        self._lookup: tuple[pd.Index, np.ndarray] | None = None

    def fit(self, values: pd.Series, y: np.ndarray | None) -> None:
        keys, missing = category_keys(values, self.column)
        target = _label(y, self.column, len(keys))
        if target.size == 0:
            raise FeatureError(f"feature '{self.column}': cannot fit a target encoding on zero rows")
        full = _Mapping(keys, missing, target, self.smoothing)
        self.prior = finite(full.prior, self.column, "target mean")
        std = float(target.std())
        self.spread = std if np.isfinite(std) and std > 0 else 1.0
        self.categories = full.categories
        self.values = [finite(v, self.column, "encoding") for v in full.values]
        self.missing_value = full.missing_value
        self._lookup = None

    def fit_transform(self, values: pd.Series, y: np.ndarray | None) -> Matrix:
        """Fit on all rows, and encode each row with a mapping fitted on the other folds."""
        self.fit(values, y)
        keys, missing = category_keys(values, self.column)
        target = _label(y, self.column, len(keys))
        encoded = np.full(len(keys), self.prior, dtype=np.float64)
        n_folds = min(self.folds, len(keys))
        if n_folds >= 2:
            for fit_rows, out_rows in KFold(n_folds, shuffle=True, random_state=self.seed).split(keys):
                fold = _Mapping(keys[fit_rows], missing[fit_rows], target[fit_rows], self.smoothing)
                encoded[out_rows] = _Mapping.apply(keys[out_rows], missing[out_rows], fold.categories,
                                                   fold.values, fold.prior, fold.missing_value)
        return self._output(encoded)

    def transform(self, values: pd.Series) -> Matrix:
        keys, missing = category_keys(values, self.column)
        if self._lookup is None:
            self._lookup = (category_index(self.categories), np.asarray(self.values, dtype=np.float64))
        index, table = self._lookup
        encoded = _Mapping.apply(keys, missing, index, table, self.prior, self.missing_value)
        return self._output(encoded)

    def _output(self, encoded: np.ndarray) -> np.ndarray:
        if self.mode == "linear":
            encoded = (encoded - self.prior) / self.spread
        return column_vector(encoded)

    def names(self) -> list[str]:
        return [f"{self.column}__target"]

    def categorical(self) -> list[int]:
        return []

    def get_state(self) -> dict[str, Any]:
        return {"type": "target", "column": self.column, "mode": self.mode, "smoothing": self.smoothing,
                "folds": self.folds, "seed": self.seed, "prior": self.prior, "spread": self.spread,
                "categories": list(self.categories), "values": list(self.values),
                "missing_value": self.missing_value}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TargetEncoder:
        enc = cls(state["column"], mode=read_mode(state), smoothing=float(state["smoothing"]),
                  folds=int(state["folds"]), seed=int(state["seed"]))
        enc.prior, enc.spread = float(state["prior"]), float(state["spread"])
        enc.categories = [str(c) for c in state["categories"]]
        enc.values = [float(v) for v in state["values"]]
        missing_value = state["missing_value"]
        enc.missing_value = None if missing_value is None else float(missing_value)
        return enc
