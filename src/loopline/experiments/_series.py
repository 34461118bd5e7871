"""Effects from per-arm moment sums: the daily cumulative series (sequential looks) and effects by age.

A look or an age bucket is summarised per arm by ``n`` units and the sums ``x, x^2, y, y^2, xy`` of
their per-unit numerator ``x`` and denominator ``y`` (and the units with ``x > 0``), so millions of
units never leave DuckDB. The estimates and variances are those of the statistics core on the same
units: proportions go through :func:`compare_proportions`; means use the Welch variance and degrees
of freedom, and ratios the delta-method variance of :func:`estimate_ratio`, written in moments and
handed to the core's ``build_effect``.

The novelty check fits a weighted least-squares line (weights ``1/se^2``, variances taken as known)
to the effect at each day of age (days since a unit's first exposure); its slope over ``se`` is a z
statistic. A significant slope means the effect is changing as units get used to the treatment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from loopline._errors import ExperimentError
from loopline.experiments._definition import MetricKind
from loopline.experiments._effects import Effect, build_effect, compare_proportions
from loopline.experiments._result import ResultDict
from loopline.experiments._sequential import SequentialResult, msprt

MOMENTS = ("sx", "sxx", "sy", "syy", "sxy", "converted")
NOVELTY_ALPHA = 0.01


@dataclass(frozen=True)
class Moments:
    n: float
    sx: float
    sxx: float
    sy: float
    syy: float
    sxy: float
    converted: float


def _no_test(metric: str, detail: str) -> ExperimentError:
    return ExperimentError(f"metric '{metric}': {detail}; no effect can be computed at this look.")


def moment_effect(kind: MetricKind, control: Moments, treatment: Moments, *, alpha: float, metric: str) -> Effect:
    """Treatment minus control from moment sums, as the core's compare_* would give on the units."""
    if min(control.n, treatment.n) < 2:
        raise _no_test(metric, "fewer than 2 units in an arm")
    if kind == "proportion":
        return compare_proportions((round(control.converted), round(control.n)),
                                   (round(treatment.converted), round(treatment.n)), alpha=alpha, metric=metric)
    estimates, variances = [], []
    for m in (control, treatment):
        mx, my = m.sx / m.n, m.sy / m.n
        cxx = (m.sxx - m.n * mx * mx) / (m.n - 1)
        if kind == "mean":
            estimates.append(mx)
            variances.append(max(cxx, 0.0) / m.n)
            continue
        if m.sy == 0:
            raise _no_test(metric, "the ratio's denominator is 0 in an arm")
        ratio = m.sx / m.sy
        cyy = (m.syy - m.n * my * my) / (m.n - 1)
        cxy = (m.sxy - m.n * mx * my) / (m.n - 1)
        estimates.append(ratio)
        variances.append(max((cxx - 2 * ratio * cxy + ratio * ratio * cyy) / (m.n * my * my), 0.0))
    if variances[0] == 0 and variances[1] == 0:
        raise _no_test(metric, "zero variance in both arms")
    if kind == "ratio":
        return build_effect(metric=metric, method="delta_method_z", n=(round(control.n), round(treatment.n)),
                            estimates=(estimates[0], estimates[1]), variances=(variances[0], variances[1]),
                            alpha=alpha)
    df = (variances[0] + variances[1]) ** 2 / (variances[0] ** 2 / (control.n - 1)
                                               + variances[1] ** 2 / (treatment.n - 1))
    return build_effect(metric=metric, method="welch_t", n=(round(control.n), round(treatment.n)),
                        estimates=(estimates[0], estimates[1]), variances=(variances[0], variances[1]),
                        alpha=alpha, df=df)


@dataclass(frozen=True)
class DailySeries(ResultDict):
    """The primary metric's cumulative effect at the end of each UTC day (looks without a test are left out).

    With ``sequential`` the always-valid p-values and confidence sequence (mSPRT) run over these looks;
    ``stop_day`` is the first day whose always-valid p-value fell below alpha.
    """

    arm: str
    metric: str
    days: tuple[str, ...]
    n_control: tuple[int, ...]
    n_treatment: tuple[int, ...]
    control: tuple[float, ...]
    treatment: tuple[float, ...]
    absolute: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    relative: tuple[float | None, ...]
    sequential: SequentialResult | None
    stop_day: str | None


def _grid(frame: pd.DataFrame, key: str, arm: str, size: int, offset: int,
          columns: tuple[str, ...] = MOMENTS) -> dict[str, np.ndarray]:
    """Sum ``columns`` of ``arm``'s rows into ``size`` slots by ``key - offset`` (clipped into range)."""
    rows = frame[frame["arm"] == arm]
    at = np.clip(rows[key].to_numpy(dtype=np.int64) - offset, 0, size - 1)
    out = {}
    for name in columns:
        values = np.zeros(size)
        np.add.at(values, at, rows[name].to_numpy(dtype=np.float64))
        out[name] = values
    return out


def _moments(grid: dict[str, np.ndarray], n: np.ndarray, i: int) -> Moments:
    return Moments(float(n[i]), *(float(grid[name][i]) for name in MOMENTS))


def daily_series(increments: pd.DataFrame, enrolled: pd.DataFrame, *, kind: MetricKind, metric: str,
                 arms: tuple[str, ...], first_day: int, last_day: int, alpha: float,
                 mixing_variance: float | None, mde_relative: float | None = None) -> tuple[DailySeries, ...]:
    """Cumulative looks per treatment arm from per-day increments of the moments and of enrolled units.

    ``increments`` has ``arm, day`` and the moment columns; ``enrolled`` has ``arm, day, units`` (units
    first assigned that day). Days are days since the epoch; later days fold into ``last_day``.

    The mSPRT's mixing variance is ``mixing_variance`` (fixed at design time) or, without it but with
    ``mde_relative``, ``(mde_relative * control value at the first look)**2``: fixed once, at the first look, and
    never re-estimated at later ones (a mixing variance that moves with the data would make the p-values depend
    on when they are read).
    """
    size = last_day - first_day + 1
    grids, counts = {}, {}
    for arm in arms:
        grids[arm] = {k: np.cumsum(v) for k, v in _grid(increments, "day", arm, size, first_day).items()}
        counts[arm] = np.cumsum(_grid(enrolled, "day", arm, size, first_day, ("units",))["units"])
    labels = [str((pd.Timestamp(0, tz="UTC") + pd.Timedelta(days=first_day + i)).date()) for i in range(size)]
    series = []
    control = arms[0]
    for arm in arms[1:]:
        looks: list[tuple[int, Effect]] = []
        for i in range(size):
            try:
                looks.append((i, moment_effect(kind, _moments(grids[control], counts[control], i),
                                               _moments(grids[arm], counts[arm], i), alpha=alpha, metric=metric)))
            except ExperimentError:
                continue
        sequential = None
        tau2 = mixing_variance
        if tau2 is None and mde_relative is not None and looks and looks[0][1].control:
            tau2 = (mde_relative * looks[0][1].control) ** 2
        if tau2 is not None and looks:
            sequential = msprt([e.absolute for _, e in looks], [e.absolute_se ** 2 for _, e in looks],
                               mixing_variance=tau2, alpha=alpha, metric=metric)
        stop = None if sequential is None or sequential.stop_look is None else \
            labels[looks[sequential.stop_look - 1][0]]
        series.append(DailySeries(
            arm=arm, metric=metric, days=tuple(labels[i] for i, _ in looks),
            n_control=tuple(e.n_control for _, e in looks), n_treatment=tuple(e.n_treatment for _, e in looks),
            control=tuple(e.control for _, e in looks), treatment=tuple(e.treatment for _, e in looks),
            absolute=tuple(e.absolute for _, e in looks), ci_low=tuple(e.absolute_ci[0] for _, e in looks),
            ci_high=tuple(e.absolute_ci[1] for _, e in looks), relative=tuple(e.relative for _, e in looks),
            sequential=sequential, stop_day=stop,
        ))
    return tuple(series)


@dataclass(frozen=True)
class NoveltyCheck(ResultDict):
    """The primary effect by day of age and the weighted linear trend of that effect over age."""

    arm: str
    metric: str
    ages: tuple[int, ...]
    n_control: tuple[int, ...]
    n_treatment: tuple[int, ...]
    effects: tuple[float, ...]
    ses: tuple[float, ...]
    slope: float | None
    slope_se: float | None
    p_value: float | None
    alpha: float
    flagged: bool
    message: str


def weighted_trend(x: np.ndarray, y: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """Slope, its standard error and two-sided p of the WLS line through ``(x, y)`` with known ``se``."""
    w = 1.0 / se**2
    x_bar = float(np.sum(w * x) / np.sum(w))
    y_bar = float(np.sum(w * y) / np.sum(w))
    sxx = float(np.sum(w * (x - x_bar) ** 2))
    slope = float(np.sum(w * (x - x_bar) * (y - y_bar))) / sxx
    slope_se = 1.0 / math.sqrt(sxx)
    return slope, slope_se, float(2.0 * stats.norm.sf(abs(slope / slope_se)))


def novelty(by_age: pd.DataFrame, eligible: pd.DataFrame, *, kind: MetricKind, metric: str, arms: tuple[str, ...],
            alpha: float = NOVELTY_ALPHA) -> tuple[NoveltyCheck, ...]:
    """Per treatment arm: the effect at each day of age and whether it trends (``p < alpha``).

    ``by_age`` has ``arm, age`` and the moment columns over units observed through that whole day of
    age; ``eligible`` has ``arm, age, units``: how many units were.
    """
    ages = sorted(int(a) for a in eligible["age"].unique())
    size = (max(ages) + 1) if ages else 0
    grids = {a: _grid(by_age, "age", a, max(size, 1), 0) for a in arms}
    counts = {a: _grid(eligible, "age", a, max(size, 1), 0, ("units",))["units"] for a in arms}
    checks = []
    for arm in arms[1:]:
        found: list[tuple[int, Effect]] = []
        for age in range(size):
            try:
                found.append((age, moment_effect(kind, _moments(grids[arms[0]], counts[arms[0]], age),
                                                 _moments(grids[arm], counts[arm], age), alpha=alpha, metric=metric)))
            except ExperimentError:
                continue
        slope = slope_se = p_value = None
        if len(found) >= 3:
            slope, slope_se, p_value = weighted_trend(np.array([a for a, _ in found], dtype=np.float64),
                                                      np.array([e.absolute for _, e in found]),
                                                      np.array([e.absolute_se for _, e in found]))
        flagged = p_value is not None and p_value < alpha
        if p_value is None:
            message = f"'{metric}', {arm}: fewer than 3 days of age with an effect; no novelty check."
        elif flagged:
            message = (f"'{metric}', {arm}: the effect changes with days since first exposure (slope "
                       f"{slope:+.3g} per day, p={p_value:.2g} < {alpha:g}); a novelty or primacy effect, so the "
                       "long-run effect may differ from the average. Run longer or read the later days.")
        else:
            message = f"'{metric}', {arm}: no trend of the effect with days since first exposure (p={p_value:.2g})."
        checks.append(NoveltyCheck(
            arm=arm, metric=metric, ages=tuple(a for a, _ in found), n_control=tuple(e.n_control for _, e in found),
            n_treatment=tuple(e.n_treatment for _, e in found), effects=tuple(e.absolute for _, e in found),
            ses=tuple(e.absolute_se for _, e in found), slope=slope, slope_se=slope_se, p_value=p_value,
            alpha=alpha, flagged=flagged, message=message,
        ))
    return tuple(checks)
