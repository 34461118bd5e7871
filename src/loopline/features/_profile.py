"""The reference profile: what the training features and label looked like, saved with the model.

Monitoring compares live data against it (drift, missing values, new categories), so it is plain
data that survives JSON. Per feature, by kind:

- numeric (infinities count as missing): mean, population std, missing share, quantiles at
  :data:`QUANTILE_LEVELS` (numpy's default linear interpolation), and a histogram on ``bins``
  equal-frequency edges from train
  (``counts[i]`` holds values in ``[edges[i], edges[i+1])``, the last bin closed; values outside the
  edges later belong to the first or last bin). A constant column has the single bin ``[v, v]``.
  For the drift tests: ``reference``, the present values counted on a grid of about 1,000 of their
  own quantiles (``features._binning.Binned`` as a dict; :meth:`NumericProfile.binned` reads it back),
  ``present``, the weighted count of present values, and ``n_eff``, their effective size.
- categorical: the shares of the 50 most frequent categories (of all rows), the share of the rest
  (``other_share``), the missing share and the number of distinct categories; for the tests,
  ``counts``, the weighted count of up to 1,000 most frequent categories with the rest summed under
  :data:`OTHER` (``complete`` is True when nothing was folded there), and ``n_eff`` of the present rows.
- boolean: the share of true among present values, and the missing share; the weighted
  ``true_count`` and ``false_count`` and ``n_eff`` of the present values.
- timestamp: missing share and the first and last time (ISO 8601, UTC).
- text: missing share and the mean length in characters.

Undefined statistics (the mean of a column with no values) are ``None``. With ``weights`` (one per
row, above 0: frequency weights, e.g. ``1 / rate`` on negatives kept with probability ``rate``) every
statistic above is the weighted one (see :mod:`loopline.features._label_profile` for the definitions);
``Profile.weighted`` says so and ``Profile.n_eff`` is Kish's effective size of all rows. Profiles
stored before these fields existed read back with them None (``weighted`` False).

>>> import pandas as pd
>>> from loopline.data import Column, Kind, Schema
>>> schema = Schema((Column("x", Kind.NUMERIC, "float64", 4, 0.0),))
>>> p = Profile.from_frame(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), schema, features=["x"], bins=2)
>>> p.features["x"].edges, p.features["x"].counts
((1.0, 2.5, 4.0), (2, 2))
>>> w = Profile.from_frame(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), schema, features=["x"],
...                        weights=[3.0, 1.0, 1.0, 1.0])
>>> w.features["x"].mean, w.features["x"].present, w.weighted
(2.0, 6.0, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import FeatureError
from loopline.data import Kind, Schema
from loopline.features._binning import Binned
from loopline.features._coerce import as_bool, as_float, as_text, as_utc, category_keys
from loopline.features._label_profile import (
    LabelProfile,
    PredictionProfile,
    Weights,
    check_weights,
    kish,
    ranked_sums,
    reference_grid,
    weighted_mean_std,
    weighted_quantiles,
)
from loopline.features._state import jsonable

QUANTILE_LEVELS: tuple[float, ...] = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
TOP_CATEGORIES = 50
COUNTED_CATEGORIES = 1000
OTHER = "__other__"


def _share(part: float, whole: float) -> float:
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
    counts: tuple[float, ...]
    kind: str = "numeric"
    reference: dict[str, Any] | None = None
    present: float | None = None
    n_eff: float | None = None

    @classmethod
    def of(cls, values: np.ndarray, bins: int, weights: np.ndarray | None = None) -> NumericProfile:
        """Profile ``values`` (NaN for missing); ``counts`` are integers without ``weights``."""
        w_all = np.ones(values.size) if weights is None else weights
        kept = ~np.isnan(values)
        present, w = values[kept], (None if weights is None else weights[kept])
        missing_share = _share(w_all[~kept].sum(), w_all.sum())
        if present.size == 0:
            return cls(missing_share, None, None, None, (), (), present=0.0, n_eff=0.0)
        mean, std = weighted_mean_std(present, w)
        quantiles = tuple(float(q) for q in weighted_quantiles(present, w, QUANTILE_LEVELS))
        edges = np.unique(weighted_quantiles(present, w, np.linspace(0.0, 1.0, bins + 1)))
        if edges.size < 2:
            edges = np.array([edges[0], edges[0]])
            counts: tuple[float, ...] = (int(present.size) if w is None else float(w.sum()),)
        else:
            histogram, _ = np.histogram(present, bins=edges, weights=w)
            counts = tuple(int(c) if w is None else float(c) for c in histogram)
        return cls(missing_share, _maybe(mean), _maybe(std), quantiles, tuple(float(e) for e in edges), counts,
                   reference=reference_grid(present, w), present=float(present.size if w is None else w.sum()),
                   n_eff=kish(w_all[kept]))

    def binned(self) -> Binned | None:
        """``reference`` as a :class:`Binned` (None without present values and in old profiles)."""
        return Binned.from_dict(self.reference) if self.reference is not None else None


@dataclass(frozen=True)
class CategoricalProfile:
    missing_share: float
    frequencies: dict[str, float]
    other_share: float
    n_categories: int
    kind: str = "categorical"
    counts: dict[str, float] | None = None
    complete: bool | None = None
    n_eff: float | None = None

    @classmethod
    def of(cls, values: pd.Series, column: str, weights: np.ndarray | None = None) -> CategoricalProfile:
        """Profile the categories of ``values``; a real category named :data:`OTHER` is folded too."""
        keys, missing = category_keys(values, column)
        w_all = np.ones(len(keys)) if weights is None else weights
        total = float(w_all.sum())
        ranked = ranked_sums(keys[~missing], w_all[~missing])
        top = ranked[:TOP_CATEGORIES]
        rest = sum(c for _, c in ranked[TOP_CATEGORIES:])
        counted = [(k, c) for k, c in ranked if k != OTHER][:COUNTED_CATEGORIES]
        folded = sum(c for _, c in ranked) - sum(c for _, c in counted)
        complete = len(counted) == len(ranked)
        counts = dict(counted) | ({} if complete else {OTHER: folded})
        return cls(_share(w_all[missing].sum(), total), {k: _share(c, total) for k, c in top}, _share(rest, total),
                   len(ranked), counts=counts, complete=complete, n_eff=kish(w_all[~missing]))


@dataclass(frozen=True)
class BooleanProfile:
    missing_share: float
    true_share: float | None
    kind: str = "boolean"
    true_count: float | None = None
    false_count: float | None = None
    n_eff: float | None = None

    @classmethod
    def of(cls, values: np.ndarray, weights: np.ndarray | None = None) -> BooleanProfile:
        w_all = np.ones(values.size) if weights is None else weights
        kept = ~np.isnan(values)
        present, w = values[kept], w_all[kept]
        true_count = float(w[present == 1.0].sum())
        true_share = None
        if present.size:
            true_share = float(present.mean()) if weights is None else true_count / float(w.sum())
        return cls(_share(w_all[~kept].sum(), w_all.sum()), true_share, true_count=true_count,
                   false_count=float(w.sum()) - true_count, n_eff=kish(w))


@dataclass(frozen=True)
class TimestampProfile:
    missing_share: float
    first: str | None
    last: str | None
    kind: str = "timestamp"

    @classmethod
    def of(cls, values: pd.Series, weights: np.ndarray | None = None) -> TimestampProfile:
        kept = values.notna().to_numpy(dtype=bool)
        if not kept.any():
            return cls(1.0 if len(values) else 0.0, None, None)
        w_all = np.ones(len(values)) if weights is None else weights
        present = values[kept]
        return cls(_share(w_all[~kept].sum(), w_all.sum()), present.min().isoformat(), present.max().isoformat())


@dataclass(frozen=True)
class TextProfile:
    missing_share: float
    mean_length: float | None
    kind: str = "text"

    @classmethod
    def of(cls, values: pd.Series, column: str, weights: np.ndarray | None = None) -> TextProfile:
        missing = values.isna().to_numpy(dtype=bool)
        lengths = np.array([len(t) for t in as_text(values, column)], dtype=np.float64)[~missing]
        w_all = np.ones(len(values)) if weights is None else weights
        mean_length = None
        if lengths.size:
            mean_length = float(lengths.mean() if weights is None else np.average(lengths, weights=w_all[~missing]))
        return cls(_share(w_all[missing].sum(), w_all.sum()), mean_length)


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
        if key in data and isinstance(data[key], list):
            data[key] = tuple(data[key])
    return _KINDS[str(kind)](**data)


@dataclass(frozen=True)
class Profile:
    """Training-time statistics of the features (by name), the label and the predictions, for monitoring.

    ``rows`` is the number of rows profiled; ``weighted`` says whether they carried weights and
    ``n_eff`` is Kish's effective size of all rows (None in profiles stored before it existed).
    ``prediction`` is attached by the caller that has a model (see ``loopline.loop``); None otherwise.
    ``sample`` (None unless asked for with ``sample_rows``) holds up to that many rows of the numeric,
    boolean and categorical features, drawn with probability proportional to their weights so that they
    stand for the population: monitoring's multivariate check (a classifier told to separate them from a
    window's rows) needs rows, not marginals. Columns named in ``private`` are never sampled.
    """

    rows: int
    features: dict[str, FeatureProfile]
    label: LabelProfile | None = None
    bins: int = 10
    quantile_levels: tuple[float, ...] = field(default=QUANTILE_LEVELS)
    weighted: bool = False
    n_eff: float | None = None
    prediction: PredictionProfile | None = None
    sample: dict[str, list[Any]] | None = None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, schema: Schema, *, features: Sequence[str], label: str | None = None,
                   bins: int = 10, weights: Weights | None = None, sample_rows: int = 0,
                   private: Sequence[str] = (), seed: int = 0) -> Profile:
        """Profile ``features`` (kinds from ``schema``) and, if given, the ``label`` column of ``frame``.

        ``weights`` (one per row by position, each finite and above 0) make every statistic a weighted one.
        ``sample_rows`` > 0 keeps that many rows (seeded by ``seed``) in ``sample``, without the ``private``
        columns.
        """
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
        w = check_weights(weights, len(frame), "profile")
        profiles = {name: _profile_column(frame[name], name, Kind(schema[name].kind), bins, w) for name in features}
        sampled = None
        if sample_rows > 0:
            kinds = {name: Kind(schema[name].kind) for name in features if name not in set(private)}
            sampled = _sample(frame, {n: k for n, k in kinds.items() if k in _SAMPLED}, sample_rows, w, seed)
        return cls(rows=len(frame), features=profiles,
                   label=LabelProfile.of(frame[label], label, weights=w) if label is not None else None, bins=bins,
                   weighted=w is not None, n_eff=kish(np.ones(len(frame)) if w is None else w), sample=sampled)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; :meth:`from_dict` reads it back."""
        out: dict[str, Any] = jsonable({
            "rows": self.rows,
            "bins": self.bins,
            "quantile_levels": list(self.quantile_levels),
            "features": {name: asdict(p) for name, p in self.features.items()},
            "label": self.label.to_dict() if self.label is not None else None,
            "weighted": self.weighted,
            "n_eff": self.n_eff,
            "prediction": self.prediction.to_dict() if self.prediction is not None else None,
            "sample": self.sample,
        }, "profile")
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        """Read :meth:`to_dict`'s output, including profiles stored before the weighted fields existed."""
        try:
            n_eff = d.get("n_eff")
            return cls(rows=int(d["rows"]), bins=int(d["bins"]),
                       quantile_levels=tuple(float(q) for q in d["quantile_levels"]),
                       features={str(k): _feature_from_dict(v) for k, v in d["features"].items()},
                       label=LabelProfile.from_dict(d["label"]) if d.get("label") is not None else None,
                       weighted=bool(d.get("weighted", False)), n_eff=float(n_eff) if n_eff is not None else None,
                       prediction=PredictionProfile.from_dict(d["prediction"]) if d.get("prediction") is not None
                       else None, sample=_sample_from_dict(d.get("sample")))
        except (KeyError, TypeError) as exc:
            raise FeatureError(f"not a profile: {exc!r} while reading it; was it written by Profile.to_dict?") from exc


_SAMPLED = (Kind.NUMERIC, Kind.BOOLEAN, Kind.CATEGORICAL)


def _sample(frame: pd.DataFrame, kinds: dict[str, Kind], rows: int, weights: np.ndarray | None,
            seed: int) -> dict[str, list[Any]]:
    """Up to ``rows`` rows drawn without replacement with probability proportional to ``weights``; numbers as
    floats (None when missing), booleans as 0/1, categories as their training keys."""
    n = len(frame)
    rng = np.random.default_rng(seed)
    take = min(rows, n)
    chosen = np.sort(rng.choice(n, size=take, replace=False, p=None if weights is None else weights / weights.sum()))
    out: dict[str, list[Any]] = {}
    for name, kind in kinds.items():
        column = frame[name].iloc[chosen]
        if kind == Kind.CATEGORICAL:
            keys, missing = category_keys(column, name)
            out[name] = [None if m else str(k) for k, m in zip(keys, missing, strict=True)]
        else:
            values = as_bool(column, name) if kind == Kind.BOOLEAN else as_float(column, name)
            out[name] = [float(v) if np.isfinite(v) else None for v in values]
    return out


def _sample_from_dict(stored: Any) -> dict[str, list[Any]] | None:
    if stored is None:
        return None
    if not isinstance(stored, dict) or len({len(v) for v in stored.values() if isinstance(v, list)}) > 1:
        raise FeatureError("profile sample: expected columns of equal length (name -> list of values)")
    return {str(k): list(v) for k, v in stored.items()}


def _profile_column(values: pd.Series, name: str, kind: Kind, bins: int, weights: np.ndarray | None) -> FeatureProfile:
    if kind == Kind.NUMERIC:
        return NumericProfile.of(as_float(values, name), bins, weights)
    if kind == Kind.CATEGORICAL:
        return CategoricalProfile.of(values, name, weights)
    if kind == Kind.BOOLEAN:
        return BooleanProfile.of(as_bool(values, name), weights)
    if kind == Kind.TIMESTAMP:
        return TimestampProfile.of(as_utc(values, name), weights)
    return TextProfile.of(values, name, weights)
