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
