"""Can the experiment's results be trusted? Randomisation, novelty, A/A and calibration checks.

- **Sample ratio** (invalidating): units per arm against the configured weights, chi-square alarm at
  ``p < 0.001``; the same per UTC day of first exposure (an alarming day is a warning).
- **Sample ratio of exposed units** (invalidating): the same test on the units with at least one served
  exposure in the window (the units the effects are read from). Assignments can be balanced while one
  arm's exposures are lost (a logger that fails in one arm, a client that drops them), and then the
  units left in that arm are no longer a random half. Units, not exposure records, are tested:
  records per unit may differ by arm for good reasons (the treatment makes units come back more).
- **Units in several arms** (invalidating): a unit assigned to two arms is counted in its first arm,
  but deterministic assignment never does that, so the randomisation is broken.
- **A/A** (invalidating, ``aa: true`` only): every arm runs the same policy, so a significant primary
  effect (``p < alpha``) means the pipeline is broken.
- **Novelty or primacy** (warning): the primary effect trends with days since first exposure.
- **Calibration** (warning): per arm, the sum of served scores over the number of exposures with the
  primary metric's event; flagged when off by more than 10%. Only when every score lies in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopline.events import EventLog
from loopline.experiments._definition import ExperimentSpec
from loopline.experiments._effects import Effect
from loopline.experiments._frames import DAY_US, Session, micros
from loopline.experiments._result import ResultDict
from loopline.experiments._series import NoveltyCheck
from loopline.experiments._srm import DEFAULT_SRM_ALPHA, DailySrm, SrmResult, srm, srm_by_day

CALIBRATION_TOLERANCE = 0.10
FIX = "fix the randomisation before reading results"


@dataclass(frozen=True)
class CalibrationCheck(ResultDict):
    """Sum of predicted probabilities over observed outcomes in one arm (1.0 is calibrated on average)."""

    arm: str
    scored: int
    predicted: float
    outcomes: int
    ratio: float | None
    flagged: bool
    message: str


@dataclass(frozen=True)
class AACheck(ResultDict):
    """The A/A verdict on the primary metric: ``passed`` unless some arm differs significantly."""

    metric: str
    p_values: dict[str, float]
    alpha: float
    passed: bool
    message: str


@dataclass(frozen=True)
class Validity(ResultDict):
    """Every check, the invalidating ``issues`` and the ``warnings``; ``valid`` when there is no issue."""

    srm: SrmResult
    srm_by_day: DailySrm
    units_in_several_arms: int
    several_arms_examples: tuple[str, ...]
    novelty: tuple[NoveltyCheck, ...]
    calibration: tuple[CalibrationCheck, ...]
    aa: AACheck | None
    valid: bool
    issues: tuple[str, ...]
    warnings: tuple[str, ...]
    srm_exposed: SrmResult | None = None


def _sample_ratio(units: pd.DataFrame, spec: ExperimentSpec) -> tuple[SrmResult, DailySrm]:
    arms = spec.arm_names
    counts = units["arm"].value_counts()
    overall = srm([int(counts.get(a, 0)) for a in arms], spec.shares, arms=arms, alpha=DEFAULT_SRM_ALPHA)
    day = micros(units["assigned"]) // DAY_US
    first, last = int(day.min()), int(day.max())
    table = np.zeros((last - first + 1, len(arms)), dtype=np.int64)
    codes = pd.Categorical(units["arm"], categories=list(arms)).codes
    np.add.at(table, (day - first, codes), 1)
    labels = [str((pd.Timestamp(0, tz="UTC") + pd.Timedelta(days=d)).date()) for d in range(first, last + 1)]
    daily = srm_by_day(table, spec.shares, days=labels, arms=arms, alpha=DEFAULT_SRM_ALPHA)
    return overall, daily


def _exposed_ratio(units: pd.DataFrame, spec: ExperimentSpec) -> SrmResult | None:
    """The sample ratio of units with a served exposure (None without exposure data, or with no exposed unit)."""
    if "first_exposure" not in units.columns:
        return None
    exposed = units.loc[units["first_exposure"].notna(), "arm"].value_counts()
    if int(exposed.sum()) == 0:
        return None
    return srm([int(exposed.get(a, 0)) for a in spec.arm_names], spec.shares, arms=spec.arm_names,
               alpha=DEFAULT_SRM_ALPHA)


def _exposed_issue(exposed: SrmResult, units: pd.DataFrame) -> str:
    assigned = units["arm"].value_counts()
    observed = ", ".join(f"{a} {n:,}" for a, n in zip(exposed.arms, exposed.observed, strict=True))
    expected = ", ".join(f"{a} {s:.1%}" for a, s in zip(exposed.arms, exposed.shares, strict=True))
    lost = ", ".join(f"{a} {1 - n / int(assigned.get(a, 0)):.1%}" if assigned.get(a, 0) else f"{a} n/a"
                     for a, n in zip(exposed.arms, exposed.observed, strict=True))
    return (f"sample ratio mismatch among exposed units: units with a served exposure per arm {observed} against the "
            f"configured split {expected} (chi-square p={exposed.p_value:.2g} < {exposed.alpha:g}), although the "
            f"assignments match it; assigned units without a served exposure: {lost}. Exposures of some arm are "
            f"being lost (logging, the deployment filter, or serving that fails in one arm): {FIX}.")


def calibration_checks(sums: pd.DataFrame, arms: tuple[str, ...], event: str) -> tuple[CalibrationCheck, ...]:
    """Calibration per arm from ``arm, predicted, scored, min_score, max_score, outcomes`` rows."""
    rows: dict[str, dict[str, Any]] = {
        str(r["arm"]): {str(k): v for k, v in r.items()} for r in sums.to_dict("records")}
    scored_total = sum(int(r["scored"]) for r in rows.values())
    if scored_total == 0 or min(float(r["min_score"]) for r in rows.values() if r["scored"]) < 0 \
            or max(float(r["max_score"]) for r in rows.values() if r["scored"]) > 1:
        return ()
    checks = []
    for arm in arms:
        row = rows.get(arm)
        if row is None or int(row["scored"]) == 0:
            continue
        predicted, outcomes = float(row["predicted"]), int(row["outcomes"])
        ratio = predicted / outcomes if outcomes else None
        flagged = ratio is not None and abs(ratio - 1.0) > CALIBRATION_TOLERANCE
        if ratio is None:
            message = f"arm '{arm}': no scored exposure got a '{event}'; calibration cannot be checked."
        else:
            verdict = "off by more than 10%" if flagged else "within 10%"
            message = (f"arm '{arm}': scores sum to {predicted:.4g} for {outcomes} exposures with a '{event}' "
                       f"(ratio {ratio:.3f}, {verdict}).")
        checks.append(CalibrationCheck(arm=arm, scored=int(row["scored"]), predicted=predicted,
                                       outcomes=outcomes, ratio=ratio, flagged=flagged, message=message))
    return tuple(checks)


def aa_check(primary: dict[str, Effect], *, alpha: float) -> AACheck:
    """The A/A check on each treatment arm's primary effect (fixed-horizon p-value against ``alpha``)."""
    p_values = {arm: e.p_value for arm, e in primary.items()}
    failing = [arm for arm, p in p_values.items() if p < alpha]
    metric = next(iter(primary.values())).metric
    if failing:
        message = (f"A/A check failed: every arm runs the same policy, yet '{metric}' differs significantly in "
                   f"{', '.join(failing)} (p={min(p_values.values()):.2g} < {alpha:g}). The pipeline (assignment, "
                   "logging or the metric) is broken; fix it before running experiments.")
    else:
        message = f"A/A check passed: no arm differs on '{metric}' (smallest p={min(p_values.values()):.2g})."
    return AACheck(metric=metric, p_values=p_values, alpha=alpha, passed=not failing, message=message)


def assess(units: pd.DataFrame, spec: ExperimentSpec, *, novelty: tuple[NoveltyCheck, ...] = (),
           calibration: tuple[CalibrationCheck, ...] = (), aa: AACheck | None = None) -> Validity:
    """Gather the checks on the per-unit table (``unit, arm, assigned, arms``, and ``first_exposure`` for the
    sample ratio of exposed units) and the given results."""
    overall, daily = _sample_ratio(units, spec)
    exposed = _exposed_ratio(units, spec)
    several = units.loc[units["arms"] > 1, "unit"].astype(str)
    issues, warnings = [], []
    if overall.alarm:
        observed = ", ".join(f"{a} {n}" for a, n in zip(overall.arms, overall.observed, strict=True))
        expected = ", ".join(f"{a} {s:.1%}" for a, s in zip(overall.arms, overall.shares, strict=True))
        issues.append(f"sample ratio mismatch: units per arm {observed} against the configured split {expected} "
                      f"(chi-square p={overall.p_value:.2g} < {overall.alpha:g}); assignment or logging is broken, "
                      f"{FIX}.")
    elif exposed is not None and exposed.alarm:
        issues.append(_exposed_issue(exposed, units))
    if len(several):
        examples = ", ".join(sorted(several)[:5])
        issues.append(f"{len(several)} unit(s) were assigned to more than one arm (e.g. {examples}); each is counted "
                      f"in its first arm, but a unit must always see the same arm: {FIX}.")
    if aa is not None and not aa.passed:
        issues.append(aa.message)
    if daily.alarm_days:
        warnings.append(f"sample ratio mismatch among units first exposed on {', '.join(daily.alarm_days)}; check "
                        "assignment and logging on those days.")
    warnings.extend(c.message for c in novelty if c.flagged)
    warnings.extend(c.message for c in calibration if c.flagged)
    return Validity(srm=overall, srm_by_day=daily, units_in_several_arms=len(several),
                    several_arms_examples=tuple(sorted(several)[:5]), novelty=novelty, calibration=calibration,
                    aa=aa, valid=not issues, issues=tuple(issues), warnings=tuple(warnings), srm_exposed=exposed)


def check_assignments(log: EventLog, spec: ExperimentSpec) -> Validity:
    """The randomisation checks alone (sample ratio overall and by day, units in several arms).

    Reads only the assignments log, so it is cheap enough to run every hour of an experiment.
    """
    session = Session(log, spec)
    try:
        session.load_units()
        return assess(session.assignments(), spec)
    finally:
        session.close()
