"""The one place that says which way each metric is better."""

from __future__ import annotations

import doctest
import math

import pytest

import loopline.spec._metrics as metrics_module
from loopline._errors import SpecError
from loopline.spec import DIRECTION, METRICS, describe_direction, is_better, metric_direction, metric_loss, ranking_loss


def test_every_metric_of_every_task_has_a_direction() -> None:
    assert {m for names in METRICS.values() for m in names} == set(DIRECTION)


@pytest.mark.parametrize(("metric", "better", "worse"), [
    ("roc_auc", 0.8, 0.7), ("r2", 0.1, -0.3), ("ndcg", 0.5, 0.4), ("accuracy", 0.9, 0.8),
    ("log_loss", 0.3, 0.4), ("ece", 0.01, 0.02), ("rmse", 1.0, 2.0),
    ("calibration_ratio", 0.97, 1.2), ("calibration_ratio", 0.97, 0.5), ("calibration_ratio", 1.2, 0.5),
    ("calibration_ratio", 1.0, 0.999), ("calibration_ratio", 1.9, 0.5), ("calibration_ratio", 0.01, 0.0),
])
def test_is_better_follows_the_metric_direction(metric: str, better: float, worse: float) -> None:
    assert is_better(metric, better, worse)
    assert not is_better(metric, worse, better)
    assert not is_better(metric, better, better)
    assert metric_loss(metric, better) < metric_loss(metric, worse)


def test_calibration_ratio_is_best_at_one_and_symmetric_in_log() -> None:
    assert metric_loss("calibration_ratio", 1.0) == 0.0
    assert metric_loss("calibration_ratio", 2.0) == pytest.approx(metric_loss("calibration_ratio", 0.5))
    assert metric_loss("calibration_ratio", 1.3) == pytest.approx(math.log(1.3))
    assert metric_loss("calibration_ratio", 0.0) == math.inf
    assert describe_direction("calibration_ratio") == "closest to 1 is better"
    assert metric_direction("calibration_ratio") == "one"


def test_undefined_values_are_never_better() -> None:
    nan = float("nan")
    for metric in ("roc_auc", "log_loss", "calibration_ratio"):
        assert not is_better(metric, nan, 0.5)
        assert is_better(metric, 0.5, nan)
        assert not is_better(metric, nan, nan)
        assert ranking_loss(metric, nan) == math.inf
    assert sorted([1.4, float("nan"), 0.95, 0.6], key=lambda v: ranking_loss("calibration_ratio", v))[:3] == [
        0.95, 1.4, 0.6]


def test_an_unknown_metric_is_refused_with_the_known_names() -> None:
    with pytest.raises(SpecError, match=r"metric 'hit_rate' is not one loopline computes.*use one of accuracy"):
        metric_loss("hit_rate", 0.3)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(metrics_module).failed == 0
