"""The reference profile: what the training features and label looked like, saved with the model.

Monitoring compares live data against it (drift, missing values, new categories), so it is plain
data that survives JSON. Per feature, by kind:

- numeric (infinities count as missing): mean, population std, missing share, quantiles at
  :data:`QUANTILE_LEVELS` (numpy's default linear interpolation), and a histogram on ``bins``
  equal-frequency edges from train
  (``counts[i]`` holds values in ``[edges[i], edges[i+1])``, the last bin closed; values outside the
  edges later belong to the first or last bin). A constant column has the single bin ``[v, v]``.
- categorical: the shares of the 50 most frequent categories (of all rows), the share of the rest
  (``other_share``), the missing share and the number of distinct categories.
- boolean: the share of true among present values, and the missing share.
- timestamp: missing share and the first and last time (ISO 8601, UTC).
- text: missing share and the mean length in characters.

Undefined statistics (the mean of a column with no values) are ``None``.

>>> import pandas as pd
>>> from loopline.data import Column, Kind, Schema
>>> schema = Schema((Column("x", Kind.NUMERIC, "float64", 4, 0.0),))
>>> p = Profile.from_frame(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), schema, features=["x"], bins=2)
>>> p.features["x"].edges, p.features["x"].counts
((1.0, 2.5, 4.0), (2, 2))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import FeatureError
from loopline.data import Kind, Schema
from loopline.features._coerce import as_bool, as_float, as_text, as_utc, category_keys
from loopline.features._label_profile import LabelProfile
from loopline.features._state import jsonable

QUANTILE_LEVELS: tuple[float, ...] = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
TOP_CATEGORIES = 50


def _share(part: int, whole: int) -> float:
    return float(part) / whole if whole else 0.0


def _maybe(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class NumericProfile:
    missing_share: float
    mean: float | None
    std: float | None
    quantiles: tuple[float, ...] | None
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    kind: str = "numeric"

    @classmethod
    def of(cls, values: np.ndarray, bins: int) -> NumericProfile:
        present = values[~np.isnan(values)]
        missing_share = _share(values.size - present.size, values.size)
        if present.size == 0:
            return cls(missing_share, None, None, None, (), ())
        quantiles = tuple(float(q) for q in np.quantile(present, QUANTILE_LEVELS))
        edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, bins + 1)))
        if edges.size < 2:
            return cls(missing_share, _maybe(present.mean()), _maybe(present.std()), quantiles,
                       (float(edges[0]), float(edges[0])), (int(present.size),))
        counts, _ = np.histogram(present, bins=edges)
        return cls(missing_share, _maybe(present.mean()), _maybe(present.std()), quantiles,
                   tuple(float(e) for e in edges), tuple(int(c) for c in counts))


@dataclass(frozen=True)
class CategoricalProfile:
    missing_share: float
    frequencies: dict[str, float]
    other_share: float
    n_categories: int
    kind: str = "categorical"

    @classmethod
    def of(cls, values: pd.Series, column: str) -> CategoricalProfile:
        keys, missing = category_keys(values, column)
        n = len(keys)
        counts = pd.Series(keys[~missing], dtype=object).value_counts(sort=False)
        ranked = sorted(((str(k), int(c)) for k, c in counts.items()), key=lambda kc: (-kc[1], kc[0]))
        top = ranked[:TOP_CATEGORIES]
        rest = sum(c for _, c in ranked[TOP_CATEGORIES:])
        return cls(_share(int(missing.sum()), n), {k: _share(c, n) for k, c in top}, _share(rest, n), len(ranked))


@dataclass(frozen=True)
class BooleanProfile:
    missing_share: float
    true_share: float | None
    kind: str = "boolean"

    @classmethod
    def of(cls, values: np.ndarray) -> BooleanProfile:
        present = values[~np.isnan(values)]
        return cls(_share(values.size - present.size, values.size),
                   float(present.mean()) if present.size else None)


@dataclass(frozen=True)
class TimestampProfile:
    missing_share: float
    first: str | None
    last: str | None
    kind: str = "timestamp"

    @classmethod
    def of(cls, values: pd.Series) -> TimestampProfile:
        present = values.dropna()
        if present.empty:
            return cls(1.0 if len(values) else 0.0, None, None)
        return cls(_share(len(values) - len(present), len(values)), present.min().isoformat(),
                   present.max().isoformat())


@dataclass(frozen=True)
class TextProfile:
    missing_share: float
    mean_length: float | None
    kind: str = "text"

    @classmethod
    def of(cls, values: pd.Series, column: str) -> TextProfile:
        missing = values.isna().to_numpy(dtype=bool)
        lengths = np.array([len(t) for t in as_text(values, column)], dtype=np.float64)[~missing]
        return cls(_share(int(missing.sum()), len(values)), float(lengths.mean()) if lengths.size else None)


FeatureProfile = NumericProfile | CategoricalProfile | BooleanProfile | TimestampProfile | TextProfile
_KINDS: dict[str, type[FeatureProfile]] = {
    "numeric": NumericProfile, "categorical": CategoricalProfile, "boolean": BooleanProfile,
    "timestamp": TimestampProfile, "text": TextProfile,
}


def _feature_from_dict(d: dict[str, Any]) -> FeatureProfile:
    kind = d.get("kind")
    if kind not in _KINDS:
        raise FeatureError(f"profile: unknown feature kind {kind!r}; expected one of {sorted(_KINDS)}")
    data = dict(d)
    for key in ("quantiles", "edges", "counts"):
        if key in data and data[key] is not None:
            data[key] = tuple(data[key])
    return _KINDS[str(kind)](**data)


@dataclass(frozen=True)
class Profile:
    """Training-time statistics of the features (by name) and the label, for monitoring."""

    rows: int
    features: dict[str, FeatureProfile]
    label: LabelProfile | None = None
    bins: int = 10
    quantile_levels: tuple[float, ...] = field(default=QUANTILE_LEVELS)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, schema: Schema, *, features: Sequence[str], label: str | None = None,
                   bins: int = 10) -> Profile:
        """Profile ``features`` (kinds from ``schema``) and, if given, the ``label`` column of ``frame``."""
        if bins < 1:
            raise FeatureError(f"profile bins must be at least 1, got {bins}")
        wanted = [label] if label is not None else []
        absent = [c for c in [*features, *wanted] if c not in frame.columns]
        if absent:
            raise FeatureError(f"cannot profile: the frame is missing column(s) {absent}; it has "
                               f"{list(frame.columns)}")
        unknown = [c for c in features if c not in schema]
        if unknown:
            raise FeatureError(f"cannot profile features {unknown}: they are not in the schema "
                               f"({list(schema.names())})")
        profiles = {name: _profile_column(frame[name], name, Kind(schema[name].kind), bins) for name in features}
        return cls(rows=len(frame), features=profiles,
                   label=LabelProfile.of(frame[label], label) if label is not None else None, bins=bins)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; :meth:`from_dict` reads it back."""
        out: dict[str, Any] = jsonable({
            "rows": self.rows,
            "bins": self.bins,
            "quantile_levels": list(self.quantile_levels),
            "features": {name: asdict(p) for name, p in self.features.items()},
            "label": self.label.to_dict() if self.label is not None else None,
        }, "profile")
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        try:
            return cls(rows=int(d["rows"]), bins=int(d["bins"]),
                       quantile_levels=tuple(float(q) for q in d["quantile_levels"]),
                       features={str(k): _feature_from_dict(v) for k, v in d["features"].items()},
                       label=LabelProfile.from_dict(d["label"]) if d.get("label") is not None else None)
        except (KeyError, TypeError) as exc:
            raise FeatureError(f"not a profile: {exc!r} while reading it; was it written by Profile.to_dict?") from exc


def _profile_column(values: pd.Series, name: str, kind: Kind, bins: int) -> FeatureProfile:
    if kind == Kind.NUMERIC:
        return NumericProfile.of(as_float(values, name), bins)
    if kind == Kind.CATEGORICAL:
        return CategoricalProfile.of(values, name)
    if kind == Kind.BOOLEAN:
        return BooleanProfile.of(as_bool(values, name))
    if kind == Kind.TIMESTAMP:
        return TimestampProfile.of(as_utc(values, name))
    return TextProfile.of(values, name)
