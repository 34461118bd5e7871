"""Group fairness of a binary decision ``p >= threshold`` across the values of a sensitive attribute.

Per group: selection rate, true and false positive rates (None when the group has no positives,
resp. no negatives) and calibration ratio (sum of p / number of positives; None without positives).
Demographic parity difference is the range of selection rates; equalized odds difference is the
larger of the TPR range and the FPR range over the groups where each is defined (as fairlearn's
``equalized_odds_difference``). Groups are formed as slices are (quartiles for continuous numbers,
the 20 largest groups otherwise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopline.evaluation._slices import slice_labels
from loopline.evaluation._types import FairnessSummary, GroupFairness


def group_fairness(name: str, y: np.ndarray, p: np.ndarray, threshold: float) -> GroupFairness:
    chosen = p >= threshold
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    return GroupFairness(
        group=name,
        rows=len(y),
        selection_rate=float(chosen.mean()),
        true_positive_rate=float(chosen[positive].mean()) if n_pos else None,
        false_positive_rate=float(chosen[~positive].mean()) if n_neg else None,
        calibration_ratio=float(p.sum() / n_pos) if n_pos else None,
    )


def fairness(attribute: str, values: pd.Series, y: np.ndarray, p: np.ndarray, threshold: float) -> FairnessSummary:
    """Fairness of the decision across the groups of ``values`` (one per row of ``y`` and ``p``)."""
    labels, kept = slice_labels(values)
    groups = [group_fairness(g, y[labels == g], p[labels == g], threshold) for g in kept]
    selection = [g.selection_rate for g in groups]
    tpr = [g.true_positive_rate for g in groups if g.true_positive_rate is not None]
    fpr = [g.false_positive_rate for g in groups if g.false_positive_rate is not None]
    ranges = [max(r) - min(r) for r in (tpr, fpr) if r]
    return FairnessSummary(
        attribute=attribute,
        demographic_parity_difference=max(selection) - min(selection),
        equalized_odds_difference=max(ranges) if ranges else None,
        groups=groups,
    )
