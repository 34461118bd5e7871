"""Design: sample size, power, MDE and duration against statsmodels and a direct normal formula."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower, tt_ind_solve_power

from loopline import ExperimentError
from loopline.experiments import MeanMetric, ProportionMetric, RatioMetric, design, mde, power


@pytest.mark.parametrize(("sigma", "delta", "alpha", "target", "shares"), [
    (1.0, 0.1, 0.05, 0.8, (0.5, 0.5)),
    (3.0, 0.25, 0.01, 0.9, (0.3, 0.7)),
    (12.5, 2.0, 0.10, 0.7, (0.8, 0.2)),
])
def test_means_match_statsmodels_normal_ind_power(
    sigma: float, delta: float, alpha: float, target: float, shares: tuple[float, float],
) -> None:
    ratio = shares[1] / shares[0]
    nobs1 = NormalIndPower().solve_power(effect_size=delta / sigma, alpha=alpha, power=target, ratio=ratio)
    d = design(MeanMetric(sigma), mde=delta, alpha=alpha, power=target, shares=shares)
    # The total is sized on the control arm, so control is exactly the smallest integer >= statsmodels' n.
    assert d.n_per_arm[0] == math.ceil(nobs1)
    assert nobs1 * ratio - 1e-6 <= d.n_per_arm[1] <= nobs1 * ratio + ratio + 1
    assert d.achieved_power >= target
    # The power function itself, at fractional sizes, equals statsmodels'.
    assert power(MeanMetric(sigma), nobs1, nobs1 * ratio, mde=delta, alpha=alpha) == pytest.approx(target, abs=1e-9)
    for n in (10.0, 123.4, 5000.0):
        ours = power(MeanMetric(sigma), n, n * ratio, mde=delta, alpha=alpha)
        ref = NormalIndPower().power(effect_size=delta / sigma, nobs1=n, alpha=alpha, ratio=ratio)
        assert ours == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize(("effect", "ratio"), [(0.5, 1.0), (0.25, 2.0), (0.8, 0.5)])
def test_t_test_matches_statsmodels_tt_ind_solve_power(effect: float, ratio: float) -> None:
    nobs1 = tt_ind_solve_power(effect_size=effect, alpha=0.05, power=0.8, ratio=ratio)
    d = design(MeanMetric(2.0), mde=2.0 * effect, test="t", shares=(1 / (1 + ratio), ratio / (1 + ratio)))
    assert d.n_per_arm[0] == math.ceil(nobs1)
    for n in (5.0, 40.0, 300.0):
        ours = power(MeanMetric(2.0), n, n * ratio, mde=2.0 * effect, test="t")
        assert ours == pytest.approx(TTestIndPower().power(effect, n, 0.05, ratio=ratio), abs=1e-9)


@pytest.mark.parametrize(("p", "delta"), [(0.10, 0.01), (0.03, 0.005), (0.5, -0.02), (0.8, 0.05)])
def test_proportions_use_the_unpooled_normal_formula(p: float, delta: float) -> None:
    z_a, z_b = stats.norm.isf(0.025), stats.norm.ppf(0.8)
    var = p * (1 - p) + (p + delta) * (1 - p - delta)
    textbook = (z_a + z_b) ** 2 * var / delta**2
    d = design(ProportionMetric(p), mde=delta)
    # The exact root also counts the far rejection region, so it is a hair below the textbook figure.
    assert textbook - 1 < d.n_per_arm[0] <= math.ceil(textbook)
    for n in (100.0, 2500.0, 40000.0):
        se = math.sqrt(var / n)
        direct = stats.norm.cdf(abs(delta) / se - z_a) + stats.norm.cdf(-abs(delta) / se - z_a)
        assert power(ProportionMetric(p), n, mde=delta) == pytest.approx(direct, abs=1e-12)


def test_rule_of_thumb_sits_beside_the_exact_figure() -> None:
    d = design(MeanMetric(sigma=1.0), mde=0.1)
    assert d.n_rule_of_thumb == 1600
    assert d.n_per_arm == (1570, 1570)
    assert d.total_units == 3140
    p = design(ProportionMetric(0.1), mde=0.01)
    assert p.n_rule_of_thumb == 14400  # 16 p(1-p) / delta^2
    assert p.n_per_arm[0] > p.n_rule_of_thumb  # the treatment variance (0.11 * 0.89) is larger


def test_relative_mde_is_a_fraction_of_the_baseline() -> None:
    rel = design(ProportionMetric(0.2), mde=0.05, relative=True)
    absolute = design(ProportionMetric(0.2), mde=0.01)
    assert rel.n_per_arm == absolute.n_per_arm
    assert rel.mde == pytest.approx(0.01)
    assert rel.mde_relative == pytest.approx(0.05)


def test_mde_and_power_are_inverses() -> None:
    for metric in (MeanMetric(2.0, mean=10.0), ProportionMetric(0.07), RatioMetric(0.5, 10.0, 4.0, 30.0, 5.0)):
        for n_c, n_t in ((1000, 1000), (800, 2400)):
            effect = mde(metric, n_c, n_t, power=0.9)
            assert power(metric, n_c, n_t, mde=effect) == pytest.approx(0.9, abs=1e-8)
            assert mde(metric, n_c, n_t, power=0.9, relative=True) == pytest.approx(effect / metric.mean)
    d = design(MeanMetric(1.0), mde=0.1)
    assert mde(MeanMetric(1.0), d.n_per_arm[0]) <= 0.1


def test_more_arms_use_bonferroni_per_comparison_with_control() -> None:
    three = design(MeanMetric(1.0), mde=0.1, arms=3)
    assert three.alpha_per_comparison == pytest.approx(0.025)
    nobs1 = NormalIndPower().solve_power(effect_size=0.1, alpha=0.025, power=0.8, ratio=1.0)
    assert three.n_per_arm == (math.ceil(nobs1),) * 3
    uncorrected = design(MeanMetric(1.0), mde=0.1, arms=3, correction="none")
    assert uncorrected.n_per_arm == (1570, 1570, 1570)
    assert "Bonferroni" in three.formula


def test_unequal_shares_power_every_comparison() -> None:
    d = design(MeanMetric(1.0), mde=0.1, arms=3, shares=(0.5, 0.3, 0.2))
    n_c = d.n_per_arm[0]
    assert d.n_per_arm[1] / n_c == pytest.approx(0.6, abs=1e-3)
    for n_t in d.n_per_arm[1:]:
        assert power(MeanMetric(1.0), n_c, n_t, mde=0.1, arms=3) >= 0.8
    # The smallest arm is the binding one: one unit fewer overall would leave it under-powered.
    smaller = [s * (d.total_units - 10) for s in d.shares]
    assert power(MeanMetric(1.0), smaller[0], smaller[2], mde=0.1, arms=3) < 0.8


def test_days_from_daily_eligible_units_and_traffic_share() -> None:
    d = design(MeanMetric(1.0), mde=0.1, daily_units=1000, traffic_share=0.25)
    assert d.days == math.ceil(3140 / 250)
    assert design(MeanMetric(1.0), mde=0.1).days is None


def test_ratio_metric_uses_the_delta_method_unit_variance() -> None:
    rng = np.random.default_rng(3)
    impressions = rng.poisson(8, 20_000) + 1
    clicks = rng.binomial(impressions, rng.beta(2, 18, 20_000))
    metric = RatioMetric.from_units(clicks, impressions)
    r = clicks.sum() / impressions.sum()
    resid = clicks - r * impressions
    assert metric.mean == pytest.approx(r)
    assert metric.unit_variance == pytest.approx(np.var(resid, ddof=1) / impressions.mean() ** 2, rel=1e-9)
    same = design(MeanMetric(math.sqrt(metric.unit_variance)), mde=0.005)
    assert design(metric, mde=0.005).n_per_arm == same.n_per_arm


def test_mean_metric_from_values() -> None:
    values = np.arange(10.0)
    metric = MeanMetric.from_values(values)
    assert metric.sigma == pytest.approx(np.std(values, ddof=1))
    assert metric.mean == pytest.approx(4.5)


def test_design_to_dict_is_json() -> None:
    d = design(ProportionMetric(0.1), mde=0.01, daily_units=5000)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["n_per_arm"] == list(d.n_per_arm)
    assert data["kind"] == "proportion"


@pytest.mark.parametrize(("call", "message"), [
    (lambda: design(MeanMetric(1.0), mde=0.1, shares=(0.5, 0.6)), "shares: the shares must sum to 1"),
    (lambda: design(MeanMetric(1.0), mde=0.1, arms=3, shares=(0.5, 0.5)), "expected one share per arm (3 arms"),
    (lambda: design(MeanMetric(1.0), mde=0.1, relative=True), "a relative MDE needs the control mean"),
    (lambda: design(ProportionMetric(0.95), mde=0.1), "gives 1.05, outside (0, 1)"),
    (lambda: design(MeanMetric(1.0), mde=0.0), "mde: expected a non-zero finite effect"),
    (lambda: design(MeanMetric(1.0), mde=0.1, arms=1), "at least one treatment (>= 2), got 1"),
    (lambda: design(MeanMetric(1.0), mde=0.1, traffic_share=0.0), "traffic_share"),
    (lambda: ProportionMetric(1.2), "baseline rate: expected a number between 0 and 1"),
    (lambda: MeanMetric(0.0), "sigma: expected a positive finite number"),
    (lambda: mde(ProportionMetric(0.5), 5), "no increase of the baseline rate 0.5 reaches power 0.8"),
    (lambda: RatioMetric(1.0, 0.0, 1.0, 1.0, 0.0), "mean denominator per unit must be positive"),
])
def test_errors_say_what_to_fix(call: object, message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)
