"""Experiment design: sample size per arm, minimum detectable effect, power and duration.

The formula, for every metric kind (two-sided test of treatment minus control, unpooled variances):

    se(n_c, n_t) = sqrt(var_c / n_c + var_t / n_t)
    power        = Phi(delta / se - z) + Phi(-delta / se - z),    z = Phi^-1(1 - alpha' / 2)

``alpha'`` is ``alpha / (arms - 1)`` under the default Bonferroni correction (each treatment arm is
compared with control), else ``alpha``. Both rejection regions are counted, as
``statsmodels.stats.power.NormalIndPower`` does, so the sample size is the root of that equation (it is
a hair below the textbook ``(z + z_power)^2 (var_c + var_t / k) / delta^2``, which drops the far
region). With ``test="t"`` the power is the noncentral t with ``n_c + n_t - 2`` degrees of freedom and
noncentrality ``delta / se`` (``statsmodels`` ``tt_ind_solve_power`` for equal variances).

With ``sequential=True`` the experiment is sized for the test that decides it by default (see
:class:`loopline.experiments.ExperimentSpec`, ``sequential``): the always-valid mSPRT
(:mod:`loopline.experiments._sequential`) with its mixing variance fixed at design time,
``tau^2 = delta^2`` (``Design.mixing_variance``; store it in the experiment spec's ``mixing_variance``).
The size is the smallest at which the mSPRT, read at the looks the design assumes, rejects with
probability ``power`` when the true effect is the MDE. The looks: ``looks`` equally spaced reads when
given; else one read a day when ``daily_units`` is known, as :func:`analyze` reads an experiment (a
daily read within half a day of the last is not counted); else one read at the end, the cautious
choice, since every extra look only adds power. At most 100 reads are counted (evenly chosen), which
slightly overstates the size for longer schedules. Always-valid inference costs units: for a single
read about 1.9 times the fixed-horizon size at alpha 0.05 and power 0.8, less with more reads.

Per-unit variances by metric kind:
- proportion with baseline ``p``: ``var_c = p(1-p)``, ``var_t = (p+delta)(1-p-delta)`` (unpooled);
- mean: ``var_c = var_t = sigma^2``;
- ratio ``R = E[X]/E[Y]`` per unit: the delta method, ``(var_X - 2 R cov_XY + R^2 var_Y) / E[Y]^2``.

>>> d = design(ProportionMetric(0.10), mde=0.01)
>>> d.n_per_arm, d.n_rule_of_thumb
((14749, 14749), 14400)
>>> s = design(ProportionMetric(0.10), mde=0.01, sequential=True, daily_units=2000)
>>> s.n_per_arm, s.looks, s.days, s.mixing_variance
((25500, 25500), 26, 26, 0.0001)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

from loopline._errors import ExperimentError
from loopline.experiments import _checks
from loopline.experiments._result import ResultDict
from loopline.experiments._sequential import design_mixing_variance, msprt_power

Correction = Literal["bonferroni", "none"]
Test = Literal["z", "t"]
MAX_LOOKS = 100


@dataclass(frozen=True)
class ProportionMetric(ResultDict):
    """A conversion-style metric: the share of units with the outcome, ``baseline`` in control."""

    baseline: float
    name: str = "proportion"

    def __post_init__(self) -> None:
        _checks.probability(self.baseline, name=f"metric '{self.name}', baseline rate")

    @property
    def mean(self) -> float:
        return float(self.baseline)

    def variances(self, delta: float) -> tuple[float, float]:
        """Per-unit variance in control and in treatment when the rate moves by ``delta``."""
        p = float(self.baseline)
        treated = p + delta
        if not 0.0 < treated < 1.0:
            raise ExperimentError(
                f"metric '{self.name}': a baseline rate of {p:g} moved by {delta:+g} gives {treated:g}, "
                "outside (0, 1). Choose a smaller minimum detectable effect."
            )
        return p * (1.0 - p), treated * (1.0 - treated)


@dataclass(frozen=True)
class MeanMetric(ResultDict):
    """A per-unit mean with standard deviation ``sigma`` (``mean`` is needed only for relative MDEs)."""

    sigma: float
    mean: float | None = None
    name: str = "mean"

    def __post_init__(self) -> None:
        _checks.positive(self.sigma, name=f"metric '{self.name}', sigma")

    @classmethod
    def from_values(cls, values: ArrayLike, *, name: str = "mean") -> MeanMetric:
        """Estimate ``sigma`` (ddof=1) and ``mean`` from pre-experiment per-unit values."""
        array = _checks.values(values, metric=name, arm="pre-experiment", minimum=2)
        return cls(sigma=float(np.std(array, ddof=1)), mean=float(np.mean(array)), name=name)

    def variances(self, delta: float) -> tuple[float, float]:
        return float(self.sigma) ** 2, float(self.sigma) ** 2


@dataclass(frozen=True)
class RatioMetric(ResultDict):
    """A ratio of per-unit sums, e.g. clicks per impression randomised by user (delta method)."""

    mean_numerator: float
    mean_denominator: float
    var_numerator: float
    var_denominator: float
    covariance: float
    name: str = "ratio"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean_denominator) and self.mean_denominator > 0):
            raise ExperimentError(
                f"metric '{self.name}': the mean denominator per unit must be positive, got "
                f"{self.mean_denominator!r}."
            )
        if self.unit_variance <= 0 or not math.isfinite(self.unit_variance):
            raise ExperimentError(
                f"metric '{self.name}': the delta-method variance per unit is {self.unit_variance:g}; "
                "check the variances and covariance (they must describe a valid covariance matrix)."
            )

    @classmethod
    def from_units(cls, numerator: ArrayLike, denominator: ArrayLike, *, name: str = "ratio") -> RatioMetric:
        """Estimate the per-unit moments (ddof=1) from pre-experiment numerator/denominator sums per unit."""
        x = _checks.values(numerator, metric=name, arm="pre-experiment", minimum=2)
        y = _checks.values(denominator, metric=name, arm="pre-experiment", minimum=2)
        _checks.same_length(x, y, metric=name, arm="pre-experiment", names=("numerator", "denominator"))
        cov = np.cov(x, y, ddof=1)
        return cls(float(x.mean()), float(y.mean()), float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1]), name)

    @property
    def mean(self) -> float:
        """The ratio ``E[X] / E[Y]``."""
        return self.mean_numerator / self.mean_denominator

    @property
    def unit_variance(self) -> float:
        r = self.mean
        return (self.var_numerator - 2 * r * self.covariance + r * r * self.var_denominator) / (
            self.mean_denominator**2
        )

    def variances(self, delta: float) -> tuple[float, float]:
        return self.unit_variance, self.unit_variance


Metric = ProportionMetric | MeanMetric | RatioMetric


@dataclass(frozen=True)
class Design(ResultDict):
    """A sized experiment: units per arm (control first), total, duration and the figures behind them.

    ``sequential`` says which test the size is for: the always-valid mSPRT with ``mixing_variance``
    (``tau^2``, to be fixed in the experiment spec) read ``looks`` times, or a fixed-horizon test read
    once at the end (``mixing_variance`` and ``looks`` are then None).
    """

    metric: str
    kind: str
    baseline: float | None
    mde: float
    mde_relative: float | None
    alpha: float
    alpha_per_comparison: float
    correction: str
    test: str
    target_power: float
    achieved_power: float
    arms: int
    shares: tuple[float, ...]
    n_per_arm: tuple[int, ...]
    total_units: int
    n_rule_of_thumb: int
    daily_units: float | None
    traffic_share: float
    days: int | None
    formula: str
    sequential: bool
    mixing_variance: float | None
    looks: int | None


def _kind(metric: Metric) -> str:
    return {ProportionMetric: "proportion", MeanMetric: "mean", RatioMetric: "ratio"}[type(metric)]


def _alpha_per_comparison(alpha: float, arms: int, correction: Correction) -> float:
    _checks.probability(alpha, name="alpha")
    if arms < 2:
        raise ExperimentError(f"arms: an experiment needs control and at least one treatment (>= 2), got {arms}.")
    if correction not in ("bonferroni", "none"):
        raise ExperimentError(f"correction: expected 'bonferroni' or 'none', got {correction!r}.")
    return alpha / (arms - 1) if correction == "bonferroni" else alpha


def _absolute(metric: Metric, mde: float, relative: bool) -> float:
    if not math.isfinite(mde) or mde == 0:
        raise ExperimentError(f"mde: expected a non-zero finite effect, got {mde!r}.")
    if not relative:
        return float(mde)
    if metric.mean is None or metric.mean == 0:
        raise ExperimentError(
            f"metric '{metric.name}': a relative MDE needs the control mean; give MeanMetric(mean=...) "
            "or state the MDE in absolute units (relative=False)."
        )
    return float(mde) * float(metric.mean)


def _power(delta: float, var_c: float, var_t: float, n_c: float, n_t: float, alpha: float, test: Test) -> float:
    se = math.sqrt(var_c / n_c + var_t / n_t)
    shift = abs(delta) / se
    if test == "t":
        df = n_c + n_t - 2
        crit = float(stats.t.isf(alpha / 2, df))
        return float(stats.nct.sf(crit, df, shift) + stats.nct.cdf(-crit, df, shift))
    crit = float(stats.norm.isf(alpha / 2))
    return float(stats.norm.cdf(shift - crit) + stats.norm.cdf(-shift - crit))


def _check_test(test: Test) -> None:
    if test not in ("z", "t"):
        raise ExperimentError(f"test: expected 'z' (normal) or 't' (Student), got {test!r}.")


def _solve_n_control(delta: float, var_c: float, var_t: float, ratio: float, alpha: float, target: float,
                     test: Test) -> float:
    """The (fractional) control size whose power is ``target`` with ``n_t = ratio * n_c``."""
    z = float(stats.norm.isf(alpha / 2) + stats.norm.ppf(target))
    guess = z * z * (var_c + var_t / ratio) / delta**2
    low = 3.0 / (1.0 + ratio) if test == "t" else guess * 1e-3  # t: at least 1 degree of freedom

    def gap(n: float) -> float:
        return _power(delta, var_c, var_t, n, ratio * n, alpha, test) - target

    high = max(guess * 2.0, 4.0)
    while gap(high) < 0:
        high *= 2.0
    if gap(low) >= 0:
        return low
    return float(optimize.brentq(gap, low, high, xtol=1e-10, rtol=1e-12))


Schedule = Callable[[float], NDArray[np.float64]]


def _schedule(*, looks: int | None, per_day: float | None) -> Schedule:
    """The looks as fractions of the total units (increasing, the last 1), given the total."""

    def fractions(total: float) -> NDArray[np.float64]:
        if looks is not None:
            steps = np.arange(1, looks + 1, dtype=np.float64) / looks
        elif per_day is not None:
            earlier = max(0, math.floor(total / per_day - 0.5))  # daily reads at least half a day before the end
            days = np.arange(1, earlier + 1, dtype=np.float64) if earlier < MAX_LOOKS else \
                np.unique(np.round(np.linspace(1, earlier, MAX_LOOKS - 1)))
            steps = np.append(days * per_day / total, 1.0)
        else:
            steps = np.ones(1)
        if steps.size > MAX_LOOKS:
            steps = steps[np.unique(np.round(np.linspace(0, steps.size - 1, MAX_LOOKS)).astype(np.int64))]
        return np.asarray(steps, dtype=np.float64)

    return fractions


def _sequential_power(delta: float, var_c: float, var_t: float, n_c: float, n_t: float, alpha: float, tau2: float,
                      fractions: NDArray[np.float64]) -> float:
    final = var_c / n_c + var_t / n_t
    return msprt_power(delta, final / fractions, mixing_variance=tau2, alpha=alpha)


def _solve_total_sequential(delta: float, var_c: float, var_t: float, shares: tuple[float, float], alpha: float,
                            target: float, tau2: float, schedule: Schedule) -> float:
    """The (fractional) total whose mSPRT power over the scheduled looks first reaches ``target``."""
    s_c, s_t = shares

    def gap(total: float) -> float:
        return _sequential_power(delta, var_c, var_t, s_c * total, s_t * total, alpha, tau2, schedule(total)) - target

    fixed = _solve_n_control(delta, var_c, var_t, s_t / s_c, alpha, target, "z") / s_c
    low, high = fixed / 2.0, fixed * 2.0
    while gap(low) >= 0:
        low /= 2.0
    while gap(high) < 0:
        low, high = high, high * 2.0
    return float(optimize.brentq(gap, low, high, xtol=1e-9, rtol=1e-10))


def power(metric: Metric, n_control: float, n_treatment: float | None = None, *, mde: float,
          relative: bool = False, alpha: float = 0.05, arms: int = 2, correction: Correction = "bonferroni",
          test: Test = "z") -> float:
    """Power to detect ``mde`` with ``n_control`` and ``n_treatment`` (default: the same) units.

    >>> round(power(MeanMetric(sigma=1.0), 1570, mde=0.1), 3)
    0.8
    """
    _check_test(test)
    a = _alpha_per_comparison(alpha, arms, correction)
    n_t = n_control if n_treatment is None else n_treatment
    _checks.positive(n_control, name="n_control")
    _checks.positive(n_t, name="n_treatment")
    if test == "t" and n_control + n_t <= 2:
        raise ExperimentError("a t-test needs more than 2 units in total; increase n_control or n_treatment.")
    delta = _absolute(metric, mde, relative)
    var_c, var_t = metric.variances(delta)
    return _power(delta, var_c, var_t, float(n_control), float(n_t), a, test)


def mde(metric: Metric, n_control: float, n_treatment: float | None = None, *, power: float = 0.8,
        relative: bool = False, alpha: float = 0.05, arms: int = 2, correction: Correction = "bonferroni",
        test: Test = "z") -> float:
    """The smallest positive effect detectable with the given units (relative to the mean if asked).

    >>> round(mde(MeanMetric(sigma=1.0), 1570), 4)
    0.1
    """
    _check_test(test)
    a = _alpha_per_comparison(alpha, arms, correction)
    target = _checks.probability(power, name="power")
    if relative:
        _absolute(metric, 1.0, True)  # fail before solving when no mean is known
    n_t = float(n_control if n_treatment is None else n_treatment)
    n_c = _checks.positive(n_control, name="n_control")
    _checks.positive(n_t, name="n_treatment")
    if test == "t" and n_c + n_t <= 2:
        raise ExperimentError("a t-test needs more than 2 units in total; increase n_control or n_treatment.")

    def gap(delta: float) -> float:
        var_c, var_t = metric.variances(delta)
        return _power(delta, var_c, var_t, n_c, n_t, a, test) - target

    if isinstance(metric, ProportionMetric):
        high = (1.0 - metric.baseline) * (1.0 - 1e-9)
        if gap(high) < 0:
            raise ExperimentError(
                f"metric '{metric.name}': with {n_c:g} and {n_t:g} units no increase of the baseline rate "
                f"{metric.baseline:g} reaches power {target:g}. Add units or relax alpha/power."
            )
    else:
        var_c, var_t = metric.variances(1.0)
        high = 2.0 * (stats.norm.isf(a / 2) + stats.norm.ppf(target)) * math.sqrt(var_c / n_c + var_t / n_t)
        while gap(high) < 0:
            high *= 2.0
    delta = float(optimize.brentq(gap, high * 1e-12, high, xtol=1e-14, rtol=1e-12))
    if not relative:
        return delta
    return delta / _absolute(metric, 1.0, True)


def design(metric: Metric, *, mde: float, relative: bool = False, alpha: float = 0.05, power: float = 0.8,
           arms: int = 2, shares: Sequence[float] | None = None, correction: Correction = "bonferroni",
           test: Test = "z", daily_units: float | None = None, traffic_share: float = 1.0,
           sequential: bool = False, looks: int | None = None) -> Design:
    """Size an experiment comparing each treatment arm with control (the first arm).

    ``shares`` are the arms' fractions of the experiment's traffic (default equal). The total is the
    smallest that gives every comparison at least ``power``; ``n_per_arm`` rounds each arm up.
    ``daily_units`` is the number of new eligible units a day and ``traffic_share`` the fraction of them
    enrolled, giving ``days``. ``n_rule_of_thumb`` is Kohavi's ``16 sigma^2 / delta^2`` per arm (control
    variance; alpha 0.05, power 0.8, two equal arms) for comparison with the exact figure.

    ``sequential=True`` sizes for the always-valid mSPRT that :func:`analyze` and :func:`decide` use when
    the experiment spec's ``sequential`` is on (its default), read ``looks`` times (see the module
    docstring for the default schedule); ``False`` sizes a fixed-horizon test read once at the end.
    """
    _check_test(test)
    if sequential and test != "z":
        raise ExperimentError("test: the sequential design sizes the normal mSPRT; use test='z', or "
                              "sequential=False for a fixed-horizon Student t test.")
    if looks is not None and (not sequential or isinstance(looks, bool) or not isinstance(looks, int) or looks < 1):
        raise ExperimentError(f"looks: expected the number of reads of the sequential test, a whole number >= 1 "
                              f"with sequential=True, got {looks!r}" + ("" if sequential else " with sequential=False")
                              + ".")
    a = _alpha_per_comparison(alpha, arms, correction)
    target = _checks.probability(power, name="power")
    split = _checks.shares(shares, arms=arms)
    enrolled = float(traffic_share)
    if not 0.0 < enrolled <= 1.0:
        raise ExperimentError(
            f"traffic_share: expected the fraction of eligible units enrolled, in (0, 1], got {traffic_share!r}."
        )
    per_day = None if daily_units is None else _checks.positive(daily_units, name="daily_units") * enrolled
    delta = _absolute(metric, mde, relative)
    var_c, var_t = metric.variances(delta)
    tau2 = design_mixing_variance(delta) if sequential else None
    schedule = _schedule(looks=looks, per_day=per_day)
    total = 0.0
    for share in split[1:]:
        if tau2 is None:
            total = max(total, _solve_n_control(delta, var_c, var_t, share / split[0], a, target, test) / split[0])
        else:
            total = max(total, _solve_total_sequential(delta, var_c, var_t, (split[0], share), a, target, tau2,
                                                       schedule))
    n_per_arm = tuple(max(2, math.ceil(share * total - 1e-9)) for share in split)
    reads: int | None = None
    if tau2 is None:
        achieved = min(_power(delta, var_c, var_t, n_per_arm[0], n, a, test) for n in n_per_arm[1:])
    else:
        fractions = schedule(float(sum(n_per_arm)))
        reads = int(fractions.size)
        achieved = min(_sequential_power(delta, var_c, var_t, n_per_arm[0], n, a, tau2, fractions)
                       for n in n_per_arm[1:])
    days = None if per_day is None else math.ceil(sum(n_per_arm) / per_day - 1e-9)
    baseline = None if metric.mean is None else float(metric.mean)
    return Design(
        metric=metric.name,
        kind=_kind(metric),
        baseline=baseline,
        mde=delta,
        mde_relative=None if not baseline else delta / baseline,
        alpha=float(alpha),
        alpha_per_comparison=a,
        correction=correction,
        test=test,
        target_power=target,
        achieved_power=achieved,
        arms=arms,
        shares=split,
        n_per_arm=n_per_arm,
        total_units=sum(n_per_arm),
        n_rule_of_thumb=math.ceil(16 * var_c / delta**2 - 1e-9),
        daily_units=None if daily_units is None else float(daily_units),
        traffic_share=enrolled,
        days=days,
        formula=_formula(test, a, correction, arms, tau2, reads, looks is None and per_day is not None),
        sequential=tau2 is not None,
        mixing_variance=tau2,
        looks=reads,
    )


def _formula(test: Test, alpha: float, correction: Correction, arms: int, tau2: float | None, reads: int | None,
             daily: bool) -> str:
    bonferroni = " (Bonferroni over treatment arms)" if correction == "bonferroni" and arms > 2 else ""
    if tau2 is None:
        return ("fixed horizon: two-sided " + ("z" if test == "z" else "Student t (df = n_c + n_t - 2)")
                + " test on treatment - control with unpooled per-unit variances, read once at the end; "
                "power = Phi(|delta|/se - z) + Phi(-|delta|/se - z), se = sqrt(var_c/n_c + var_t/n_t), "
                f"z at alpha' = {alpha:g}{bonferroni}")
    when = "once a day" if daily else "equally spaced" if reads and reads > 1 else "once, at the end"
    return (f"always-valid mSPRT on treatment - control with unpooled per-unit variances, mixing variance "
            f"tau^2 = mde^2 = {tau2:.4g} fixed now, read {reads} time(s) ({when}); power = the chance the "
            f"always-valid p-value falls below alpha' = {alpha:g}{bonferroni} at one of those reads when the "
            "true effect is the MDE")
