"""The outcome side of the reference profile: the label and the model's predictions, weighted or not.

:class:`LabelProfile` reads its shape from the values themselves:

- ``binary`` (booleans, or numbers that are all 0 or 1): ``rate``, the share of positives.
- ``numeric`` (other numbers): ``mean`` and population ``std``, and ``reference``, the values counted on
  a grid of about 1,000 of their own quantiles (a :class:`~loopline.features._binning.Binned` as a dict);
  when the values are integers with at most 20 distinct values (multiclass codes, small counts) also
  ``classes``, the share of each.
- ``categorical`` (anything else): ``classes``, the share of each class.

Shares are of the rows with a label; ``missing_share`` is of all rows; ``rows`` counts the rows with a
label. With weights, ``n_eff`` is their effective size; without, it is None, as in profiles stored
before it existed, and :attr:`LabelProfile.effective_rows` reads it either way.

:class:`PredictionProfile` is what the model's predictions looked like on data it did not fit: the
scores counted on their own quantile grid (binary, regression, ranking) or, for multiclass, the
weighted count of each predicted class and the top-class probability on its grid.

**Weights** are frequency weights: a row of weight ``w`` stands for ``w`` rows (a negative kept with
probability ``r`` stands for ``1 / r``). Every statistic is then the statistic of that expanded
sample: weighted means, population standard deviations, shares, and quantiles that equal numpy's
default (linear) quantiles of the sample with each row repeated ``w`` times (:func:`weighted_quantiles`).
``n_eff`` is Kish's effective sample size ``(sum w)^2 / sum w^2``: the number of unweighted rows that
would measure a share about as precisely; it equals the row count without weights, and it is what a drift
test should take as the reference's sample size.

>>> LabelProfile.of(pd.Series([0, 1, 1, 0]), "y").rate
0.5
>>> LabelProfile.of(pd.Series([0, 1, 1, 0]), "y", weights=np.array([3.0, 1.0, 1.0, 3.0])).rate
0.25
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import FeatureError
from loopline.features._binning import Binned, bin_values, grid_edges
from loopline.features._coerce import as_float, category_keys
from loopline.features._state import jsonable

MAX_CLASSES = 20
GRID_CELLS = 1000
TASKS = ("binary", "multiclass", "regression", "ranking")

Weights = np.ndarray | pd.Series | Sequence[float]


def check_weights(weights: Weights | None, n: int, where: str) -> np.ndarray | None:
    """``weights`` as float64, one per row, each finite and above 0; None stays None."""
    if weights is None:
        return None
    w = np.asarray(weights.to_numpy() if isinstance(weights, pd.Series) else weights, dtype=np.float64)
    if w.shape != (n,):
        raise FeatureError(f"{where}: expected one weight per row ({n} rows), got weights of shape {w.shape}. "
                           "Pass an array aligned with the rows by position.")
    bad = ~(np.isfinite(w) & (w > 0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise FeatureError(f"{where}: weights must be finite and above 0, but row {first} has {float(w[first])!r} "
                           f"({int(bad.sum())} such row(s)). Drop those rows or give them a positive weight.")
    return w


def kish(weights: np.ndarray) -> float:
    """Kish's effective sample size, ``(sum w)^2 / sum w^2`` (0 for no rows).

    >>> kish(np.ones(4)), kish(np.array([1.0, 1.0, 2.0]))
    (4.0, 2.6666666666666665)
    """
    if weights.size == 0:
        return 0.0
    return float(weights.sum() ** 2 / np.square(weights).sum())


def weighted_mean_std(values: np.ndarray, weights: np.ndarray | None) -> tuple[float, float]:
    """The weighted mean and population (``ddof=0``) standard deviation of ``values`` (at least one)."""
    if weights is None:
        return float(values.mean()), float(values.std())
    mean = float(np.average(values, weights=weights))
    return mean, float(np.sqrt(np.average(np.square(values - mean), weights=weights)))


def weighted_quantiles(values: np.ndarray, weights: np.ndarray | None,
                       levels: Sequence[float] | np.ndarray) -> np.ndarray:
    """Quantiles of ``values`` (no NaN) at ``levels``, each row standing for ``weights`` rows.

    Without weights this is ``np.quantile`` itself. With weights it is numpy's linear rule on the
    expanded sample: the order statistics are counted through the cumulative weights, so for integer
    weights the result is ``np.quantile(np.repeat(values, weights), levels)`` without building the
    repeated array; fractional weights use the same formula with ``N = sum w`` (positions below 0
    are clipped to the smallest value).

    >>> weighted_quantiles(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 1.0]), [0.0, 0.5, 1.0]).tolist()
    [1.0, 2.0, 3.0]
    """
    if weights is None:
        return np.asarray(np.quantile(values, levels), dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    cumulative = np.cumsum(weights[order])
    last = ordered.size - 1
    position = np.clip(np.asarray(levels, dtype=np.float64) * (cumulative[-1] - 1.0), 0.0, None)
    below = np.floor(position)
    low = ordered[np.minimum(np.searchsorted(cumulative, below, side="right"), last)]
    high = ordered[np.minimum(np.searchsorted(cumulative, below + 1.0, side="right"), last)]
    out: np.ndarray = low + (position - below) * (high - low)
    return out


def reference_grid(values: np.ndarray, weights: np.ndarray | None) -> dict[str, Any]:
    """Present ``values`` (no NaN, at least one) counted on a grid of about 1,000 of their own quantiles.

    The :class:`Binned` comes back as its plain-JSON dict, the form profiles store.
    """
    edges = grid_edges(values, cells=GRID_CELLS, weights=weights)
    stored: dict[str, Any] = jsonable(bin_values(values, edges, weights=weights).to_dict(), "reference")
    return stored


def ranked_sums(keys: np.ndarray, weights: np.ndarray) -> list[tuple[str, float]]:
    """The summed weight of each key, largest first (ties by key)."""
    if keys.size == 0:
        return []
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
    sums = np.bincount(codes, weights=weights, minlength=len(uniques))
    return sorted(((str(k), float(s)) for k, s in zip(uniques, sums, strict=True)), key=lambda ks: (-ks[1], ks[0]))


def _frequencies(keys: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    total = float(weights.sum())
    return {k: s / total for k, s in ranked_sums(keys, weights)}


@dataclass(frozen=True)
class LabelProfile:
    kind: str
    rows: int
    missing_share: float
    rate: float | None = None
    mean: float | None = None
    std: float | None = None
    classes: dict[str, float] = field(default_factory=dict)
    n_eff: float | None = None
    reference: dict[str, Any] | None = None

    @classmethod
    def of(cls, values: pd.Series, column: str, *, weights: Weights | None = None) -> LabelProfile:
        n = len(values)
        w = check_weights(weights, n, f"profile of label '{column}'")
        w_all = np.ones(n) if w is None else w
        missing = values.isna().to_numpy(dtype=bool)
        present = values[~missing]
        total = float(w_all.sum())
        missing_share = float(w_all[missing].sum()) / total if n else 0.0
        numeric = pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)
        if not numeric or present.empty:
            keys, _ = category_keys(present, column)
            wp = w_all[~missing]
            return cls("categorical", len(present), missing_share,
                       classes=_frequencies(keys, wp) if len(keys) else {}, n_eff=None if w is None else kish(wp))
        x = as_float(present, column)
        kept = ~np.isnan(x)
        x, wx = x[kept], w_all[~missing][kept]
        if x.size and np.isin(x, (0.0, 1.0)).all():
            rate = float(x.mean()) if w is None else float(np.average(x, weights=wx))
            return cls("binary", int(x.size), missing_share, rate=rate, n_eff=None if w is None else kish(wx))
        classes: dict[str, float] = {}
        if x.size and np.all(x == np.round(x)) and np.unique(x).size <= MAX_CLASSES:
            classes = _frequencies(np.array([str(int(v)) for v in x], dtype=object), wx)
        mean, std = weighted_mean_std(x, None if w is None else wx) if x.size else (None, None)
        reference = reference_grid(x, None if w is None else wx) if x.size else None
        return cls("numeric", int(x.size), missing_share, mean=mean, std=std, classes=classes,
                   n_eff=None if w is None else kish(wx), reference=reference)

    @property
    def effective_rows(self) -> float:
        """The sample size a test on the label should use: ``n_eff`` when weighted, else ``rows``."""
        return float(self.rows) if self.n_eff is None else self.n_eff

    def binned(self) -> Binned | None:
        """The numeric label's values on its quantile grid (None for other kinds and old profiles)."""
        return Binned.from_dict(self.reference) if self.reference is not None else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelProfile:
        """Read :meth:`to_dict`'s output, also from before ``n_eff`` and ``reference`` existed (they are None)."""
        n_eff = d.get("n_eff")
        return cls(kind=str(d["kind"]), rows=int(d["rows"]), missing_share=float(d["missing_share"]),
                   rate=d.get("rate"), mean=d.get("mean"), std=d.get("std"),
                   classes={str(k): float(v) for k, v in (d.get("classes") or {}).items()},
                   n_eff=float(n_eff) if n_eff is not None else None, reference=d.get("reference"))


@dataclass(frozen=True)
class PredictionProfile:
    """What a model's predictions looked like on rows it did not fit.

    ``rows`` is the number of predictions, ``weight_total`` their summed weight (``rows`` without
    weights), ``n_eff`` Kish's effective size of the rows with a finite prediction, ``missing_share``
    the weighted share of rows whose prediction is not finite (for multiclass: any class).
    Binary, regression and ranking: ``scores`` is the ``Binned`` of the scores (as a dict) on a
    grid of about 1,000 of their weighted quantiles, with their ``mean`` and population ``std``.
    Multiclass: ``class_counts`` is the weighted count of rows whose most probable class is each
    class (every class listed, zeros too, in the model's class order), and ``top_probability`` the
    ``Binned`` of the most probable class's probability; ``mean`` and ``std`` are of that probability.

    >>> p = PredictionProfile.of(np.array([0.1, 0.4, 0.4, 0.9]), "binary")
    >>> p.mean, p.weight_total, p.binned().n
    (0.45, 4.0, 4.0)
    >>> m = PredictionProfile.of(np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]]), "multiclass", classes=["a", "b"])
    >>> m.class_counts
    {'a': 2.0, 'b': 1.0}
    """

    task: str
    rows: int
    weight_total: float
    n_eff: float
    missing_share: float
    mean: float | None = None
    std: float | None = None
    scores: dict[str, Any] | None = None
    class_counts: dict[str, float] | None = None
    top_probability: dict[str, Any] | None = None

    @classmethod
    def of(cls, predictions: np.ndarray, task: str, *, weights: Weights | None = None,
           classes: Sequence[Any] | None = None) -> PredictionProfile:
        """Profile ``predictions`` as ``TrainedModel.predict`` returns them for ``task``."""
        if task not in TASKS:
            raise FeatureError(f"prediction profile: unknown task {task!r}; expected one of {list(TASKS)}.")
        p = np.asarray(predictions, dtype=np.float64)
        multiclass = task == "multiclass"
        if p.ndim != (2 if multiclass else 1):
            shape = "(rows, classes)" if multiclass else "(rows,)"
            raise FeatureError(f"prediction profile for task '{task}': expected predictions of shape {shape}, got "
                               f"shape {p.shape}. Pass what the model's predict returns.")
        n = p.shape[0]
        w = check_weights(weights, n, "prediction profile")
        w_all = np.ones(n) if w is None else w
        finite = np.isfinite(p) if not multiclass else np.isfinite(p).all(axis=1)
        total = float(w_all.sum())
        missing_share = float(w_all[~finite].sum()) / total if n else 0.0
        wf = w_all[finite]
        head = {"task": task, "rows": n, "weight_total": total, "n_eff": kish(wf), "missing_share": missing_share}
        if multiclass:
            names = _class_names(classes, p.shape[1])
            p = p[finite]
            top = p.max(axis=1) if p.size else np.empty(0)
            picked = np.bincount(p.argmax(axis=1), weights=wf, minlength=len(names)) if p.size else np.zeros(len(names))
            counts = {name: float(c) for name, c in zip(names, picked, strict=True)}
            return cls(**head, **_distribution(top, None if w is None else wf, key="top_probability"),
                       class_counts=counts)
        return cls(**head, **_distribution(p[finite], None if w is None else wf, key="scores"))

    def binned(self) -> Binned | None:
        """The scores (or, for multiclass, the top-class probability) on their grid; None without predictions."""
        stored = self.top_probability if self.task == "multiclass" else self.scores
        return Binned.from_dict(stored) if stored is not None else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PredictionProfile:
        try:
            counts = d.get("class_counts")
            return cls(task=str(d["task"]), rows=int(d["rows"]), weight_total=float(d["weight_total"]),
                       n_eff=float(d["n_eff"]), missing_share=float(d["missing_share"]), mean=d.get("mean"),
                       std=d.get("std"), scores=d.get("scores"),
                       class_counts={str(k): float(v) for k, v in counts.items()} if counts is not None else None,
                       top_probability=d.get("top_probability"))
        except (KeyError, TypeError, ValueError) as exc:
            raise FeatureError(f"not a prediction profile: {exc!r} while reading it; was it written by "
                               "PredictionProfile.to_dict?") from exc


def _class_names(classes: Sequence[Any] | None, width: int) -> list[str]:
    if classes is None:
        return [str(i) for i in range(width)]
    if len(classes) != width:
        shown = [c.item() if isinstance(c, np.generic) else c for c in list(classes)[:10]]
        raise FeatureError(f"prediction profile: {len(classes)} class name(s) {shown} for "
                           f"predictions with {width} column(s); pass the model's classes in column order.")
    keys, _ = category_keys(pd.Series(list(classes), dtype=object))
    return [str(k) for k in keys]


def _distribution(values: np.ndarray, weights: np.ndarray | None, *, key: str) -> dict[str, Any]:
    if values.size == 0:
        return {"mean": None, "std": None, key: None}
    mean, std = weighted_mean_std(values, weights)
    return {"mean": mean, "std": std, key: reference_grid(values, weights)}
