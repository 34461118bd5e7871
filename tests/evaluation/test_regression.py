"""Regression metrics against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from loopline._errors import EvaluationError
from loopline.evaluation import compute_metrics
from loopline.evaluation._regression import RegressionScorer


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.gamma(2.0, 10.0, 500)
    pred = y + rng.normal(0, 5, 500)
    m = compute_metrics("regression", y, pred)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)), abs=1e-9)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), abs=1e-9)
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred), abs=1e-9)


def test_constant_label_r2_follows_sklearn() -> None:
    y = np.full(4, 3.0)
    assert compute_metrics("regression", y, y)["r2"] == skm.r2_score(y, y) == 1.0
    assert compute_metrics("regression", y, y + 1)["r2"] == skm.r2_score(y, y + 1) == 0.0


def test_weights_equal_repeated_rows_and_order_does_not_matter() -> None:
    rng = np.random.default_rng(3)
    y, pred = rng.normal(size=200), rng.normal(size=200)
    counts = rng.poisson(1.0, 200)
    weighted = RegressionScorer(y, pred).compute(counts.astype(float))
    repeated = compute_metrics("regression", np.repeat(y, counts), np.repeat(pred, counts))
    assert weighted == pytest.approx(repeated, abs=1e-12)
    order = rng.permutation(200)
    assert compute_metrics("regression", y[order], pred[order]) == pytest.approx(
        compute_metrics("regression", y, pred), abs=1e-12)


def test_non_numeric_labels_are_refused() -> None:
    with pytest.raises(EvaluationError, match="labels of the data must be numbers, got values like a"):
        compute_metrics("regression", np.array(["a", "b"], dtype=object), np.array([1.0, 2.0]))
