"""The launch decision from an analysis, and promotion of the shipped model version.

Rules, in order:
1. A/A mode: nothing to ship; the reasons say whether the A/A check passed.
2. Invalid randomisation (sample ratio mismatch, units in several arms): "do not ship", fix it first.
3. Per treatment arm: a breached guardrail rules the arm out; the primary metric significantly better
   (always-valid p below alpha with ``sequential``, else the multiplicity-adjusted p) with every
   guardrail passing makes it a candidate; significantly worse rules it out; anything else (including
   a guardrail not yet shown to pass) needs more data.
4. "ship" the candidate with the largest improvement; else "keep running" while some arm is
   undecided (with the units the design asks for at the observed variance); else "do not ship".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from loopline.experiments._analysis import ExperimentAnalysis
from loopline.experiments._result import ResultDict

if TYPE_CHECKING:
    from loopline.registry import AliasChange, Registry

Recommendation = Literal["ship", "do not ship", "keep running"]
Verdict = Literal["ship", "breach", "worse", "pending"]


@dataclass(frozen=True)
class Decision(ResultDict):
    """The recommendation with its reasons; ``arm`` and ``summary`` name what ships and why."""

    recommendation: Recommendation
    reasons: list[str]
    arm: str | None = None
    summary: str | None = None
    improvements: dict[str, float] = field(default_factory=dict)


def summarize(analysis: ExperimentAnalysis, arm: str) -> str:
    """The primary effect of ``arm`` in one line, e.g. ``ctr treatment vs control: +8.1% (95% CI ...)``."""
    spec = analysis.spec
    found = analysis.effect(arm, spec.primary)
    e = found.effect
    level = f"{1 - spec.alpha:.0%} CI"
    if e.relative is not None and e.relative_ci is not None:
        size = f"{e.relative:+.2%} ({level} {e.relative_ci[0]:+.2%} to {e.relative_ci[1]:+.2%})"
    else:
        size = f"{e.absolute:+.4g} ({level} {e.absolute_ci[0]:+.4g} to {e.absolute_ci[1]:+.4g})"
    text = f"{spec.primary} {arm} vs {spec.control}: {size}, adjusted p={found.adjusted_p_value:.2g}"
    series = next((s for s in analysis.daily if s.arm == arm), None)
    if spec.sequential and series is not None and series.sequential is not None:
        text += f", always-valid p={series.sequential.p_values[-1]:.2g}"
    return text


def _verdict(analysis: ExperimentAnalysis, arm: str) -> tuple[Verdict, float, list[str]]:
    spec = analysis.spec
    guards = [g.result for g in analysis.guardrails if g.arm == arm]
    failed = [g for g in guards if g.verdict == "fail"]
    if failed:
        return "breach", 0.0, [f"guardrail breached in '{arm}': {g.message}" for g in failed]
    found = analysis.effect(arm, spec.primary)
    sign = 1.0 if found.higher_is_better else -1.0
    series = next((s for s in analysis.daily if s.arm == arm), None)
    if spec.sequential and series is not None and series.sequential is not None:
        result = series.sequential
        significant = result.p_values[-1] < spec.alpha
        look = (result.stop_look or len(result.estimates)) - 1
        gain = sign * result.estimates[look]
        how = f"always-valid p={result.p_values[-1]:.2g} (mSPRT; stopped on {series.stop_day})" if significant \
            else f"always-valid p={result.p_values[-1]:.2g} >= {spec.alpha:g}"
    else:
        significant = found.significant
        gain = sign * (found.cuped.adjusted.absolute if found.cuped is not None else found.effect.absolute)
        how = f"adjusted p={found.adjusted_p_value:.2g}" + (" < " if significant else " >= ") + f"{spec.alpha:g}"
    summary = summarize(analysis, arm)
    if significant and gain < 0:
        return "worse", gain, [f"'{spec.primary}' is significantly worse in '{arm}' ({how}): {summary}."]
    if significant and gain > 0:
        pending = [g for g in guards if g.verdict != "pass"]
        if pending:
            return "pending", gain, [f"'{spec.primary}' is better in '{arm}' ({how}), but a guardrail is not yet "
                                     f"shown to hold: {g.message}" for g in pending]
        held = f"; guardrails hold ({', '.join(g.metric for g in guards)})" if guards else ""
        return "ship", gain, [f"'{spec.primary}' is significantly better in '{arm}' ({how}): {summary}{held}."]
    return "pending", gain, [f"'{spec.primary}' shows no significant difference yet in '{arm}' ({how}): {summary}."]


def _more_units(analysis: ExperimentAnalysis) -> str | None:
    plan = analysis.design
    if plan is None:
        return None
    observed = [a.units for a in analysis.arms]
    extra = [max(0, need - have) for need, have in zip(plan.n_per_arm, observed, strict=True)]
    head = (f"the design needs {plan.n_per_arm[0]:,} units per arm to detect a {analysis.spec.mde_relative:.0%} "
            f"relative change in '{plan.metric}' with power {plan.target_power:.0%} at the observed variance")
    if not any(extra):
        return head + "; the arms already have that many, so the true effect is probably smaller than that."
    more = f"{head}: about {sum(extra):,} more units"
    if plan.daily_units:
        more += f", roughly {math.ceil(sum(extra) / plan.daily_units)} more day(s) at the observed enrolment"
    return more + "."


def decide(analysis: ExperimentAnalysis) -> Decision:
    """Recommend "ship", "do not ship" or "keep running" (see the module docstring for the rules)."""
    spec, validity = analysis.spec, analysis.validity
    if spec.aa:
        message = validity.aa.message if validity.aa is not None else "A/A check not run."
        return Decision("do not ship", ["A/A test: every arm runs the same policy, so there is nothing to ship.",
                                        message, *(i for i in validity.issues if i != message)])
    if not validity.valid:
        return Decision("do not ship", [*validity.issues])
    verdicts = {arm: _verdict(analysis, arm) for arm in spec.treatments}
    improvements = {arm: gain for arm, (_, gain, _) in verdicts.items()}
    reasons = [r for _, _, rs in verdicts.values() for r in rs]
    ship = [arm for arm, (v, _, _) in verdicts.items() if v == "ship"]
    if ship:
        best = max(ship, key=lambda a: improvements[a])
        return Decision("ship", [*verdicts[best][2], *validity.warnings], arm=best,
                        summary=summarize(analysis, best), improvements=improvements)
    if any(v == "pending" for v, _, _ in verdicts.values()):
        more = _more_units(analysis)
        return Decision("keep running", [*reasons, *([more] if more else []), *validity.warnings],
                        improvements=improvements)
    return Decision("do not ship", [*reasons, *validity.warnings], improvements=improvements)


def promote_on_ship(decision: Decision, registry: Registry, name: str, version: int, *,
                    experiment: str) -> AliasChange | None:
    """Make ``version`` of model ``name`` the champion when the decision is "ship"; else do nothing."""
    if decision.recommendation != "ship":
        return None
    return registry.promote(name, version, alias="champion",
                            reason=f"experiment {experiment}: ship ({decision.summary})", actor="experiments")
