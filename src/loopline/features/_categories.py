"""Low-cardinality categorical columns: one-hot for linear models, integer codes for trees.

One-hot (linear): one 0/1 column per category seen at least ``min_frequency`` times in training,
in sorted order; rarer categories share ``<column>=__other__``; missing values get
``<column>=__missing__`` when training had any. A category never seen in training (or missing, when
training had none) is all zeros, like ``OneHotEncoder(handle_unknown="ignore")``.

Codes (tree): one column holding the position of the category in the sorted training categories,
NaN for missing or unknown; the preprocessor lists it in ``categorical_indices_`` for LightGBM.

>>> enc = OneHotEncoder("plan", mode="linear", min_frequency=2)
>>> enc.fit_transform(pd.Series(["a", "a", "b", None]), None).tolist()
[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
>>> enc.names(), enc.transform(pd.Series(["new"])).tolist()
(['plan=a', 'plan=__other__', 'plan=__missing__'], [[0.0, 0.0, 0.0]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline.features._coerce import category_index, category_keys, positions
from loopline.features._encoder import Matrix, Mode, column_vector, read_mode

OTHER = "__other__"
MISSING = "__missing__"


def counted_categories(values: pd.Series, column: str) -> tuple[list[str], np.ndarray, bool]:
    """Sorted distinct non-missing keys of a column, their counts, and whether any value is missing."""
    keys, missing = category_keys(values, column)
    uniques, counts = np.unique(keys[~missing].astype(str), return_counts=True)
    return [str(u) for u in uniques], counts, bool(missing.any())


class OneHotEncoder:
    """One categorical column as 0/1 indicator columns (linear models)."""

    def __init__(self, column: str, *, mode: Mode = "linear", min_frequency: int = 5) -> None:
        self.column = column
        self.mode: Mode = mode
        self.min_frequency = min_frequency
        self.kept: list[str] = []
        self.rare: list[str] = []
        self.has_missing = False
        self._index: pd.Index | None = None

    def fit(self, values: pd.Series, y: np.ndarray | None) -> None:
        categories, counts, self.has_missing = counted_categories(values, self.column)
        self.kept = [c for c, n in zip(categories, counts, strict=True) if n >= self.min_frequency]
        self.rare = [c for c, n in zip(categories, counts, strict=True) if n < self.min_frequency]
        self._index = None

    def fit_transform(self, values: pd.Series, y: np.ndarray | None) -> Matrix:
        self.fit(values, y)
        return self.transform(values)

    def transform(self, values: pd.Series) -> Matrix:
        keys, missing = category_keys(values, self.column)
        width = len(self.names())
        if self._index is None:
            self._index = category_index(self.kept + self.rare)
        found = positions(keys, missing, self._index)
        target = np.where(found >= len(self.kept), len(self.kept), found)
        if self.has_missing:
            target[missing] = width - 1
        out = np.zeros((len(keys), width), dtype=np.float64)
        rows = np.flatnonzero(target >= 0)
        out[rows, target[rows]] = 1.0
        return out

    def names(self) -> list[str]:
        names = [f"{self.column}={c}" for c in self.kept]
        if self.rare:
            names.append(f"{self.column}={OTHER}")
        if self.has_missing:
            names.append(f"{self.column}={MISSING}")
        return names

    def categorical(self) -> list[int]:
        return []

    def get_state(self) -> dict[str, Any]:
        return {"type": "onehot", "column": self.column, "mode": self.mode, "min_frequency": self.min_frequency,
                "kept": list(self.kept), "rare": list(self.rare), "has_missing": self.has_missing}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> OneHotEncoder:
        enc = cls(state["column"], mode=read_mode(state), min_frequency=int(state["min_frequency"]))
        enc.kept, enc.rare = [str(c) for c in state["kept"]], [str(c) for c in state["rare"]]
        enc.has_missing = bool(state["has_missing"])
        return enc


class CodeEncoder:
    """One categorical column as integer codes with NaN for missing or unknown (tree models)."""

    def __init__(self, column: str, *, mode: Mode = "tree") -> None:
        self.column = column
        self.mode: Mode = mode
        self.categories: list[str] = []
        self._index: pd.Index | None = None

    def fit(self, values: pd.Series, y: np.ndarray | None) -> None:
        self.categories, _, _ = counted_categories(values, self.column)
        self._index = None

    def fit_transform(self, values: pd.Series, y: np.ndarray | None) -> Matrix:
        self.fit(values, y)
        return self.transform(values)

    def transform(self, values: pd.Series) -> Matrix:
        keys, missing = category_keys(values, self.column)
        if self._index is None:
            self._index = category_index(self.categories)
        found = positions(keys, missing, self._index)
        return column_vector(np.where(found >= 0, found, np.nan))

    def names(self) -> list[str]:
        return [self.column]

    def categorical(self) -> list[int]:
        return [0]

    def get_state(self) -> dict[str, Any]:
        return {"type": "codes", "column": self.column, "mode": self.mode, "categories": list(self.categories)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CodeEncoder:
        enc = cls(state["column"], mode=read_mode(state))
        enc.categories = [str(c) for c in state["categories"]]
        return enc
