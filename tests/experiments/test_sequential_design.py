"""Design for the test that decides: the mSPRT's power at the designed size, by formula and by simulation.

The simulations draw each arm's running totals from their normal approximation (20,000 seeded runs in
about 0.1 s), so they run with the fast tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from loopline import ExperimentError
from loopline.experiments import ExperimentSpec, MeanMetric, ProportionMetric, always_valid_p_values, design
from loopline.experiments._sequential import design_mixing_variance, msprt_power, rejection_boundary


def _simulated_power(p: float, delta: float, n_control: int, n_treatment: int, looks_total: np.ndarray,
                     mixing_variance: float, alpha: float, runs: int, seed: int) -> float:
    """Share of runs whose mSPRT rejects, drawing each arm's running successes (normal increments).

    At each look the mSPRT takes what :func:`analyze` gives it: the difference of the arms' observed rates
    and that difference's estimated variance ``p_c(1-p_c)/n_c + p_t(1-p_t)/n_t``.
    """
    rng = np.random.default_rng(seed)
    share_c = n_control / (n_control + n_treatment)
    totals = looks_total.astype(np.float64)
    means, arm_sizes = {}, {}
    for arm, rate, share in (("c", p, share_c), ("t", p + delta, 1 - share_c)):
        sizes = totals * share
        steps = np.diff(np.concatenate([[0.0], sizes]))
        draws = rng.normal(rate * steps, np.sqrt(rate * (1 - rate) * steps), size=(runs, steps.size))
        means[arm] = np.clip(np.cumsum(draws, axis=1) / sizes, 1e-9, 1 - 1e-9)
        arm_sizes[arm] = sizes
    estimates = means["t"] - means["c"]
    variances = means["c"] * (1 - means["c"]) / arm_sizes["c"] + means["t"] * (1 - means["t"]) / arm_sizes["t"]
    p_values = always_valid_p_values(estimates, variances, mixing_variance=mixing_variance)
    return float(np.mean(p_values[:, -1] < alpha))


def _daily_totals(total: int, per_day: float) -> np.ndarray:
    """The units enrolled at each daily read, as the design counts them (the last read at ``total``)."""
    earlier = [j * per_day for j in range(1, math.floor(total / per_day - 0.5) + 1)]
    return np.array([*earlier, float(total)])


@pytest.mark.parametrize(("p", "mde", "daily_units", "looks", "shares"), [
    (0.10, 0.01, 2000.0, None, None),  # read once a day, as analyze reads an experiment
    (0.05, 0.005, None, None, None),  # read once, at the end
    (0.20, 0.02, None, 8, (0.3, 0.7)),  # eight equally spaced reads, unequal arms
])
def test_power_at_the_designed_size_is_the_target_by_simulation(
    p: float, mde: float, daily_units: float | None, looks: int | None, shares: tuple[float, float] | None,
) -> None:
    d = design(ProportionMetric(p), mde=mde, sequential=True, daily_units=daily_units, looks=looks, shares=shares)
    assert d.sequential and d.mixing_variance == pytest.approx(mde**2)
    total = d.total_units
    if daily_units is not None:
        reads = _daily_totals(total, daily_units)
    else:
        reads = np.arange(1, (looks or 1) + 1) / (looks or 1) * total
    assert reads.size == d.looks
    simulated = _simulated_power(p, mde, d.n_per_arm[0], d.n_per_arm[1], reads, d.mixing_variance or 0.0,
                                 d.alpha, runs=20_000, seed=9)
    assert simulated == pytest.approx(0.80, abs=0.03)
    assert simulated == pytest.approx(d.achieved_power, abs=0.015)  # 20,000 runs: standard error 0.003


def test_a_fixed_horizon_size_leaves_the_msprt_underpowered() -> None:
    """The failure this design fixes: sized for one z test, the daily mSPRT rejects about half the time."""
    fixed = design(ProportionMetric(0.10), mde=0.01, daily_units=2000)
    reads = _daily_totals(fixed.total_units, 2000.0)
    simulated = _simulated_power(0.10, 0.01, fixed.n_per_arm[0], fixed.n_per_arm[1], reads,
                                 design_mixing_variance(0.01), 0.05, runs=20_000, seed=10)
    assert 0.40 < simulated < 0.60


def test_one_look_is_the_closed_form_and_the_boundary_is_where_the_p_value_crosses_alpha() -> None:
    var, tau2, delta = 2e-4, 1e-3, 0.04
    c = float(rejection_boundary([var], mixing_variance=tau2)[0])
    shift = delta / math.sqrt(var)
    closed = stats.norm.cdf(shift - c) + stats.norm.cdf(-shift - c)
    assert msprt_power(delta, [var], mixing_variance=tau2) == pytest.approx(closed, abs=1e-6)
    assert msprt_power(-delta, [var], mixing_variance=tau2) == pytest.approx(closed, abs=1e-6)
    se = math.sqrt(var)
    above, below = always_valid_p_values([[c * se * 1.0001], [c * se * 0.9999]], [[var], [var]],
                                         mixing_variance=tau2)[:, -1]
    assert above < 0.05 <= below


def test_with_no_effect_the_power_is_the_false_positive_rate_and_at_most_alpha() -> None:
    variances = 1e-3 / np.arange(1, 31)
    size = msprt_power(0.0, variances, mixing_variance=1e-3, alpha=0.05)
    assert 0.0 < size < 0.05
    assert msprt_power(0.0, variances[:1], mixing_variance=1e-3) < size  # each look adds a chance


def test_more_reads_need_fewer_units_and_every_design_reaches_its_power() -> None:
    sizes = []
    for looks in (1, 4, 16):
        d = design(MeanMetric(1.0), mde=0.1, sequential=True, looks=looks)
        assert d.looks == looks and d.achieved_power >= 0.8
        sizes.append(d.n_per_arm[0])
    assert sizes[0] > sizes[1] > sizes[2]
    fixed = design(MeanMetric(1.0), mde=0.1).n_per_arm[0]
    assert fixed == 1570 and 1.85 < sizes[0] / fixed < 2.0  # always-valid inference costs units


def test_the_size_is_the_smallest_with_the_target_power() -> None:
    d = design(MeanMetric(2.0), mde=0.1, sequential=True)
    n = d.n_per_arm[0]
    at = msprt_power(0.1, [8.0 / n], mixing_variance=0.01)
    assert at == pytest.approx(d.achieved_power, abs=1e-9)
    assert msprt_power(0.1, [8.0 / (n - 1)], mixing_variance=0.01) < 0.8 <= at


def test_daily_reads_follow_the_enrolment_and_give_the_days() -> None:
    d = design(ProportionMetric(0.10), mde=0.01, sequential=True, daily_units=4000, traffic_share=0.5)
    per_day = 2000.0
    assert d.days == math.ceil(d.total_units / per_day)
    reads = _daily_totals(d.total_units, per_day)
    assert d.looks == reads.size
    var_c, var_t = ProportionMetric(0.10).variances(0.01)
    variances = var_c / (reads / 2) + var_t / (reads / 2)
    assert msprt_power(0.01, variances, mixing_variance=1e-4) == pytest.approx(d.achieved_power, abs=1e-9)
    assert "once a day" in d.formula and "tau^2 = mde^2" in d.formula


def test_the_mixing_variance_is_the_square_of_the_absolute_mde() -> None:
    d = design(ProportionMetric(0.04), mde=0.05, relative=True, sequential=True)
    assert d.mixing_variance == pytest.approx((0.05 * 0.04) ** 2)
    assert design_mixing_variance(-0.002) == pytest.approx(4e-6)


def test_a_fixed_horizon_design_says_so() -> None:
    d = design(MeanMetric(1.0), mde=0.1)
    assert (d.sequential, d.mixing_variance, d.looks) == (False, None, None)
    assert d.formula.startswith("fixed horizon")
    assert design(MeanMetric(1.0), mde=0.1, sequential=False) == d


def test_the_spec_holds_the_mixing_variance_fixed_at_design_time() -> None:
    d = design(ProportionMetric(0.04), mde=0.05, relative=True, sequential=True)
    spec = ExperimentSpec.from_dict({"name": "exp1", "arms": {"control": 1, "treatment": 1},
                                     "mixing_variance": d.mixing_variance})
    assert spec.mixing_variance == d.mixing_variance
    assert ExperimentSpec.from_dict({"name": "exp1", "arms": {"control": 1, "treatment": 1}}).mixing_variance is None
    with pytest.raises(ExperimentError, match="mixing_variance"):
        ExperimentSpec.from_dict({"name": "exp1", "arms": {"control": 1, "treatment": 1}, "mixing_variance": 0})


@pytest.mark.parametrize(("call", "message"), [
    (lambda: design(MeanMetric(1.0), mde=0.1, sequential=True, test="t"), "use test='z', or sequential=False"),
    (lambda: design(MeanMetric(1.0), mde=0.1, looks=3), "looks: expected the number of reads"),
    (lambda: design(MeanMetric(1.0), mde=0.1, sequential=True, looks=0), "a whole number >= 1"),
    (lambda: msprt_power(0.1, [0.01, 0.02], mixing_variance=0.01), "the variances must strictly decrease"),
    (lambda: msprt_power(0.1, [0.0], mixing_variance=0.01), "one positive finite variance per look"),
    (lambda: msprt_power(0.1, [0.01], mixing_variance=0.0), "mixing_variance: expected a positive finite number"),
    (lambda: design_mixing_variance(0.0), "expected a non-zero finite effect"),
])
def test_errors_say_what_to_fix(call: object, message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)
