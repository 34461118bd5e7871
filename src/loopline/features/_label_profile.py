"""The label part of the reference profile, its shape read from the values themselves.

- ``binary`` (booleans, or numbers that are all 0 or 1): ``rate``, the share of positives.
- ``numeric`` (other numbers): ``mean`` and population ``std``; when the values are integers with at
  most 20 distinct values (multiclass codes, small counts) also ``classes``, the share of each.
- ``categorical`` (anything else): ``classes``, the share of each class.

Shares are of the rows with a label; ``missing_share`` is of all rows.

>>> LabelProfile.of(pd.Series([0, 1, 1, 0]), "y").rate
0.5
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopline.features._coerce import as_float, category_keys

MAX_CLASSES = 20


def _frequencies(keys: np.ndarray) -> dict[str, float]:
    counts = pd.Series(keys, dtype=object).value_counts(sort=False)
    ranked = sorted(((str(k), int(c)) for k, c in counts.items()), key=lambda kc: (-kc[1], kc[0]))
    return {k: c / len(keys) for k, c in ranked}


@dataclass(frozen=True)
class LabelProfile:
    kind: str
    rows: int
    missing_share: float
    rate: float | None = None
    mean: float | None = None
    std: float | None = None
    classes: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, values: pd.Series, column: str) -> LabelProfile:
        n = len(values)
        missing = values.isna().to_numpy(dtype=bool)
        present = values[~missing]
        missing_share = float(missing.sum()) / n if n else 0.0
        numeric = pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)
        if not numeric or present.empty:
            keys, _ = category_keys(present, column)
            return cls("categorical", len(present), missing_share, classes=_frequencies(keys) if len(keys) else {})
        x = as_float(present, column)
        x = x[~np.isnan(x)]
        if x.size and np.isin(x, (0.0, 1.0)).all():
            return cls("binary", int(x.size), missing_share, rate=float(x.mean()))
        classes: dict[str, float] = {}
        if x.size and np.all(x == np.round(x)) and np.unique(x).size <= MAX_CLASSES:
            classes = _frequencies(np.array([str(int(v)) for v in x], dtype=object))
        return cls("numeric", int(x.size), missing_share, mean=float(x.mean()) if x.size else None,
                   std=float(x.std()) if x.size else None, classes=classes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelProfile:
        return cls(kind=str(d["kind"]), rows=int(d["rows"]), missing_share=float(d["missing_share"]),
                   rate=d.get("rate"), mean=d.get("mean"), std=d.get("std"),
                   classes={str(k): float(v) for k, v in (d.get("classes") or {}).items()})
