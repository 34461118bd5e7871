"""Lift over a baseline: positive means the model is better, whatever the metric's direction."""

from __future__ import annotations

import math

import pytest

from loopline.evaluation._lift import lift, relative_improvement


@pytest.mark.parametrize(
    ("metric", "model", "baseline", "expected"),
    [
        ("roc_auc", 0.8, 0.5, 0.6),
        ("roc_auc", 0.4, 0.5, -0.2),
        ("log_loss", 0.3, 0.4, 0.25),
        ("rmse", 2.0, 1.0, -1.0),
        ("calibration_ratio", 1.1, 1.4, 0.75),
        ("calibration_ratio", 0.9, 1.05, -1.0),
        ("r2", 0.5, -0.5, 2.0),
    ],
)
def test_sign_and_size(metric: str, model: float, baseline: float, expected: float) -> None:
    assert relative_improvement(model, baseline, metric) == pytest.approx(expected)


def test_zero_baseline_gives_nan_unless_equal() -> None:
    assert math.isnan(relative_improvement(0.1, 0.0, "precision"))
    assert math.isnan(relative_improvement(0.02, 1e-17, "ece"))
    assert relative_improvement(0.0, 0.0, "precision") == 0.0


def test_lift_covers_the_metrics_both_have() -> None:
    assert set(lift({"roc_auc": 0.8, "ece": 0.1}, {"roc_auc": 0.5})) == {"roc_auc"}
