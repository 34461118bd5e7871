"""Numeric distributions counted on fixed edges, so that millions of live rows compare with a stored reference.

The reference keeps a fine grid of its own weighted quantiles (:func:`grid_edges`, about 1,000 cells) and the
weighted counts in each cell (:func:`bin_values`); a live window is counted on the same edges chunk by chunk and
the chunks are added up (:func:`merge`). Monitoring's tests (KS, Wasserstein, PSI) then work on the counts alone.

A :class:`Binned` with ``m`` cells has ``m + 1`` edges and ``m + 2`` counts: the mass below the first edge, one
count per cell ``[e[i-1], e[i])`` (the last cell closed on the right, so the largest reference value is inside
the grid), and the mass above the last edge. ``n_eff`` is Kish's effective sample size, ``(sum w)^2 / sum w^2``,
which is the row count for unweighted data; tests take their sample size from it, so weights that undo
negative downsampling do not pretend the reference holds more rows than were drawn.

Missing values (NaN) are never counted: missing shares are reported separately. Infinities fall in the tails
when counted, and are ignored when building the grid (edges are finite).

>>> edges = grid_edges(np.array([1.0, 2.0, 2.0, 3.0, 4.0]), cells=4)
>>> edges.tolist()
[1.0, 2.0, 3.0, 4.0]
>>> b = bin_values(np.array([0.0, 1.0, 2.0, 2.5, 4.0, 9.0, np.nan]), edges)
>>> b.counts.tolist(), b.n, b.n_eff
([1.0, 1.0, 2.0, 1.0, 1.0], 6.0, 6.0)
>>> b.cdf_at_edges().round(3).tolist()
[0.167, 0.333, 0.667, 0.833]
>>> merge(b, b).counts.tolist()
[2.0, 2.0, 4.0, 2.0, 2.0]
>>> Binned.from_dict(b.to_dict()) == b
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from loopline._errors import FeatureError

FloatArray = NDArray[np.float64]


def _as_edges(edges: ArrayLike, *, where: str) -> FloatArray:
    array = np.array(edges, dtype=np.float64)
    if array.ndim != 1 or array.size < 2:
        raise FeatureError(
            f"{where} edges: expected a flat list of at least 2 increasing numbers (a constant column uses "
            f"[v, v]), got shape {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise FeatureError(f"{where} edges: expected finite numbers, got {float(array[bad])!r} at position {bad}.")
    steps = np.diff(array)
    constant = array.size == 2 and steps[0] == 0.0
    if not constant and np.any(steps <= 0):
        bad = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise FeatureError(
            f"{where} edges: expected strictly increasing edges (only a constant column may use [v, v]), got "
            f"{float(array[bad - 1])!r} then {float(array[bad])!r} at positions {bad - 1} and {bad}. Build edges with "
            "grid_edges(), which sorts and deduplicates them."
        )
    array.setflags(write=False)
    return array


def _as_weights(weights: ArrayLike | None, size: int, *, where: str) -> FloatArray | None:
    if weights is None:
        return None
    array = np.asarray(weights, dtype=np.float64).ravel()
    if array.size != size:
        raise FeatureError(f"{where} weights: expected one weight per value ({size}), got {array.size}.")
    bad = ~np.isfinite(array) | (array < 0)
    if np.any(bad):
        at = int(np.flatnonzero(bad)[0])
        raise FeatureError(
            f"{where} weights: expected finite weights >= 0, got {float(array[at])!r} at position {at}. Weights undo "
            "sampling (for example 1 / negative_rate on kept negatives); drop rows rather than weighting them "
            "negatively."
        )
    return array


@dataclass(frozen=True)
class Binned:
    """A numeric distribution counted on fixed edges.

    ``edges``: increasing float64, length m+1 (m >= 1). ``counts``: length m+2, float64 (weights allowed):
    counts[0] = values < edges[0]; counts[1..m] = values in [edges[i-1], edges[i]) (the last cell closed on
    the right); counts[m+1] = values > edges[-1]. ``n_eff``: the effective sample size (Kish's
    (sum w)^2 / sum w^2 for weighted data, = the count for unweighted data).

    The arrays are copied and made read-only; two ``Binned`` are equal when their edges, counts and
    ``n_eff`` are equal exactly.
    """

    edges: np.ndarray
    counts: np.ndarray
    n_eff: float

    def __post_init__(self) -> None:
        edges = _as_edges(self.edges, where="Binned")
        counts = np.array(self.counts, dtype=np.float64)
        if counts.ndim != 1 or counts.size != edges.size + 1:
            raise FeatureError(
                f"Binned counts: expected len(edges) + 1 = {edges.size + 1} counts (below the first edge, one "
                f"per cell, above the last edge), got shape {counts.shape}."
            )
        bad = ~np.isfinite(counts) | (counts < 0)
        if np.any(bad):
            at = int(np.flatnonzero(bad)[0])
            raise FeatureError(
                f"Binned counts: expected finite counts >= 0, got {float(counts[at])!r} at position {at}."
            )
        counts.setflags(write=False)
        n_eff = float(self.n_eff)
        total = float(counts.sum())
        if not np.isfinite(n_eff) or n_eff < 0 or (n_eff == 0) != (total == 0):
            raise FeatureError(
                f"Binned n_eff: expected a finite effective sample size, > 0 when the counts hold mass (they "
                f"hold {total!r}) and 0 when they are empty, got {n_eff!r}."
            )
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "n_eff", n_eff)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Binned):
            return NotImplemented
        return (np.array_equal(self.edges, other.edges) and np.array_equal(self.counts, other.counts)
                and self.n_eff == other.n_eff)

    def __hash__(self) -> int:
        return hash((self.edges.tobytes(), self.counts.tobytes(), self.n_eff))

    @property
    def n(self) -> float:
        """The total (weighted) count, tails included."""
        return float(self.counts.sum())

    @property
    def cells(self) -> int:
        """The number of cells between the edges (``len(edges) - 1``)."""
        return int(self.edges.size - 1)

    def cdf_at_edges(self) -> FloatArray:
        """The empirical CDF at each edge, length m+1: the share below ``edges[i]`` for i < m, and the share at
        or below ``edges[m]`` (the last cell is closed). Raises when the counts are empty."""
        total = self.n
        if total == 0:
            raise FeatureError("Binned.cdf_at_edges: the counts are empty (no present value), so there is no CDF.")
        cdf: FloatArray = np.cumsum(self.counts)[:-1] / total
        return cdf

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON lists; :meth:`from_dict` gives back an equal ``Binned`` (floats round-trip exactly)."""
        return {"edges": self.edges.tolist(), "counts": self.counts.tolist(), "n_eff": self.n_eff}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Binned:
        missing = [key for key in ("edges", "counts", "n_eff") if key not in data]
        if missing:
            raise FeatureError(
                f"Binned.from_dict: expected the keys 'edges', 'counts' and 'n_eff', missing {missing}; "
                f"got keys {sorted(data)}."
            )
        return cls(np.asarray(data["edges"], dtype=np.float64), np.asarray(data["counts"], dtype=np.float64),
                   float(data["n_eff"]))


def bin_values(values: np.ndarray, edges: np.ndarray, *, weights: np.ndarray | None = None) -> Binned:
    """Count ``values`` (optionally weighted) on ``edges``; NaN values are ignored, ±inf fall in the tails."""
    grid = _as_edges(edges, where="bin_values")
    x = np.asarray(values, dtype=np.float64).ravel()
    w = _as_weights(weights, x.size, where="bin_values")
    present = ~np.isnan(x)
    x = x[present]
    m = grid.size - 1
    cell = np.searchsorted(grid, x, side="right")
    cell[x == grid[-1]] = m  # the last cell is closed on the right
    if w is None:
        counts = np.bincount(cell, minlength=m + 2).astype(np.float64)
        return Binned(grid, counts, float(x.size))
    w = w[present]
    counts = np.bincount(cell, weights=w, minlength=m + 2).astype(np.float64)
    squares = float(np.dot(w, w))
    n_eff = float(w.sum()) ** 2 / squares if squares > 0 else 0.0
    return Binned(grid, counts, n_eff)


def require_same_edges(a: Binned, b: Binned, *, where: str) -> None:
    """Raise a :class:`~loopline._errors.FeatureError` unless ``a`` and ``b`` were counted on the same edges."""
    if not np.array_equal(a.edges, b.edges):
        raise FeatureError(
            f"{where}: the two distributions were counted on different edges ({a.edges.size} edges from "
            f"{float(a.edges[0])!r} to {float(a.edges[-1])!r} and {b.edges.size} from {float(b.edges[0])!r} to "
            f"{float(b.edges[-1])!r}). Count the window with bin_values(values, reference.edges)."
        )


def merge(a: Binned, b: Binned) -> Binned:
    """Add two counts on the same edges (chunks of one window).

    ``n_eff`` adds for unweighted data; for weighted data it is Kish's size of the union, recovered exactly from
    each part (``sum w^2 = n^2 / n_eff``): ``(n_a + n_b)^2 / (n_a^2 / n_eff_a + n_b^2 / n_eff_b)``.
    """
    require_same_edges(a, b, where="merge")
    counts = a.counts + b.counts
    if a.n_eff == a.n and b.n_eff == b.n:
        return Binned(a.edges, counts, a.n_eff + b.n_eff)
    squares = sum(part.n**2 / part.n_eff for part in (a, b) if part.n_eff > 0)
    return Binned(a.edges, counts, (a.n + b.n) ** 2 / squares if squares > 0 else 0.0)


def grid_edges(values: np.ndarray, *, cells: int = 1000, weights: np.ndarray | None = None) -> np.ndarray:
    """The reference's grid: its weighted quantiles at ``cells + 1`` equally spaced levels, deduplicated.

    Each quantile is the inverted-CDF one (numpy's ``method="inverted_cdf"`` when unweighted): the smallest
    value whose cumulative weight reaches the level's share of the total, so level 0 is the minimum, level 1
    the maximum, and every edge is a value of the data. Ties: a value holding more than ``1 / cells`` of the
    mass is the quantile of several levels and becomes one edge (duplicates are dropped), so a tie is never
    split across cells; a column with few distinct values gets fewer edges (its distinct values, when each
    holds at least ``1 / cells`` of the mass), and one with a single value gets ``[v, v]``.
    NaN and infinite values and zero weights are ignored.

    >>> grid_edges(np.array([5.0, 5.0, np.nan])).tolist()
    [5.0, 5.0]
    >>> grid_edges(np.array([1.0, 2.0, 3.0, 4.0]), cells=2, weights=np.array([3.0, 1.0, 1.0, 1.0])).tolist()
    [1.0, 4.0]
    """
    if isinstance(cells, bool) or not isinstance(cells, int | np.integer) or cells < 1:
        shown = cells.item() if isinstance(cells, np.generic) else cells
        raise FeatureError(f"grid_edges cells: expected a whole number >= 1, got {shown!r}.")
    x = np.asarray(values, dtype=np.float64).ravel()
    w = _as_weights(weights, x.size, where="grid_edges")
    keep = np.isfinite(x) if w is None else np.isfinite(x) & (w > 0)
    if not np.any(keep):
        raise FeatureError(
            f"grid_edges: no present value among {x.size} (all missing, infinite or weighted 0), so there is no "
            "distribution to build a grid from. Profile the column only when it has values, or report it as "
            "entirely missing."
        )
    order = np.argsort(x[keep], kind="stable")
    sorted_x = x[keep][order]
    levels = np.linspace(0.0, 1.0, int(cells) + 1)
    if w is None:
        position = np.ceil(levels * sorted_x.size).astype(np.int64) - 1
    else:
        cumulative = np.cumsum(w[keep][order])
        position = np.searchsorted(cumulative, levels * cumulative[-1], side="left")
    edges = np.unique(sorted_x[np.clip(position, 0, sorted_x.size - 1)])
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return edges
