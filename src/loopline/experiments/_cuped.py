"""CUPED: variance reduction with a pre-experiment covariate (Deng, Xu, Kohavi and Walker, 2013).

``theta = cov(Y, X) / var(X)`` is estimated once on both arms pooled (the paper's choice; it equals
the slope of the OLS fit ``Y ~ 1 + X`` over all units). Each unit's metric becomes
``Y - theta (X - mean(X))`` with the pooled mean of ``X``, and the adjusted values go through Welch's
t-test. The effect therefore equals the treatment coefficient of ``Y - theta X ~ 1 + T`` exactly; the
regression ``Y ~ 1 + T + X`` estimates theta within arms instead and differs by
``(theta_ols - theta) (mean(X_t) - mean(X_c))``, which is tiny under randomisation.

A ratio metric ``R = sum(x) / sum(y)`` (clicks per exposure) is not a mean of units, so
:func:`cuped_ratio` works on the delta method's linearisation (Deng, Knoblich and Lu, 2018, "Applying
the Delta Method in Metric Analytics", KDD; CUPED for ratios as in appendix B of the 2013 paper):
in each arm, unit ``i`` contributes ``f_i = (x_i - R y_i) / mean(y)`` around that arm's own ratio
``R`` and mean denominator, and ``g_i = (u_i - Q v_i) / mean(v)`` around the arm's pre-period ratio
``Q = sum(u) / sum(v)``; to first order ``R - E[R] = mean(f)`` and ``Var(R) = var(f) / n``. The
adjusted ratio of an arm is ``R - theta (Q - Q_all)`` with ``theta = sum(f g) / sum(g^2)`` over both
arms (``f`` and ``g`` have mean 0 in each arm, so this is the within-arm slope) and ``Q_all`` the
pre-period ratio of all units; its variance is ``var(f - theta g) / n``. The absolute effect is thus
the difference of adjusted ratios, an estimate of ``R_t - R_c`` even when the treatment changes the
denominator (exposures per unit), and the relative effect is that difference over the adjusted
control ratio with the delta-method interval of :func:`~loopline.experiments._effects.build_effect`.
With ``y = v = 1`` it is CUPED on means with theta from ``Y ~ 1 + T + X``.

A covariate that cannot reduce variance (no pre-period data, or the same value for every unit) raises
:class:`CovariateUnusable`, an :class:`~loopline.ExperimentError` the analysis turns into a note and
an unadjusted effect rather than a failed analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from loopline._errors import ExperimentError
from loopline.experiments import _checks
from loopline.experiments._effects import Effect, _zero_variance, build_effect, compare_ratios, welch
from loopline.experiments._result import ResultDict


class CovariateUnusable(ExperimentError):
    """The pre-experiment covariate cannot adjust anything: it is missing (no pre-period data) or constant."""


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
        raise CovariateUnusable(
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


def _ratio_arm(numerator: ArrayLike, denominator: ArrayLike, *, metric: str, arm: str, period: str
               ) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """The arm's per-unit linearisation ``(x - R y) / mean(y)``, its values (x and y stacked) and its ratio ``R``."""
    name = metric if period == "post" else f"{metric} (pre-experiment covariate)"
    x = _checks.values(numerator, metric=name, arm=arm, minimum=2)
    y = _checks.values(denominator, metric=name, arm=arm, minimum=2)
    _checks.same_length(x, y, metric=name, arm=arm, names=("numerator", "denominator"))
    total = float(y.sum())
    if total == 0:
        error = ExperimentError if period == "post" else CovariateUnusable
        fix = ("Check the denominator events (e.g. impressions) were joined." if period == "post" else
               "Lengthen cuped.pre_days so units have pre-period exposures, or drop CUPED for this metric.")
        raise error(f"metric '{name}', arm '{arm}': the denominator sums to 0 over {y.size} units, "
                    f"so the ratio is undefined. {fix}")
    ratio = float(x.sum()) / total
    return (x - ratio * y) / (total / y.size), np.stack([x, y]), ratio


def cuped_ratio(control: tuple[ArrayLike, ArrayLike], treatment: tuple[ArrayLike, ArrayLike], *,
                pre_control: tuple[ArrayLike, ArrayLike], pre_treatment: tuple[ArrayLike, ArrayLike],
                alpha: float = 0.05, metric: str = "ratio") -> CupedResult:
    """CUPED for a ratio metric; each argument is ``(numerator per unit, denominator per unit)``.

    The pre-period pairs hold the same ratio's numerator and denominator before the experiment, for
    the same units in the same order. ``unadjusted`` is :func:`compare_ratios`; ``adjusted`` estimates
    the same ratio difference ``R_t - R_c`` with the variance the covariate explains removed (see the
    module docstring); ``covariate_mean`` is the pre-period ratio over all units.

    >>> r = cuped_ratio(([1, 0, 2, 1], [4, 2, 5, 3]), ([2, 1, 3, 1], [5, 3, 6, 2]),
    ...                 pre_control=([1, 0, 2, 0], [3, 2, 4, 3]), pre_treatment=([2, 0, 3, 1], [4, 3, 5, 2]))
    >>> round(r.unadjusted.absolute, 4), round(r.theta, 3), r.adjusted.method
    (0.1518, 0.285, 'cuped_delta_method_z')
    """
    _checks.probability(alpha, name="alpha")
    f_c, post_c, r_c = _ratio_arm(*control, metric=metric, arm="control", period="post")
    f_t, post_t, r_t = _ratio_arm(*treatment, metric=metric, arm="treatment", period="post")
    g_c, pre_c, q_c = _ratio_arm(*pre_control, metric=metric, arm="control", period="pre")
    g_t, pre_t, q_t = _ratio_arm(*pre_treatment, metric=metric, arm="treatment", period="pre")
    _checks.same_length(f_c, g_c, metric=metric, arm="control", names=("the metric", "pre_control"))
    _checks.same_length(f_t, g_t, metric=metric, arm="treatment", names=("the metric", "pre_treatment"))
    unadjusted = compare_ratios((post_c[0], post_c[1]), (post_t[0], post_t[1]), alpha=alpha, metric=metric)
    sgg = float(g_c @ g_c + g_t @ g_t)
    if sgg == 0:
        raise CovariateUnusable(
            f"metric '{metric}': the pre-experiment ratio is the same for every unit of each arm (zero "
            "variance), so it cannot reduce variance. Use a covariate that varies, or drop CUPED."
        )
    sfg = float(f_c @ g_c + f_t @ g_t)
    sff = float(f_c @ f_c + f_t @ f_t)
    theta = sfg / sgg
    pooled = float(pre_c[0].sum() + pre_t[0].sum()) / float(pre_c[1].sum() + pre_t[1].sum())
    var_c = float(np.var(f_c - theta * g_c, ddof=1)) / f_c.size
    var_t = float(np.var(f_t - theta * g_t, ddof=1)) / f_t.size
    if var_c == 0 and var_t == 0:
        raise _zero_variance(metric, "the pre-experiment ratio explains every unit's contribution exactly")
    adjusted = build_effect(metric=metric, method="cuped_delta_method_z", n=(f_c.size, f_t.size),
                            estimates=(r_c - theta * (q_c - pooled), r_t - theta * (q_t - pooled)),
                            variances=(var_c, var_t), alpha=alpha)
    return CupedResult(
        metric=metric, theta=theta, covariate_mean=pooled,
        correlation=sfg / float(np.sqrt(sff * sgg)) if sff > 0 else 0.0,
        variance_reduction=1.0 - adjusted.absolute_se**2 / unadjusted.absolute_se**2,
        adjusted=adjusted, unadjusted=unadjusted,
    )
