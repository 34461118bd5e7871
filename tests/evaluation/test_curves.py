"""Curves against scikit-learn and naive loops."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from statsmodels.stats.proportion import proportion_confint

from loopline.evaluation._curves import (
    COST_THRESHOLDS,
    MAX_SCATTER_POINTS,
    cost_curve,
    other_curves,
    pr_curve,
    predicted_actual,
    quantile_bins,
    reliability_bins,
    reliability_curve,
    roc_curve,
)


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


def test_reliability_bins_hold_equal_counts_with_jeffreys_intervals() -> None:
    y, p = _data(3000, seed=1)
    curve = reliability_curve(y, p)
    counts = curve.counts or []
    assert len(counts) == reliability_bins(3000) == 20
    assert sum(counts) == 3000 and max(counts) - min(counts) <= 1
    # each bin is a run of the sorted predictions: its mean prediction and rate equal a loop over the runs
    order = np.argsort(p, kind="stable")
    start = 0
    for i, count in enumerate(counts):
        rows = order[start:start + count]
        assert curve.x[i] == pytest.approx(p[rows].mean()) and curve.y[i] == pytest.approx(y[rows].mean())
        low, high = proportion_confint(int(y[rows].sum()), count, alpha=0.05, method="jeffreys")
        assert (curve.low or [])[i] == pytest.approx(low) and (curve.high or [])[i] == pytest.approx(high)
        start += count
    assert curve.x == sorted(curve.x)


def test_a_rare_positive_class_still_gives_many_points() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(0.5, 9.5, 2000)  # mean 0.05: nearly every prediction below 0.1
    y = (rng.random(2000) < p).astype(float)
    assert 0.03 < y.mean() < 0.07
    curve = reliability_curve(y, p)
    assert len(curve.x) >= 8
    assert (np.asarray(curve.x) < 0.1).sum() >= 8  # equal-width bins would have put these in one


def test_tied_predictions_share_a_bin_and_the_ends_of_the_interval_are_0_and_1() -> None:
    p = np.r_[np.full(150, 0.1), np.linspace(0.2, 0.9, 250)]
    y = np.r_[np.zeros(150), np.ones(250)]
    curve = reliability_curve(y, p, bins=4)
    assert (curve.counts or [])[0] == 150 and sum(curve.counts or []) == 400  # the boundary moved past the tie
    assert (curve.low or [])[0] == 0.0 and (curve.high or [])[-1] == 1.0
    assert quantile_bins(np.array([0.3, 0.1, 0.2, 0.4]), 2).tolist() == [1, 0, 0, 1]


def test_other_scorers_get_their_own_curves() -> None:
    y, p = _data(150, seed=4)
    found = other_curves(y, [("constant", np.full(150, y.mean())), ("noise", p[::-1].copy())])
    assert sorted(found) == ["pr:constant", "pr:noise", "roc:constant", "roc:noise"]
    assert found["roc:constant"].x == [0.0, 1.0] and found["roc:constant"].y == [0.0, 1.0]
    fpr, tpr, _ = skm.roc_curve(y, p[::-1], drop_intermediate=False)
    assert found["roc:noise"].x == pytest.approx(fpr.tolist()) and found["roc:noise"].y == pytest.approx(tpr.tolist())


def test_predicted_actual_keeps_every_row_up_to_the_cap_then_a_seeded_sample() -> None:
    y = np.arange(10.0)
    small = predicted_actual(y, y * 2)
    assert small.x == (y * 2).tolist() and small.y == y.tolist()
    big = np.arange(12_000.0)
    a, b = predicted_actual(big, big + 1, seed=3), predicted_actual(big, big + 1, seed=3)
    assert len(a.x) == MAX_SCATTER_POINTS == 5000 and a.x == b.x
    assert a.y == sorted(a.y) and all(x - t == 1 for x, t in zip(a.x, a.y, strict=True))


def test_cost_curve_equals_a_loop_over_thresholds() -> None:
    y, p = _data(500, seed=2, ties=True)
    curve = cost_curve(y, p, false_positive_cost=1.0, false_negative_cost=10.0)
    assert curve.x == pytest.approx(COST_THRESHOLDS.tolist())
    assert len(curve.x) == 99 and curve.x[0] == 0.01 and curve.x[-1] == 0.99
    for t, cost in zip(curve.x, curve.y, strict=True):
        chosen = p >= t
        expected = (1.0 * (chosen & (y == 0)).sum() + 10.0 * (~chosen & (y == 1)).sum()) / len(y)
        assert cost == pytest.approx(expected)
