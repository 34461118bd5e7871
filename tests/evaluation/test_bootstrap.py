"""Bootstrap intervals: contain the estimate, shrink with n, repeat with the seed, resample queries."""

from __future__ import annotations

import time

import numpy as np
import pytest

from loopline.evaluation import bootstrap
from loopline.spec import METRICS


def _binary(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n)
    return (rng.random(n) < p).astype(int), p


def test_interval_contains_the_estimate_for_every_binary_metric() -> None:
    y, p = _binary(2000)
    found = bootstrap("binary", y, p, metrics=METRICS["binary"], n_boot=100)
    assert list(found) == list(METRICS["binary"])
    for name, v in found.items():
        assert v.low is not None and v.high is not None, name
        assert v.low <= v.value <= v.high, name
        assert v.low < v.high, name


def test_interval_of_a_calibrated_ece_is_stretched_to_its_estimate() -> None:
    """ECE is biased upwards under resampling; the reported interval still holds the estimate."""
    p = np.repeat([0.25, 0.75], 400)
    y = np.r_[np.ones(100), np.zeros(300), np.ones(300), np.zeros(100)]  # calibrated to the row
    ece = bootstrap("binary", y, p, metrics=["ece"], n_boot=50)["ece"]
    assert ece.value == pytest.approx(0.0, abs=1e-12)
    assert ece.low == ece.value < ece.high  # type: ignore[operator]


def test_width_shrinks_with_more_rows() -> None:
    widths = []
    for n in (500, 5000, 50000):
        y, p = _binary(n, seed=1)
        v = bootstrap("binary", y, p, metrics=["roc_auc"], n_boot=100)["roc_auc"]
        widths.append(v.high - v.low)  # type: ignore[operator]
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(10, rel=0.35)  # ~ 1/sqrt(n)


def test_same_seed_same_interval_and_point_estimate_is_unchanged() -> None:
    y, p = _binary(1000)
    a = bootstrap("binary", y, p, metrics=["roc_auc", "log_loss"], seed=3, n_boot=50)
    b = bootstrap("binary", y, p, metrics=["roc_auc", "log_loss"], seed=3, n_boot=50)
    c = bootstrap("binary", y, p, metrics=["roc_auc", "log_loss"], seed=4, n_boot=50)
    assert a == b and a != c
    assert a["roc_auc"].value == c["roc_auc"].value


def test_no_resampling_gives_bare_estimates() -> None:
    y, p = _binary(100)
    found = bootstrap("binary", y, p, metrics=["brier"], n_boot=0)
    assert list(found) == ["brier"] and (found["brier"].low, found["brier"].high) == (None, None)
    assert found["brier"].value == pytest.approx(np.mean((p - y) ** 2))


def test_ranking_resamples_whole_queries() -> None:
    """Every query is a copy of the same three items, so resampling queries cannot move the metrics;
    resampling rows would."""
    groups = np.repeat(np.arange(200), 3)
    rel = np.tile([1, 0, 1], 200)
    score = np.tile([0.9, 0.8, 0.1], 200)
    found = bootstrap("ranking", rel, score, groups=groups, metrics=["ndcg", "map", "mrr"], n_boot=50)
    for v in found.values():
        assert v.low == pytest.approx(v.value) and v.high == pytest.approx(v.value)


def test_regression_and_multiclass_intervals() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=1000)
    reg = bootstrap("regression", y, y + rng.normal(size=1000), metrics=["rmse", "r2"], n_boot=50)
    assert reg["rmse"].low < 1.0 < reg["rmse"].high  # type: ignore[operator]
    proba = rng.dirichlet([1, 1, 1], 500)
    labels = proba.argmax(axis=1)
    multi = bootstrap("multiclass", labels, proba, metrics=["accuracy", "macro_f1"], n_boot=30)
    assert multi["accuracy"].value == 1.0 and multi["accuracy"].low == 1.0


@pytest.mark.slow
def test_auc_bootstrap_of_200k_rows_takes_seconds() -> None:
    y, p = _binary(200_000)
    start = time.perf_counter()
    v = bootstrap("binary", y, p, metrics=["roc_auc"], n_boot=200)["roc_auc"]
    assert time.perf_counter() - start < 15
    assert v.high - v.low < 0.01  # type: ignore[operator]
