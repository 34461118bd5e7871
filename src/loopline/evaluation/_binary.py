"""Binary classification metrics on probabilities of the positive class.

A :class:`BinaryScorer` is prepared once (sort order, tie groups, per-row losses) and then computes
every metric under a vector of row weights: unit weights give the point estimate, multinomial counts
give one bootstrap resample, so a resample costs a few ``bincount`` and dot products, never a sort.

Conventions (those of scikit-learn): probabilities are clipped to ``[eps, 1 - eps]`` for the log
loss; a row is predicted positive when ``p >= threshold``; precision is 0 when nothing is predicted
positive; ROC AUC and average precision treat tied scores as one threshold.

>>> import numpy as np
>>> s = BinaryScorer(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.1, 0.4, 0.35, 0.8]))
>>> s.compute()["roc_auc"], s.compute()["accuracy"]
(0.75, 0.75)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from loopline.evaluation._sums import dot
from loopline.spec import METRICS

_EPS = float(np.finfo(np.float64).eps)
ECE_BINS = 10


ECE_EDGES = np.arange(ECE_BINS + 1) / ECE_BINS
"""The bin edges ``k / 10``, each the double nearest to k/10 (so ``ECE_EDGES[3] == 0.3``; ``np.linspace``
would give 0.30000000000000004 and put a prediction of exactly 0.3 in the bin below)."""


def ece_bins(p: np.ndarray) -> np.ndarray:
    """The equal-width bin of each probability: [0, 0.1), [0.1, 0.2), ..., [0.8, 0.9), [0.9, 1.0].

    Bin ``k`` holds ``k/10 <= p < (k+1)/10`` and the last bin also holds 1; an edge is the double
    nearest to ``k/10``, so a probability written as 0.3 (or computed as 3/10) starts bin 3, exactly
    as the decimal it stands for would. Values outside [0, 1] go to the nearest end bin.

    >>> ece_bins(np.array([0.0, 0.1, 0.29999999999999993, 0.3, 0.6, 0.7, 0.95, 1.0])).tolist()
    [0, 1, 2, 3, 6, 7, 9, 9]
    """
    return np.clip(np.searchsorted(ECE_EDGES, p, side="right") - 1, 0, ECE_BINS - 1)


def entropy(rate: float) -> float:
    """The entropy (nats) of a Bernoulli with probability ``rate``; NaN at 0 and 1."""
    if not 0.0 < rate < 1.0:
        return float("nan")
    return float(-(rate * np.log(rate) + (1.0 - rate) * np.log(1.0 - rate)))


class BinaryScorer:
    """Every binary metric of ``p`` against 0/1 labels ``y``, under any row weights.

    Rows are kept sorted by score, so tie groups, ECE bins and the rows above the threshold are
    contiguous runs: a weighted metric is a gather, a few cumulative sums and dot products.
    """

    def __init__(self, y: np.ndarray, p: np.ndarray, *, threshold: float = 0.5,
                 names: Sequence[str] | None = None) -> None:
        self.names = tuple(names) if names is not None else METRICS["binary"]
        self.units = len(y)
        self._order = np.argsort(p, kind="stable")
        self._y = y[self._order]
        self._p = p[self._order]
        new = np.ones(len(p), dtype=bool)
        new[1:] = self._p[1:] != self._p[:-1]
        self._ties = None if new.all() else np.flatnonzero(new)
        clipped = np.clip(self._p, _EPS, 1.0 - _EPS)
        self._loss = -(self._y * np.log(clipped) + (1.0 - self._y) * np.log(1.0 - clipped))
        self._squared = (self._p - self._y) ** 2
        starts = np.unique(np.searchsorted(ece_bins(self._p), np.arange(ECE_BINS)))
        self._bin_starts = starts[starts < len(p)]  # where each non-empty ECE bin begins
        self._cut = int(np.searchsorted(self._p, threshold, side="left"))  # rows >= cut are predicted positive

    def compute(self, weights: np.ndarray | None = None) -> dict[str, float]:
        w = np.ones(self.units) if weights is None else weights[self._order]
        y, p = self._y, self._p
        wy = w * y
        total = float(w.sum())
        positives = float(wy.sum())
        negatives = total - positives
        out: dict[str, float] = {}
        want = set(self.names)
        if want & {"roc_auc", "pr_auc"}:
            pos, neg = wy, w - wy
            if self._ties is not None:
                pos, neg = np.add.reduceat(pos, self._ties), np.add.reduceat(neg, self._ties)
            out["roc_auc"], out["pr_auc"] = _auc_and_ap(pos, neg, positives, negatives)
        if want & {"log_loss", "normalized_entropy"}:
            out["log_loss"] = dot(w, self._loss) / total
            out["normalized_entropy"] = out["log_loss"] / entropy(positives / total)
        if "brier" in want:
            out["brier"] = dot(w, self._squared) / total
        if "ece" in want:
            gap = np.add.reduceat(w * p - wy, self._bin_starts)
            out["ece"] = float(np.abs(gap).sum()) / total
        if "calibration_ratio" in want:
            out["calibration_ratio"] = dot(w, p) / positives if positives > 0 else float("nan")
        if want & {"precision", "recall", "f1", "accuracy"}:
            chosen = float(w[self._cut:].sum())
            tp = float(wy[self._cut:].sum())
            fp = chosen - tp
            fn = positives - tp
            tn = negatives - fp
            out["precision"] = tp / chosen if chosen > 0 else 0.0
            out["recall"] = tp / positives if positives > 0 else float("nan")
            out["f1"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0
            out["accuracy"] = (tp + tn) / total
        return {name: out[name] for name in self.names}


def confusion(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, int]:
    """Counts of true/false negatives/positives when ``p >= threshold`` is predicted positive."""
    chosen = p >= threshold
    positive = y == 1
    return {
        "tn": int((~chosen & ~positive).sum()),
        "fp": int((chosen & ~positive).sum()),
        "fn": int((~chosen & positive).sum()),
        "tp": int((chosen & positive).sum()),
    }


def _auc_and_ap(pos: np.ndarray, neg: np.ndarray, positives: float, negatives: float) -> tuple[float, float]:
    """ROC AUC and average precision from the positive and negative weight at each distinct score
    (ascending), with one cumulative sum of each.

    AUC is Mann-Whitney's P(score of a positive > score of a negative), ties counting one half.
    Average precision sums, over thresholds, the recall step times the precision at the threshold.
    """
    if positives <= 0:
        return float("nan"), float("nan")
    cum_pos, cum_neg = np.cumsum(pos), np.cumsum(neg)
    below = cum_neg - neg
    auc = dot(pos, below + 0.5 * neg) / (positives * negatives) if negatives > 0 else float("nan")
    tp = positives - cum_pos + pos  # positives scored at or above each threshold
    chosen = tp + negatives - below  # rows scored at or above each threshold
    precision = tp / np.maximum(chosen, np.finfo(np.float64).tiny)
    return auc, dot(pos, precision) / positives
