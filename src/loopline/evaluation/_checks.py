"""Input checks shared by every metric: shapes, NaNs, label values. Errors name who and where."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import EvaluationError
from loopline.spec import METRICS, Task


def check_names(task: Task, names: Sequence[str] | None, *, ks: Sequence[int] = ()) -> tuple[str, ...]:
    """The metric names to compute: all of the task's when ``names`` is None; for ranking, ``ndcg@<k>`` for each
    cut-off of ``ks`` after the first (the primary one is ``ndcg``)."""
    extra = tuple(f"ndcg@{k}" for k in ks[1:]) if task == "ranking" else ()
    allowed = (*METRICS[task], *extra)
    if names is None:
        return allowed
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise EvaluationError(
            f"{', '.join(repr(n) for n in unknown)} is not a {task} metric; choose from {', '.join(allowed)}"
        )
    return tuple(dict.fromkeys(names))


def as_labels(y_true: Any, *, where: str) -> np.ndarray:
    """Labels as a 1-d array; empty or missing labels are refused."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise EvaluationError(f"labels of {where} must be one value per row (1-d), got shape {y.shape}")
    if len(y) == 0:
        raise EvaluationError(f"{where} has no rows to evaluate; check the split dates and the filters")
    missing = _nan_count(y)
    if missing:
        raise EvaluationError(
            f"labels of {where} are missing in {missing} of {len(y)} rows; drop unlabelled rows before evaluating"
        )
    return y


def as_float_labels(y: np.ndarray, *, where: str) -> np.ndarray:
    try:
        return np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise EvaluationError(
            f"labels of {where} must be numbers, got values like {_examples(y)}"
        ) from None


def as_binary_labels(y: np.ndarray, *, where: str) -> np.ndarray:
    """0/1 labels as floats; booleans are accepted, anything else is refused."""
    values = as_float_labels(y, where=where)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise EvaluationError(
            f"binary labels of {where} must be 0/1, got values like {_examples(y[bad])}; "
            "map the positive outcome to 1 (label.positive in loopline.yaml)"
        )
    return values


def as_scores(prediction: Any, n: int, *, who: str, where: str, ndim: int = 1) -> np.ndarray:
    """Predictions as float64 with the right shape and no NaN or infinity."""
    try:
        p = np.asarray(prediction, dtype=np.float64)
    except (TypeError, ValueError):
        raise EvaluationError(f"{who} returned predictions that are not numbers for {where}") from None
    if p.ndim != ndim:
        want = "(rows,)" if ndim == 1 else "(rows, classes)"
        raise EvaluationError(f"{who} returned predictions of shape {p.shape} for {where}; expected {want}")
    if p.shape[0] != n:
        raise EvaluationError(
            f"{who} returned {p.shape[0]} predictions for the {n} rows of {where}; "
            "a model must return exactly one prediction per row"
        )
    bad = ~np.isfinite(p)
    if bad.any():
        rows = int(bad.any(axis=1).sum()) if p.ndim == 2 else int(bad.sum())
        raise EvaluationError(
            f"{who} returned NaN or infinite predictions for {rows} of {n} rows of {where}; "
            "check its inputs for missing values it cannot handle"
        )
    return p


def check_probabilities(p: np.ndarray, *, who: str, where: str) -> None:
    if p.size and (p.min() < 0.0 or p.max() > 1.0):
        raise EvaluationError(
            f"{who} returned values outside [0, 1] for {where} (from {p.min():.4g} to {p.max():.4g}); "
            "binary and multiclass models must return calibrated probabilities"
        )


def need_both_classes(y: np.ndarray, metrics: Sequence[str], *, where: str) -> None:
    """Refuse metrics that are undefined when the labels hold one class only."""
    positives = int(y.sum())
    if 0 < positives < len(y):
        return
    only = "1 (positive)" if positives else "0 (negative)"
    raise EvaluationError(
        f"labels of {where} hold only one class, {only}, in all {len(y)} rows, so "
        f"{', '.join(metrics)} cannot be computed; evaluate on a longer window or a larger split "
        "that contains both outcomes"
    )


def _nan_count(y: np.ndarray) -> int:
    if y.dtype.kind in "fO":
        return int(pd.isna(y).sum())
    return 0


def _examples(values: np.ndarray) -> str:
    shown = list(dict.fromkeys(str(v) for v in values[:1000]))[:5]
    return ", ".join(shown)
