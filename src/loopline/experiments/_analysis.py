"""``analyze``: an A/B test read from the event log, every number coming from the statistics core.

For each treatment arm against control and each metric: the effect (``compare_proportions`` with the
unpooled z for proportions, Welch's ``compare_means`` for means, the delta-method ``compare_ratios``
for ratios); with CUPED the adjusted effect (``cuped`` for proportions and means, ``cuped_ratio`` for
ratios: the delta method's linearisation in each arm around its own ratio, so the adjusted effect
estimates the ratio difference ``R_t - R_c`` and the relative effect is relative to the control ratio,
even when the treatment changes the denominator). The p-values of every (arm, metric) pair,
CUPED-adjusted when CUPED ran, are adjusted together (Holm or Benjamini-Hochberg). Guardrails are
non-inferiority tests of the unadjusted effects. The primary metric also gets its cumulative effect
at the end of every UTC day and, with ``sequential``, the mSPRT always-valid p-values and confidence
sequence over those looks with the spec's ``mixing_variance`` (fixed at design time), else
``(mde_relative * control value at the first look)^2``, fixed then.

One verdict per effect, in the words the decision uses (:meth:`ExperimentAnalysis.verdict`): with
``sequential`` the primary metric is "better" or "worse" only once the always-valid test says so, and
"not yet conclusive" while the fixed-horizon interval excludes 0 but the always-valid one does not.
CUPED without pre-period data (or with a covariate that is the same for every unit) falls back to the
unadjusted effect with a note in ``notes``. The new units of each day give the enrolment curve
(:func:`~loopline.experiments._traffic.fit_enrolment`) the decision's "more days" come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from loopline._errors import ExperimentError
from loopline.events import EventLog
from loopline.experiments import _aggregates, _frames
from loopline.experiments._cuped import CovariateUnusable, CupedResult, cuped, cuped_ratio
from loopline.experiments._definition import EXPOSURES, ExperimentSpec, MetricSpec
from loopline.experiments._design import Design, MeanMetric, ProportionMetric, RatioMetric, design
from loopline.experiments._effects import Effect, compare_means, compare_proportions, compare_ratios
from loopline.experiments._guardrails import GuardrailResult, non_inferiority
from loopline.experiments._multiple import AdjustedPValues, adjust_pvalues
from loopline.experiments._offline import OfflineOnline, offline_online
from loopline.experiments._result import ResultDict
from loopline.experiments._sequential import SequentialResult
from loopline.experiments._series import DailySeries, daily_series, novelty
from loopline.experiments._traffic import Enrolment, fit_enrolment
from loopline.experiments._validity import Validity, aa_check, assess, calibration_checks

if TYPE_CHECKING:
    from loopline.registry import Registry

Direction = Literal["better", "worse", "neutral"]
EffectVerdict = Literal["better", "worse", "not significant", "not yet conclusive"]


@dataclass(frozen=True)
class ArmSummary(ResultDict):
    """Units, exposures and each metric's value in one arm (the configured share as ``weight``)."""

    arm: str
    weight: float
    units: int
    exposures: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class MetricEffect(ResultDict):
    """One treatment arm against control on one metric; ``p_value`` is the CUPED one when CUPED ran."""

    arm: str
    metric: str
    kind: str
    higher_is_better: bool
    effect: Effect
    cuped: CupedResult | None
    p_value: float
    adjusted_p_value: float
    significant: bool
    direction: Direction

    @property
    def tested(self) -> Effect:
        """The effect the p-value belongs to: CUPED's adjusted one when CUPED ran, else the plain one."""
        return self.cuped.adjusted if self.cuped is not None else self.effect


@dataclass(frozen=True)
class GuardrailCheck(ResultDict):
    arm: str
    result: GuardrailResult


@dataclass(frozen=True)
class ExperimentAnalysis(ResultDict):
    """Everything :func:`analyze` found; ``to_dict()`` gives the JSON twin for reports."""

    experiment: str
    spec: ExperimentSpec
    start: datetime
    end: datetime
    arms: tuple[ArmSummary, ...]
    effects: tuple[MetricEffect, ...]
    adjustment: AdjustedPValues
    guardrails: tuple[GuardrailCheck, ...]
    daily: tuple[DailySeries, ...]
    validity: Validity
    design: Design | None
    offline_online: tuple[OfflineOnline, ...]
    enrolment: Enrolment | None = None
    notes: tuple[str, ...] = ()

    def effect(self, arm: str, metric: str) -> MetricEffect:
        for found in self.effects:
            if found.arm == arm and found.metric == metric:
                return found
        raise ExperimentError(f"experiment '{self.experiment}' has no effect of arm '{arm}' on metric '{metric}'; "
                              f"arms: {', '.join(self.spec.treatments)}; metrics: "
                              f"{', '.join(m.name for m in self.spec.metrics)}.")

    def sequential_test(self, arm: str) -> SequentialResult | None:
        """The always-valid test of ``arm``'s primary effect when the spec decides sequentially, else None."""
        if not self.spec.sequential:
            return None
        series = next((s for s in self.daily if s.arm == arm), None)
        return None if series is None else series.sequential

    def always_valid_ci(self, arm: str, metric: str) -> tuple[float, float] | None:
        """The always-valid interval of the absolute effect at the last look (primary metric, sequential only)."""
        found = self.sequential_test(arm) if metric == self.spec.primary else None
        if found is None or not found.ci_low:
            return None
        return found.ci_low[-1], found.ci_high[-1]

    def verdict(self, arm: str, metric: str) -> EffectVerdict:
        """What the effect of ``arm`` on ``metric`` says, in the words the decision uses.

        The primary metric with ``sequential`` follows the always-valid test: "better" or "worse" once
        its p-value is below alpha (the sign of the estimate where it stopped), else "not yet
        conclusive" while the fixed-horizon test (the adjusted p, or the interval shown) would call it,
        else "not significant". Other metrics, or without ``sequential``: the adjusted p decides.
        """
        found = self.effect(arm, metric)
        sign = 1.0 if found.higher_is_better else -1.0
        test = self.sequential_test(arm) if metric == self.spec.primary else None
        if test is None or not test.p_values:
            if found.significant and found.direction != "neutral":
                return "better" if found.direction == "better" else "worse"
            return "not significant"
        if test.p_values[-1] < test.alpha:
            gain = sign * test.estimates[(test.stop_look or len(test.estimates)) - 1]
            return "better" if gain > 0 else "worse" if gain < 0 else "not significant"
        low, high = found.tested.absolute_ci
        return "not yet conclusive" if found.significant or low > 0 or high < 0 else "not significant"

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        for row, e in zip(data["effects"], self.effects, strict=True):
            row["verdict"] = self.verdict(e.arm, e.metric)
            ci = self.always_valid_ci(e.arm, e.metric)
            row["always_valid_ci"] = None if ci is None else list(ci)
        data["spec"] = self.spec.model_dump(mode="json")
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        return data


def unit_values(units: pd.DataFrame, metric: MetricSpec, *, pre: bool = False
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-unit numerator (0/1 for a proportion) and denominator (ratios only) of ``metric``."""
    prefix = "pre_" if pre else ""
    x = units[f"{prefix}{metric.event}_{'sum' if metric.value == 'sum' else 'count'}"].to_numpy(dtype=np.float64)
    if metric.kind == "proportion":
        x = (x > 0).astype(np.float64)
    if metric.kind != "ratio":
        return x, None
    column = f"{prefix}exposures" if metric.denominator == EXPOSURES else f"{prefix}{metric.denominator}_count"
    return x, units[column].to_numpy(dtype=np.float64)


def _compare(metric: MetricSpec, c: tuple[np.ndarray, np.ndarray | None], t: tuple[np.ndarray, np.ndarray | None],
             alpha: float) -> Effect:
    if metric.kind == "proportion":
        return compare_proportions((int(c[0].sum()), c[0].size), (int(t[0].sum()), t[0].size), alpha=alpha,
                                   metric=metric.name)
    if metric.kind == "mean":
        return compare_means(c[0], t[0], alpha=alpha, metric=metric.name)
    if c[1] is None or t[1] is None:
        raise ExperimentError(f"metric '{metric.name}': a ratio needs a denominator per unit.")
    return compare_ratios((c[0], c[1]), (t[0], t[1]), alpha=alpha, metric=metric.name)


def _cuped(metric: MetricSpec, units: pd.DataFrame, is_c: np.ndarray, is_t: np.ndarray, alpha: float) -> CupedResult:
    x, y = unit_values(units, metric)
    u, v = unit_values(units, metric, pre=True)
    if y is None or v is None:
        return cuped(x[is_c], x[is_t], pre_control=u[is_c], pre_treatment=u[is_t], alpha=alpha, metric=metric.name)
    return cuped_ratio((x[is_c], y[is_c]), (x[is_t], y[is_t]), pre_control=(u[is_c], v[is_c]),
                       pre_treatment=(u[is_t], v[is_t]), alpha=alpha, metric=metric.name)


def _enrolment(assigned_day: np.ndarray, start_us: int, end_us: int) -> Enrolment | None:
    """New units per UTC day of the window ``[start_us, end_us)``, each day weighted by its share inside it."""
    first, last = start_us // _frames.DAY_US, (end_us - 1) // _frames.DAY_US
    days = np.arange(first, last + 1, dtype=np.int64)
    counts = np.bincount(np.clip(assigned_day - first, 0, last - first), minlength=days.size)
    inside = np.minimum(end_us, (days + 1) * _frames.DAY_US) - np.maximum(start_us, days * _frames.DAY_US)
    labels = [str((pd.Timestamp(0, tz="UTC") + pd.Timedelta(days=int(d))).date()) for d in days]
    try:
        return fit_enrolment(counts, np.clip(inside / _frames.DAY_US, 0.0, 1.0), days=labels)
    except ExperimentError:
        return None


def _no_pre_period(spec: ExperimentSpec, units: pd.DataFrame, start: datetime) -> str | None:
    """The note when CUPED is asked for but no unit was exposed in the pre-period."""
    if spec.cuped is None or units["pre_exposures"].to_numpy().any():
        return None
    since = (start - timedelta(days=spec.cuped.pre_days)).isoformat()[:16]
    return (f"CUPED is off: no unit of experiment '{spec.name}' has a served exposure in the {spec.cuped.pre_days:g} "
            f"day(s) before its start ({since} to {start.isoformat()[:16]}), so every effect is unadjusted. Check the "
            "pre-period exposures are logged (same deployment and unit column), lengthen cuped.pre_days, or remove "
            "'cuped:' from the experiment spec.")


def _direction(effect: Effect, higher_is_better: bool) -> Direction:
    gain = effect.absolute if higher_is_better else -effect.absolute
    return "better" if gain > 0 else "worse" if gain < 0 else "neutral"


def _primary_design(spec: ExperimentSpec, units: pd.DataFrame, is_c: np.ndarray, days: float) -> Design | None:
    """Units per arm needed to detect ``mde_relative`` on the primary metric at the observed control variance."""
    metric = spec.metric(spec.primary)
    x, y = unit_values(units, metric)
    try:
        if metric.kind == "proportion":
            model: ProportionMetric | MeanMetric | RatioMetric = ProportionMetric(float(x[is_c].mean()), metric.name)
        elif metric.kind == "mean":
            model = MeanMetric.from_values(x[is_c], name=metric.name)
        else:
            model = RatioMetric.from_units(x[is_c], x[is_c] if y is None else y[is_c], name=metric.name)
        return design(model, mde=spec.mde_relative, relative=True, alpha=spec.alpha, arms=len(spec.arms),
                      shares=spec.shares, daily_units=len(units) / max(days, 1.0), sequential=spec.sequential)
    except ExperimentError:
        return None


def analyze(log: EventLog, spec: ExperimentSpec, *, registry: Registry | None = None,
            model_name: str | None = None) -> ExperimentAnalysis:
    """Analyse experiment ``spec.name`` from the assignments, exposures and feedback in ``log``."""
    session = _frames.Session(log, spec)
    try:
        session.load_units()
        session.load_exposures()
        session.load_feedback()
        frame = session.unit_frame()
        primary = spec.metric(spec.primary)
        increments = _aggregates.daily_moments(session, primary)
        by_age = _aggregates.age_moments(session, primary)
        calibration = calibration_checks(_aggregates.calibration_sums(session, primary.event), spec.arm_names,
                                         primary.event)
        versions = _aggregates.model_versions(session) if registry is not None and model_name is not None else None
    finally:
        session.close()
    units = frame.units
    arm_of = units["arm"].to_numpy()
    is_c = arm_of == spec.control
    summaries = []
    for arm in spec.arm_names:
        rows = units[arm_of == arm]
        values = {}
        for m in spec.metrics:
            x, y = unit_values(rows, m)
            values[m.name] = float(x.sum() / y.sum()) if y is not None and y.sum() else float(x.mean())
        summaries.append(ArmSummary(arm=arm, weight=spec.arms[arm], units=len(rows),
                                    exposures=int(rows["exposures"].sum()), metrics=values))
    no_pre = _no_pre_period(spec, units, frame.start)
    notes = [] if no_pre is None else [no_pre]
    raw: list[tuple[str, MetricSpec, Effect, CupedResult | None]] = []
    for arm in spec.treatments:
        is_t = arm_of == arm
        for m in spec.metrics:
            x, y = unit_values(units, m)
            adjusted = None
            try:
                effect = _compare(m, (x[is_c], None if y is None else y[is_c]),
                                  (x[is_t], None if y is None else y[is_t]), spec.alpha)
                if spec.cuped is not None and no_pre is None:
                    try:
                        adjusted = _cuped(m, units, is_c, is_t, spec.alpha)
                    except CovariateUnusable as exc:
                        notes.append(f"CUPED is off for '{m.name}', {arm} vs {spec.control}: {exc} The effect "
                                     "shown is unadjusted.")
            except ExperimentError as exc:
                raise ExperimentError(f"experiment '{spec.name}', {arm} vs {spec.control}: {exc}") from None
            raw.append((arm, m, effect, adjusted))
    p_values = [c.adjusted.p_value if c is not None else e.p_value for _, _, e, c in raw]
    family = adjust_pvalues(p_values, method=spec.correction, alpha=spec.alpha,
                            names=[f"{arm}:{m.name}" for arm, m, _, _ in raw])
    effects = tuple(
        MetricEffect(arm=arm, metric=m.name, kind=m.kind, higher_is_better=m.higher_is_better, effect=e, cuped=c,
                     p_value=p, adjusted_p_value=q, significant=r,
                     direction=_direction(c.adjusted if c is not None else e, m.higher_is_better))
        for (arm, m, e, c), p, q, r in zip(raw, p_values, family.adjusted, family.rejected, strict=True))
    by_metric = {(arm, m.name): e for arm, m, e, _ in raw}
    guardrails = tuple(
        GuardrailCheck(arm=arm, result=non_inferiority(
            by_metric[(arm, g.metric)], margin=g.margin, relative=g.relative, alpha=spec.alpha,
            direction="higher_is_better" if spec.metric(g.metric).higher_is_better else "lower_is_better"))
        for arm in spec.treatments for g in spec.guardrails)
    start_us, end_us = _frames._us(frame.start), _frames._us(frame.end)
    assigned_day = _frames.micros(units["assigned"]) // _frames.DAY_US
    enrolled = pd.DataFrame({"arm": arm_of, "day": assigned_day, "units": 1.0})
    daily = daily_series(increments, enrolled, kind=primary.kind, metric=primary.name, arms=spec.arm_names,
                         first_day=start_us // _frames.DAY_US, last_day=(end_us - 1) // _frames.DAY_US,
                         alpha=spec.alpha, mixing_variance=spec.mixing_variance if spec.sequential else None,
                         mde_relative=spec.mde_relative if spec.sequential else None)
    first = _frames.micros(units["first_exposure"].dropna())
    max_age = (end_us - first) // _frames.DAY_US - 1
    eligible = pd.DataFrame({"arm": units.loc[units["first_exposure"].notna(), "arm"].to_numpy(),
                             "max_age": max_age})
    eligible = pd.DataFrame([{"arm": a, "age": k, "units": float((g["max_age"] >= k).sum())}
                             for a, g in eligible.groupby("arm") for k in range(int(max(g["max_age"].max() + 1, 0)))],
                            columns=["arm", "age", "units"])
    trends = novelty(by_age, eligible, kind=primary.kind, metric=primary.name, arms=spec.arm_names)
    aa = aa_check({e.arm: e.effect for e in effects if e.metric == primary.name}, alpha=spec.alpha) if spec.aa \
        else None
    validity = assess(units, spec, novelty=trends, calibration=calibration, aa=aa)
    days = (end_us - start_us) / _frames.DAY_US
    gaps: tuple[OfflineOnline, ...] = ()
    if versions is not None and registry is not None and model_name is not None:
        gaps = offline_online(versions, registry, model_name, arms=spec.arm_names, metric=primary.name,
                              online={s.arm: s.metrics[primary.name] for s in summaries},
                              effects={e.arm: e.effect for e in effects if e.metric == primary.name})
    return ExperimentAnalysis(
        experiment=spec.name, spec=spec, start=frame.start, end=frame.end, arms=tuple(summaries), effects=effects,
        adjustment=family, guardrails=guardrails, daily=daily, validity=validity,
        design=_primary_design(spec, units, is_c, days), offline_online=gaps,
        enrolment=_enrolment(assigned_day, start_us, end_us), notes=tuple(notes),
    )
