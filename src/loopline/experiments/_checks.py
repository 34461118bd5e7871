"""Input checks shared by the experiment statistics: each failure says what, where and how to fix it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from loopline._errors import ExperimentError

SHARE_TOLERANCE = 1e-6


def values(data: ArrayLike, *, metric: str, arm: str, minimum: int = 1) -> NDArray[np.float64]:
    """``data`` as a 1-D float array of finite numbers with at least ``minimum`` units."""
    array = np.asarray(data, dtype=np.float64)
    if array.ndim != 1:
        raise ExperimentError(
            f"metric '{metric}', arm '{arm}': expected one value per unit (a 1-D array), "
            f"got an array of shape {array.shape}. Aggregate to one row per randomization unit first."
        )
    if array.size == 0:
        raise ExperimentError(
            f"metric '{metric}', arm '{arm}' has no units. Check that the arm received traffic and that "
            "its assignments were joined to the metric."
        )
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ExperimentError(
            f"metric '{metric}', arm '{arm}' has {bad} missing or infinite value(s) among {array.size}. "
            "Fill them (e.g. 0 for units without events) or drop those units before the analysis."
        )
    if array.size < minimum:
        raise ExperimentError(
            f"metric '{metric}', arm '{arm}' has {array.size} unit(s); at least {minimum} are needed "
            "to estimate a variance. Collect more units before analysing."
        )
    return array


def same_length(first: NDArray[np.float64], second: NDArray[np.float64], *, metric: str, arm: str,
                names: tuple[str, str]) -> None:
    """Raise unless two per-unit arrays of one arm line up unit by unit."""
    if first.size != second.size:
        raise ExperimentError(
            f"metric '{metric}', arm '{arm}': {names[0]} has {first.size} values but {names[1]} has "
            f"{second.size}; they must hold one value per unit, in the same unit order."
        )


def probability(value: float, *, name: str, low_open: bool = True) -> float:
    """``value`` as a float strictly inside (0, 1) (or [0, 1) when ``low_open`` is false)."""
    number = float(value)
    inside = (0.0 < number < 1.0) if low_open else (0.0 <= number < 1.0)
    if not inside or not math.isfinite(number):
        bounds = "between 0 and 1 (exclusive)" if low_open else "in [0, 1)"
        raise ExperimentError(f"{name}: expected a number {bounds}, got {value!r}.")
    return number


def positive(value: float, *, name: str) -> float:
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ExperimentError(f"{name}: expected a positive finite number, got {value!r}.")
    return number


def shares(given: Sequence[float] | None, *, arms: int, name: str = "shares") -> tuple[float, ...]:
    """Traffic shares per arm (control first), positive and summing to 1; equal when not given."""
    if given is None:
        return tuple(1.0 / arms for _ in range(arms))
    result = tuple(float(s) for s in given)
    if len(result) != arms:
        raise ExperimentError(
            f"{name}: expected one share per arm ({arms} arms, control first), got {len(result)}: {list(result)}."
        )
    if any(not (math.isfinite(s) and s > 0) for s in result):
        raise ExperimentError(f"{name}: every arm needs a positive share, got {list(result)}.")
    total = math.fsum(result)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise ExperimentError(
            f"{name}: the shares must sum to 1, got {list(result)} (sum {total:.6g}). "
            "Give each arm's fraction of the experiment's traffic, e.g. [0.5, 0.5]."
        )
    return result
