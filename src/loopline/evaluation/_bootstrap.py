"""Percentile bootstrap intervals (95%) for any metric, by multinomial resampling weights.

A resample of n units drawn with replacement is the same as weighting each unit by how often it was
drawn, so a prepared scorer evaluates each resample without copying or re-sorting the data. The units
are rows, or whole queries for ranking (items of one query are not independent). Resamples on which
a metric is undefined (one class only) are left out of its interval.

The reported interval always contains the point estimate: a percentile interval of a biased
statistic (ECE of a well-calibrated model is the usual one) can miss it, and is then stretched to it.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = (rng.random(500) < 0.3).astype(float)
>>> p = np.clip(0.3 + 0.2 * (y - 0.3) + rng.normal(0, 0.1, 500), 0, 1)
>>> auc = bootstrap("binary", y, p, metrics=["roc_auc"], n_boot=100)["roc_auc"]
>>> bool(auc.low < auc.value < auc.high)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from loopline.evaluation._metrics import Scorer, make_scorer
from loopline.evaluation._types import MetricValue
from loopline.spec import Gain, Task

_LEVEL = 0.95


def bootstrap(task: Task, y_true: np.ndarray, prediction: np.ndarray, *, metrics: Sequence[str],
              n_boot: int = 200, seed: int = 0, groups: np.ndarray | None = None,
              threshold: float | None = None, k: int | Sequence[int] = 10, classes: Sequence[Any] | None = None,
              gain: Gain = "exponential", relevant_at: float | None = None) -> dict[str, MetricValue]:
    """Point estimates of ``metrics`` with percentile 95% intervals from ``n_boot`` resamples.

    Rows are resampled, or whole queries (``groups``) for ranking. The same ``seed`` draws the same
    resamples, so two models bootstrapped with one seed are compared on the same resamples.
    """
    scorer = make_scorer(task, y_true, prediction, threshold=threshold, groups=groups, k=k, gain=gain,
                         relevant_at=relevant_at, classes=classes, names=metrics)
    return bootstrap_scorer(scorer, n_boot=n_boot, seed=seed)


def bootstrap_scorer(scorer: Scorer, *, n_boot: int, seed: int) -> dict[str, MetricValue]:
    point = scorer.compute()
    if n_boot < 2:
        return {name: MetricValue(value) for name, value in point.items()}
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(point)))
    for b in range(n_boot):
        weights = np.bincount(rng.integers(0, scorer.units, scorer.units), minlength=scorer.units)
        draws[b] = list(scorer.compute(weights.astype(np.float64)).values())
    out = {}
    for j, (name, value) in enumerate(point.items()):
        out[name] = _interval(value, draws[:, j])
    return out


def _interval(value: float, draws: np.ndarray) -> MetricValue:
    finite = draws[np.isfinite(draws)]
    if len(finite) < max(10, len(draws) // 2) or not np.isfinite(value):
        return MetricValue(value)
    tail = (1.0 - _LEVEL) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return MetricValue(value, min(float(low), value), max(float(high), value))
