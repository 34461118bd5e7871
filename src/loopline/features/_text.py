"""Text columns as hashed TF-IDF: token counts hashed into a fixed vocabulary, weighted by IDF.

``HashingVectorizer(n_features, alternate_sign=False, norm=None)`` counts tokens (lowercased words of
two or more characters) without storing a vocabulary. Fitting only records, per hashed token, in how
many training documents it appears; the IDF is then ``ln((1 + n_docs) / (1 + df)) + 1`` and each row
is scaled to unit length, exactly ``TfidfTransformer()`` (smooth IDF, L2 norm). The state stores the
document frequencies sparsely and rebuilds the IDF vector the same way after loading. Missing text
is the empty document.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from loopline.features._coerce import as_text
from loopline.features._encoder import Matrix, Mode, read_mode

DEFAULT_TEXT_FEATURES = 2**14


def idf_vector(n_docs: int, index: list[int], df: list[int], n_features: int) -> np.ndarray:
    """Smoothed IDF for every hashed token; tokens absent from training get the largest weight."""
    idf = np.full(n_features, np.log((1.0 + n_docs) / 1.0) + 1.0, dtype=np.float64)
    idf[np.asarray(index, dtype=np.int64)] = np.log((1.0 + n_docs) / (1.0 + np.asarray(df, dtype=np.float64))) + 1.0
    return idf


class TextEncoder:
    """One free-text column as ``n_features`` sparse TF-IDF columns."""

    def __init__(self, column: str, *, mode: Mode, n_features: int = DEFAULT_TEXT_FEATURES) -> None:
        self.column = column
        self.mode: Mode = mode
        self.n_features = n_features
        self.n_docs = 0
        self.df_index: list[int] = []
        self.df_count: list[int] = []
        self._idf: np.ndarray | None = None

    def _counts(self, values: pd.Series) -> sp.csr_matrix:
        vectorizer = HashingVectorizer(n_features=self.n_features, alternate_sign=False, norm=None)
        return sp.csr_matrix(vectorizer.transform(as_text(values, self.column)), dtype=np.float64)

    def fit(self, values: pd.Series, y: np.ndarray | None) -> None:
        counts = self._counts(values)
        df = np.bincount(counts.indices, minlength=self.n_features)
        present = np.flatnonzero(df)
        self.n_docs = int(counts.shape[0])
        self.df_index = [int(i) for i in present]
        self.df_count = [int(c) for c in df[present]]
        self._idf = None

    def fit_transform(self, values: pd.Series, y: np.ndarray | None) -> Matrix:
        self.fit(values, y)
        return self.transform(values)

    def transform(self, values: pd.Series) -> Matrix:
        if self._idf is None:
            self._idf = idf_vector(self.n_docs, self.df_index, self.df_count, self.n_features)
        weighted = self._counts(values)
        weighted.data *= self._idf[weighted.indices]
        return sp.csr_matrix(normalize(weighted, norm="l2", copy=False))

    def names(self) -> list[str]:
        return [f"{self.column}__tfidf{i}" for i in range(self.n_features)]

    def categorical(self) -> list[int]:
        return []

    def get_state(self) -> dict[str, Any]:
        return {"type": "text", "column": self.column, "mode": self.mode, "n_features": self.n_features,
                "n_docs": self.n_docs, "df_index": list(self.df_index), "df_count": list(self.df_count)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TextEncoder:
        enc = cls(state["column"], mode=read_mode(state), n_features=int(state["n_features"]))
        enc.n_docs = int(state["n_docs"])
        enc.df_index = [int(i) for i in state["df_index"]]
        enc.df_count = [int(c) for c in state["df_count"]]
        return enc
