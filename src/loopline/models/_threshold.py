"""The decision threshold of a binary model, chosen on validation from the spec's costs or floor.

- ``recall_floor``: the highest threshold whose recall is at least the floor.
- ``precision_floor``: the lowest threshold whose precision is at least the floor.
- otherwise: the threshold minimising ``FP * false_positive_cost + FN * false_negative_cost``.

A row is predicted positive when ``p >= threshold``.
"""

from __future__ import annotations

import numpy as np

from loopline._errors import ModelError
from loopline.spec import DecisionSpec


def choose_threshold(y: np.ndarray, p: np.ndarray, decision: DecisionSpec) -> float:
    """The threshold on ``p`` for labels ``y`` (0/1) under ``decision``."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    # Candidate thresholds: each distinct score; predicting positive for every row with p >= t.
    last = np.r_[np.flatnonzero(np.diff(p_sorted) != 0), len(p_sorted) - 1]
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    thresholds = p_sorted[last]
    positives = y.sum()
    fn = positives - tp
    if decision.recall_floor is not None:
        recall = tp / max(positives, 1)
        ok = np.flatnonzero(recall >= decision.recall_floor)
        return float(thresholds[ok[0]])
    if decision.precision_floor is not None:
        precision = tp / (tp + fp)
        ok = np.flatnonzero(precision >= decision.precision_floor)
        if len(ok) == 0:
            raise ModelError(f"decision.precision_floor {decision.precision_floor} cannot be met on the validation "
                             f"split: the best precision is {precision.max():.3f}. Lower the floor.")
        return float(thresholds[ok[-1]])
    cost = fp * decision.false_positive_cost + fn * decision.false_negative_cost
    # Predicting nothing positive is also a choice: threshold above every score.
    none_cost = positives * decision.false_negative_cost
    best = int(np.argmin(cost))
    if none_cost < cost[best]:
        return float(np.nextafter(p_sorted[0], np.inf))
    return float(thresholds[best])
