"""The decision threshold of a binary model, chosen on validation from the spec's costs or floor.

A row is predicted positive when ``p >= threshold``. The candidates are the distinct predicted
values (each one makes every row scored at least that high positive), plus one just above the
highest score (nothing positive). The threshold returned for a chosen value lies halfway down to the
next lower distinct value (to 0 below the lowest): it makes exactly the same decisions on validation,
and a score computed another way (the compiled serving path, a last-bit difference) cannot flip a
whole plateau of tied scores, as calibrated (isotonic) scores have.

- ``decision.recall_floor``: the highest threshold whose recall is at least the floor;
- ``decision.precision_floor``: the lowest threshold whose precision is at least the floor;
- otherwise the threshold minimising ``FP * false_positive_cost + FN * false_negative_cost``
  (ties go to the highest threshold).

>>> from loopline.spec import DecisionSpec
>>> y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
>>> choose_threshold(y, p, DecisionSpec())
0.75
>>> choose_threshold(y, p, DecisionSpec(false_negative_cost=5.0))
0.25
>>> choose_threshold(y, p, DecisionSpec(recall_floor=1.0))
0.25
"""

from __future__ import annotations

import numpy as np

from loopline._errors import ModelError
from loopline.spec import DecisionSpec


def choose_threshold(y: np.ndarray, p: np.ndarray, decision: DecisionSpec) -> float:
    """The threshold on the probabilities ``p`` for the 0/1 labels ``y`` under ``decision``."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if len(y) != len(p) or len(y) == 0:
        raise ModelError(f"choosing a threshold needs one probability per label and at least one row; got "
                         f"{len(p)} probabilities for {len(y)} labels")
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(p_sorted) != 0), len(p_sorted) - 1]  # last row of each distinct value
    values = p_sorted[last]  # descending
    thresholds = (values + np.r_[values[1:], 0.0]) / 2.0  # halfway down to the next lower value
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    positives = float(y.sum())
    if decision.recall_floor is not None:
        if positives == 0:
            raise ModelError("decision.recall_floor cannot be met: the validation split has no positive rows. "
                             "Move the split dates so validation holds positives, or remove the floor.")
        ok = np.flatnonzero(tp / positives >= decision.recall_floor - 1e-12)
        return float(thresholds[ok[0]])
    if decision.precision_floor is not None:
        precision = tp / (tp + fp)
        ok = np.flatnonzero(precision >= decision.precision_floor - 1e-12)
        if len(ok) == 0:
            raise ModelError(f"decision.precision_floor {decision.precision_floor} cannot be met on the validation "
                             f"split: the best precision any threshold reaches is {precision.max():.4f}. Lower the "
                             "floor, or improve the model.")
        return float(thresholds[ok[-1]])
    cost = fp * decision.false_positive_cost + (positives - tp) * decision.false_negative_cost
    nothing = positives * decision.false_negative_cost  # threshold above every score
    best = int(np.argmin(cost))
    if nothing <= cost[best]:
        return float(min(1.0, p_sorted[0] + 1e-9)) if p_sorted[0] < 1.0 else float(np.nextafter(1.0, np.inf))
    return float(thresholds[best])
