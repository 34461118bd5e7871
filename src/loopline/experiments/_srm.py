"""Sample ratio mismatch: are the units split across arms as configured?

A chi-square goodness-of-fit test of the observed units per arm against the configured shares
(``scipy.stats.chisquare``, no continuity correction), alarming when ``p < alpha`` (0.001 by default:
a mismatch means broken assignment or logging, so false alarms must be rare, and true mismatches at
experiment scale give far smaller p-values).

The analysis runs it twice: on the units assigned to each arm, and on the units with a served
exposure (see :mod:`loopline.experiments._validity`), since balanced assignments can hide one arm's
lost exposures.

>>> srm([101_000, 99_000]).alarm, srm([100_200, 99_800]).alarm
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from loopline._errors import ExperimentError
from loopline.experiments import _checks
from loopline.experiments._result import ResultDict

DEFAULT_SRM_ALPHA = 0.001


@dataclass(frozen=True)
class SrmResult(ResultDict):
    """Observed and expected units per arm, the chi-square test and whether it alarms."""

    arms: tuple[str, ...]
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    shares: tuple[float, ...]
    statistic: float
    df: int
    p_value: float
    alpha: float
    alarm: bool


@dataclass(frozen=True)
class DailySrm(ResultDict):
    """The check on every day with units and on the cumulative counts; ``alarm_days`` lists days that alarm."""

    days: tuple[str, ...]
    by_day: tuple[SrmResult, ...]
    empty_days: tuple[str, ...]
    cumulative: SrmResult
    alarm_days: tuple[str, ...]


def _arm_names(arms: Sequence[str] | None, count: int) -> tuple[str, ...]:
    if arms is None:
        return ("control", *(f"treatment_{i}" for i in range(1, count))) if count > 2 else ("control", "treatment")
    names = tuple(str(a) for a in arms)
    if len(names) != count:
        raise ExperimentError(f"arms: expected {count} names (one per count), got {len(names)}: {list(names)}.")
    return names


def _counts(counts: ArrayLike, *, where: str) -> NDArray[np.float64]:
    array = np.asarray(counts, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array != np.round(array)):
        raise ExperimentError(f"{where}: expected non-negative whole numbers of units, got {array.tolist()}.")
    return array


def srm(counts: ArrayLike, shares: Sequence[float] | None = None, *, alpha: float = DEFAULT_SRM_ALPHA,
        arms: Sequence[str] | None = None) -> SrmResult:
    """Chi-square test of units per arm against configured ``shares`` (equal when not given)."""
    observed = _counts(counts, where="srm counts")
    if observed.ndim != 1 or observed.size < 2:
        raise ExperimentError(
            f"srm counts: expected one count per arm (at least 2 arms), got shape {observed.shape}."
        )
    _checks.probability(alpha, name="alpha")
    names = _arm_names(arms, observed.size)
    split = _checks.shares(shares, arms=observed.size)
    total = float(observed.sum())
    if total == 0:
        raise ExperimentError(
            "srm counts: no units in any arm; the experiment has no assignments yet. Check that assignment "
            "events are logged before checking the sample ratio."
        )
    expected = total * np.asarray(split) / sum(split)
    result = stats.chisquare(observed, expected)
    p_value = float(result.pvalue)
    return SrmResult(
        arms=names, observed=tuple(int(v) for v in observed), expected=tuple(float(v) for v in expected),
        shares=split, statistic=float(result.statistic), df=observed.size - 1, p_value=p_value,
        alpha=float(alpha), alarm=p_value < alpha,
    )


def srm_by_day(counts: ArrayLike, shares: Sequence[float] | None = None, *, alpha: float = DEFAULT_SRM_ALPHA,
               days: Sequence[str] | None = None, arms: Sequence[str] | None = None) -> DailySrm:
    """The SRM check per day on ``counts[day, arm]`` (new units each day), plus on the totals.

    Days with no units are listed in ``empty_days`` rather than tested.
    """
    table = _counts(counts, where="srm_by_day counts")
    if table.ndim != 2 or table.shape[1] < 2 or table.shape[0] == 0:
        raise ExperimentError(
            f"srm_by_day counts: expected a table of days x arms (at least 1 day, 2 arms), got shape {table.shape}."
        )
    labels = tuple(str(d) for d in days) if days is not None else tuple(f"day {i + 1}" for i in range(len(table)))
    if len(labels) != len(table):
        raise ExperimentError(f"days: expected {len(table)} labels (one per row of counts), got {len(labels)}.")
    tested = [(label, row) for label, row in zip(labels, table, strict=True) if row.sum() > 0]
    by_day = tuple(srm(row, shares, alpha=alpha, arms=arms) for _, row in tested)
    return DailySrm(
        days=tuple(label for label, _ in tested), by_day=by_day,
        empty_days=tuple(label for label, row in zip(labels, table, strict=True) if row.sum() == 0),
        cumulative=srm(table.sum(axis=0), shares, alpha=alpha, arms=arms),
        alarm_days=tuple(label for (label, _), r in zip(tested, by_day, strict=True) if r.alarm),
    )
