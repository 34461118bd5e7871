"""CUPED: variance reduction near rho^2, unbiasedness, and agreement with OLS and a direct computation;
for ratio metrics, the delta method's linearisation, checked against OLS and by coverage in simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from loopline import ExperimentError
from loopline.experiments import CupedResult, ExperimentSpec, compare_means, compare_ratios, cuped, cuped_ratio
from loopline.experiments._analysis import _cuped


def _data(rng: np.random.Generator, n: int, rho: float, effect: float
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x_c, x_t = rng.normal(5, 2, n), rng.normal(5, 2, n)
    noise = np.sqrt(1 - rho**2)
    y_c = rho * (x_c - 5) / 2 + noise * rng.normal(0, 1, n)
    y_t = rho * (x_t - 5) / 2 + noise * rng.normal(0, 1, n) + effect
    return y_c, y_t, x_c, x_t


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_variance_reduction_is_about_rho_squared(rho: float) -> None:
    y_c, y_t, x_c, x_t = _data(np.random.default_rng(int(rho * 10)), 50_000, rho, 0.05)
    result = cuped(y_c, y_t, pre_control=x_c, pre_treatment=x_t)
    assert result.variance_reduction == pytest.approx(rho**2, abs=0.02)
    assert result.correlation == pytest.approx(rho, abs=0.01)
    assert result.unadjusted == compare_means(y_c, y_t)
    assert result.adjusted.absolute_se < result.unadjusted.absolute_se


def test_adjusted_estimate_is_unbiased() -> None:
    rng = np.random.default_rng(11)
    estimates = []
    for _ in range(400):
        y_c, y_t, x_c, x_t = _data(rng, 500, 0.7, 0.2)
        estimates.append(cuped(y_c, y_t, pre_control=x_c, pre_treatment=x_t).adjusted.absolute)
    spread = np.std(estimates, ddof=1) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - 0.2) < 3 * spread


def test_matches_direct_numpy_and_ols() -> None:
    y_c, y_t, x_c, x_t = _data(np.random.default_rng(12), 3000, 0.5, 0.1)
    result = cuped(y_c, y_t, pre_control=x_c, pre_treatment=x_t)
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    treated = np.r_[np.zeros(y_c.size), np.ones(y_t.size)]
    # Direct numpy: the pooled theta and the difference of adjusted means.
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
    assert result.theta == pytest.approx(theta, rel=1e-12)
    direct = (y_t.mean() - y_c.mean()) - theta * (x_t.mean() - x_c.mean())
    assert result.adjusted.absolute == pytest.approx(direct, abs=1e-12)
    # The pooled theta is the slope of Y ~ 1 + X over all units.
    slope = sm.OLS(y, sm.add_constant(x)).fit().params[1]
    assert result.theta == pytest.approx(slope, abs=1e-10)
    # With theta fixed, the effect is the treatment coefficient of (Y - theta X) ~ 1 + T.
    fixed = sm.OLS(y - theta * x, sm.add_constant(treated)).fit().params[1]
    assert result.adjusted.absolute == pytest.approx(fixed, abs=1e-6)
    # Y ~ 1 + T + X fits theta within arms; it differs by (theta_ols - theta) * (mean x_t - mean x_c).
    ols = sm.OLS(y, np.column_stack([np.ones_like(y), treated, x])).fit()
    gap = (ols.params[2] - theta) * (x_t.mean() - x_c.mean())
    assert ols.params[1] == pytest.approx(result.adjusted.absolute - gap, abs=1e-9)
    assert abs(ols.params[1] - result.adjusted.absolute) < 0.01 * result.adjusted.absolute_se
    assert result.adjusted.absolute_se == pytest.approx(ols.bse[1], rel=0.01)


def test_uncorrelated_covariate_changes_little() -> None:
    rng = np.random.default_rng(13)
    y_c, y_t = rng.normal(0, 1, 5000), rng.normal(0.1, 1, 5000)
    result = cuped(y_c, y_t, pre_control=rng.normal(0, 1, 5000), pre_treatment=rng.normal(0, 1, 5000))
    assert abs(result.variance_reduction) < 0.01
    assert result.to_dict()["adjusted"]["method"] == "cuped_welch_t"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"pre_control": [1.0, 1.0, 1.0], "pre_treatment": [1.0, 1.0, 1.0]},
     "metric 'visits': the pre-experiment covariate is 1 for every unit in both arms (zero variance)"),
    ({"pre_control": [1.0, 2.0], "pre_treatment": [1.0, 2.0, 3.0]},
     "metric 'visits', arm 'control': the metric has 3 values but pre_control has 2"),
    ({"pre_control": [1.0, 2.0, np.inf], "pre_treatment": [1.0, 2.0, 3.0]},
     "metric 'visits (pre-experiment covariate)', arm 'control' has 1 missing or infinite value(s)"),
])
def test_errors_say_what_to_fix(kwargs: dict[str, list[float]], message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        cuped([1.0, 2.0, 4.0], [2.0, 3.0, 5.0], metric="visits", **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


# -- ratio metrics ----------------------------------------------------------------------------------
# Two kinds of users: heavy (30%, many exposures, low CTR) and light (70%). The treatment shows light
# users 65% and heavy users 10% more items (30% more exposures per unit overall) and lifts every CTR
# by 10%, so the true population CTR moves both by the lift and by the mix of exposures.
SHARE = np.array([0.3, 0.7])
EXPOSURES = np.array([40.0, 10.0])
CTR = np.array([0.03, 0.08])
MORE_EXPOSURES = np.array([1.1, 1.65])
CTR_LIFT = 1.1


def _true_ctr(treated: bool) -> float:
    more, lift = (MORE_EXPOSURES, CTR_LIFT) if treated else (np.ones(2), 1.0)
    return float((SHARE * EXPOSURES * more * CTR * lift).sum() / (SHARE * EXPOSURES * more).sum())


def _ctr_arm(rng: np.random.Generator, n: int, treated: bool) -> tuple[np.ndarray, ...]:
    """Per unit: clicks and exposures in the experiment, then in the pre-period (same user, untreated)."""
    kind = (rng.random(n) < SHARE[1]).astype(int)
    rate = EXPOSURES[kind] * rng.gamma(4.0, 0.25, n)
    ctr = CTR[kind] * rng.gamma(3.0, 1 / 3, n)
    pre_exposures = rng.poisson(rate)
    pre_clicks = rng.binomial(pre_exposures, ctr)
    if treated:
        rate, ctr = rate * MORE_EXPOSURES[kind], ctr * CTR_LIFT
    exposures = rng.poisson(rate)
    clicks = rng.binomial(exposures, ctr)
    return tuple(a.astype(np.float64) for a in (clicks, exposures, pre_clicks, pre_exposures))


def _ratio_cuped(c: tuple[np.ndarray, ...], t: tuple[np.ndarray, ...], metric: str = "ratio") -> CupedResult:
    return cuped_ratio((c[0], c[1]), (t[0], t[1]), pre_control=(c[2], c[3]), pre_treatment=(t[2], t[3]),
                       metric=metric)


@pytest.mark.slow
def test_ratio_intervals_cover_the_true_ctr_difference_when_exposures_grow_30_percent() -> None:
    control, treatment = _true_ctr(False), _true_ctr(True)
    assert (SHARE * EXPOSURES * MORE_EXPOSURES).sum() / (SHARE * EXPOSURES).sum() == pytest.approx(1.3, abs=0.01)
    difference, relative = treatment - control, treatment / control - 1
    rng = np.random.default_rng(0)
    covered = covered_relative = 0
    reduction = []
    replications = 1000
    for _ in range(replications):
        result = _ratio_cuped(_ctr_arm(rng, 2000, False), _ctr_arm(rng, 2000, True))
        adjusted = result.adjusted
        covered += adjusted.absolute_ci[0] <= difference <= adjusted.absolute_ci[1]
        assert adjusted.relative_ci is not None
        covered_relative += adjusted.relative_ci[0] <= relative <= adjusted.relative_ci[1]
        reduction.append(result.variance_reduction)
    assert 0.93 <= covered / replications <= 0.97
    assert 0.93 <= covered_relative / replications <= 0.97
    assert np.mean(reduction) > 0.15  # the pre-period CTR does reduce the variance


def _orthogonal_covariate(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A pre-period numerator (over denominators of 1) whose linearisation is orthogonal to the metric's."""
    f = x - x.sum() / y.sum() * y
    z = rng.normal(0, 1, x.size)
    z -= z.mean()
    return 5.0 + z - (z @ f) / (f @ f) * f


def test_ratio_with_an_uncorrelated_covariate_is_the_plain_delta_method() -> None:
    rng = np.random.default_rng(21)
    c, t = _ctr_arm(rng, 3000, False), _ctr_arm(rng, 3000, True)
    ones_c, ones_t = np.ones(c[0].size), np.ones(t[0].size)
    result = cuped_ratio((c[0], c[1]), (t[0], t[1]), pre_control=(_orthogonal_covariate(rng, c[0], c[1]), ones_c),
                         pre_treatment=(_orthogonal_covariate(rng, t[0], t[1]), ones_t), metric="ctr")
    plain = compare_ratios((c[0], c[1]), (t[0], t[1]), metric="ctr")
    assert result.unadjusted == plain
    assert result.theta == pytest.approx(0.0, abs=1e-12)
    assert result.correlation == pytest.approx(0.0, abs=1e-12)
    adjusted = result.adjusted
    assert adjusted.method == "cuped_delta_method_z"
    for field in ("control", "treatment", "absolute", "absolute_se", "relative", "relative_se", "p_value"):
        assert getattr(adjusted, field) == pytest.approx(getattr(plain, field), rel=1e-9), field
    assert adjusted.absolute_ci == pytest.approx(plain.absolute_ci, rel=1e-9)
    assert adjusted.relative_ci == pytest.approx(plain.relative_ci, rel=1e-9)


def test_ratio_over_unit_denominators_is_the_ancova_of_statsmodels() -> None:
    rng = np.random.default_rng(22)
    y_c, y_t, x_c, x_t = _data(rng, 4000, 0.6, 0.15)
    ones_c, ones_t = np.ones(y_c.size), np.ones(y_t.size)
    result = cuped_ratio((y_c, ones_c), (y_t, ones_t), pre_control=(x_c, ones_c), pre_treatment=(x_t, ones_t))
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    treated = np.r_[np.zeros(y_c.size), np.ones(y_t.size)]
    ols = sm.OLS(y, np.column_stack([np.ones_like(y), treated, x])).fit()
    assert result.theta == pytest.approx(ols.params[2], rel=1e-9)
    assert result.adjusted.absolute == pytest.approx(ols.params[1], rel=1e-9)
    assert result.adjusted.absolute_se == pytest.approx(ols.bse[1], rel=0.02)
    assert result.covariate_mean == pytest.approx(x.mean(), rel=1e-12)
    assert result.variance_reduction == pytest.approx(0.36, abs=0.03)


def _units(c: tuple[np.ndarray, ...], t: tuple[np.ndarray, ...]) -> pd.DataFrame:
    columns = ("click_count", "exposures", "pre_click_count", "pre_exposures")
    frame = pd.DataFrame({name: np.concatenate([a, b]) for name, a, b in zip(columns, c, t, strict=True)})
    return frame.assign(arm=["control"] * c[0].size + ["treatment"] * t[0].size)


def test_analysis_reports_ratio_effects_against_the_control_ratio_with_sane_intervals() -> None:
    # Demo-like: a few thousand users, CTR about 5%, a treatment that shows more items. The CUPED
    # relative interval of this metric once read +-4,000 (a difference over a centred mean near 0).
    spec = ExperimentSpec.from_dict({"name": "feed", "arms": {"control": 0.5, "treatment": 0.5},
                                     "cuped": {"pre_days": 7}})
    rng = np.random.default_rng(23)
    c, t = _ctr_arm(rng, 2500, False), _ctr_arm(rng, 2500, True)
    units = _units(c, t)
    is_c = units["arm"].to_numpy() == "control"
    result = _cuped(spec.metric("ctr"), units, is_c, ~is_c, 0.05)
    assert result == _ratio_cuped(c, t, "ctr")
    adjusted, plain = result.adjusted, result.unadjusted
    assert plain.control == pytest.approx(c[0].sum() / c[1].sum())
    assert adjusted.control == pytest.approx(plain.control, rel=0.05)
    assert abs(adjusted.absolute - plain.absolute) < plain.absolute_se
    assert adjusted.relative is not None and adjusted.relative_ci is not None
    assert adjusted.relative == pytest.approx(adjusted.absolute / adjusted.control)
    low, high = adjusted.relative_ci
    assert -0.5 < low < _true_ctr(True) / _true_ctr(False) - 1 < high < 0.5
    assert high - low < plain.relative_ci[1] - plain.relative_ci[0]  # type: ignore[index]
    engagement = _cuped(spec.metric("clicks_per_user"), units, is_c, ~is_c, 0.05)
    assert engagement == cuped(c[0], t[0], pre_control=c[2], pre_treatment=t[2], metric="clicks_per_user")


@pytest.mark.parametrize(("pre_denominators", "message"), [
    (np.zeros(3), "metric 'ctr (pre-experiment covariate)', arm 'control': the denominator sums to 0 over 3 "
                  "units, so the ratio is undefined. Lengthen cuped.pre_days"),
    (np.ones(3), "metric 'ctr': the pre-experiment ratio is the same for every unit of each arm (zero variance)"),
])
def test_ratio_errors_say_what_to_fix(pre_denominators: np.ndarray, message: str) -> None:
    pre_numerators = pre_denominators.copy()
    with pytest.raises(ExperimentError) as info:
        cuped_ratio(([1.0, 0.0, 2.0], [4.0, 3.0, 5.0]), ([2.0, 1.0, 1.0], [5.0, 4.0, 3.0]), metric="ctr",
                    pre_control=(pre_numerators, pre_denominators), pre_treatment=(pre_numerators, pre_denominators))
    assert message in str(info.value)
