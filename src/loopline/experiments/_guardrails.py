"""Guardrails: a one-sided non-inferiority test of a metric that must not get worse by more than a margin.

For a "higher is better" metric with margin ``m`` (absolute, or relative to control), the hypotheses
are ``H0: effect <= -m`` against ``H1: effect > -m``; for "lower is better" the sign flips
(``H0: effect >= m``). With ``b`` the one-sided ``1 - alpha`` confidence bound on the worse side:
- ``pass``: the bound is inside the margin (``p < alpha``): non-inferior;
- ``fail``: even the bound on the better side is beyond the margin: the metric is worse by more than ``m``;
- ``inconclusive``: otherwise; more data would decide.
The test reuses an :class:`Effect`: its t distribution when it has degrees of freedom, else the normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scipy import stats

from loopline._errors import ExperimentError
from loopline.experiments import _checks
from loopline.experiments._effects import Effect
from loopline.experiments._result import ResultDict

Direction = Literal["higher_is_better", "lower_is_better"]
Verdict = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class GuardrailResult(ResultDict):
    """The non-inferiority verdict with the numbers behind it (effects in the margin's scale)."""

    metric: str
    direction: str
    margin: float
    relative: bool
    estimate: float
    se: float
    worst_bound: float
    best_bound: float
    statistic: float
    p_value: float
    alpha: float
    verdict: Verdict
    message: str


def non_inferiority(effect: Effect, *, margin: float, relative: bool = False,
                    direction: Direction = "higher_is_better", alpha: float = 0.05) -> GuardrailResult:
    """Test that ``effect`` is not worse than ``margin`` (a positive amount of harm you accept).

    >>> from loopline.experiments import compare_means
    >>> e = compare_means([10.0, 11, 9, 10, 12, 8] * 50, [10.1, 11, 9, 10, 12, 8] * 50)
    >>> non_inferiority(e, margin=0.5).verdict
    'pass'
    """
    _checks.positive(margin, name=f"guardrail '{effect.metric}', margin")
    _checks.probability(alpha, name="alpha")
    if direction not in ("higher_is_better", "lower_is_better"):
        raise ExperimentError(
            f"guardrail '{effect.metric}', direction: expected 'higher_is_better' or 'lower_is_better', "
            f"got {direction!r}."
        )
    if relative:
        if effect.relative is None or effect.relative_se is None:
            raise ExperimentError(
                f"guardrail '{effect.metric}': a relative margin needs a non-zero control mean, and the "
                f"control estimate is {effect.control:g}. Give the margin in absolute units (relative=False)."
            )
        estimate, se, df = effect.relative, effect.relative_se, None
    else:
        estimate, se, df = effect.absolute, effect.absolute_se, effect.df
    sign = 1.0 if direction == "higher_is_better" else -1.0
    # Work in "improvement" units: positive is better, harm beyond the margin is below -margin.
    improvement = sign * estimate
    quantile = float(stats.norm.isf(alpha) if df is None else stats.t.isf(alpha, df))
    statistic = (improvement + margin) / se
    p_value = float(stats.norm.sf(statistic) if df is None else stats.t.sf(statistic, df))
    worst, best = improvement - quantile * se, improvement + quantile * se
    verdict: Verdict = "pass" if worst > -margin else "fail" if best < -margin else "inconclusive"
    scale = "relative " if relative else ""
    worse = "lower" if direction == "higher_is_better" else "higher"
    message = {
        "pass": f"'{effect.metric}' is not {worse} by more than the {scale}margin {margin:g} "
                f"(one-sided p={p_value:.3g} < {alpha:g}).",
        "fail": f"'{effect.metric}' is {worse} by more than the {scale}margin {margin:g}: even the "
                f"{1 - alpha:.0%} bound on the better side is past it.",
        "inconclusive": f"'{effect.metric}' may be {worse} by more than the {scale}margin {margin:g} "
                        f"(one-sided p={p_value:.3g}); collect more units to decide.",
    }[verdict]
    return GuardrailResult(
        metric=effect.metric, direction=direction, margin=float(margin), relative=relative,
        estimate=float(estimate), se=float(se), worst_bound=sign * worst, best_bound=sign * best,
        statistic=float(statistic), p_value=p_value, alpha=float(alpha), verdict=verdict, message=message,
    )
