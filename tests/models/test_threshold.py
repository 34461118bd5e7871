"""Decision thresholds against brute force, the floors, and how training applies them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from loopline import ModelError
from loopline.models import choose_threshold, train_baselines, train_candidates
from loopline.spec import DecisionSpec
from tests.models.conftest import Trained
from tests.models.samples import make_spec, make_splits


def _cost(y: np.ndarray, p: np.ndarray, t: float, fp_cost: float, fn_cost: float) -> float:
    return float(((p >= t) & (y == 0)).sum() * fp_cost + ((p < t) & (y == 1)).sum() * fn_cost)


def _brute_force(y: np.ndarray, p: np.ndarray, fp_cost: float, fn_cost: float) -> float:
    """Every distinct score and one above the highest, highest first; the first of the cheapest."""
    candidates = [np.nextafter(p.max(), np.inf), *np.unique(p)[::-1]]
    costs = [_cost(y, p, t, fp_cost, fn_cost) for t in candidates]
    return float(candidates[int(np.argmin(costs))])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("fp", "fn"), [(1.0, 1.0), (1.0, 10.0), (5.0, 1.0), (1.0, 0.1), (100.0, 1.0)])
def test_cost_threshold_equals_brute_force(seed: int, fp: float, fn: float) -> None:
    rng = np.random.default_rng(seed)
    p = np.round(rng.beta(2, 5, 400), 2)  # many ties
    y = (rng.random(400) < p).astype(int)
    chosen = choose_threshold(y, p, DecisionSpec(false_positive_cost=fp, false_negative_cost=fn))
    best = _brute_force(y, p, fp, fn)
    assert ((p >= chosen) == (p >= best)).all()  # the same decisions on every row
    below = p[p < best]  # and the threshold lies halfway down to the next lower score
    if best <= p.max():
        assert chosen == pytest.approx((best + (below.max() if len(below) else 0.0)) / 2, abs=1e-15)


def test_a_plateau_of_tied_scores_does_not_flip_on_a_last_bit_difference() -> None:
    y = np.array([0, 1, 1, 0, 1, 0])
    p = np.array([0.2, 0.7, 0.7, 0.7, 0.9, 0.1])  # a plateau at 0.7, as isotonic calibration gives
    t = choose_threshold(y, p, DecisionSpec())
    assert (np.nextafter(p, -np.inf) >= t).tolist() == (p >= t).tolist() == (np.nextafter(p, np.inf) >= t).tolist()


@pytest.mark.parametrize("floor", [0.5, 0.8, 0.95, 1.0])
def test_recall_floor_gives_the_highest_threshold_that_meets_it(floor: float) -> None:
    rng = np.random.default_rng(3)
    p = np.round(rng.random(1000), 3)
    y = (rng.random(1000) < p).astype(int)
    t = choose_threshold(y, p, DecisionSpec(recall_floor=floor))
    recall = ((p >= t) & (y == 1)).sum() / y.sum()
    higher = np.unique(p[p > p[p >= t].min()])  # the scores above the lowest one made positive
    assert recall >= floor
    assert len(higher) == 0 or ((p >= higher[0]) & (y == 1)).sum() / y.sum() < floor


def test_precision_floor_gives_the_lowest_threshold_that_meets_it() -> None:
    rng = np.random.default_rng(4)
    p = np.round(rng.random(1000), 3)
    y = (rng.random(1000) < p).astype(int)
    t = choose_threshold(y, p, DecisionSpec(precision_floor=0.8))
    assert y[p >= t].mean() >= 0.8
    assert all(y[p >= lower].mean() < 0.8 for lower in np.unique(p[p < t]))


def test_unreachable_floors_say_which_and_the_best_achievable() -> None:
    with pytest.raises(ModelError, match=r"decision.precision_floor 0.9 cannot be met on the validation split: "
                                         r"the best precision any threshold reaches is 0.5000"):
        choose_threshold(np.array([0, 1, 0, 1]), np.array([0.9, 0.9, 0.2, 0.1]), DecisionSpec(precision_floor=0.9))
    with pytest.raises(ModelError, match=r"recall_floor cannot be met: the validation split has no positive rows"):
        choose_threshold(np.zeros(3), np.array([0.1, 0.2, 0.3]), DecisionSpec(recall_floor=0.5))


def test_training_thresholds_the_calibrated_validation_probabilities(trained: Callable[[str], Trained]) -> None:
    found = trained("binary")
    valid, decision = found.splits.valid, found.spec.decision
    for model in found.models.values():
        assert model.threshold == choose_threshold(valid["y"].to_numpy(), model.predict(valid), decision), model.name


def test_floors_in_training() -> None:
    splits = make_splits("binary", n=1500)
    spec = make_spec("binary", decision={"recall_floor": 0.9}, models={"candidates": ["linear"]})
    model = train_candidates(splits, spec)[0]
    valid = splits.valid
    assert ((model.predict(valid) >= model.threshold) & (valid["y"] == 1)).sum() / valid["y"].sum() >= 0.9

    strict = make_spec("binary", decision={"precision_floor": 0.5}, models={"candidates": ["linear"]})
    hopeless = type(splits)(**{**splits.__dict__, "valid": valid.assign(y=0)})  # no positives to be precise on
    with pytest.raises(ModelError, match=r"model 'linear': decision.precision_floor 0.5 cannot be met on the "
                                         r"validation split: the best precision any threshold reaches is 0.0000"):
        train_candidates(hopeless, strict)
    constant = train_baselines(hopeless, strict)[0]  # a baseline that cannot meet it acts on no row
    assert constant.threshold is not None and (constant.predict(valid) < constant.threshold).all()
    assert "cannot be met" in constant.params["threshold_note"]
