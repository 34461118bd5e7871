"""Evaluation: metrics for each task with bootstrap intervals, curves, slices, fairness, explanations.

``evaluate(model, frame, spec, label=..., time=...)`` returns an :class:`Evaluation` (plain data;
``loopline.reports`` renders it). ``compute_metrics`` and ``bootstrap`` are the building blocks.

>>> import numpy as np
>>> m = compute_metrics("binary", np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
>>> m["roc_auc"], m["accuracy"]
(0.75, 0.75)
"""

from __future__ import annotations

from loopline.evaluation._bootstrap import bootstrap
from loopline.evaluation._evaluate import evaluate
from loopline.evaluation._metrics import compute_metrics, make_scorer, ranking_metric
from loopline.evaluation._types import (
    Curve,
    Evaluation,
    FairnessSummary,
    GroupFairness,
    MetricValue,
    Mistake,
    ModelScores,
    PairedDifference,
    QueryDifference,
    RankingSummary,
    RowExplanation,
    SliceRow,
    TimePoint,
)

__all__ = [
    "Curve",
    "Evaluation",
    "FairnessSummary",
    "GroupFairness",
    "MetricValue",
    "Mistake",
    "ModelScores",
    "PairedDifference",
    "QueryDifference",
    "RankingSummary",
    "RowExplanation",
    "SliceRow",
    "TimePoint",
    "bootstrap",
    "compute_metrics",
    "evaluate",
    "make_scorer",
    "ranking_metric",
]
