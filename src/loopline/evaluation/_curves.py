"""Curves of a binary model: ROC, precision-recall, reliability and expected cost by threshold.

ROC and PR are computed at every distinct score (as ``sklearn.metrics.roc_curve`` without
dropping points) and then thinned to at most ``max_points``, always keeping both ends.
"""

from __future__ import annotations

import numpy as np

from loopline.evaluation._binary import ECE_BINS, ece_bins
from loopline.evaluation._types import Curve

MAX_POINTS = 200
COST_THRESHOLDS = np.round(np.arange(1, 100) / 100, 2)


def _counts_at_thresholds(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores descending, with true and false positives when predicting ``p >= score``."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last = np.r_[ps[1:] != ps[:-1], True]
    tp = np.cumsum(ys)[last]
    fp = np.cumsum(1.0 - ys)[last]
    return ps[last], tp, fp


def _thin(n: int, max_points: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.intp))


def roc_curve(y: np.ndarray, p: np.ndarray, *, max_points: int = MAX_POINTS) -> Curve:
    """False positive rate (x) against true positive rate (y), starting at (0, 0)."""
    thresholds, tp, fp = _counts_at_thresholds(y, p)
    fpr = np.r_[0.0, fp / max(fp[-1], 1.0)]
    tpr = np.r_[0.0, tp / max(tp[-1], 1.0)]
    cuts = np.r_[np.inf, thresholds]
    keep = _thin(len(fpr), max_points)
    return Curve(x=fpr[keep].tolist(), y=tpr[keep].tolist(), thresholds=cuts[keep].tolist())


def pr_curve(y: np.ndarray, p: np.ndarray, *, max_points: int = MAX_POINTS) -> Curve:
    """Recall (x) against precision (y), from the highest threshold down."""
    thresholds, tp, fp = _counts_at_thresholds(y, p)
    recall = tp / max(tp[-1], 1.0)
    precision = tp / (tp + fp)
    keep = _thin(len(recall), max_points)
    return Curve(x=recall[keep].tolist(), y=precision[keep].tolist(), thresholds=thresholds[keep].tolist())


def reliability_curve(y: np.ndarray, p: np.ndarray) -> Curve:
    """Mean prediction (x) against observed positive rate (y) in the 10 equal-width ECE bins (``ece_bins``:
    [k/10, (k+1)/10), the last closed, so 0.3 starts the fourth bin); empty bins left out."""
    bins = ece_bins(p)
    counts = np.bincount(bins, minlength=ECE_BINS)
    filled = counts > 0
    mean_p = np.bincount(bins, weights=p, minlength=ECE_BINS)[filled] / counts[filled]
    rate = np.bincount(bins, weights=y, minlength=ECE_BINS)[filled] / counts[filled]
    return Curve(x=mean_p.tolist(), y=rate.tolist(), counts=counts[filled].astype(int).tolist())


def cost_curve(y: np.ndarray, p: np.ndarray, *, false_positive_cost: float, false_negative_cost: float,
               thresholds: np.ndarray = COST_THRESHOLDS) -> Curve:
    """Expected cost per row (y) of deciding positive when ``p >= threshold`` (x)."""
    positives = np.sort(p[y == 1])
    negatives = np.sort(p[y == 0])
    fn = np.searchsorted(positives, thresholds, side="left")  # positives below the threshold
    fp = len(negatives) - np.searchsorted(negatives, thresholds, side="left")
    cost = (false_positive_cost * fp + false_negative_cost * fn) / len(y)
    return Curve(x=thresholds.tolist(), y=cost.tolist(), thresholds=thresholds.tolist())
