"""CUPED: variance reduction near rho^2, unbiasedness, and agreement with OLS and a direct computation."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from loopline import ExperimentError
from loopline.experiments import compare_means, cuped


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
