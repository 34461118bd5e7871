"""Two-sample effects with intervals: Welch t for means, z for proportions, delta method for ratios.

Every comparison is treatment minus control. ``relative`` is ``treatment / control - 1`` with a
delta-method interval (normal quantile) treating the two arms as independent:
``Var(t/c) ~ (Var(t) + (t/c)^2 Var(c)) / c^2``; it is ``None`` when the control estimate is 0.

>>> e = compare_proportions((100, 1000), (130, 1000))
>>> round(e.absolute, 3), round(e.p_value, 4)
(0.03, 0.0353)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from loopline._errors import ExperimentError
from loopline.experiments import _checks
from loopline.experiments._result import ResultDict


@dataclass(frozen=True)
class Effect(ResultDict):
    """Treatment minus control on one metric: estimates, standard errors, intervals and the test."""

    metric: str
    method: str
    n_control: int
    n_treatment: int
    control: float
    treatment: float
    absolute: float
    absolute_se: float
    absolute_ci: tuple[float, float]
    relative: float | None
    relative_se: float | None
    relative_ci: tuple[float, float] | None
    statistic: float
    p_value: float
    df: float | None
    alpha: float


@dataclass(frozen=True)
class RatioEstimate(ResultDict):
    """``sum(numerator) / sum(denominator)`` over units with its delta-method variance."""

    metric: str
    arm: str
    value: float
    variance: float
    se: float
    n_units: int


def two_sided_p(statistic: float, df: float | None) -> float:
    """Two-sided p-value of a t (``df`` given) or standard normal statistic."""
    if df is None:
        return float(2.0 * stats.norm.sf(abs(statistic)))
    return float(2.0 * stats.t.sf(abs(statistic), df))


def build_effect(*, metric: str, method: str, n: tuple[int, int], estimates: tuple[float, float],
                 variances: tuple[float, float], alpha: float, df: float | None = None,
                 statistic: float | None = None) -> Effect:
    """An :class:`Effect` from the two arms' estimates and the variances of those estimates.

    ``statistic`` overrides the default ``absolute / absolute_se`` (used by the pooled z-test).
    """
    control, treatment = estimates
    var_c, var_t = variances
    absolute = treatment - control
    se = math.sqrt(var_c + var_t)
    quantile = float(stats.norm.isf(alpha / 2) if df is None else stats.t.isf(alpha / 2, df))
    stat = absolute / se if statistic is None else statistic
    relative = relative_se = None
    relative_ci = None
    if control != 0:
        ratio = treatment / control
        relative = ratio - 1.0
        relative_se = math.sqrt(var_t + ratio * ratio * var_c) / abs(control)
        z = float(stats.norm.isf(alpha / 2))
        relative_ci = (relative - z * relative_se, relative + z * relative_se)
    return Effect(
        metric=metric, method=method, n_control=n[0], n_treatment=n[1], control=control, treatment=treatment,
        absolute=absolute, absolute_se=se, absolute_ci=(absolute - quantile * se, absolute + quantile * se),
        relative=relative, relative_se=relative_se, relative_ci=relative_ci, statistic=stat,
        p_value=two_sided_p(stat, df), df=df, alpha=alpha,
    )


def _zero_variance(metric: str, detail: str) -> ExperimentError:
    return ExperimentError(
        f"metric '{metric}' has zero variance in both arms (control and treatment): {detail}. "
        "No test can be computed; check that the metric is joined correctly, or report the effect as exact."
    )


def welch(control: NDArray[np.float64], treatment: NDArray[np.float64], *, metric: str, alpha: float,
          method: str = "welch_t") -> Effect:
    """Welch's unequal-variance t-test and interval on already validated per-unit arrays."""
    var_c = float(np.var(control, ddof=1)) / control.size
    var_t = float(np.var(treatment, ddof=1)) / treatment.size
    if var_c == 0 and var_t == 0:
        raise _zero_variance(metric, f"every control unit is {control[0]:g} and every treatment unit "
                                     f"is {treatment[0]:g}")
    df = (var_c + var_t) ** 2 / (var_c**2 / (control.size - 1) + var_t**2 / (treatment.size - 1))
    return build_effect(metric=metric, method=method, n=(control.size, treatment.size),
                        estimates=(float(control.mean()), float(treatment.mean())), variances=(var_c, var_t),
                        alpha=alpha, df=df)


def compare_means(control: ArrayLike, treatment: ArrayLike, *, alpha: float = 0.05,
                  metric: str = "metric") -> Effect:
    """Welch's t-test of per-unit means (as ``scipy.stats.ttest_ind(treatment, control, equal_var=False)``).

    The interval uses the t quantile at the Welch-Satterthwaite degrees of freedom, as statsmodels'
    ``CompareMeans.tconfint_diff(usevar='unequal')``.
    """
    _checks.probability(alpha, name="alpha")
    c = _checks.values(control, metric=metric, arm="control", minimum=2)
    t = _checks.values(treatment, metric=metric, arm="treatment", minimum=2)
    return welch(c, t, metric=metric, alpha=alpha)


def _counts(arm: tuple[int, int], *, metric: str, name: str) -> tuple[int, int]:
    pair = tuple(arm)
    if len(pair) != 2 or any(float(v) != int(v) for v in pair):
        raise ExperimentError(
            f"metric '{metric}', arm '{name}': expected (successes, trials) as two whole numbers, got {arm!r}."
        )
    successes, trials = (int(v) for v in pair)
    if trials <= 0:
        raise ExperimentError(
            f"metric '{metric}', arm '{name}' has no units (trials={trials}). Check that the arm received "
            "traffic and that its assignments were joined to the metric."
        )
    if not 0 <= successes <= trials:
        raise ExperimentError(
            f"metric '{metric}', arm '{name}': successes must lie in [0, trials], got {successes} of {trials}."
        )
    return successes, trials


def compare_proportions(control: tuple[int, int], treatment: tuple[int, int], *, alpha: float = 0.05,
                        pooled: bool = False, metric: str = "metric") -> Effect:
    """z-test of two proportions, each arm given as ``(successes, trials)``.

    The interval is always the unpooled Wald interval ``d ± z sqrt(p_c q_c / n_c + p_t q_t / n_t)``
    (statsmodels ``confint_proportions_2indep(method='wald')``). The test statistic is by default the
    same unpooled Wald z (statsmodels ``test_proportions_2indep(method='wald')``); ``pooled=True`` uses
    the pooled variance under the null, ``d / sqrt(p (1-p) (1/n_c + 1/n_t))`` (statsmodels
    ``proportions_ztest``, and ``test_proportions_2indep(method='score', correction=False)``).
    """
    _checks.probability(alpha, name="alpha")
    s_c, n_c = _counts(control, metric=metric, name="control")
    s_t, n_t = _counts(treatment, metric=metric, name="treatment")
    p_c, p_t = s_c / n_c, s_t / n_t
    var_c, var_t = p_c * (1 - p_c) / n_c, p_t * (1 - p_t) / n_t
    pooled_p = (s_c + s_t) / (n_c + n_t)
    if pooled_p in (0.0, 1.0):
        raise _zero_variance(metric, f"the rate is {pooled_p:g} in both arms")
    statistic = None
    if pooled:
        statistic = (p_t - p_c) / math.sqrt(pooled_p * (1 - pooled_p) * (1 / n_c + 1 / n_t))
    elif var_c == 0 and var_t == 0:
        raise _zero_variance(metric, f"the rate is {p_c:g} in control and {p_t:g} in treatment; "
                                     "use pooled=True for a test")
    return build_effect(metric=metric, method="z_pooled" if pooled else "z_unpooled", n=(n_c, n_t),
                        estimates=(p_c, p_t), variances=(var_c, var_t), alpha=alpha, statistic=statistic)


def estimate_ratio(numerator: ArrayLike, denominator: ArrayLike, *, metric: str = "ratio",
                   arm: str = "arm") -> RatioEstimate:
    """``sum(X) / sum(Y)`` over randomization units and its delta-method variance.

    ``Var(R) = (s_X^2 - 2 R s_XY + R^2 s_Y^2) / (n mean(Y)^2)`` with sample moments (ddof=1), the
    variance that respects the unit of randomisation (a per-impression formula treats a user's
    impressions as independent and understates it when they are correlated).

    >>> r = estimate_ratio([1, 0, 3], [2, 1, 4])
    >>> round(r.value, 4), r.n_units
    (0.5714, 3)
    """
    x = _checks.values(numerator, metric=metric, arm=arm, minimum=2)
    y = _checks.values(denominator, metric=metric, arm=arm, minimum=2)
    _checks.same_length(x, y, metric=metric, arm=arm, names=("numerator", "denominator"))
    mean_y = float(y.mean())
    if mean_y == 0:
        raise ExperimentError(
            f"metric '{metric}', arm '{arm}': the denominator sums to 0 over {y.size} units, so the ratio "
            "is undefined. Check the denominator events (e.g. impressions) were joined."
        )
    value = float(x.sum() / y.sum())
    cov = np.cov(x, y, ddof=1)
    variance = float(cov[0, 0] - 2 * value * cov[0, 1] + value * value * cov[1, 1]) / (x.size * mean_y**2)
    variance = max(variance, 0.0)
    return RatioEstimate(metric=metric, arm=arm, value=value, variance=variance, se=math.sqrt(variance),
                         n_units=int(x.size))


def compare_ratios(control: tuple[ArrayLike, ArrayLike], treatment: tuple[ArrayLike, ArrayLike], *,
                   alpha: float = 0.05, metric: str = "ratio") -> Effect:
    """z-test of a ratio metric; each arm is ``(numerator per unit, denominator per unit)``.

    Use it when the analysis unit (impression) is finer than the randomization unit (user): the
    delta-method variance of :func:`estimate_ratio` keeps the interval honest.
    """
    _checks.probability(alpha, name="alpha")
    c = estimate_ratio(*control, metric=metric, arm="control")
    t = estimate_ratio(*treatment, metric=metric, arm="treatment")
    if c.variance == 0 and t.variance == 0:
        raise _zero_variance(metric, f"the ratio is exactly {c.value:g} for every control unit and "
                                     f"{t.value:g} for every treatment unit")
    return build_effect(metric=metric, method="delta_method_z", n=(c.n_units, t.n_units),
                        estimates=(c.value, t.value), variances=(c.variance, t.variance), alpha=alpha)
