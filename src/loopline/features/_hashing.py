"""High-cardinality categorical columns hashed into a fixed number of 0/1 buckets (sparse).

Used for multiclass tasks (a single target mean cannot describe several classes) and whenever
``features.high_cardinality_encoding`` is ``'hash'``. Hashing is stateless: a key always lands in
the same bucket (signed 32-bit MurmurHash3 through ``sklearn.feature_extraction.FeatureHasher``),
so unseen categories need no special case. Missing values hash as the key ``__missing__``.

>>> enc = HashEncoder("user", mode="linear", buckets=8)
>>> enc.fit_transform(pd.Series(["u1", "u2", None]), None).sum(axis=1).A1.tolist()
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher

from loopline.features._categories import MISSING
from loopline.features._coerce import category_keys
from loopline.features._encoder import Matrix, Mode, read_mode


class HashEncoder:
    """One categorical column as ``buckets`` hashed indicator columns."""

    def __init__(self, column: str, *, mode: Mode, buckets: int = 256) -> None:
        self.column = column
        self.mode: Mode = mode
        self.buckets = buckets

    def fit(self, values: pd.Series, y: np.ndarray | None) -> None:
        category_keys(values, self.column)

    def fit_transform(self, values: pd.Series, y: np.ndarray | None) -> Matrix:
        self.fit(values, y)
        return self.transform(values)

    def transform(self, values: pd.Series) -> Matrix:
        keys, missing = category_keys(values, self.column)
        keys[missing] = MISSING
        hasher = FeatureHasher(n_features=self.buckets, input_type="string", alternate_sign=False)
        hashed = hasher.transform([[str(k)] for k in keys])
        return sp.csr_matrix(hashed, dtype=np.float64)

    def names(self) -> list[str]:
        return [f"{self.column}__hash{i}" for i in range(self.buckets)]

    def categorical(self) -> list[int]:
        return []

    def get_state(self) -> dict[str, Any]:
        return {"type": "hash", "column": self.column, "mode": self.mode, "buckets": self.buckets}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HashEncoder:
        return cls(state["column"], mode=read_mode(state), buckets=int(state["buckets"]))
