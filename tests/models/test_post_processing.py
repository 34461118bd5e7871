"""Calibration kept only when it helps, thresholds against brute force, explanations that add up."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from loopline import ModelError
from loopline.models import choose_calibrator, choose_threshold, train_candidates
from loopline.spec import DecisionSpec
from tests.models.samples import spec, splits


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_calibration_is_kept_for_an_overconfident_model_and_dropped_for_a_calibrated_one() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, 20_000)
    y = (rng.random(len(z)) < _sigmoid(z)).astype(int)
    kept, losses = choose_calibrator("auto", _sigmoid(3 * z), y, seed=0)  # three times too sharp
    assert kept is not None and losses[kept.method] < losses["none"]
    assert log_loss(y, kept.apply(_sigmoid(3 * z))) < log_loss(y, _sigmoid(3 * z))
    dropped, losses = choose_calibrator("auto", _sigmoid(z), y, seed=0)  # already calibrated
    assert dropped is None and losses["none"] <= min(losses["isotonic"], losses["platt"])
    assert choose_calibrator("none", _sigmoid(3 * z), y, seed=0)[0] is None


def _brute_force(y: np.ndarray, p: np.ndarray, fp_cost: float, fn_cost: float) -> float:
    candidates = [*np.unique(p), np.nextafter(p.max(), np.inf)]
    costs = [((p >= t) & (y == 0)).sum() * fp_cost + ((p < t) & (y == 1)).sum() * fn_cost for t in candidates]
    return float(candidates[int(np.argmin(costs))])


@pytest.mark.parametrize(("fp", "fn"), [(1.0, 1.0), (1.0, 10.0), (5.0, 1.0)])
def test_cost_threshold_matches_brute_force(fp: float, fn: float) -> None:
    rng = np.random.default_rng(1)
    p = np.round(rng.random(500), 2)
    y = (rng.random(500) < p).astype(int)
    chosen = choose_threshold(y, p, DecisionSpec(false_positive_cost=fp, false_negative_cost=fn))
    cost = ((p >= chosen) & (y == 0)).sum() * fp + ((p < chosen) & (y == 1)).sum() * fn
    best = _brute_force(y, p, fp, fn)
    assert cost == ((p >= best) & (y == 0)).sum() * fp + ((p < best) & (y == 1)).sum() * fn


def test_floors() -> None:
    rng = np.random.default_rng(2)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    t = choose_threshold(y, p, DecisionSpec(recall_floor=0.9))
    assert ((p >= t) & (y == 1)).sum() / y.sum() >= 0.9
    assert ((p >= np.nextafter(t, 1)) & (y == 1)).sum() / y.sum() < 0.9  # the highest such threshold
    t = choose_threshold(y, p, DecisionSpec(precision_floor=0.8))
    assert (y[p >= t]).mean() >= 0.8
    with pytest.raises(ModelError, match=r"precision_floor 0\.999 cannot be met"):
        choose_threshold(np.array([0, 1, 0]), np.array([0.9, 0.5, 0.1]), DecisionSpec(precision_floor=0.999))


def test_explanations_add_up_to_the_raw_score() -> None:
    s = splits("binary", n=2000)
    models = {m.name: m for m in train_candidates(s, spec("binary", models={"calibration": "none"}))}
    rows = s.test.iloc[:50]
    for name in ("lightgbm", "linear"):
        explained = models[name].explain(rows)
        assert explained is not None and set(explained.features) == {"x1", "x2", "colour"}
        margin = explained.base + explained.contributions.sum(axis=1)
        assert np.allclose(_sigmoid(margin), models[name].predict(rows), atol=1e-6), name
        importance = models[name].importance()
        assert importance is not None and max(importance, key=lambda k: importance[k]) == "x1"
