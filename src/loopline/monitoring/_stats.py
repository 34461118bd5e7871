"""Drift statistics on binned and categorical data: tests, distances and PSI.

Monitoring compares a model version's stored reference (built from training data, possibly weighted to undo
negative downsampling) with a window of live data. Numeric columns arrive as :class:`~loopline.features.
_binning.Binned` counts on the reference's quantile grid; categorical ones as counts per category. Every
function here is pure numpy/scipy on those counts, and each sample version matches scipy exactly.

The verdicts built on them are in :mod:`loopline.monitoring._verdicts`.

>>> ref = np.array([10.0, 80.0, 10.0]); cur = np.array([10.0, 70.0, 20.0])
>>> round(psi(ref, cur), 4), round(jensen_shannon(ref, cur), 4)
(0.0827, 0.1211)
>>> chi_square(ref, cur).p_value < 0.05
False
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from loopline._errors import MonitoringError
from loopline.features._binning import Binned, require_same_edges

FloatArray = NDArray[np.float64]

OTHER = "__other__"
"""The key under which a reference profile sums the categories beyond its most frequent ones."""

@dataclass(frozen=True)
class TestResult:
    """A test statistic and its p-value."""

    __test__ = False  # not a pytest test class

    statistic: float
    p_value: float


# ---- inputs ---------------------------------------------------------------------------------------------------


def _counts(values: ArrayLike, *, where: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise MonitoringError(f"{where}: expected a flat, non-empty list of counts, got shape {array.shape}.")
    bad = ~np.isfinite(array) | (array < 0)
    if np.any(bad):
        at = int(np.flatnonzero(bad)[0])
        raise MonitoringError(f"{where}: expected finite counts >= 0, got {float(array[at])!r} at position {at}.")
    return array


def _pair(ref: ArrayLike, cur: ArrayLike, *, where: str) -> tuple[FloatArray, FloatArray]:
    a = _counts(ref, where=f"{where} reference counts")
    b = _counts(cur, where=f"{where} window counts")
    if a.size != b.size:
        raise MonitoringError(
            f"{where}: expected the same categories (cells) on both sides, got {a.size} reference counts and "
            f"{b.size} window counts. Align them on one list of categories, with 0 where one side has none."
        )
    for name, side in (("reference", a), ("window", b)):
        if side.sum() == 0:
            raise MonitoringError(f"{where}: the {name} counts are all 0, so there is no distribution to compare.")
    return a, b


def _samples(values: ArrayLike, *, where: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[~np.isnan(array)]
    if array.size == 0:
        raise MonitoringError(f"{where}: expected at least one present (non-NaN) value, got none.")
    return array


def _nonempty(binned: Binned, *, where: str, name: str) -> None:
    if binned.n == 0:
        raise MonitoringError(f"{where}: the {name} holds no values, so there is no distribution to compare.")


# ---- Kolmogorov-Smirnov ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)  # the verdict and the statistics table ask for the same p-value
def _ks_p_value(d: float, n1: float, n2: float) -> float:
    # scipy.stats.ks_2samp(method="asymp"), two-sided: the exact one-sample Kolmogorov distribution (kstwo)
    # at n = round(n1 n2 / (n1 + n2)), computed in scipy's order (larger size first) so results agree to the bit.
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(stats.kstwo.sf(d, max(float(np.round(en)), 1.0)), 0.0, 1.0))


def ks(ref: Binned, cur: Binned) -> TestResult:
    """Two-sample Kolmogorov-Smirnov on the common grid.

    ``D`` is the largest gap between the two CDFs over the grid's edges, tails included (the share below
    each edge, and at or below the last). The p-value is scipy's two-sided asymptotic one,
    ``kstwo.sf(D, round(n1 n2 / (n1 + n2)))``, with each side's effective size (``n_eff``) as its sample size,
    so weights do not inflate it. The grid's edges are a subset of the points where the sample statistic is
    taken, so ``D`` never exceeds the unbinned statistic and the p-value is conservative; on a grid of ``c``
    equal-mass cells it falls short by at most about ``2 / c`` (exactly 0 for data whose distinct values are
    all edges).
    """
    require_same_edges(ref, cur, where="ks")
    _nonempty(ref, where="ks", name="reference")
    _nonempty(cur, where="ks", name="window")
    d = float(np.max(np.abs(ref.cdf_at_edges() - cur.cdf_at_edges())))
    return TestResult(d, _ks_p_value(d, ref.n_eff, cur.n_eff))


def ks_samples(x: ArrayLike, y: ArrayLike) -> TestResult:
    """The two-sample KS test on raw samples: ``scipy.stats.ks_2samp(x, y, method="asymp")``, two-sided.

    NaN values are dropped first (missing values are reported separately).
    """
    a = np.sort(_samples(x, where="ks_samples x"))
    b = np.sort(_samples(y, where="ks_samples y"))
    both = np.concatenate([a, b])
    gaps = np.searchsorted(a, both, side="right") / a.size - np.searchsorted(b, both, side="right") / b.size
    d = float(max(np.clip(-gaps.min(), 0.0, 1.0), gaps.max()))
    return TestResult(d, _ks_p_value(d, a.size, b.size))


# ---- Wasserstein ----------------------------------------------------------------------------------------------


def wasserstein(ref: Binned, cur: Binned) -> float:
    """The 1-Wasserstein distance ``integral |F_ref - F_cur| dx`` on the common grid, in the column's units.

    Each cell's mass is spread uniformly within the cell, so both CDFs are linear between edges and the
    integral is exact for them. The tails have no width to spread over: the mass below the grid is treated as
    sitting at the first edge and the mass above it at the last edge. Mass that moved beyond the reference's
    range therefore counts only up to the range's end (KS still sees all of it, as tail shares). Callers
    normalise by the reference's spread (:func:`numeric_verdict` divides by its std).
    """
    require_same_edges(ref, cur, where="wasserstein")
    _nonempty(ref, where="wasserstein", name="reference")
    _nonempty(cur, where="wasserstein", name="window")
    gap = ref.cdf_at_edges() - cur.cdf_at_edges()
    left, right = gap[:-1], gap[1:]
    width = np.diff(ref.edges)
    size = np.abs(left) + np.abs(right)
    # |gap| is linear within a cell: a trapezoid, or two triangles when the gap changes sign inside.
    crossing = np.divide(left**2 + right**2, size, out=np.zeros_like(size), where=size > 0)
    area = np.where(left * right >= 0, size, crossing) * width / 2.0
    return float(area.sum())


def wasserstein_samples(x: ArrayLike, y: ArrayLike, *, x_weights: ArrayLike | None = None,
                        y_weights: ArrayLike | None = None) -> float:
    """The 1-Wasserstein distance between two samples: ``scipy.stats.wasserstein_distance`` (weights too).

    NaN values (and their weights) are dropped first.
    """
    u, u_w = _weighted_samples(x, x_weights, where="wasserstein_samples x")
    v, v_w = _weighted_samples(y, y_weights, where="wasserstein_samples y")
    u_order, v_order = np.argsort(u), np.argsort(v)
    both = np.concatenate([u, v])
    both.sort(kind="mergesort")
    deltas = np.diff(both)
    u_cdf = _sample_cdf(u[u_order], None if u_w is None else u_w[u_order], both[:-1])
    v_cdf = _sample_cdf(v[v_order], None if v_w is None else v_w[v_order], both[:-1])
    return float(np.dot(np.abs(u_cdf - v_cdf), deltas))


def _weighted_samples(values: ArrayLike, weights: ArrayLike | None, *,
                      where: str) -> tuple[FloatArray, FloatArray | None]:
    array = np.asarray(values, dtype=np.float64).ravel()
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w is not None and w.size != array.size:
        raise MonitoringError(f"{where}: expected one weight per value ({array.size}), got {w.size}.")
    present = ~np.isnan(array)
    array = array[present]
    if w is not None:
        w = w[present]
        if not np.all(np.isfinite(w) & (w >= 0)) or w.sum() <= 0:
            raise MonitoringError(f"{where}: expected finite weights >= 0 with a positive sum.")
    if array.size == 0:
        raise MonitoringError(f"{where}: expected at least one present (non-NaN) value, got none.")
    return array, w


def _sample_cdf(ordered: FloatArray, weights: FloatArray | None, at: FloatArray) -> FloatArray:
    index = ordered.searchsorted(at, "right")
    if weights is None:
        cdf: FloatArray = index / ordered.size
        return cdf
    cumulative = np.concatenate(([0.0], np.cumsum(weights)))
    weighted: FloatArray = cumulative[index] / cumulative[-1]
    return weighted


# ---- PSI ------------------------------------------------------------------------------------------------------


def psi(ref_counts: ArrayLike, cur_counts: ArrayLike, *, eps: float = 1e-4) -> float:
    """Population stability index ``sum (q - p) ln(q / p)`` over cells, on shares ``p`` (reference) and ``q``.

    A share of exactly 0 is replaced by ``eps`` (the other shares are left as they are, not renormalised), so a
    cell empty on one side adds ``(q - eps) ln(q / eps)`` instead of infinity, and a cell empty on both adds 0.
    Each term is ``(q - p)(ln q - ln p)``: never negative, and symmetric in ``p`` and ``q`` to the last bit.
    Common reading: < 0.1 stable, 0.1-0.25 a moderate shift, > 0.25 a large one.

    >>> bool(psi([50, 50], [40, 60]) == (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.6 - 0.5) * np.log(0.6 / 0.5))
    True
    """
    if not 0.0 < eps < 1.0:
        raise MonitoringError(f"psi eps: expected a small share between 0 and 1 (like 1e-4), got {eps!r}.")
    a, b = _pair(ref_counts, cur_counts, where="psi")
    p = a / a.sum()
    q = b / b.sum()
    p[p == 0] = eps
    q[q == 0] = eps
    return float(np.sum((q - p) * (np.log(q) - np.log(p))))


def psi_binned(ref: Binned, cur: Binned, *, bins: int = 10, eps: float = 1e-4) -> float:
    """PSI on about ``bins`` cells of equal reference mass, plus the two tails.

    The cells are made by merging neighbouring grid cells: each cut is the grid edge whose cumulative
    reference mass is nearest to ``k / bins`` of the mass inside the grid (cuts that coincide are merged, so a
    heavy tie gives fewer cells). The mass below and above the grid are two more cells.
    """
    if isinstance(bins, bool) or bins < 1:
        raise MonitoringError(f"psi_binned bins: expected a whole number >= 1, got {bins!r}.")
    require_same_edges(ref, cur, where="psi_binned")
    inner = ref.counts[1:-1]
    cumulative = np.concatenate([[0.0], np.cumsum(inner)])
    targets = cumulative[-1] * np.arange(1, bins) / bins
    above = np.clip(np.searchsorted(cumulative, targets, side="left"), 1, inner.size)
    nearer_below = (targets - cumulative[above - 1]) < (cumulative[above] - targets)
    cuts = np.where(nearer_below, above - 1, above)
    starts = np.unique(np.concatenate([[0], cuts[(cuts > 0) & (cuts < inner.size)]])).astype(np.intp)

    def grouped(b: Binned) -> FloatArray:
        return np.concatenate([b.counts[:1], np.add.reduceat(b.counts[1:-1], starts), b.counts[-1:]])

    return psi(grouped(ref), grouped(cur), eps=eps)


# ---- categorical tests and distances --------------------------------------------------------------------------


def chi_square(ref_counts: ArrayLike, cur_counts: ArrayLike) -> TestResult:
    """Two-sample chi-square test of homogeneity on the 2 x K table of counts (no continuity correction).

    Categories absent from both rows are dropped; with fewer than two left there is nothing to compare
    (statistic 0, p-value 1, as scipy). Equals ``scipy.stats.chi2_contingency(np.vstack([ref, cur]),
    correction=False)[:2]``. This is the verdict's test, not a goodness-of-fit test against the reference
    shares: the reference is itself a sample, and treating its shares as exact over-alarms.
    """
    a, b = _pair(ref_counts, cur_counts, where="chi_square")
    table = np.vstack([a, b])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return TestResult(0.0, 1.0)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return TestResult(statistic, float(stats.chi2.sf(statistic, table.shape[1] - 1)))


def chi_square_fit(observed: ArrayLike, expected_shares: ArrayLike) -> TestResult:
    """Chi-square goodness of fit of ``observed`` counts to ``expected_shares`` (normalised to sum to 1).

    Equals ``scipy.stats.chisquare(observed, f_exp)`` with ``f_exp`` the shares times the observed total.
    A category with expected share 0 and no observation is dropped; one with expected share 0 and observations
    makes the fit impossible (statistic infinite, p-value 0).
    """
    counts = _counts(observed, where="chi_square_fit observed")
    shares = _counts(expected_shares, where="chi_square_fit expected_shares")
    if counts.size != shares.size or shares.sum() == 0:
        raise MonitoringError(
            f"chi_square_fit: expected one share per observed count with a positive sum, got {counts.size} counts "
            f"and {shares.size} shares summing to {float(shares.sum())!r}."
        )
    expected = shares / shares.sum() * counts.sum()
    if np.any((expected == 0) & (counts > 0)):
        return TestResult(float("inf"), 0.0)
    keep = expected > 0
    statistic = float(np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep]))
    return TestResult(statistic, float(stats.chi2.sf(statistic, int(keep.sum()) - 1)))


def jensen_shannon(p_counts: ArrayLike, q_counts: ArrayLike) -> float:
    """The Jensen-Shannon distance (base 2, so in [0, 1]): ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.

    The square root of the mean Kullback-Leibler divergence of each distribution from their average; 0 for
    equal shares, 1 for distributions with no category in common.
    """
    a, b = _pair(p_counts, q_counts, where="jensen_shannon")
    p = a / a.sum()
    q = b / b.sum()
    m = (p + q) / 2.0
    divergence = _relative_entropy(p, m) + _relative_entropy(q, m)
    return float(np.sqrt(max(divergence / np.log(2.0), 0.0) / 2.0))


def _relative_entropy(p: FloatArray, m: FloatArray) -> float:
    # sum p ln(p / m) over p > 0 (scipy.special.rel_entr); m >= p / 2 > 0 wherever p > 0.
    seen = p > 0
    return float(np.sum(p[seen] * np.log(p[seen] / m[seen])))


def new_share(cur_counts: Mapping[str, float], known: Collection[str]) -> float:
    """The share of the window's rows whose category is not in ``known`` (categories the reference never saw).

    >>> new_share({"a": 90, "b": 5, "zz": 5}, {"a", "b"})
    0.05
    """
    values = _counts(list(cur_counts.values()), where="new_share window counts")
    total = float(values.sum())
    if total == 0:
        raise MonitoringError("new_share: the window counts are all 0, so there is no share to report.")
    unseen = sum(float(v) for k, v in cur_counts.items() if k not in known)
    return unseen / total
