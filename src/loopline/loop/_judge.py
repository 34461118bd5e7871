"""Challenger against champion on the same rows: the paired improvement of a metric, with a bootstrap interval.

Both models are scored on the same rows, and every bootstrap resample weights both the same way, so the
interval is that of the *difference* (much narrower than two separate intervals would suggest: most of the
noise is the rows, which the two share). Improvement is measured in the metric's own units towards its best
value (:func:`loopline.spec.metric_loss`): positive means the challenger is better, for a loss or a score alike.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = (rng.random(4000) < 0.3).astype(float)
>>> good = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.1, 4000), 0.01, 0.99)
>>> bad = np.clip(0.3 + rng.normal(0, 0.1, 4000), 0.01, 0.99)
>>> found = compare("binary", y, challenger=good, champion=bad, metric="roc_auc", n_boot=50)
>>> found.improvement > 0.3, found.low > 0
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from loopline._errors import EvaluationError
from loopline.evaluation import make_scorer
from loopline.spec import Gain, Task, metric_loss

LEVEL = 0.95


@dataclass(frozen=True)
class Comparison:
    """``metric`` of both models on the same rows; ``improvement`` (challenger's gain towards the metric's best)
    with its paired percentile interval ``[low, high]`` (NaN without resamples)."""

    metric: str
    champion: float
    challenger: float
    improvement: float
    low: float
    high: float
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        interval = "" if np.isnan(self.low) else f" (95% paired interval {self.low:+.4f} to {self.high:+.4f})"
        return (f"{self.metric} {self.challenger:.4f} vs champion {self.champion:.4f} on {self.rows:,} rows: "
                f"improvement {self.improvement:+.4f}{interval}")


def compare(task: Task, y_true: np.ndarray, *, challenger: np.ndarray, champion: np.ndarray, metric: str,
            groups: np.ndarray | None = None, k: int | Sequence[int] = 10, threshold: float | None = None,
            classes: Sequence[Any] | None = None, n_boot: int = 200, seed: int = 0, gain: Gain = "exponential",
            relevant_at: float | None = None) -> Comparison:
    """The paired comparison of two models' predictions on the same rows (whole queries resampled for ranking;
    ``k``, ``gain`` and ``relevant_at`` as the spec's ``metrics`` gives them)."""
    if relevant_at is None and task == "ranking":  # one threshold for both: the top grade of the labels
        relevant_at = float(np.max(np.asarray(y_true, dtype=np.float64)))
    options: dict[str, Any] = {"groups": groups, "k": k, "classes": classes, "names": [metric], "gain": gain,
                               "relevant_at": relevant_at}
    ours = make_scorer(task, y_true, challenger, threshold=threshold, who="the challenger", **options)
    theirs = make_scorer(task, y_true, champion, threshold=threshold, who="the champion", **options)
    point_a, point_b = ours.compute(), theirs.compute()
    if metric not in point_a or metric not in point_b:
        raise EvaluationError(f"{metric} cannot be computed on these rows ({task}: e.g. roc_auc needs 0/1 labels, "
                              "log_loss needs probabilities); choose another metrics.primary to judge by.")
    a, b = point_a[metric], point_b[metric]
    better_by = metric_loss(metric, b) - metric_loss(metric, a)
    low = high = float("nan")
    if n_boot >= 2:
        rng = np.random.default_rng(seed)
        draws = np.empty(n_boot)
        for i in range(n_boot):
            weights = np.bincount(rng.integers(0, ours.units, ours.units), minlength=ours.units).astype(np.float64)
            draws[i] = (metric_loss(metric, theirs.compute(weights)[metric])
                        - metric_loss(metric, ours.compute(weights)[metric]))
        finite = draws[np.isfinite(draws)]
        if len(finite) >= max(10, n_boot // 2):
            tail = (1 - LEVEL) / 2 * 100
            low, high = (float(v) for v in np.percentile(finite, [tail, 100 - tail]))
    return Comparison(metric=metric, champion=float(b), challenger=float(a), improvement=float(better_by),
                      low=low, high=high, rows=len(y_true))
