"""Lift over a baseline: positive means the model is better, whatever the metric's direction, and a
percentage only where a ratio to the baseline means something."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest

from loopline.evaluation._lift import improvement, improvement_of, lift, relative_improvement


@pytest.mark.parametrize(
    ("metric", "model", "baseline", "expected"),
    [
        ("roc_auc", 0.8, 0.5, 0.6),
        ("roc_auc", 0.4, 0.5, -0.2),
        ("log_loss", 0.3, 0.4, 0.25),
        ("rmse", 2.0, 1.0, -1.0),
        ("ndcg", 0.45, 0.3, 0.5),
    ],
)
def test_sign_and_size(metric: str, model: float, baseline: float, expected: float) -> None:
    assert relative_improvement(model, baseline, metric) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("metric", "model", "baseline", "expected"),
    [
        ("r2", 0.41, 0.0006, 0.4094),
        ("r2", 0.5, -0.5, 1.0),
        ("ece", 0.0125, 0.002, -0.0105),
        ("calibration_ratio", 1.1, 1.4, math.log(1.4) - math.log(1.1)),
        ("calibration_ratio", 0.9, 1.05, math.log(1.05) + math.log(0.9)),
        ("log_loss", 0.3, 0.4, 0.1),
        ("roc_auc", 0.8, 0.5, 0.3),
    ],
)
def test_improvement_is_in_the_metric_units(metric: str, model: float, baseline: float, expected: float) -> None:
    assert improvement_of(model, baseline, metric) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("metric", "model", "baseline"),
    [
        ("r2", 0.41, 0.0006),  # once shown as "+67251%"
        ("ece", 0.0125, 0.002),  # once shown as "-525%"
        ("calibration_ratio", 1.1, 1.4),
        ("r2", 0.5, -0.5),
        ("precision", 0.3, 0.0),  # a [0, 1] metric with its baseline at 0 ...
        ("recall", 0.3, 0.009),  # ... or within 1% of its range of 0
        ("rmse", 2.0, 0.019),  # an unbounded loss: baseline below 1% of the larger value
        ("log_loss", float("nan"), 0.4),
    ],
)
def test_no_percentage_where_it_would_mean_nothing(metric: str, model: float, baseline: float) -> None:
    assert relative_improvement(model, baseline, metric) is None
    assert metric not in lift({metric: model}, {metric: baseline})
    assert metric in improvement({metric: model}, {metric: baseline})


def test_near_zero_is_relative_to_the_metric_scale() -> None:
    assert relative_improvement(0.3, 0.01, "recall") == pytest.approx(29.0)
    assert relative_improvement(0.002, 0.0021, "rmse") == pytest.approx(0.1 / 2.1)
    assert relative_improvement(2.0, 0.021, "rmse") == pytest.approx(-1.979 / 0.021)
    assert relative_improvement(0.0, 0.0, "precision") is None


def test_lift_covers_the_metrics_both_have() -> None:
    assert set(lift({"roc_auc": 0.8, "ece": 0.1}, {"roc_auc": 0.5})) == {"roc_auc"}
    assert set(improvement({"roc_auc": 0.8, "ece": 0.1}, {"roc_auc": 0.5, "ece": 0.0})) == {"roc_auc", "ece"}


@pytest.mark.parametrize("module", ["_lift", "_binary"])
def test_docstring_examples_run(module: str) -> None:
    found = importlib.import_module(f"loopline.evaluation.{module}")
    assert doctest.testmod(found).failed == 0


def test_paired_improvement_is_a_bootstrap_of_the_difference_on_shared_resamples() -> None:
    import numpy as np

    from loopline.evaluation import compute_metrics, make_scorer
    from loopline.evaluation._lift import paired_improvement

    rng = np.random.default_rng(0)
    n = 2000
    y = (rng.random(n) < 0.3).astype(float)
    champion = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.15, n), 0.01, 0.99)
    model = np.clip(champion + 0.05 * (y - 0.3) + rng.normal(0, 0.02, n), 0.01, 0.99)
    found = paired_improvement(make_scorer("binary", y, model, names=["log_loss"]),
                               make_scorer("binary", y, champion, names=["log_loss"]), "log_loss",
                               other_name="champion v1", n_boot=200, seed=3)
    ours, theirs = (compute_metrics("binary", y, p, names=["log_loss"])["log_loss"] for p in (model, champion))
    assert (found.other, found.metric) == ("champion v1", "log_loss")
    assert found.model_value == pytest.approx(ours) and found.improvement == pytest.approx(theirs - ours)
    # the oracle: the same resamples drawn by hand, both models scored on each
    draw = np.random.default_rng(3)
    diffs = []
    for _ in range(200):
        rows = draw.integers(0, n, n)
        diffs.append(compute_metrics("binary", y[rows], champion[rows], names=["log_loss"])["log_loss"]
                     - compute_metrics("binary", y[rows], model[rows], names=["log_loss"])["log_loss"])
    low, high = np.percentile(diffs, [2.5, 97.5])
    assert found.low == pytest.approx(low, rel=1e-9) and found.high == pytest.approx(high, rel=1e-9)
    assert found.low is not None and found.low > 0  # a real improvement, seen through the shared noise
    # the paired interval is far narrower than the two models' separate intervals would suggest
    other = np.random.default_rng(4)
    alone = np.std([compute_metrics("binary", y[r], model[r], names=["log_loss"])["log_loss"]
                    for r in (other.integers(0, n, n) for _ in range(100))])
    assert (found.high - found.low) < 1.96 * alone
