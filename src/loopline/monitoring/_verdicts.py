"""Verdicts: whether a column drifted, from the statistics of :mod:`loopline.monitoring._stats`.

A verdict asks two questions, because either alone misleads: is the difference *significant* (a test whose
p-value is below ``alpha``), and is it *large enough to matter* (an effect size above ``min_effect``)?
Significance alone flags trivial shifts on a million rows; an effect size alone flags noise on fifty.

Default thresholds, by kind of column and by size of the window:

============  ===============================  =========================================  ====================
kind          significance (``alpha=0.05``)    effect (needed as well)                    no verdict when
============  ===============================  =========================================  ====================
numeric       two-sample KS on the reference   Wasserstein / reference std >= 0.05        < 30 present values
              grid, p < 0.05                   (std absent or 0: IQR / 1.349; also 0:     in the window (or
                                               any significant change counts)             the reference)
categorical   chi-square test of homogeneity   Jensen-Shannon distance (base 2) >= 0.05   < 30 rows in the
              on the 2 x K table, the          **or** share of window rows in             window (or the
              reference rescaled to its        categories the reference never saw         reference)
              effective size, p < 0.05         >= 0.005 (complete references only)
============  ===============================  =========================================  ====================

How the two gates share the work as the window grows: below ``min_rows`` nothing is said ("too few rows");
on small windows the test decides (a KS test on 1,000 rows cannot reject shifts much below 0.1 sd, which are
above the effect threshold anyway); on large windows the effect decides (at 1,000,000 rows a 0.01 sd shift is
significant, and is not reported because 0.01 < 0.05). The false-alarm rate of a verdict is at most the test's,
which is at most ``alpha``: binning only lowers the KS statistic, so the binned test is conservative, and the
chi-square test is valid asymptotically (rare categories are pooled so that its approximation holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from loopline._errors import MonitoringError
from loopline.features._binning import Binned, require_same_edges
from loopline.monitoring._stats import (
    OTHER,
    FloatArray,
    _counts,
    chi_square,
    jensen_shannon,
    ks,
    new_share,
    wasserstein,
)

IQR_TO_STD = 1.3489795003921634
"""The interquartile range of a normal distribution in standard deviations (2 * 0.6744897501960817)."""

MIN_EXPECTED = 5.0
"""Cochran's rule: the categorical verdict pools categories whose expected count is below this."""


@dataclass(frozen=True)
class Verdict:
    """Whether one column drifted, the test and effect size behind it, and one sentence saying why."""

    drifted: bool
    test: str
    p_value: float | None
    effect: str
    effect_value: float | None
    reason: str


def _check_options(*, alpha: float, min_effect: float, min_rows: int) -> None:
    if not 0.0 < alpha < 1.0:
        raise MonitoringError(f"alpha: expected a significance level between 0 and 1, got {alpha!r}.")
    if not min_effect >= 0.0:
        raise MonitoringError(f"min_effect: expected an effect size >= 0, got {min_effect!r}.")
    if min_rows < 1:
        raise MonitoringError(f"min_rows: expected a whole number >= 1, got {min_rows!r}.")


# ---- verdicts -------------------------------------------------------------------------------------------------


def _quantile(binned: Binned, level: float) -> float:
    # The binned reference's quantile with each cell's mass spread uniformly (tails at the outer edges).
    return float(np.interp(level, binned.cdf_at_edges(), binned.edges))


def _too_few(*, test: str, effect: str, window: float, reference: float, min_rows: int) -> Verdict | None:
    if window < min_rows:
        reason = (f"too few rows: {window:,.0f} present values in the window, at least {min_rows} are needed for "
                  "a drift verdict.")
    elif reference < min_rows:
        reason = (f"too few rows in the reference: {reference:,.0f} (effective), at least {min_rows} are needed "
                  "for a drift verdict.")
    else:
        return None
    return Verdict(False, test, None, effect, None, reason)


def numeric_verdict(ref: Binned, cur: Binned, *, ref_std: float | None, alpha: float = 0.05,
                    min_effect: float = 0.05, min_rows: int = 30) -> Verdict:
    """Did a numeric column (or a score) drift? KS p-value < ``alpha`` and Wasserstein / spread >= ``min_effect``.

    The spread is ``ref_std`` (the reference's standard deviation); when it is None or 0, the reference's
    interquartile range / 1.349 (the std of a normal with that IQR) from the binned reference; when that is 0
    too (a constant or nearly constant reference), there is no scale and any significant change counts.
    Fewer than ``min_rows`` present values in the window (its effective size) gives no verdict.

    >>> from loopline.features._binning import bin_values
    >>> grid = np.linspace(-3.0, 3.0, 61)
    >>> rng = np.random.default_rng(0)
    >>> ref = bin_values(rng.normal(size=5000), grid)
    >>> numeric_verdict(ref, bin_values(rng.normal(0.5, 1.0, 2000), grid), ref_std=1.0).drifted
    True
    >>> numeric_verdict(ref, bin_values(rng.normal(size=20), grid), ref_std=1.0).reason
    'too few rows: 20 present values in the window, at least 30 are needed for a drift verdict.'
    """
    _check_options(alpha=alpha, min_effect=min_effect, min_rows=min_rows)
    if ref_std is not None and not (np.isfinite(ref_std) and ref_std >= 0):
        raise MonitoringError(f"ref_std: expected a finite standard deviation >= 0 or None, got {ref_std!r}.")
    require_same_edges(ref, cur, where="numeric_verdict")
    few = _too_few(test="ks", effect="wasserstein_norm", window=cur.n_eff, reference=ref.n_eff, min_rows=min_rows)
    if few is not None:
        return few
    test = ks(ref, cur)
    distance = wasserstein(ref, cur)
    spread, source = (float(ref_std), "standard deviations") if ref_std else (0.0, "")
    if spread == 0:
        spread, source = (_quantile(ref, 0.75) - _quantile(ref, 0.25)) / IQR_TO_STD, "IQR-based spreads"
    significant = test.p_value < alpha
    p_text = f"KS p = {test.p_value:.3g}"
    if spread == 0:
        reason = ("the reference has no spread, so any significant change counts: "
                  + (f"the KS test rejects equality ({p_text} < {alpha:g})." if significant
                     else f"the KS test finds no significant change ({p_text} >= {alpha:g})."))
        return Verdict(significant, "ks", test.p_value, "wasserstein_norm", None,
                       ("drifted: " if significant else "not drifted: ") + reason)
    effect = distance / spread
    size = f"the Wasserstein distance is {effect:.3g} reference {source}"
    if significant and effect >= min_effect:
        reason = f"drifted: the KS test rejects equality ({p_text} < {alpha:g}) and {size} (>= {min_effect:g})."
    elif significant:
        reason = (f"not drifted: the change is significant ({p_text} < {alpha:g}) but small: {size} "
                  f"(< {min_effect:g}).")
    else:
        reason = f"not drifted: the KS test finds no significant change ({p_text} >= {alpha:g}); {size}."
    return Verdict(significant and effect >= min_effect, "ks", test.p_value, "wasserstein_norm", effect, reason)


def _category_counts(counts: Mapping[str, float], *, where: str) -> dict[str, float]:
    plain = {str(k): float(v) for k, v in counts.items()}
    _counts(list(plain.values()) or [0.0], where=where)
    return plain


def _pool_small(ref: FloatArray, cur: FloatArray) -> tuple[FloatArray, FloatArray]:
    # Cochran's rule: categories whose expected count in either row is below MIN_EXPECTED are summed into one.
    total = ref.sum() + cur.sum()
    column = ref + cur
    small = np.minimum(ref.sum(), cur.sum()) * column / total < MIN_EXPECTED
    if small.sum() < 2:
        return ref, cur
    return (np.append(ref[~small], ref[small].sum()), np.append(cur[~small], cur[small].sum()))


def categorical_verdict(ref_counts: Mapping[str, float], cur_counts: Mapping[str, float], *, ref_n_eff: float,
                        cur_n: float, complete: bool, alpha: float = 0.05, min_effect: float = 0.05,
                        min_new_share: float = 0.005, min_rows: int = 30) -> Verdict:
    """Did a categorical column (or a label, or a predicted class) drift?

    Drifted when the chi-square test of homogeneity gives p < ``alpha`` **and** the Jensen-Shannon distance is
    at least ``min_effect`` **or** the share of window rows in categories the reference never saw is at least
    ``min_new_share``. The verdict's effect is ``new_share`` when new categories decided it (the more specific
    cause), else ``jensen_shannon``; its reason names every gate that was passed.

    ``ref_counts`` are the reference's (weighted) counts per category, possibly only its most frequent ones plus
    ``"__other__"``: then ``complete`` is False, window categories the reference does not list are counted under
    ``"__other__"`` too (a new category cannot be told from a rare one) and ``new_share`` is not used. For the
    test, the reference counts are rescaled to ``ref_n_eff`` rows (weights must not inflate the sample size)
    and the window's to ``cur_n`` rows (its present rows; its row count when unweighted), and categories with
    an expected count below 5 in either row are pooled into one (Cochran's rule, which keeps the test's
    chi-square approximation valid when there are many rare categories). Fewer than ``min_rows`` window rows
    gives no verdict.

    >>> ref = {"a": 600.0, "b": 400.0}
    >>> v = categorical_verdict(ref, {"a": 594.0, "b": 396.0, "c": 10.0}, ref_n_eff=1000, cur_n=1000, complete=True)
    >>> v.drifted, v.effect, v.effect_value
    (True, 'new_share', 0.01)
    """
    _check_options(alpha=alpha, min_effect=min_effect, min_rows=min_rows)
    ref = _category_counts(ref_counts, where="categorical_verdict reference counts")
    cur = _category_counts(cur_counts, where="categorical_verdict window counts")
    if not (np.isfinite(ref_n_eff) and ref_n_eff >= 0) or not (np.isfinite(cur_n) and cur_n >= 0):
        raise MonitoringError(
            f"categorical_verdict: expected finite sizes >= 0, got ref_n_eff={ref_n_eff!r} and cur_n={cur_n!r}."
        )
    few = _too_few(test="chi_square", effect="jensen_shannon", window=cur_n, reference=ref_n_eff,
                   min_rows=min_rows)
    if few is not None:
        return few
    for name, side in (("reference", ref), ("window", cur)):
        if sum(side.values()) == 0:
            raise MonitoringError(
                f"categorical_verdict: the {name} counts are all 0 but its size is given as "
                f"{ref_n_eff if name == 'reference' else cur_n:g}; pass the counts of its present rows."
            )
    seen = [k for k, v in ref.items() if v > 0]
    if complete:
        share: float | None = new_share(cur, set(seen))
        categories = list(ref) + sorted(k for k in cur if k not in ref)
        aligned = cur
    else:
        share = None
        categories = [*(k for k in ref if k != OTHER), OTHER]
        aligned = {OTHER: 0.0}
        for k, v in cur.items():
            key = k if k in ref else OTHER
            aligned[key] = aligned.get(key, 0.0) + v
    ref_vec = np.array([ref.get(k, 0.0) for k in categories])
    cur_vec = np.array([aligned.get(k, 0.0) for k in categories])
    test = chi_square(*_pool_small(ref_vec * (ref_n_eff / ref_vec.sum()), cur_vec * (cur_n / cur_vec.sum())))
    distance = jensen_shannon(ref_vec, cur_vec)
    significant = test.p_value < alpha
    by_distance = distance >= min_effect
    by_new = share is not None and share >= min_new_share
    drifted = significant and (by_distance or by_new)
    p_text = f"chi-square p = {test.p_value:.3g}"
    size = f"the Jensen-Shannon distance is {distance:.3g}"
    new_text = (f"{share:.3g} of the window's rows are in categories the reference never saw" if share is not None
                else "new categories cannot be told from rare ones (the reference lists only its top categories)")
    if drifted:
        gates = [f"{size} (>= {min_effect:g})"] if by_distance else []
        gates += [f"{new_text} (>= {min_new_share:g})"] if by_new else []
        reason = f"drifted: the shares differ significantly ({p_text} < {alpha:g}) and {' and '.join(gates)}."
    elif significant:
        reason = (f"not drifted: the shares differ significantly ({p_text} < {alpha:g}) but little: {size} "
                  f"(< {min_effect:g}) and {new_text}" + (f" (< {min_new_share:g})." if share is not None else "."))
    else:
        reason = f"not drifted: no significant difference in shares ({p_text} >= {alpha:g}); {size}; {new_text}."
    if drifted and by_new:  # the more specific cause; the reason gives both
        return Verdict(True, "chi_square", test.p_value, "new_share", share, reason)
    return Verdict(drifted, "chi_square", test.p_value, "jensen_shannon", distance, reason)

