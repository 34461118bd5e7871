"""Curves of a binary model: ROC, precision-recall, reliability and expected cost by threshold.

ROC and PR are computed at every distinct score (as ``sklearn.metrics.roc_curve`` without
dropping points) and then thinned to at most ``max_points``, always keeping both ends.

The reliability curve uses quantile (equal-count) bins, so a rare positive class (a 5% base rate,
where nearly every prediction is below 0.1) still gives many points: ``reliability_bins(n)`` bins of
about ``n / bins`` rows each (at least ``MIN_BIN_ROWS`` = 50 rows a bin, at most ``MAX_BINS`` = 20
bins). Equal predictions always share a bin, so with ties a bin may hold more rows. Each point
carries its row count and the Jeffreys 95% interval of its observed rate (the Beta(k + 1/2,
n - k + 1/2) quantiles, with 0 and 1 as ends when k = 0 or k = n, as Brown, Cai and DasGupta 2001
recommend and ``statsmodels.stats.proportion.proportion_confint(method="jeffreys")`` computes).

The other scorers evaluated on the same rows get their own ROC and PR curves (``roc:<name>``,
``pr:<name>``). A regression gets the predicted-against-actual points (``predicted_actual``) of at most
``MAX_SCATTER_POINTS`` = 5,000 rows, a seeded random sample beyond that.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import beta

from loopline.evaluation._types import Curve

MAX_POINTS = 200
MAX_SCATTER_POINTS = 5000
MAX_BINS = 20
MIN_BIN_ROWS = 50
LEVEL = 0.95
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


def reliability_bins(n: int) -> int:
    """How many equal-count bins the reliability curve of ``n`` rows uses.

    >>> reliability_bins(60), reliability_bins(700), reliability_bins(100_000)
    (1, 14, 20)
    """
    return max(1, min(MAX_BINS, n // MIN_BIN_ROWS))


def quantile_bins(p: np.ndarray, bins: int) -> np.ndarray:
    """Each row's bin (0 = lowest predictions): ``bins`` bins of equal count by rank, each boundary moved
    up to the end of a run of equal predictions so ties share a bin (bins left empty by that are dropped)."""
    n = len(p)
    order = np.argsort(p, kind="stable")
    ps = p[order]
    cuts = np.round(np.arange(1, bins) * n / bins).astype(np.intp)
    cuts = np.searchsorted(ps, ps[np.clip(cuts - 1, 0, max(n - 1, 0))], side="right") if n else cuts
    edges = np.unique(np.r_[0, cuts, n])
    sorted_bin = np.repeat(np.arange(len(edges) - 1), np.diff(edges))
    out = np.empty(n, dtype=np.intp)
    out[order] = sorted_bin
    return out


def jeffreys_interval(positives: np.ndarray, rows: np.ndarray, *,
                      level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The Jeffreys interval of ``positives / rows`` per entry (0 and 1 at the ends, as statsmodels)."""
    tail = (1.0 - level) / 2
    low = np.where(positives > 0, beta.ppf(tail, positives + 0.5, rows - positives + 0.5), 0.0)
    high = np.where(positives < rows, beta.ppf(1.0 - tail, positives + 0.5, rows - positives + 0.5), 1.0)
    return low, high


def reliability_curve(y: np.ndarray, p: np.ndarray, *, bins: int | None = None) -> Curve:
    """Mean prediction (x) against observed positive rate (y) in equal-count bins (:func:`quantile_bins`,
    ``reliability_bins(len(p))`` of them unless ``bins`` is given), with each bin's row count and the
    Jeffreys 95% interval of its rate."""
    index = quantile_bins(p, reliability_bins(len(p)) if bins is None else bins)
    used = int(index.max()) + 1 if len(index) else 0
    counts = np.bincount(index, minlength=used)
    mean_p = np.bincount(index, weights=p, minlength=used) / counts
    positives = np.bincount(index, weights=y, minlength=used)
    low, high = jeffreys_interval(positives, counts.astype(np.float64))
    return Curve(x=mean_p.tolist(), y=(positives / counts).tolist(), counts=counts.astype(int).tolist(),
                 low=low.tolist(), high=high.tolist())


def cost_curve(y: np.ndarray, p: np.ndarray, *, false_positive_cost: float, false_negative_cost: float,
               thresholds: np.ndarray = COST_THRESHOLDS) -> Curve:
    """Expected cost per row (y) of deciding positive when ``p >= threshold`` (x)."""
    positives = np.sort(p[y == 1])
    negatives = np.sort(p[y == 0])
    fn = np.searchsorted(positives, thresholds, side="left")  # positives below the threshold
    fp = len(negatives) - np.searchsorted(negatives, thresholds, side="left")
    cost = (false_positive_cost * fp + false_negative_cost * fn) / len(y)
    return Curve(x=thresholds.tolist(), y=cost.tolist(), thresholds=thresholds.tolist())


def other_curves(y: np.ndarray, predictions: Sequence[tuple[str, np.ndarray]]) -> dict[str, Curve]:
    """ROC and PR curves of the other scorers on the same rows (baselines, candidates, the champion,
    references), under the keys ``roc:<name>`` and ``pr:<name>``."""
    out: dict[str, Curve] = {}
    for name, p in predictions:
        scores = np.asarray(p, dtype=np.float64)
        if scores.ndim != 1 or len(scores) != len(y) or not np.isfinite(scores).all():
            continue
        out[f"roc:{name}"] = roc_curve(y, scores)
        out[f"pr:{name}"] = pr_curve(y, scores)
    return out


def predicted_actual(y: np.ndarray, prediction: np.ndarray, *, seed: int = 0,
                     max_points: int = MAX_SCATTER_POINTS) -> Curve:
    """Regression: prediction (x) against the actual value (y) of each row, or of a seeded random sample
    of ``max_points`` rows (kept in row order) when there are more; the residual is ``y - x``."""
    rows = np.arange(len(y))
    if len(rows) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(len(y), max_points, replace=False))
    return Curve(x=np.asarray(prediction, dtype=np.float64)[rows].tolist(),
                 y=np.asarray(y, dtype=np.float64)[rows].tolist())
