"""``compare``: the paired judge of challenger against champion, against scikit-learn and by simulation.

Point values are checked against scikit-learn on fixed cases; the 95% paired bootstrap interval is checked for its
coverage of a known population difference, for power against a planted improvement, and for ranking, for
resampling whole queries.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss, mean_squared_error, r2_score, roc_auc_score

from loopline import LooplineError
from loopline.evaluation import compute_metrics
from loopline.loop import Comparison, compare


def _binary(n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a weak champion (it sees x through noise, so it also ranks worse) and a better challenger."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < _sigmoid(x - 1.0)).astype(float)
    return y, _sigmoid(0.4 * (x + rng.normal(size=n)) - 1.0), _sigmoid(0.9 * x - 0.9)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return out


# -- point values against scikit-learn --------------------------------------------------------------------------

def test_log_loss_of_each_model_is_sklearns_and_a_lower_loss_is_a_positive_improvement() -> None:
    y, champion, challenger = _binary()
    found = compare("binary", y, challenger=challenger, champion=champion, metric="log_loss", n_boot=0)
    assert found.champion == pytest.approx(log_loss(y, champion), rel=1e-12)
    assert found.challenger == pytest.approx(log_loss(y, challenger), rel=1e-12)
    assert found.improvement == pytest.approx(log_loss(y, champion) - log_loss(y, challenger), rel=1e-12)
    assert found.improvement > 0 and found.rows == 500


def test_roc_auc_of_each_model_is_sklearns_and_a_higher_score_is_a_positive_improvement() -> None:
    y, champion, challenger = _binary()
    champion = np.round(champion, 2)  # ties: scikit-learn counts them one half, and so must we
    found = compare("binary", y, challenger=challenger, champion=champion, metric="roc_auc", n_boot=0)
    assert found.champion == pytest.approx(roc_auc_score(y, champion), rel=1e-12)
    assert found.challenger == pytest.approx(roc_auc_score(y, challenger), rel=1e-12)
    assert found.improvement == pytest.approx(roc_auc_score(y, challenger) - roc_auc_score(y, champion), rel=1e-12)


def test_a_worse_challenger_is_a_negative_improvement_for_a_loss_and_for_a_score() -> None:
    y, champion, challenger = _binary()
    for metric in ("log_loss", "roc_auc", "brier"):
        better = compare("binary", y, challenger=challenger, champion=champion, metric=metric, n_boot=100)
        worse = compare("binary", y, challenger=champion, champion=challenger, metric=metric, n_boot=100)
        assert better.improvement > 0 > worse.improvement
        assert worse.improvement == -better.improvement
        # the same resamples, seen from the other side: the interval is mirrored
        assert (worse.low, worse.high) == pytest.approx((-better.high, -better.low), abs=1e-12)
    brier = compare("binary", y, challenger=challenger, champion=champion, metric="brier", n_boot=0)
    assert brier.improvement == pytest.approx(brier_score_loss(y, champion) - brier_score_loss(y, challenger))


def test_calibration_ratio_improves_towards_one_from_either_side() -> None:
    y, _, challenger = _binary()
    high = np.clip(challenger * 1.5, 0, 1)  # predicts too many positives
    low = challenger * 0.8                  # too few, but nearer
    found = compare("binary", y, challenger=low, champion=high, metric="calibration_ratio", n_boot=0)
    ratio_high, ratio_low = high.sum() / y.sum(), low.sum() / y.sum()
    assert ratio_high > 1 > ratio_low
    assert found.improvement == pytest.approx(abs(math.log(ratio_high)) - abs(math.log(ratio_low)), rel=1e-9)
    assert found.improvement > 0


def test_regression_and_multiclass_values_are_sklearns() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=300)
    near, far = y + rng.normal(0, 0.5, 300), y + rng.normal(0, 1.0, 300)
    rmse = compare("regression", y, challenger=near, champion=far, metric="rmse", n_boot=0)
    assert (rmse.champion, rmse.challenger) == pytest.approx(
        (math.sqrt(mean_squared_error(y, far)), math.sqrt(mean_squared_error(y, near))), rel=1e-12)
    assert rmse.improvement > 0
    r2 = compare("regression", y, challenger=near, champion=far, metric="r2", n_boot=0)
    assert r2.improvement == pytest.approx(r2_score(y, near) - r2_score(y, far), rel=1e-12)

    classes = ["a", "b", "c"]
    labels = rng.choice(classes, 300)
    onehot = (labels[:, None] == np.array(classes)[None, :]).astype(float)
    sharp = 0.6 * onehot + 0.4 / 3
    flat = np.full((300, 3), 1 / 3)
    found = compare("multiclass", labels, challenger=sharp, champion=flat, metric="log_loss", classes=classes,
                    n_boot=0)
    assert (found.champion, found.challenger) == pytest.approx(
        (log_loss(labels, flat, labels=classes), log_loss(labels, sharp, labels=classes)), rel=1e-12)


# -- the interval -----------------------------------------------------------------------------------------------

def test_identical_models_improve_by_exactly_zero_with_an_interval_of_zero() -> None:
    y, champion, _ = _binary()
    for metric in ("log_loss", "roc_auc", "accuracy"):
        found = compare("binary", y, challenger=champion.copy(), champion=champion, metric=metric, n_boot=200)
        assert (found.improvement, found.low, found.high) == (0.0, 0.0, 0.0)


def test_without_resamples_there_is_no_interval_and_the_description_says_none() -> None:
    y, champion, challenger = _binary()
    for n_boot in (0, 1):
        found = compare("binary", y, challenger=challenger, champion=champion, metric="log_loss", n_boot=n_boot)
        assert math.isnan(found.low) and math.isnan(found.high)
        assert "interval" not in found.describe()
    found = compare("binary", y, challenger=challenger, champion=champion, metric="log_loss", n_boot=50)
    assert found.describe() == (
        f"log_loss {found.challenger:.4f} vs champion {found.champion:.4f} on 500 rows: improvement "
        f"{found.improvement:+.4f} (95% paired interval {found.low:+.4f} to {found.high:+.4f})")
    assert Comparison(**found.to_dict()) == found


def test_the_interval_is_seeded() -> None:
    y, champion, challenger = _binary()
    a, b, c = (compare("binary", y, challenger=challenger, champion=champion, metric="log_loss", n_boot=100, seed=s)
               for s in (7, 7, 8))
    assert a == b and (a.low, a.high) != (c.low, c.high) and a.improvement == c.improvement


def _population(n: int, rng: np.random.Generator, *, champion_slope: float) -> tuple[np.ndarray, ...]:
    """A population where P(y = 1 | x) = sigmoid(x - 1); the two models are fixed functions of x."""
    x = rng.normal(size=n)
    y = (rng.random(n) < _sigmoid(x - 1.0)).astype(float)
    return y, _sigmoid(champion_slope * x - 1.0), _sigmoid(x - 0.7), x


def _true_difference(champion_slope: float) -> float:
    """The population log-loss of the champion minus the challenger's, on 2e6 draws of x with the expected loss
    given x (so the label's noise adds no error)."""
    rng = np.random.default_rng(2024)
    _, champion, challenger, x = _population(2_000_000, rng, champion_slope=champion_slope)
    q = _sigmoid(x - 1.0)

    def expected(p: np.ndarray) -> float:
        return float(np.mean(-(q * np.log(p) + (1 - q) * np.log(1 - p))))

    return expected(champion) - expected(challenger)


@pytest.mark.slow
def test_the_paired_interval_covers_the_population_difference_95_percent_of_the_time() -> None:
    truth = _true_difference(0.6)
    assert 0.002 < truth < 0.01  # small against the sampling noise: the interval usually contains 0 too
    rng = np.random.default_rng(11)
    replicates = 400
    covered = 0
    for r in range(replicates):
        y, champion, challenger, _ = _population(600, rng, champion_slope=0.6)
        found = compare("binary", y, challenger=challenger, champion=champion, metric="log_loss", n_boot=200, seed=r)
        covered += found.low <= truth <= found.high
    assert abs(covered / replicates - 0.95) <= 0.03


@pytest.mark.slow
def test_a_planted_real_improvement_is_found_in_most_replicates() -> None:
    truth = _true_difference(0.0)  # the champion knows only the base rate
    assert truth > 0.07
    rng = np.random.default_rng(12)
    replicates = 300
    found_it = covered = 0
    for r in range(replicates):
        y, champion, challenger, _ = _population(600, rng, champion_slope=0.0)
        found = compare("binary", y, challenger=challenger, champion=champion, metric="log_loss", n_boot=200, seed=r)
        found_it += found.low > 0
        covered += found.low <= truth <= found.high
    assert found_it / replicates >= 0.95
    assert abs(covered / replicates - 0.95) <= 0.03


# -- ranking ----------------------------------------------------------------------------------------------------

def _queries(n_queries: int = 60, size: int = 5, seed: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"q{i}" for i in range(n_queries)], size)
    relevance = rng.integers(0, 3, n_queries * size).astype(float)
    return relevance, groups, relevance + rng.normal(0, 1.0, len(groups)), rng.random(len(groups))


def test_ranking_point_values_are_the_repos_own_ndcg_and_map() -> None:
    relevance, groups, good, noise = _queries()
    for metric in ("ndcg", "map", "mrr"):
        found = compare("ranking", relevance, challenger=good, champion=noise, metric=metric, groups=groups, k=3,
                        n_boot=100)
        ours = compute_metrics("ranking", relevance, good, groups=groups, k=3, names=[metric])[metric]
        theirs = compute_metrics("ranking", relevance, noise, groups=groups, k=3, names=[metric])[metric]
        assert (found.challenger, found.champion, found.improvement) == (ours, theirs, ours - theirs)
        assert found.low <= found.improvement <= found.high and found.rows == len(relevance)


def test_ranking_item_metrics_on_binary_relevance_are_sklearns() -> None:
    relevance, groups, _, noise = _queries()
    clicked = (relevance == 2).astype(float)
    good = np.clip(0.2 + 0.6 * clicked + np.random.default_rng(6).normal(0, 0.2, len(groups)), 0.01, 0.99)
    auc = compare("ranking", clicked, challenger=good, champion=noise, metric="roc_auc", groups=groups, n_boot=0)
    assert (auc.challenger, auc.champion) == pytest.approx((roc_auc_score(clicked, good),
                                                            roc_auc_score(clicked, noise)), rel=1e-12)
    loss = compare("ranking", clicked, challenger=good, champion=noise, metric="log_loss", groups=groups, n_boot=0)
    assert (loss.challenger, loss.champion) == pytest.approx((log_loss(clicked, good), log_loss(clicked, noise)),
                                                             rel=1e-12)


def test_ranking_resamples_whole_queries() -> None:
    # In every query the challenger puts the one relevant item first and the champion puts it second, so every
    # query improves NDCG by the same 1 - 1/log2(3). Any resample of whole queries averages that one value; a
    # resample of rows would break queries apart and move it.
    n_queries = 40
    groups = np.repeat(np.arange(n_queries), 3)
    relevance = np.tile([1.0, 0.0, 0.0], n_queries)
    challenger = np.tile([3.0, 2.0, 1.0], n_queries)
    champion = np.tile([2.0, 3.0, 1.0], n_queries)
    found = compare("ranking", relevance, challenger=challenger, champion=champion, metric="ndcg", groups=groups,
                    n_boot=200)
    gain = 1 - 1 / math.log2(3)
    assert found.improvement == pytest.approx(gain, rel=1e-12)
    assert (found.low, found.high) == pytest.approx((gain, gain), rel=1e-12)


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_a_ranking_metric_the_inputs_cannot_give_is_a_loopline_error_naming_it(metric: str) -> None:
    relevance, groups, good, noise = _queries()  # graded relevance, challenger scores outside [0, 1]
    with pytest.raises(LooplineError, match=metric):
        compare("ranking", relevance, challenger=good, champion=noise, metric=metric, groups=groups, n_boot=0)
