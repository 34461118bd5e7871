"""Multiple testing: Holm (family-wise error) and Benjamini-Hochberg (false discovery rate) adjustments.

Adjusted p-values are comparable with ``alpha`` directly and equal
``statsmodels.stats.multitest.multipletests(p, method='holm' | 'fdr_bh')``.

>>> adjust_pvalues([0.01, 0.04, 0.03], method="holm").adjusted
(0.03, 0.06, 0.06)
>>> adjust_pvalues([0.01, 0.04, 0.03], method="bh").adjusted
(0.03, 0.04, 0.04)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from loopline._errors import ExperimentError
from loopline.experiments import _checks
from loopline.experiments._result import ResultDict

Method = Literal["holm", "bh"]


@dataclass(frozen=True)
class AdjustedPValues(ResultDict):
    """Raw and adjusted p-values in input order, and which hypotheses are rejected at ``alpha``."""

    method: str
    names: tuple[str, ...]
    p_values: tuple[float, ...]
    adjusted: tuple[float, ...]
    rejected: tuple[bool, ...]
    alpha: float


def holm(p_values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Holm step-down: ``max_{j <= i} min(1, (m - j + 1) p_(j))`` in ascending order."""
    m = p_values.size
    order = np.argsort(p_values, kind="stable")
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p_values[order]))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted


def benjamini_hochberg(p_values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Benjamini-Hochberg step-up: ``min_{j >= i} min(1, m p_(j) / j)`` in ascending order."""
    m = p_values.size
    order = np.argsort(p_values, kind="stable")
    scaled = p_values[order] * m / np.arange(1, m + 1)
    stepped = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted


def adjust_pvalues(p_values: ArrayLike, *, method: Method = "holm", alpha: float = 0.05,
                   names: Sequence[str] | None = None) -> AdjustedPValues:
    """Adjust a family of p-values (e.g. one per metric or per treatment arm) for multiplicity."""
    raw = np.asarray(p_values, dtype=np.float64)
    if raw.ndim != 1 or raw.size == 0:
        raise ExperimentError(f"p_values: expected a non-empty list of p-values, got shape {raw.shape}.")
    if not np.all((raw >= 0) & (raw <= 1)):
        bad = [float(p) for p in raw if not 0 <= p <= 1]
        raise ExperimentError(f"p_values: every p-value must lie in [0, 1]; got {bad}.")
    _checks.probability(alpha, name="alpha")
    if method == "holm":
        adjusted = holm(raw)
    elif method == "bh":
        adjusted = benjamini_hochberg(raw)
    else:
        raise ExperimentError(f"method: expected 'holm' or 'bh' (Benjamini-Hochberg), got {method!r}.")
    labels = tuple(str(n) for n in names) if names is not None else tuple(str(i) for i in range(raw.size))
    if len(labels) != raw.size:
        raise ExperimentError(f"names: expected {raw.size} names (one per p-value), got {len(labels)}.")
    return AdjustedPValues(
        method=method, names=labels, p_values=tuple(float(p) for p in raw),
        adjusted=tuple(float(p) for p in adjusted), rejected=tuple(bool(p <= alpha) for p in adjusted),
        alpha=float(alpha),
    )
