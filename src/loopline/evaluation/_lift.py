"""How much better a model is than a baseline, signed so that positive is better.

Two numbers per metric:

- the **improvement**, ``metric_loss(baseline) - metric_loss(model)`` (see
  :func:`loopline.spec.metric_loss`): in the metric's own units, ``model - baseline`` for a
  higher-is-better metric, ``baseline - model`` for a lower-is-better one, and for
  ``calibration_ratio`` the shrinkage of ``|log ratio|``. It is defined for every metric.
- the **relative lift**, ``improvement / |baseline|``, given only where a ratio to the baseline means
  something: for the metrics in :data:`RELATIVE_METRICS` (losses and scores whose zero is a real
  zero), and only when the baseline is not near 0. Never for ``r2`` (0 is the constant predictor and
  values may be negative), ``ece`` (a constant prior's is about 0) or ``calibration_ratio`` (best at
  1, not at 0): there a percentage would be a large number about nothing.

"Near 0" is relative to the metric's scale: for a metric bounded in [0, 1] (AUCs, rates, NDCG,
Brier...) a baseline below ``NEAR_ZERO`` = 0.01, 1% of the metric's range; for an unbounded loss
(``log_loss``, ``normalized_entropy``, ``rmse``, ``mae``) a baseline below 1% of the larger of the two
values, i.e. where the relative change would exceed 99-fold.

>>> round(lift({"roc_auc": 0.8, "log_loss": 0.3}, {"roc_auc": 0.5, "log_loss": 0.4})["log_loss"], 4)
0.25
>>> lift({"r2": 0.41, "ece": 0.012}, {"r2": 0.0006, "ece": 0.002})
{}
>>> {k: round(v, 3) for k, v in improvement({"r2": 0.41, "ece": 0.012}, {"r2": 0.0006, "ece": 0.002}).items()}
{'r2': 0.409, 'ece': -0.01}

Against the champion the improvement also gets a 95% interval from a **paired** bootstrap
(:func:`paired_improvement`): each resample weights the rows (queries for ranking) the same way for
both models, so the interval is that of the difference, far narrower than two separate intervals suggest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from loopline.evaluation._metrics import Scorer
from loopline.evaluation._slices import percentile_interval
from loopline.evaluation._types import PairedDifference
from loopline.spec import metric_loss

RELATIVE_METRICS = frozenset({
    "log_loss", "normalized_entropy", "rmse", "mae",
    "brier", "roc_auc", "pr_auc", "precision", "recall", "f1", "accuracy", "macro_f1", "top_k_accuracy",
    "ndcg", "map", "mrr",
})
"""Metrics whose relative change over a baseline is meaningful (0 is a true zero, the best or the worst)."""

UNBOUNDED = frozenset({"log_loss", "normalized_entropy", "rmse", "mae"})
"""The relative metrics not bounded in [0, 1]; their scale is taken from the two values compared."""

NEAR_ZERO = 0.01


def improvement_of(model: float, baseline: float, metric: str) -> float:
    """The model's improvement over the baseline in the metric's units (positive is better)."""
    if model == baseline:
        return 0.0
    return metric_loss(metric, baseline) - metric_loss(metric, model)


def near_zero(baseline: float, model: float, metric: str) -> bool:
    """Whether ``baseline`` is too close to 0, on ``metric``'s scale, for a ratio to it to mean anything."""
    scale = max(abs(model), abs(baseline)) if metric in UNBOUNDED else 1.0
    return abs(baseline) < NEAR_ZERO * scale


def relative_improvement(model: float, baseline: float, metric: str) -> float | None:
    """The improvement as a fraction of ``|baseline|``; ``None`` where a relative lift means nothing
    (a metric outside :data:`RELATIVE_METRICS`, a baseline near 0, or a value that is not a number)."""
    if metric not in RELATIVE_METRICS or not (math.isfinite(model) and math.isfinite(baseline)):
        return None
    if near_zero(baseline, model, metric):
        return None
    return improvement_of(model, baseline, metric) / abs(baseline)


def lift(model: Mapping[str, float], baseline: Mapping[str, float]) -> dict[str, float]:
    """Per metric present in both, the model's relative lift over the baseline, where it is meaningful."""
    out = {}
    for metric, value in model.items():
        if metric in baseline:
            relative = relative_improvement(value, baseline[metric], metric)
            if relative is not None:
                out[metric] = relative
    return out


def improvement(model: Mapping[str, float], baseline: Mapping[str, float]) -> dict[str, float]:
    """Per metric present in both, the model's improvement over the baseline in the metric's units."""
    return {m: improvement_of(v, baseline[m], m) for m, v in model.items() if m in baseline}


def paired_improvement(model: Scorer, other: Scorer, metric: str, *, other_name: str, n_boot: int = 200,
                       seed: int = 0) -> PairedDifference:
    """``model``'s improvement over ``other`` on ``metric`` (both scorers prepared on the same rows), with the
    percentile interval of the paired bootstrap (``n_boot`` resamples, each weighting both alike)."""
    if model.units != other.units:
        raise ValueError(f"paired scorers must share their rows: {model.units} and {other.units} units")
    ours, theirs = model.compute()[metric], other.compute()[metric]
    point = improvement_of(ours, theirs, metric)
    rng = np.random.default_rng(seed)
    draws = np.empty(max(n_boot, 0))
    for b in range(len(draws)):
        weights = np.bincount(rng.integers(0, model.units, model.units), minlength=model.units).astype(np.float64)
        draws[b] = improvement_of(model.compute(weights)[metric], other.compute(weights)[metric], metric)
    low, high = percentile_interval(draws, point) if n_boot >= 2 else (None, None)
    return PairedDifference(other=other_name, metric=metric, model_value=ours, other_value=theirs,
                            improvement=point, low=low, high=high)
