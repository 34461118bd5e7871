"""The metric names a spec may ask for, per task, and the one place that says which way each is better.

Every comparison of metric values in loopline (choosing the best candidate, beating a baseline,
ranking slices, marking the best value in a report) goes through :func:`metric_loss`: how far a value
is from the metric's best, lower being better.

- a higher-is-better metric (``roc_auc``, ``r2``, ``ndcg``, ...) has loss ``-value``;
- a lower-is-better metric (``log_loss``, ``ece``, ``rmse``, ...) has loss ``value``;
- ``calibration_ratio`` (predicted positives over observed positives, best at 1) has loss
  ``|log(value)|``: predicting twice the observed positives is as far from calibrated as predicting
  half of them, and a ratio of 0 (nothing predicted) is infinitely far.

>>> is_better("calibration_ratio", 0.97, 1.2), is_better("calibration_ratio", 0.5, 0.97)
(True, False)
>>> is_better("log_loss", 0.30, 0.35), is_better("roc_auc", 0.70, 0.75)
(True, False)
"""

from __future__ import annotations

import math
import re
from typing import Literal

from loopline._errors import SpecError

Task = Literal["binary", "multiclass", "regression", "ranking"]
Direction = Literal["higher", "lower", "one"]

METRICS: dict[str, tuple[str, ...]] = {
    "binary": (
        "log_loss", "roc_auc", "pr_auc", "brier", "normalized_entropy", "ece", "calibration_ratio",
        "precision", "recall", "f1", "accuracy",
    ),
    "multiclass": ("log_loss", "accuracy", "macro_f1", "top_k_accuracy"),
    "regression": ("rmse", "mae", "r2"),
    "ranking": ("ndcg", "map", "mrr", "roc_auc", "log_loss"),
}

DEFAULT_PRIMARY: dict[str, str] = {
    "binary": "log_loss",
    "multiclass": "log_loss",
    "regression": "rmse",
    "ranking": "ndcg",
}

DIRECTION: dict[str, Direction] = {
    "log_loss": "lower", "brier": "lower", "normalized_entropy": "lower", "ece": "lower", "rmse": "lower",
    "mae": "lower",
    "roc_auc": "higher", "pr_auc": "higher", "precision": "higher", "recall": "higher", "f1": "higher",
    "accuracy": "higher", "macro_f1": "higher", "top_k_accuracy": "higher", "r2": "higher", "ndcg": "higher",
    "map": "higher", "mrr": "higher",
    "calibration_ratio": "one",
}
"""Which way each metric is better: ``higher``, ``lower``, or ``one`` (best at exactly 1)."""

_AT_K = re.compile(r"ndcg@([1-9][0-9]*)")
_SAID = {"higher": "higher is better", "lower": "lower is better", "one": "closest to 1 is better"}


def metric_direction(metric: str) -> Direction:
    """Which way ``metric`` is better; a name loopline does not compute is refused.

    >>> metric_direction("ece"), metric_direction("calibration_ratio")
    ('lower', 'one')
    """
    found = DIRECTION.get(metric)
    if found is None and at_k(metric) is not None:
        return "higher"
    if found is None:
        known = ", ".join(sorted(DIRECTION))
        raise SpecError(f"metric '{metric}' is not one loopline computes, so it has no direction; "
                        f"use one of {known}")
    return found


def at_k(metric: str) -> int | None:
    """The cut-off of an ``ndcg@<k>`` name (NDCG at a cut-off other than the primary ``metrics.k``), else None.

    >>> at_k("ndcg@5"), at_k("ndcg"), at_k("ndcg@x")
    (5, None, None)
    """
    match = _AT_K.fullmatch(metric)
    return int(match.group(1)) if match else None


def describe_direction(metric: str) -> str:
    """The direction in words, e.g. ``'lower is better'``.

    >>> describe_direction("roc_auc"), describe_direction("calibration_ratio")
    ('higher is better', 'closest to 1 is better')
    """
    return _SAID[metric_direction(metric)]


def metric_loss(metric: str, value: float) -> float:
    """How far ``value`` is from the best value of ``metric``: lower is better; NaN stays NaN.

    >>> metric_loss("roc_auc", 0.8), metric_loss("rmse", 2.5), metric_loss("calibration_ratio", 1.0)
    (-0.8, 2.5, 0.0)
    >>> metric_loss("calibration_ratio", 2.0) == metric_loss("calibration_ratio", 0.5)
    True
    """
    direction = metric_direction(metric)
    value = float(value)
    if direction == "higher":
        return -value
    if direction == "lower":
        return value
    if math.isnan(value):
        return value
    return abs(math.log(value)) if value > 0 else math.inf


def is_better(metric: str, a: float, b: float) -> bool:
    """Whether ``a`` is strictly better than ``b`` on ``metric``; a NaN is never better, and any number
    is better than NaN."""
    loss_a, loss_b = metric_loss(metric, a), metric_loss(metric, b)
    if math.isnan(loss_a):
        return False
    return math.isnan(loss_b) or loss_a < loss_b


def ranking_loss(metric: str, value: float) -> float:
    """:func:`metric_loss` with NaN as +infinity, a key for ``min``/``sorted`` that puts undefined values last."""
    loss = metric_loss(metric, value)
    return math.inf if math.isnan(loss) else loss
