"""Slices: the primary metric on each value of a column, and how far each falls behind overall.

A column's values are its categories (missing values form the slice ``(missing)``), or, for a
numeric column with more than 20 distinct values, its quartile bins. Only the 20 most frequent
values of a column are kept.

Slices are judged by their **gap** to the overall metric (positive = worse, in the metric's units),
never by the raw metric (which mostly sorts slices by their label rate). The gap has a 95% percentile
bootstrap interval from resampling the slice's own rows (the overall value, computed on many more rows,
is held fixed). A slice with fewer than ``MIN_ROWS`` = 100 rows is listed as too small to judge: no
interval, never among the worst. The worst slices are the judged ones whose whole interval lies above 0
(worse beyond noise), ranked by the low end of that interval: the gap each slice has at least, so a
small noisy slice with a large point gap does not outrank a large slice that is surely worse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from loopline.evaluation._types import SliceRow
from loopline.spec import metric_loss

MISSING = "(missing)"
TOP_VALUES = 20
WORST = 5
MIN_ROWS = 100
LEVEL = 0.95

N_BOOT = 200

Resample = Callable[[np.ndarray, int], tuple[float, np.ndarray]]
"""``resample(rows, n)``: the metric on a subset of row positions and ``n`` bootstrap draws of it on that
subset (NaN where undefined; no draws for ``n = 0``)."""


def slice_labels(series: pd.Series, *, top: int = TOP_VALUES) -> tuple[np.ndarray, list[str]]:
    """Each row's slice name, and the kept names in display order (bins in order, categories by count)."""
    binned = _quartile_labels(series)
    if binned is not None:
        labels, order = binned
        present = set(labels.tolist())
        return labels, [b for b in order if b in present]
    values = series.astype(object)
    labels = np.array([MISSING if pd.isna(v) else str(v) for v in values.tolist()], dtype=object)
    counts = pd.Series(labels).value_counts()
    return labels, [str(v) for v in counts.index[:top]]


def _quartile_labels(series: pd.Series) -> tuple[np.ndarray, list[str]] | None:
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[np.isfinite(values)]
    if len(np.unique(finite)) <= TOP_VALUES:
        return None
    edges = np.unique(np.quantile(finite, [0.0, 0.25, 0.5, 0.75, 1.0]))
    names = [("[" if i == 0 else "(") + f"{edges[i]:.4g}, {edges[i + 1]:.4g}]" for i in range(len(edges) - 1)]
    index = np.clip(np.searchsorted(edges, values, side="left") - 1, 0, len(names) - 1)
    labels = np.array([*names, MISSING], dtype=object)[np.where(np.isfinite(values), index, len(names))]
    return labels, [*names, MISSING]


def gap(value: float, overall: float, metric: str) -> float:
    """How much worse ``value`` is than ``overall`` (positive = worse): the difference of their
    :func:`~loopline.spec.metric_loss`, so in the metric's units (for ``calibration_ratio``, in
    ``|log ratio|``, the distance from a perfect 1)."""
    return metric_loss(metric, value) - metric_loss(metric, overall)


def percentile_interval(draws: np.ndarray, point: float, *, level: float = LEVEL) -> tuple[float | None, float | None]:
    """The percentile interval of the finite ``draws``, stretched to contain ``point``; (None, None) when
    fewer than half the draws (or fewer than 10) are defined, or the point itself is not.

    >>> [round(v, 6) for v in percentile_interval(np.arange(101.0), 50.0)]
    [2.5, 97.5]
    >>> percentile_interval(np.arange(101.0), 99.0)[1]  # stretched to the point
    99.0
    """
    finite = draws[np.isfinite(draws)]
    if len(finite) < max(10, len(draws) // 2) or not np.isfinite(point):
        return None, None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return min(float(low), point), max(float(high), point)


def compute_slices(frame: pd.DataFrame, columns: Sequence[str], *, metric: str, overall: float,
                   resample: Resample, label_rate: Callable[[np.ndarray], float | None],
                   min_rows: int = MIN_ROWS, n_boot: int = N_BOOT) -> list[SliceRow]:
    """One row per (column, value): rows, label rate, the metric, its gap to ``overall`` and, for slices of
    at least ``min_rows`` rows, the gap's 95% interval from ``resample``'s draws."""
    rows: list[SliceRow] = []
    base = metric_loss(metric, overall)
    for column in columns:
        labels, kept = slice_labels(frame[column])
        codes, uniques = pd.factorize(labels)
        position = {str(u): i for i, u in enumerate(uniques)}
        for value in kept:
            members = np.flatnonzero(codes == position[value])
            judged = len(members) >= min_rows
            score, draws = resample(members, n_boot if judged else 0)
            point = gap(score, overall, metric)
            gaps = np.array([metric_loss(metric, d) - base for d in draws], dtype=np.float64)
            low, high = percentile_interval(gaps, point) if judged else (None, None)
            rows.append(SliceRow(column=column, value=value, rows=len(members), label_rate=label_rate(members),
                                 metrics={metric: score}, gap=point, gap_low=low, gap_high=high, judged=judged))
    return rows


def rank_slices(slices: Sequence[SliceRow]) -> list[SliceRow]:
    """Judged slices by the low end of their gap interval (largest first; a gap without an interval after
    those with one), then the slices too small to judge by their point gap."""
    def key(s: SliceRow) -> tuple[int, float, float]:
        point = -s.gap if np.isfinite(s.gap) else np.inf
        if not s.judged:
            return (2, point, 0.0)
        if s.gap_low is None:
            return (1, point, 0.0)
        return (0, -s.gap_low, point)
    return sorted(slices, key=key)


def worst_slices(slices: Sequence[SliceRow], *, count: int = WORST) -> list[SliceRow]:
    """The ``count`` judged slices surely worse than overall (the low end of the gap's interval above 0),
    ranked by that low end."""
    eligible = [s for s in slices if s.judged and s.gap_low is not None and s.gap_low > 0]
    return rank_slices(eligible)[:count]
