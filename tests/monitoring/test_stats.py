"""Drift statistics against scipy, the binned versions against the sample versions, PSI by hand and by
property, false-alarm rates and planted shifts by seeded simulation, and the errors."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from loopline import FeatureError, MonitoringError
from loopline.features._binning import Binned, bin_values, grid_edges
from loopline.monitoring import _stats, _verdicts
from loopline.monitoring._stats import (
    OTHER,
    chi_square,
    chi_square_fit,
    jensen_shannon,
    ks,
    ks_samples,
    new_share,
    psi,
    psi_binned,
    wasserstein,
    wasserstein_samples,
)
from loopline.monitoring._verdicts import categorical_verdict, numeric_verdict

ALPHA = 0.05


def _allowed_rate(runs: int, alpha: float = ALPHA) -> float:
    """alpha plus two binomial standard errors of a rate estimated from ``runs`` runs."""
    return alpha + 2 * math.sqrt(alpha * (1 - alpha) / runs)


def _binned_pair(x: np.ndarray, y: np.ndarray, cells: int = 1000) -> tuple[Binned, Binned]:
    edges = grid_edges(x, cells=cells)
    return bin_values(x, edges), bin_values(y, edges)


def test_docstring_examples_run() -> None:
    for module in (_stats, _verdicts):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


# ---- equality with scipy ----------------------------------------------------------------------------------------

def _sample_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(10)
    return [
        (rng.normal(size=500), rng.normal(0.2, 1.0, 300)),                     # different sizes
        (rng.poisson(3.0, 400).astype(float), rng.poisson(3.3, 250).astype(float)),  # many ties
        (rng.normal(size=2000), rng.normal(size=2000)),                       # equal sizes, same law
        (np.array([1.0, 2.0, 2.0, 3.0]), np.array([2.0, 2.0, 5.0])),            # tiny, ties across samples
        (rng.lognormal(size=50), rng.lognormal(1.0, 1.0, 70)),                # far apart: a small p-value
        (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])),                 # identical: D = 0, p = 1
        (rng.normal(size=20_000), rng.normal(0.05, 1.0, 12_345)),            # large, where asymp is meant
    ]


@pytest.mark.parametrize("case", range(len(_sample_cases())))
def test_ks_samples_equals_scipy_asymptotic(case: int) -> None:
    x, y = _sample_cases()[case]
    ours = ks_samples(x, y)
    ref = stats.ks_2samp(x, y, method="asymp")
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12, abs=1e-15)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12, abs=1e-300)


def test_ks_samples_ignores_missing_values_like_scipys_omit() -> None:
    x = np.array([0.1, np.nan, 0.7, 1.5, 2.0])
    y = np.array([0.3, 0.9, np.nan, 3.1])
    ref = stats.ks_2samp(x, y, method="asymp", nan_policy="omit")
    assert ks_samples(x, y).p_value == pytest.approx(ref.pvalue, rel=1e-12)


@pytest.mark.parametrize("case", range(len(_sample_cases())))
def test_wasserstein_samples_equals_scipy(case: int) -> None:
    x, y = _sample_cases()[case]
    assert wasserstein_samples(x, y) == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-12, abs=1e-15)


def test_weighted_wasserstein_samples_equals_scipy() -> None:
    rng = np.random.default_rng(11)
    x, y = np.round(rng.normal(size=300), 1), rng.gamma(2.0, size=200)
    wx, wy = rng.uniform(0.0, 5.0, 300), rng.integers(1, 4, 200).astype(float)
    expected = stats.wasserstein_distance(x, y, u_weights=wx, v_weights=wy)
    assert wasserstein_samples(x, y, x_weights=wx, y_weights=wy) == pytest.approx(expected, rel=1e-12)
    assert wasserstein_samples(x, y, x_weights=wx) == pytest.approx(
        stats.wasserstein_distance(x, y, u_weights=wx), rel=1e-12)


CATEGORY_CASES = [
    ([120, 80, 40, 10], [60, 50, 30, 10]),
    ([1000, 10, 5], [900, 30, 2]),
    ([10.5, 20.25, 3.0, 7.75], [4.0, 9.0, 1.5, 0.5]),     # weighted (non-integer) counts
    ([500, 300, 0, 200], [50, 30, 20, 0]),                # a category new in the window, one gone from it
    ([5, 9], [7, 3]),
]


@pytest.mark.parametrize(("ref", "cur"), CATEGORY_CASES)
def test_chi_square_equals_scipy_contingency_without_correction(ref: list[float], cur: list[float]) -> None:
    ours = chi_square(ref, cur)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert ours.statistic == pytest.approx(expected[0], rel=1e-12)
    assert ours.p_value == pytest.approx(expected[1], rel=1e-12)


def test_chi_square_drops_categories_absent_from_both_and_one_left_means_no_difference() -> None:
    ours = chi_square([30, 0, 10, 0], [20, 0, 15, 0])
    expected = stats.chi2_contingency(np.array([[30, 10], [20, 15]]), correction=False)
    assert (ours.statistic, ours.p_value) == pytest.approx((expected[0], expected[1]), rel=1e-12)
    single = stats.chi2_contingency(np.array([[30], [20]]), correction=False)
    assert (chi_square([30, 0], [20, 0]).statistic, chi_square([30, 0], [20, 0]).p_value) == (single[0], single[1])


@pytest.mark.parametrize(("observed", "shares"), [
    ([18, 22, 20, 40], [0.2, 0.2, 0.2, 0.4]),
    ([5, 1, 0, 7], [1.0, 1.0, 1.0, 1.0]),     # shares normalised
    ([102.5, 97.5], [0.55, 0.45]),
])
def test_chi_square_fit_equals_scipy_chisquare(observed: list[float], shares: list[float]) -> None:
    f_exp = np.array(shares) / np.sum(shares) * np.sum(observed)
    expected = stats.chisquare(observed, f_exp)
    ours = chi_square_fit(observed, shares)
    assert (ours.statistic, ours.p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-12)


def test_chi_square_fit_with_an_impossible_category() -> None:
    assert chi_square_fit([10, 0, 5], [0.5, 0.0, 0.5]) == chi_square_fit([10, 5], [0.5, 0.5])
    impossible = chi_square_fit([10, 1, 5], [0.5, 0.0, 0.5])
    assert impossible.statistic == math.inf and impossible.p_value == 0.0


@pytest.mark.parametrize(("p", "q"), [
    ([0.2, 0.3, 0.5], [0.1, 0.1, 0.8]),
    ([120, 80, 40, 10], [60, 50, 30, 10]),    # counts, normalised
    ([1, 0, 3], [0, 2, 1]),                   # zeros on either side
    ([1, 0], [0, 1]),                         # nothing in common: 1
    ([3, 3, 4], [3, 3, 4]),                   # equal: 0
])
def test_jensen_shannon_equals_scipy_base_2(p: list[float], q: list[float]) -> None:
    assert jensen_shannon(p, q) == pytest.approx(float(jensenshannon(p, q, base=2)), rel=1e-12, abs=1e-15)
    assert 0.0 <= jensen_shannon(p, q) <= 1.0


def test_new_share_counts_only_categories_the_reference_never_saw() -> None:
    assert new_share({"a": 50.0, "b": 30.0, "x": 15.0, "y": 5.0}, ["a", "b", "c"]) == pytest.approx(0.2)
    assert new_share({"a": 50.0}, {"a"}) == 0.0


# ---- binned against samples ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("shift", "scale", "law"), [
    (0.0, 1.0, "normal"), (0.1, 1.0, "normal"), (0.3, 1.2, "normal"), (0.0, 1.0, "lognormal"),
    (0.2, 1.0, "lognormal"), (0.0, 1.0, "integers"),
])
def test_binned_ks_is_within_two_cells_of_the_sample_ks_and_never_above(shift: float, scale: float,
                                                                          law: str) -> None:
    rng = np.random.default_rng(20)
    for _ in range(5):
        if law == "normal":
            x, y = rng.normal(size=3000), rng.normal(shift, scale, 1500)
        elif law == "lognormal":
            x, y = rng.lognormal(size=3000), rng.lognormal(shift, scale, 1500)
        else:
            x, y = rng.poisson(4.0, 3000).astype(float), rng.poisson(4.2, 1500).astype(float)
        sample = ks_samples(x, y)
        binned = ks(*_binned_pair(x, y))
        assert binned.statistic <= sample.statistic + 1e-15
        assert binned.statistic >= sample.statistic - 2 / 1000
        assert binned.p_value >= sample.p_value - 1e-15  # conservative: a smaller D, the same n
        if law == "integers":  # every distinct value is an edge: nothing is lost
            assert binned.statistic == pytest.approx(sample.statistic, abs=1e-15)


def test_binned_ks_with_weights_uses_kish_effective_size() -> None:
    rng = np.random.default_rng(21)
    x, y = np.round(rng.normal(size=800), 2), rng.normal(0.1, 1.0, 600)
    w = rng.integers(1, 5, 800).astype(float)
    edges = grid_edges(x, weights=w)
    weighted = ks(bin_values(x, edges, weights=w), bin_values(y, edges))
    repeated = ks(bin_values(np.repeat(x, w.astype(int)), edges), bin_values(y, edges))
    assert weighted.statistic == pytest.approx(repeated.statistic, abs=1e-15)  # same shares, same D
    n_eff = w.sum() ** 2 / (w**2).sum()
    en = np.round(n_eff * 600 / (n_eff + 600))
    assert weighted.p_value == pytest.approx(stats.kstwo.sf(weighted.statistic, en), rel=1e-12)
    assert weighted.p_value > repeated.p_value  # the repeated rows pretend to be a larger sample


@pytest.mark.parametrize(("shift", "scale"), [(0.0, 1.0), (0.1, 1.0), (0.5, 1.0), (0.0, 1.5), (-0.3, 0.8)])
def test_binned_wasserstein_is_close_to_the_sample_distance_on_continuous_data(shift: float, scale: float) -> None:
    rng = np.random.default_rng(22)
    x, y = rng.normal(size=4000), rng.normal(shift, scale, 2000)
    binned = wasserstein(*_binned_pair(x, y))
    assert binned == pytest.approx(wasserstein_samples(x, y), abs=0.005 * x.std())


def test_binned_wasserstein_with_weights_is_close_to_the_weighted_sample_distance() -> None:
    rng = np.random.default_rng(23)
    x, y = rng.normal(size=4000), rng.normal(0.2, 1.1, 2000)
    w = rng.uniform(0.2, 5.0, 4000)
    edges = grid_edges(x, weights=w)
    binned = wasserstein(bin_values(x, edges, weights=w), bin_values(y, edges))
    assert binned == pytest.approx(wasserstein_samples(x, y, x_weights=w), abs=0.005 * x.std())


def test_binned_wasserstein_counts_mass_beyond_the_grid_at_its_outer_edges() -> None:
    # A fifth of the window lies above the reference's maximum: it counts as if it sat on the last edge.
    rng = np.random.default_rng(25)
    x, y = rng.uniform(0.0, 1.0, 4000), rng.uniform(0.2, 1.2, 2000)
    ref, cur = _binned_pair(x, y)
    assert cur.counts[-1] / cur.n == pytest.approx(0.2, abs=0.02)
    clipped = wasserstein_samples(x, np.clip(y, ref.edges[0], ref.edges[-1]))
    assert wasserstein(ref, cur) == pytest.approx(clipped, abs=0.002 * x.std())
    assert wasserstein(ref, cur) == pytest.approx(wasserstein_samples(x, y) - 0.2 * 0.1, abs=0.005)


def test_binned_wasserstein_is_exact_for_mass_spread_uniformly_in_cells() -> None:
    edges = np.arange(11.0)
    ref = Binned(edges, np.array([0, 0, 0, 4.0, 0, 0, 0, 0, 0, 0, 0, 0]), 4.0)   # uniform on [2, 3)
    moved = Binned(edges, np.array([0, 0, 0, 0, 0, 0, 4.0, 0, 0, 0, 0, 0]), 4.0)  # uniform on [5, 6)
    beyond = Binned(edges, np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3.0]), 3.0)  # all above the grid
    assert wasserstein(ref, moved) == pytest.approx(3.0, rel=1e-15)
    assert wasserstein(ref, beyond) == pytest.approx(10.0 - 2.5, rel=1e-15)  # the tail sits at the last edge
    rng = np.random.default_rng(24)
    a = Binned(edges, rng.integers(0, 9, 12).astype(float), 40.0)
    b = Binned(edges, rng.integers(0, 9, 12).astype(float), 40.0)
    fine = np.linspace(0.0, 10.0, 200_001)  # naive oracle: the piecewise-linear CDFs integrated on a fine mesh
    gap = np.abs(np.interp(fine, edges, a.cdf_at_edges()) - np.interp(fine, edges, b.cdf_at_edges()))
    assert wasserstein(a, b) == pytest.approx(np.trapezoid(gap, fine), rel=1e-6)
    assert wasserstein(a, b) == wasserstein(b, a)


# ---- PSI ------------------------------------------------------------------------------------------------------------

def test_psi_against_values_computed_by_hand() -> None:
    # shares 0.25/0.25/0.5 -> 0.30/0.20/0.50: 0.05 ln(0.30/0.25) + (-0.05) ln(0.20/0.25) = 0.05 ln(1.5)
    assert psi([25, 25, 50], [30, 20, 50]) == pytest.approx(0.02027325540540822, rel=1e-12)
    # an empty reference cell counts as eps = 1e-4: 0.0999 ln(0.1 / 1e-4) + 2 * (-0.05) ln(0.45 / 0.5)
    assert psi([0, 50, 50], [10, 45, 45]) == pytest.approx(0.0999 * 6.907755278982137
                                                           + 0.1 * 0.10536051565782628, rel=1e-12)
    assert psi([0, 50, 50], [0, 50, 50]) == 0.0
    assert psi([0, 50, 50], [10, 45, 45], eps=1e-3) < psi([0, 50, 50], [10, 45, 45])


def test_psi_of_identical_distributions_is_exactly_zero() -> None:
    rng = np.random.default_rng(30)
    counts = rng.uniform(0, 100, 40)
    counts[::7] = 0.0
    assert psi(counts, counts) == 0.0
    assert psi(counts, counts * 3.0) == pytest.approx(0.0, abs=1e-15)  # shares, not counts (equal to rounding)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e6), st.floats(0, 1e6)), min_size=1, max_size=30).filter(
    lambda pairs: sum(a for a, _ in pairs) > 0 and sum(b for _, b in pairs) > 0))
def test_psi_is_non_negative_and_symmetric(pairs: list[tuple[float, float]]) -> None:
    p = [a for a, _ in pairs]
    q = [b for _, b in pairs]
    value = psi(p, q)
    assert value >= 0.0
    assert value == psi(q, p)
    assert psi(p, p) == 0.0


def test_psi_binned_merges_grid_cells_into_equal_reference_mass() -> None:
    edges = np.arange(21.0)
    ref = Binned(edges, np.concatenate([[0.0], np.full(20, 5.0), [0.0]]), 100.0)
    cur_counts = np.concatenate([[3.0], np.arange(20.0), [7.0]])
    cur = Binned(edges, cur_counts, float(cur_counts.sum()))
    # 4 bins of 5 grid cells each, plus the two tails
    expected = psi([0, 25, 25, 25, 25, 0], [3, *(cur_counts[1:-1].reshape(4, 5).sum(axis=1)), 7])
    assert psi_binned(ref, cur, bins=4) == pytest.approx(expected, rel=1e-12)
    assert psi_binned(ref, ref, bins=4) == 0.0


def test_psi_binned_on_a_grid_is_close_to_psi_on_sample_deciles() -> None:
    rng = np.random.default_rng(31)
    x, y = rng.normal(size=20_000), rng.normal(0.2, 1.0, 10_000)
    deciles = np.quantile(x, np.linspace(0, 1, 11))
    ref_counts = np.histogram(x, deciles)[0]
    cur_counts = np.concatenate([[np.sum(y < deciles[0])], np.histogram(y, deciles)[0], [np.sum(y > deciles[-1])]])
    by_samples = psi(np.concatenate([[0], ref_counts, [0]]), cur_counts)
    assert psi_binned(*_binned_pair(x, y)) == pytest.approx(by_samples, rel=0.02)


def test_psi_binned_keeps_a_heavy_tie_in_one_cell() -> None:
    x = np.concatenate([np.zeros(7000), np.random.default_rng(32).exponential(size=3000)])
    ref, _ = _binned_pair(x, x)
    cur = bin_values(np.concatenate([np.zeros(5000), np.ones(5000)]), ref.edges)
    assert psi_binned(ref, ref) == 0.0
    assert psi_binned(ref, cur) > 0.25


# ---- false alarms by simulation ----------------------------------------------------------------------------------

def _numeric_false_alarms(draw: str, runs: int = 500) -> tuple[float, float]:
    verdicts = p_values = 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=2000) if draw == "normal" else rng.lognormal(0.0, 1.0, 2000)
        y = rng.normal(size=1000) if draw == "normal" else rng.lognormal(0.0, 1.0, 1000)
        verdict = numeric_verdict(*_binned_pair(x, y), ref_std=float(x.std()))
        assert verdict.p_value is not None
        verdicts += verdict.drifted
        p_values += verdict.p_value < ALPHA
    return verdicts / runs, p_values / runs


@pytest.mark.parametrize("draw", ["normal", "lognormal"])
def test_numeric_verdict_false_alarm_rate_is_at_most_alpha(draw: str) -> None:
    drifted, rejected = _numeric_false_alarms(draw)
    assert rejected <= _allowed_rate(500)  # the binned KS test itself is valid
    assert drifted <= rejected <= _allowed_rate(500)


def test_sample_ks_false_alarm_rate_is_at_most_alpha() -> None:
    rng = np.random.default_rng(40)
    x, y = rng.lognormal(size=(500, 2000)), rng.lognormal(size=(500, 1000))
    rate = np.mean([ks_samples(a, b).p_value < ALPHA for a, b in zip(x, y, strict=True)])
    assert rate <= _allowed_rate(500)


@pytest.mark.slow
def test_weighted_reference_does_not_over_alarm_because_n_eff_is_used() -> None:
    # The reference keeps a quarter of the negatives, weighted 4 (negative downsampling undone); the feature's
    # mean depends on the label, so the unweighted reference would be biased and the raw count would overstate n.
    runs = 500
    rejected = naive = 0
    for seed in range(runs):
        rng = np.random.default_rng(1000 + seed)
        label = rng.random(4000) < 0.2
        x = rng.normal(label * 1.0, 1.0)
        keep = label | (rng.random(4000) < 0.25)
        weights = np.where(label, 1.0, 4.0)[keep]
        window_label = rng.random(1000) < 0.2
        window = rng.normal(window_label * 1.0, 1.0)
        edges = grid_edges(x[keep], weights=weights)
        ref = bin_values(x[keep], edges, weights=weights)
        cur = bin_values(window, edges)
        rejected += ks(ref, cur).p_value < ALPHA
        naive += ks(Binned(ref.edges, ref.counts, ref.n), cur).p_value < ALPHA
    assert rejected / runs <= _allowed_rate(runs)
    assert naive / runs > 2 * ALPHA  # counting weights as rows would over-alarm


def _categorical_false_alarms(*, complete: bool, runs: int = 500) -> tuple[float, float]:
    shares = np.array([0.3, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05, 0.03, 0.018, 0.002])
    names = [f"c{i}" for i in range(shares.size)]
    rng = np.random.default_rng(50)
    refs, curs = rng.multinomial(2000, shares, size=runs), rng.multinomial(1000, shares, size=runs)
    drifted = rejected = 0
    for ref_row, cur_row in zip(refs, curs, strict=True):
        ref = {k: float(v) for k, v in zip(names, ref_row, strict=True) if v > 0}
        if not complete:  # the reference keeps its top 6 categories and sums the rest
            ref = {k: ref.get(k, 0.0) for k in names[:6]} | {OTHER: float(ref_row[6:].sum())}
        cur = {k: float(v) for k, v in zip(names, cur_row, strict=True) if v > 0}
        verdict = categorical_verdict(ref, cur, ref_n_eff=2000, cur_n=1000, complete=complete)
        assert verdict.p_value is not None
        drifted += verdict.drifted
        rejected += verdict.p_value < ALPHA
    return drifted / runs, rejected / runs


@pytest.mark.parametrize("complete", [True, False])
def test_categorical_verdict_false_alarm_rate_is_at_most_alpha(complete: bool) -> None:
    drifted, rejected = _categorical_false_alarms(complete=complete, runs=1000)  # cheap: more runs, a tighter bound
    assert drifted <= rejected <= _allowed_rate(1000)


# ---- planted shifts --------------------------------------------------------------------------------------------

def test_a_tenth_of_a_standard_deviation_at_100k_rows_is_drifted() -> None:
    rng = np.random.default_rng(60)
    x, y = rng.normal(size=100_000), rng.normal(0.1, 1.0, 100_000)
    verdict = numeric_verdict(*_binned_pair(x, y), ref_std=float(x.std()))
    assert verdict.drifted and verdict.test == "ks" and verdict.effect == "wasserstein_norm"
    assert verdict.p_value is not None and verdict.p_value < 1e-10
    assert verdict.effect_value == pytest.approx(0.1, abs=0.01)
    assert verdict.reason.startswith("drifted: the KS test rejects equality")


@pytest.mark.slow
def test_a_hundredth_of_a_standard_deviation_at_a_million_rows_is_significant_but_not_drifted() -> None:
    rng = np.random.default_rng(61)
    x, y = rng.normal(size=1_000_000), rng.normal(0.01, 1.0, 1_000_000)
    verdict = numeric_verdict(*_binned_pair(x, y), ref_std=float(x.std()))
    assert verdict.p_value is not None and verdict.p_value < ALPHA  # significance alone would flag it ...
    assert not verdict.drifted                                      # ... the effect gate does not
    assert verdict.effect_value is not None and verdict.effect_value < 0.05
    assert "significant" in verdict.reason and "but small" in verdict.reason


def test_a_new_category_with_one_percent_of_the_window_is_drifted() -> None:
    rng = np.random.default_rng(62)
    shares = np.array([0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.02])
    names = [f"c{i}" for i in range(shares.size)]
    ref = dict(zip(names, rng.multinomial(100_000, shares).astype(float), strict=True))
    cur = dict(zip(names, rng.multinomial(99_000, shares).astype(float), strict=True)) | {"brand_new": 1000.0}
    verdict = categorical_verdict(ref, cur, ref_n_eff=100_000, cur_n=100_000, complete=True)
    assert verdict.drifted and verdict.effect == "new_share"
    assert verdict.effect_value == pytest.approx(0.01)
    assert "0.01 of the window's rows are in categories the reference never saw" in verdict.reason
    # The same window against a reference that lists only its top categories cannot call the category new.
    top = {k: ref[k] for k in names[:3]} | {OTHER: sum(ref[k] for k in names[3:])}
    folded = categorical_verdict(top, cur, ref_n_eff=100_000, cur_n=100_000, complete=False)
    assert folded.effect == "jensen_shannon" and "cannot be told from rare ones" in folded.reason
    assert folded.p_value is not None and folded.p_value < ALPHA  # the test still sees the extra "__other__" mass
    assert not folded.drifted  # but 1% moved into "__other__" is a small distance


def test_categorical_counts_are_rescaled_to_the_effective_size() -> None:
    ref = {"a": 6000.0, "b": 4000.0}  # weights 10 on 1,000 rows: n_eff 1,000, not 10,000
    cur = {"a": 560.0, "b": 440.0}
    as_sampled = categorical_verdict(ref, cur, ref_n_eff=1000, cur_n=1000, complete=True)
    as_weighted = categorical_verdict(ref, cur, ref_n_eff=10_000, cur_n=1000, complete=True)
    expected = chi_square([600.0, 400.0], [560.0, 440.0])
    assert as_sampled.p_value == pytest.approx(expected.p_value, rel=1e-12)
    assert as_sampled.p_value is not None and as_weighted.p_value is not None
    assert as_weighted.p_value < as_sampled.p_value


def test_rare_categories_are_pooled_for_the_test() -> None:
    ref = {"a": 500.0, "b": 490.0, "r1": 4.0, "r2": 3.0, "r3": 3.0}
    cur = {"a": 250.0, "b": 240.0, "r1": 1.0, "r2": 5.0, "r3": 4.0}
    verdict = categorical_verdict(ref, cur, ref_n_eff=1000, cur_n=500, complete=True)
    expected = chi_square([500.0, 490.0, 10.0], [250.0, 240.0, 10.0])
    assert verdict.p_value == pytest.approx(expected.p_value, rel=1e-12)


# ---- verdict edge cases ----------------------------------------------------------------------------------------

def test_too_few_rows_gives_no_verdict() -> None:
    rng = np.random.default_rng(70)
    ref, cur = _binned_pair(rng.normal(size=1000), rng.normal(5.0, 1.0, 29))
    verdict = numeric_verdict(ref, cur, ref_std=1.0)
    assert not verdict.drifted and verdict.p_value is None and verdict.effect_value is None
    assert verdict.reason == ("too few rows: 29 present values in the window, at least 30 are needed for a drift "
                              "verdict.")
    small = categorical_verdict({"a": 10.0, "b": 10.0}, {"c": 100.0}, ref_n_eff=20, cur_n=100, complete=True)
    assert not small.drifted and small.reason.startswith("too few rows in the reference: 20 (effective)")


def test_missing_std_falls_back_to_the_interquartile_spread() -> None:
    rng = np.random.default_rng(71)
    x, y = rng.normal(0.0, 3.0, 50_000), rng.normal(0.6, 3.0, 20_000)
    ref, cur = _binned_pair(x, y)
    with_std = numeric_verdict(ref, cur, ref_std=float(x.std()))
    with_iqr = numeric_verdict(ref, cur, ref_std=None)
    assert with_std.effect_value is not None and with_iqr.effect_value is not None
    assert with_iqr.effect_value == pytest.approx(with_std.effect_value, rel=0.03)  # IQR / 1.349 ~ std (normal)
    assert with_iqr.drifted and "IQR-based spreads" in with_iqr.reason
    assert numeric_verdict(ref, cur, ref_std=0.0).effect_value == with_iqr.effect_value


def test_a_reference_without_spread_flags_any_significant_change() -> None:
    ref = bin_values(np.full(1000, 2.0), grid_edges(np.full(1000, 2.0)))
    changed = bin_values(np.r_[np.full(900, 2.0), np.full(100, 3.0)], ref.edges)
    same = bin_values(np.full(500, 2.0), ref.edges)
    flagged = numeric_verdict(ref, changed, ref_std=0.0)
    assert flagged.drifted and flagged.effect_value is None
    assert flagged.reason.startswith("drifted: the reference has no spread, so any significant change counts")
    assert not numeric_verdict(ref, same, ref_std=None).drifted


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: ks(bin_values(np.arange(5.0), np.array([0.0, 4.0])), bin_values(np.arange(5.0), np.array([0.0, 5.0]))),
     FeatureError, "ks: the two distributions were counted on different edges"),
    (lambda: wasserstein(bin_values(np.arange(5.0), np.array([0.0, 4.0])),
                         bin_values(np.arange(5.0), np.array([0.0, 2.0, 4.0]))),
     FeatureError, "wasserstein: the two distributions were counted on different edges"),
    (lambda: ks(bin_values(np.arange(5.0), np.array([0.0, 4.0])), bin_values(np.array([np.nan]), np.array([0.0, 4.0]))),
     MonitoringError, "ks: the window holds no values"),
    (lambda: Binned(np.array([0.0, 2.0, 1.0]), np.zeros(4), 0.0), FeatureError, "expected strictly increasing edges"),
    (lambda: Binned(np.array([0.0, 1.0]), np.zeros(2), 0.0), FeatureError, "expected len(edges) + 1 = 3 counts"),
    (lambda: Binned(np.array([0.0, 1.0]), np.array([0.0, -1.0, 2.0]), 1.0), FeatureError,
     "Binned counts: expected finite counts >= 0, got -1.0 at position 1."),
    (lambda: psi([1, -1], [1, 1]), MonitoringError, "psi reference counts: expected finite counts >= 0, got -1.0"),
    (lambda: psi([1, 2, 3], [1, 2]), MonitoringError,
     "psi: expected the same categories (cells) on both sides, got 3 reference counts and 2 window counts."),
    (lambda: psi([0, 0], [1, 2]), MonitoringError, "psi: the reference counts are all 0"),
    (lambda: psi([1, 2], [1, 2], eps=0.0), MonitoringError, "psi eps: expected a small share between 0 and 1"),
    (lambda: chi_square([1, 2], [np.nan, 2]), MonitoringError, "chi_square window counts: expected finite counts"),
    (lambda: chi_square_fit([1, 2], [0.5, 0.3, 0.2]), MonitoringError,
     "chi_square_fit: expected one share per observed count with a positive sum, got 2 counts and 3 shares"),
    (lambda: jensen_shannon([], []), MonitoringError, "expected a flat, non-empty list of counts, got shape (0,)"),
    (lambda: ks_samples([np.nan], [1.0]), MonitoringError, "ks_samples x: expected at least one present"),
    (lambda: new_share({"a": 0.0}, {"a"}), MonitoringError, "new_share: the window counts are all 0"),
    (lambda: numeric_verdict(*_binned_pair(np.arange(50.0), np.arange(50.0)), ref_std=1.0, alpha=1.5),
     MonitoringError, "alpha: expected a significance level between 0 and 1, got 1.5."),
    (lambda: numeric_verdict(*_binned_pair(np.arange(50.0), np.arange(50.0)), ref_std=-1.0),
     MonitoringError, "ref_std: expected a finite standard deviation >= 0 or None, got -1.0."),
    (lambda: categorical_verdict({"a": 1.0}, {"a": -1.0}, ref_n_eff=50, cur_n=50, complete=True),
     MonitoringError, "categorical_verdict window counts: expected finite counts >= 0, got -1.0 at position 0."),
    (lambda: categorical_verdict({"a": 0.0}, {"a": 50.0}, ref_n_eff=50, cur_n=50, complete=True),
     MonitoringError, "categorical_verdict: the reference counts are all 0 but its size is given as 50"),
])
def test_errors_say_what_to_fix(call: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)
