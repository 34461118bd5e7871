"""The launch decision from an analysis, and promotion of the shipped model version.

Rules, in order:
1. A/A mode: nothing to ship; the reasons say whether the A/A check passed.
2. Invalid randomisation (sample ratio mismatch, units in several arms): "do not ship", fix it first.
3. Per treatment arm: a breached guardrail rules the arm out; the primary metric's verdict
   (:meth:`~loopline.experiments.ExperimentAnalysis.verdict`, the words the effects table shows) decides
   the rest: "better" (always-valid p below alpha with ``sequential``, else the multiplicity-adjusted p)
   with every guardrail passing makes it a candidate; "worse" rules it out; "not yet conclusive" (the
   fixed-horizon interval excludes 0, the always-valid one does not), "not significant" or a guardrail
   not yet shown to pass needs more data.
4. "ship" the candidate with the largest improvement; else "keep running" while some arm is
   undecided; else "do not ship". "Keep running" says how many more units the design asks for at the
   observed variance and how many days the observed enrolment curve needs to supply them (new units per
   day fall as returning units are already enrolled), or that the eligible population cannot supply
   them at all.

Promotion on "ship" moves ``champion`` only to the version the shipping arm served on every one of
its served exposures (see :func:`check_shipped_version`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from loopline._errors import ExperimentError
from loopline.experiments._analysis import ExperimentAnalysis
from loopline.experiments._result import ResultDict
from loopline.experiments._traffic import Enrolment

if TYPE_CHECKING:
    from loopline.registry import AliasChange, Registry

Recommendation = Literal["ship", "do not ship", "keep running"]
Verdict = Literal["ship", "breach", "worse", "pending"]
_VERSION = re.compile(r"[vV]?(\d+)")


@dataclass(frozen=True)
class Decision(ResultDict):
    """The recommendation with its reasons; ``arm`` and ``summary`` name what ships and why."""

    recommendation: Recommendation
    reasons: list[str]
    arm: str | None = None
    summary: str | None = None
    improvements: dict[str, float] = field(default_factory=dict)


def summarize(analysis: ExperimentAnalysis, arm: str) -> str:
    """The primary effect of ``arm`` in one line, e.g. ``ctr treatment vs control: +8.1% (95% CI ...)``.

    The effect is the one the p-value belongs to (CUPED-adjusted when CUPED ran), as in the effects table.
    """
    spec = analysis.spec
    found = analysis.effect(arm, spec.primary)
    e = found.tested
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
    word = analysis.verdict(arm, spec.primary)
    significant = word in ("better", "worse")
    result = analysis.sequential_test(arm)
    if result is not None and result.p_values:
        series = next(s for s in analysis.daily if s.arm == arm)
        look = (result.stop_look or len(result.estimates)) - 1
        gain = sign * result.estimates[look]
        how = f"always-valid p={result.p_values[-1]:.2g} (mSPRT; stopped on {series.stop_day})" if significant \
            else f"always-valid p={result.p_values[-1]:.2g} >= {spec.alpha:g}"
    else:
        gain = sign * found.tested.absolute
        how = f"adjusted p={found.adjusted_p_value:.2g}" + (" < " if significant else " >= ") + f"{spec.alpha:g}"
    summary = summarize(analysis, arm)
    if word == "not yet conclusive":
        fixed, valid = found.tested.absolute_ci, analysis.always_valid_ci(arm, spec.primary)
        shown = "" if valid is None else f" ({valid[0]:+.3g} to {valid[1]:+.3g})"
        return "pending", gain, [f"'{spec.primary}' is not yet conclusive in '{arm}': the fixed-horizon "
                                 f"{1 - spec.alpha:.0%} interval ({fixed[0]:+.3g} to {fixed[1]:+.3g}) excludes 0 but "
                                 f"the always-valid one{shown} does not ({how}), so an effect this size may still "
                                 f"be chance after looking every day: {summary}."]
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


def _enrolment_trend(curve: Enrolment) -> str:
    """The observed and fitted enrolment in words (first and last day's new units, the fitted fall per day)."""
    seen = f"{curve.new_units[0]:,} new units on {curve.days[0]}, {curve.new_units[-1]:,} on {curve.days[-1]}"
    if curve.decay >= 1.0:
        return f"{seen}; about {curve.rate:,.0f} a day and not falling"
    return f"{seen}; a fitted fall of {1 - curve.decay:.0%} a day as returning units are already enrolled"


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
    curve = analysis.enrolment
    if curve is None:
        if plan.daily_units:
            more += f", roughly {math.ceil(sum(extra) / plan.daily_units)} more day(s) at the observed enrolment"
        return more + "."
    shares = analysis.spec.shares
    # new units split by the configured shares, so the arm furthest behind its share sets what must enrol
    needed = max(e / (s / sum(shares)) for e, s in zip(extra, shares, strict=True))
    days = curve.days_for(needed)
    if days is not None:
        return f"{more}, roughly {days} more day(s) at the observed enrolment ({_enrolment_trend(curve)})."
    supply = 0.0 if curve.remaining is None else curve.remaining
    return (f"{more}, but the eligible population is nearly exhausted ({_enrolment_trend(curve)}): all the days to "
            f"come can supply only about {supply:,.0f} more units, so the experiment cannot reach the design however "
            "many more day(s) it runs. "
            "Enrol a larger share of traffic or more deployments, or design for a larger minimum detectable effect "
            "(mde_relative).")


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


def _number(label: str | None) -> int | None:
    """The version number a logged ``model_version`` names (``"3"``, ``"v3"``), else None."""
    if label is None:
        return None
    found = _VERSION.fullmatch(label.strip())
    return int(found.group(1)) if found else None


def _served_text(served: tuple[tuple[str | None, int], ...]) -> str:
    total = sum(n for _, n in served)
    return ", ".join(f"{'no model_version' if label is None else label} ({n / total:.1%} of {total:,} exposures)"
                     for label, n in served)


def check_shipped_version(analysis: ExperimentAnalysis, decision: Decision, version: int) -> None:
    """Raise :class:`ExperimentError` unless the shipping arm served ``version`` on every served exposure.

    The arm's effect was measured on whatever it served; promoting another version (a typo, or a model
    retrained since) would claim a result that version never earned. So every served exposure of the
    arm in the window must carry ``version`` (as ``"3"`` or ``"v3"``): an arm that served several
    versions, or exposures without a ``model_version``, leave nothing to promote on.
    """
    arm, name = decision.arm, analysis.experiment
    if arm is None:
        raise ExperimentError(f"experiment '{name}': the decision names no shipping arm, so version {version} "
                              "cannot be checked against what it served; promote by hand with "
                              "'loopline models promote'.")
    rows = next((o for o in analysis.offline_online if o.arm == arm), None)
    if rows is None:
        raise ExperimentError(f"experiment '{name}': the analysis holds no model versions per arm, so version "
                              f"{version} cannot be checked against what arm '{arm}' served. Analyse with the "
                              "registered model's name (--model) to read them from the exposure log.")
    served = rows.served
    numbers = {_number(label) for label, _ in served}
    if not served or all(label is None for label, _ in served):
        raise ExperimentError(f"experiment '{name}', --promote-on-ship {version}: the served exposures of the "
                              f"winning arm '{arm}' carry no model_version, so there is nothing to check version "
                              f"{version} against. Log model_version with every served exposure, or, after "
                              "checking by other means, promote by hand with 'loopline models promote'.")
    if numbers == {version}:
        return
    head = (f"experiment '{name}', --promote-on-ship {version}: the winning arm '{arm}' served "
            f"{_served_text(served)} during the experiment, not version {version}")
    if len(served) == 1:
        only = _number(served[0][0])
        if only is not None:
            raise ExperimentError(f"{head}. Promote the version whose effect was measured: "
                                  f"--promote-on-ship {only}.")
        raise ExperimentError(f"{head}: '{served[0][0]}' is not a version number ('3' or 'v3'). Log the registered "
                              "version number as model_version, or, after checking by other means, promote by hand "
                              "with 'loopline models promote'.")
    raise ExperimentError(f"{head}{' alone' if version in numbers else ''}; its effect belongs to that mix, not to "
                          "one version. Analyse a window in "
                          "which the arm served one version ('start:'/'end:' in the experiment spec), or promote "
                          "by hand with 'loopline models promote'.")


def promote_on_ship(analysis: ExperimentAnalysis, decision: Decision, registry: Registry, name: str,
                    version: int) -> AliasChange | None:
    """Make ``version`` of model ``name`` the champion when the decision is "ship"; else do nothing.

    Before anything is written, :func:`check_shipped_version` refuses a version the shipping arm did
    not serve.
    """
    if decision.recommendation != "ship":
        return None
    check_shipped_version(analysis, decision, version)
    return registry.promote(name, version, alias="champion",
                            reason=f"experiment {analysis.experiment}: ship ({decision.summary})",
                            actor="experiments")
