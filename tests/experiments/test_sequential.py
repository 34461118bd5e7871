"""mSPRT: the formula, the always-valid guarantee under daily peeking, and stopping on a real effect."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from loopline import ExperimentError
from loopline.experiments import always_valid_p_values, confidence_sequence, msprt

RUNS, DAYS, PER_DAY = 2000, 14, 100
TAU2 = 0.1**2  # the mixing variance: the square of the effect the experiment is designed for


def _daily_looks(rng: np.random.Generator, effect: float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative difference of means and its variance after each day, for RUNS independent experiments."""
    data = rng.normal(0.0, 1.0, (2, RUNS, DAYS, PER_DAY))
    data[1] += effect
    n = PER_DAY * np.arange(1, DAYS + 1)
    sums = np.cumsum(data.sum(axis=-1), axis=-1)
    squares = np.cumsum((data**2).sum(axis=-1), axis=-1)
    means = sums / n
    variances = (squares - n * means**2) / (n - 1)
    return means[1] - means[0], variances[0] / n + variances[1] / n


def test_formula_matches_the_mixture_likelihood_ratio() -> None:
    est, var = np.array([0.3, 0.1, 0.25, 0.2]), np.array([0.09, 0.02, 0.01, 0.005])
    lr = np.sqrt(var / (var + TAU2)) * np.exp(TAU2 * est**2 / (2 * var * (var + TAU2)))
    expected = np.minimum.accumulate(np.minimum(1.0, 1.0 / lr))
    np.testing.assert_allclose(always_valid_p_values(est, var, mixing_variance=TAU2), expected, rtol=1e-12)
    shifted = always_valid_p_values(est + 1.0, var, mixing_variance=TAU2, null=1.0)
    np.testing.assert_allclose(shifted, expected, rtol=1e-12)


def test_peeking_every_day_keeps_the_false_positive_rate_but_naive_peeking_does_not() -> None:
    est, var = _daily_looks(np.random.default_rng(0), effect=0.0)
    p = always_valid_p_values(est, var, mixing_variance=TAU2)
    ever_rejected = float(np.mean(p[:, -1] < 0.05))  # p is a running minimum: the last look says "ever"
    assert ever_rejected <= 0.05
    # The problem the test guards against: a fixed-horizon z-test read after every day.
    naive = 2 * stats.norm.sf(np.abs(est) / np.sqrt(var))
    naive_rate = float(np.mean((naive < 0.05).any(axis=1)))
    assert naive_rate > 0.1
    # One read at the horizon is fine for the z-test, which shows the inflation comes from peeking.
    assert 0.04 <= float(np.mean(naive[:, -1] < 0.05)) <= 0.06


def test_a_planted_effect_stops_and_the_interval_covers_it() -> None:
    est, var = _daily_looks(np.random.default_rng(1), effect=0.15)
    p = always_valid_p_values(est, var, mixing_variance=TAU2)
    assert np.mean(p[:, -1] < 0.05) > 0.75
    low, high = confidence_sequence(est, var, mixing_variance=TAU2)
    assert np.mean((low[:, -1] <= 0.15) & (high[:, -1] >= 0.15)) >= 0.95
    one = msprt(est[0], var[0], mixing_variance=TAU2)
    assert one.stop_look is not None
    assert one.p_values[one.stop_look - 1] < 0.05
    assert all(v >= 0.05 for v in one.p_values[: one.stop_look - 1])


def test_msprt_matches_the_vectorised_functions() -> None:
    est, var = _daily_looks(np.random.default_rng(2), effect=0.0)
    result = msprt(est[3], var[3], mixing_variance=TAU2, alpha=0.1, metric="watch_time")
    np.testing.assert_allclose(result.p_values, always_valid_p_values(est, var, mixing_variance=TAU2)[3])
    low, high = confidence_sequence(est[3], var[3], mixing_variance=TAU2, alpha=0.1)
    np.testing.assert_allclose(result.ci_low, low)
    np.testing.assert_allclose(result.ci_high, high)
    assert "alpha=0.1" in result.rule and "first look" in result.rule
    assert result.to_dict()["metric"] == "watch_time"


def test_no_stop_without_evidence() -> None:
    result = msprt([0.01, -0.01, 0.0], [0.01, 0.005, 0.003], mixing_variance=TAU2)
    assert result.stop_look is None
    assert result.p_values[0] == 1.0


@given(st.lists(st.tuples(st.floats(-2, 2), st.floats(1e-4, 1.0)), min_size=1, max_size=20),
       st.floats(1e-3, 1.0), st.sampled_from([0.01, 0.05, 0.2]))
def test_p_values_fall_and_agree_with_the_confidence_sequence(
    looks: list[tuple[float, float]], tau2: float, alpha: float,
) -> None:
    est, var = np.array(looks).T
    p = always_valid_p_values(est, var, mixing_variance=tau2)
    low, high = confidence_sequence(est, var, mixing_variance=tau2, alpha=alpha)
    assert np.all(np.diff(p) <= 0) and np.all((p >= 0) & (p <= 1))
    assert np.all(np.diff(low) >= 0) and np.all(np.diff(high) <= 0)
    # Rejecting the null at alpha is the same as the null leaving the confidence sequence.
    far = np.abs(p - alpha) > 1e-9
    excluded = (low > 0) | (high < 0)
    assert np.array_equal((p < alpha)[far], excluded[far])


@pytest.mark.parametrize(("call", "message"), [
    (lambda: msprt([0.1, 0.2], [0.01], mixing_variance=TAU2), "expected arrays of the same shape"),
    (lambda: msprt([0.1, 0.2], [0.01, 0.0], mixing_variance=TAU2), "a look with zero variance"),
    (lambda: msprt([0.1, np.nan], [0.01, 0.01], mixing_variance=TAU2), "every look needs a finite estimate"),
    (lambda: msprt([0.1], [0.01], mixing_variance=0.0), "mixing_variance: expected a positive finite number"),
    (lambda: msprt([[0.1]], [[0.01]], mixing_variance=TAU2), "use always_valid_p_values for many sequences"),
    (lambda: msprt([], [], mixing_variance=TAU2), "one value per look"),
])
def test_errors_say_what_to_fix(call: object, message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)
