"""Curves against scikit-learn and naive loops."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from sklearn import metrics as skm

from loopline.evaluation._curves import COST_THRESHOLDS, cost_curve, pr_curve, reliability_curve, roc_curve


def _data(n: int, seed: int = 0, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n)
    if ties:
        p = np.round(p, 2)
    return (rng.random(n) < p).astype(float), p


@pytest.mark.parametrize("ties", [False, True])
def test_roc_and_pr_equal_sklearn_when_small(ties: bool) -> None:
    y, p = _data(150, ties=ties)
    roc = roc_curve(y, p, max_points=10_000)
    fpr, tpr, thresholds = skm.roc_curve(y, p, drop_intermediate=False)
    assert roc.x == pytest.approx(fpr.tolist()) and roc.y == pytest.approx(tpr.tolist())
    assert roc.thresholds == pytest.approx(thresholds.tolist())
    pr = pr_curve(y, p, max_points=10_000)
    precision, recall, cuts = skm.precision_recall_curve(y, p)
    # sklearn lists thresholds ascending and appends the (recall 0, precision 1) end point
    assert pr.x == pytest.approx(recall[:-1][::-1].tolist())
    assert pr.y == pytest.approx(precision[:-1][::-1].tolist())
    assert pr.thresholds == pytest.approx(cuts[::-1].tolist())


def test_long_curves_are_thinned_keeping_both_ends() -> None:
    y, p = _data(20_000)
    roc, pr = roc_curve(y, p), pr_curve(y, p)
    assert len(roc.x) <= 200 and len(pr.x) <= 200
    assert (roc.x[0], roc.y[0], roc.x[-1], roc.y[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert pr.x[-1] == 1.0 and pr.y[-1] == pytest.approx(y.mean())
    assert roc.x == sorted(roc.x)


def test_reliability_bins() -> None:
    y, p = _data(3000, seed=1)
    p[:30] = np.repeat([0.1, 0.3, 0.6, 0.7, 0.9, 1.0], 5)  # exact edges: each starts its own bin
    curve = reliability_curve(y, p)
    assert sum(curve.counts or []) == 3000
    bins = np.array([min(math.floor(Fraction(repr(v)) * 10), 9) for v in p.tolist()])
    i = 0
    for b in range(10):
        rows = bins == b
        if rows.any():
            assert curve.x[i] == pytest.approx(p[rows].mean())
            assert curve.y[i] == pytest.approx(y[rows].mean())
            assert (curve.counts or [])[i] == rows.sum()
            i += 1
    assert i == len(curve.x)


def test_cost_curve_equals_a_loop_over_thresholds() -> None:
    y, p = _data(500, seed=2, ties=True)
    curve = cost_curve(y, p, false_positive_cost=1.0, false_negative_cost=10.0)
    assert curve.x == pytest.approx(COST_THRESHOLDS.tolist())
    assert len(curve.x) == 99 and curve.x[0] == 0.01 and curve.x[-1] == 0.99
    for t, cost in zip(curve.x, curve.y, strict=True):
        chosen = p >= t
        expected = (1.0 * (chosen & (y == 0)).sum() + 10.0 * (~chosen & (y == 1)).sum()) / len(y)
        assert cost == pytest.approx(expected)
