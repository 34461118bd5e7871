"""CUPED: variance reduction with a pre-experiment covariate (Deng, Xu, Kohavi and Walker, 2013).

``theta = cov(Y, X) / var(X)`` is estimated once on both arms pooled (the paper's choice; it equals
the slope of the OLS fit ``Y ~ 1 + X`` over all units). Each unit's metric becomes
``Y - theta (X - mean(X))`` with the pooled mean of ``X``, and the adjusted values go through Welch's
t-test. The effect therefore equals the treatment coefficient of ``Y - theta X ~ 1 + T`` exactly; the
regression ``Y ~ 1 + T + X`` estimates theta within arms instead and differs by
``(theta_ols - theta) (mean(X_t) - mean(X_c))``, which is tiny under randomisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from loopline._errors import ExperimentError
from loopline.experiments import _checks
from loopline.experiments._effects import Effect, welch
from loopline.experiments._result import ResultDict


@dataclass(frozen=True)
class CupedResult(ResultDict):
    """The CUPED-adjusted effect beside the unadjusted one, with theta and the variance reduction.

    ``variance_reduction`` is ``1 - se_adjusted^2 / se_unadjusted^2`` for the absolute effect; with a
    covariate correlated ``rho`` with the metric it is close to ``rho^2``.
    """

    metric: str
    theta: float
    covariate_mean: float
    correlation: float
    variance_reduction: float
    adjusted: Effect
    unadjusted: Effect


def cuped(control: ArrayLike, treatment: ArrayLike, *, pre_control: ArrayLike, pre_treatment: ArrayLike,
          alpha: float = 0.05, metric: str = "metric") -> CupedResult:
    """Compare per-unit means after removing what the pre-experiment covariate predicts.

    ``pre_control`` / ``pre_treatment`` hold the covariate (usually the same metric before the
    experiment started) for the same units, in the same order, as ``control`` / ``treatment``.
    """
    _checks.probability(alpha, name="alpha")
    y_c = _checks.values(control, metric=metric, arm="control", minimum=2)
    y_t = _checks.values(treatment, metric=metric, arm="treatment", minimum=2)
    x_c = _checks.values(pre_control, metric=f"{metric} (pre-experiment covariate)", arm="control")
    x_t = _checks.values(pre_treatment, metric=f"{metric} (pre-experiment covariate)", arm="treatment")
    _checks.same_length(y_c, x_c, metric=metric, arm="control", names=("the metric", "pre_control"))
    _checks.same_length(y_t, x_t, metric=metric, arm="treatment", names=("the metric", "pre_treatment"))
    y = np.concatenate([y_c, y_t])
    x = np.concatenate([x_c, x_t])
    x_mean = float(x.mean())
    x_dev = x - x_mean
    sxx = float(x_dev @ x_dev)
    if sxx == 0:
        raise ExperimentError(
            f"metric '{metric}': the pre-experiment covariate is {x[0]:g} for every unit in both arms "
            "(zero variance), so it cannot reduce variance. Use a covariate that varies, or drop CUPED."
        )
    y_dev = y - y.mean()
    sxy = float(x_dev @ y_dev)
    theta = sxy / sxx
    syy = float(y_dev @ y_dev)
    correlation = sxy / float(np.sqrt(sxx * syy)) if syy > 0 else 0.0
    unadjusted = welch(y_c, y_t, metric=metric, alpha=alpha)
    adjusted = welch(y_c - theta * (x_c - x_mean), y_t - theta * (x_t - x_mean), metric=metric, alpha=alpha,
                     method="cuped_welch_t")
    return CupedResult(
        metric=metric, theta=theta, covariate_mean=x_mean, correlation=correlation,
        variance_reduction=1.0 - adjusted.absolute_se**2 / unadjusted.absolute_se**2,
        adjusted=adjusted, unadjusted=unadjusted,
    )
