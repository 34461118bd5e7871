"""Effects: Welch t, proportion z-tests and delta-method ratios against scipy, statsmodels and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from loopline import ExperimentError
from loopline.experiments import compare_means, compare_proportions, compare_ratios, estimate_ratio


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_matches_scipy_and_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    control = rng.lognormal(1.0, 0.8, 300 + 50 * seed)
    treatment = rng.lognormal(1.05, 1.0, 420)
    effect = compare_means(control, treatment, alpha=0.1)
    ref = stats.ttest_ind(treatment, control, equal_var=False)
    assert effect.statistic == pytest.approx(ref.statistic, abs=1e-6)
    assert effect.p_value == pytest.approx(ref.pvalue, abs=1e-6)
    assert effect.df == pytest.approx(ref.df, rel=1e-9)
    low, high = CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).tconfint_diff(
        alpha=0.1, usevar="unequal")
    assert effect.absolute_ci == pytest.approx((low, high), abs=1e-6)
    assert effect.absolute == pytest.approx(treatment.mean() - control.mean())
    assert effect.relative == pytest.approx(treatment.mean() / control.mean() - 1)


def test_swapping_arms_negates_the_effect() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 200), rng.normal(0.3, 2, 150)
    ab, ba = compare_means(a, b), compare_means(b, a)
    assert ab.absolute == pytest.approx(-ba.absolute)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert ab.absolute_ci == pytest.approx((-ba.absolute_ci[1], -ba.absolute_ci[0]))


def test_relative_interval_covers_about_95_percent() -> None:
    rng = np.random.default_rng(5)
    runs, n = 2000, 400
    control = rng.exponential(10.0, (runs, n))
    treatment = rng.exponential(11.0, (runs, n))
    covered = 0
    for c, t in zip(control, treatment, strict=True):
        ci = compare_means(c, t).relative_ci
        assert ci is not None
        covered += ci[0] <= 0.1 <= ci[1]
    assert 0.935 <= covered / runs <= 0.965


@pytest.mark.parametrize(("control", "treatment"), [((100, 1000), (130, 1000)), ((530, 12000), (480, 11500)),
                                                     ((3, 40), (0, 35))])
def test_unpooled_proportions_match_statsmodels_wald(control: tuple[int, int], treatment: tuple[int, int]) -> None:
    effect = compare_proportions(control, treatment)
    ref = sm_proportion.test_proportions_2indep(treatment[0], treatment[1], control[0], control[1], method="wald")
    assert effect.statistic == pytest.approx(ref.statistic, abs=1e-6)
    assert effect.p_value == pytest.approx(ref.pvalue, abs=1e-6)
    ci = sm_proportion.confint_proportions_2indep(treatment[0], treatment[1], control[0], control[1], method="wald")
    assert effect.absolute_ci == pytest.approx(ci, abs=1e-6)
    # The direct formula.
    p_c, p_t = control[0] / control[1], treatment[0] / treatment[1]
    se = math.sqrt(p_c * (1 - p_c) / control[1] + p_t * (1 - p_t) / treatment[1])
    assert effect.statistic == pytest.approx((p_t - p_c) / se, rel=1e-12)
    assert effect.method == "z_unpooled"


def test_pooled_proportions_pool_the_test_but_not_the_interval() -> None:
    control, treatment = (530, 12000), (610, 11500)
    pooled = compare_proportions(control, treatment, pooled=True)
    stat, p = sm_proportion.proportions_ztest([treatment[0], control[0]], [treatment[1], control[1]])
    assert pooled.statistic == pytest.approx(stat, abs=1e-6)
    assert pooled.p_value == pytest.approx(p, abs=1e-6)
    score = sm_proportion.test_proportions_2indep(treatment[0], treatment[1], control[0], control[1], method="score",
                                    correction=False)
    assert pooled.p_value == pytest.approx(score.pvalue, abs=1e-6)
    assert pooled.absolute_ci == compare_proportions(control, treatment).absolute_ci
    assert pooled.method == "z_pooled"


def _clustered(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Users with many impressions and a personal click rate: impressions of one user are correlated."""
    impressions = rng.poisson(9, shape) + 1
    clicks = rng.binomial(impressions, rng.beta(1.0, 9.0, shape))
    return clicks.astype(float), impressions.astype(float)


def test_delta_method_variance_matches_simulation_and_beats_naive() -> None:
    rng = np.random.default_rng(6)
    n_users, runs = 400, 5000
    clicks, impressions = _clustered(rng, (runs, n_users))
    ratios = clicks.sum(axis=1) / impressions.sum(axis=1)
    empirical = float(np.var(ratios, ddof=1))
    # The delta variance from one big sample, scaled to n_users, and averaged over small samples.
    big = estimate_ratio(*_clustered(rng, (400_000,)))
    assert big.variance * 400_000 / n_users == pytest.approx(empirical, rel=0.05)
    small = np.mean([estimate_ratio(clicks[i], impressions[i]).variance for i in range(300)])
    assert small == pytest.approx(empirical, rel=0.05)
    # Treating impressions as independent Bernoulli trials understates the variance badly.
    naive = np.mean(ratios * (1 - ratios) / impressions.sum(axis=1))
    assert naive < 0.6 * empirical


def test_ratio_with_one_impression_per_unit_is_the_mean() -> None:
    rng = np.random.default_rng(7)
    x_c, x_t = rng.normal(1, 1, 500), rng.normal(1.2, 1, 600)
    ratio = compare_ratios((x_c, np.ones(500)), (x_t, np.ones(600)))
    welch = compare_means(x_c, x_t)
    assert ratio.absolute == pytest.approx(welch.absolute)
    assert ratio.absolute_se == pytest.approx(welch.absolute_se, rel=1e-12)
    assert ratio.df is None
    assert ratio.p_value == pytest.approx(2 * stats.norm.sf(abs(welch.statistic)))


def test_relative_is_none_when_control_is_zero() -> None:
    effect = compare_means([0.0, 1.0, -1.0], [1.0, 2.0, 3.0])
    assert effect.relative is None
    assert effect.relative_ci is None
    assert math.isfinite(effect.p_value)


def test_effect_to_dict_has_plain_values() -> None:
    data = compare_proportions((10, 100), (20, 100)).to_dict()
    assert isinstance(data["absolute_ci"], list)
    assert data["df"] is None
    assert all(not isinstance(v, np.generic) for v in data.values())


@pytest.mark.parametrize(("call", "message"), [
    (lambda: compare_means([], [1.0, 2.0], metric="revenue"), "metric 'revenue', arm 'control' has no units"),
    (lambda: compare_means([1.0, 2.0], [1.0], metric="revenue"), "arm 'treatment' has 1 unit(s); at least 2"),
    (lambda: compare_means([2.0, 2.0], [3.0, 3.0], metric="revenue"),
     "metric 'revenue' has zero variance in both arms (control and treatment)"),
    (lambda: compare_means([1.0, np.nan], [1.0, 2.0], metric="revenue"), "1 missing or infinite value(s)"),
    (lambda: compare_proportions((0, 0), (3, 10), metric="ctr"), "metric 'ctr', arm 'control' has no units"),
    (lambda: compare_proportions((0, 10), (0, 12), metric="ctr"), "metric 'ctr' has zero variance in both arms"),
    (lambda: compare_proportions((11, 10), (3, 12)), "successes must lie in [0, trials], got 11 of 10"),
    (lambda: compare_proportions((1, 10, 3), (3, 12)), "expected (successes, trials) as two whole numbers"),
    (lambda: compare_proportions((1.5, 10), (3, 12)), "expected (successes, trials) as two whole numbers"),
    (lambda: compare_ratios(([1, 2, 3], [1, 2]), ([1, 2], [1, 2]), metric="ctr"),
     "metric 'ctr', arm 'control': numerator has 3 values but denominator has 2"),
    (lambda: compare_ratios(([0, 0], [0, 0]), ([1, 2], [1, 2]), metric="ctr"), "the denominator sums to 0"),
    (lambda: compare_ratios(([1, 2], [1, 2]), ([2, 4], [2, 4]), metric="ctr"), "zero variance in both arms"),
    (lambda: compare_means([1.0, 2.0], [1.0, 3.0], alpha=1.5), "alpha: expected a number between 0 and 1"),
])
def test_errors_say_what_to_fix(call: object, message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)
