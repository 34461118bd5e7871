"""Slices: the primary metric on each value of a column, and how far each falls behind overall.

A column's values are its categories (missing values form the slice ``(missing)``), or, for a
numeric column with more than 20 distinct values, its quartile bins. Only the 20 most frequent
values of a column are kept.
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
MIN_ROWS = 30
MIN_SHARE = 0.01

Measure = Callable[[np.ndarray], float]


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


def compute_slices(frame: pd.DataFrame, columns: Sequence[str], *, metric: str, overall: float,
                   measure: Measure, label_rate: Callable[[np.ndarray], float | None]) -> list[SliceRow]:
    """One row per (column, value): rows, label rate, the metric, and its gap to ``overall``."""
    rows: list[SliceRow] = []
    for column in columns:
        labels, kept = slice_labels(frame[column])
        codes, uniques = pd.factorize(labels)
        position = {str(u): i for i, u in enumerate(uniques)}
        for value in kept:
            members = np.flatnonzero(codes == position[value])
            score = measure(members)
            rows.append(SliceRow(column=column, value=value, rows=len(members), label_rate=label_rate(members),
                                 metrics={metric: score}, gap=gap(score, overall, metric)))
    return rows


def worst_slices(slices: Sequence[SliceRow], *, total_rows: int, count: int = WORST) -> list[SliceRow]:
    """The ``count`` slices furthest behind overall, among those with at least max(30, 1% of rows) rows.

    Only slices that are actually worse (gap > 0) are listed.
    """
    least = max(MIN_ROWS, int(np.ceil(MIN_SHARE * total_rows)))
    eligible = [s for s in slices if s.rows >= least and np.isfinite(s.gap) and s.gap > 0]
    return sorted(eligible, key=lambda s: -s.gap)[:count]
