"""What every per-column encoder offers the preprocessor, and the JSON state helpers they share.

An encoder turns one source column into one or more output columns. Its fitted state is a plain
dict (strings, numbers, lists; never NaN or numpy scalars) so the preprocessor can be saved as JSON
and rebuilt without pickle; ``transform`` after ``from_state`` runs the same code as after ``fit``.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypeAlias

import numpy as np
import pandas as pd
import scipy.sparse as sp

from loopline._errors import FeatureError

Matrix: TypeAlias = np.ndarray | sp.csr_matrix
Mode = Literal["linear", "tree"]


class Encoder(Protocol):
    """One source column in, a block of output columns out."""

    column: str

    def fit(self, values: pd.Series, y: np.ndarray | None) -> None: ...

    def fit_transform(self, values: pd.Series, y: np.ndarray | None) -> Matrix: ...

    def transform(self, values: pd.Series) -> Matrix: ...

    def names(self) -> list[str]:
        """One name per output column."""
        ...

    def categorical(self) -> list[int]:
        """Positions, within this encoder's block, of columns holding integer category codes."""
        ...

    def get_state(self) -> dict[str, Any]: ...


def column_vector(values: np.ndarray) -> np.ndarray:
    """A 1-d array as a float64 column of shape (n, 1)."""
    return np.asarray(values, dtype=np.float64).reshape(-1, 1)


def finite(value: float, column: str, what: str) -> float:
    """``value`` as a plain float, refusing NaN and infinity so the state stays valid JSON."""
    out = float(value)
    if not np.isfinite(out):
        raise FeatureError(f"feature '{column}': the fitted {what} is {out}; the column has no usable values")
    return out


def read_mode(state: dict[str, Any]) -> Mode:
    mode = state["mode"]
    if mode not in ("linear", "tree"):
        raise FeatureError(f"preprocessor state: mode must be 'linear' or 'tree', got {mode!r}")
    return "linear" if mode == "linear" else "tree"
