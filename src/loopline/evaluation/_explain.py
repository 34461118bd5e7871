"""What the model leans on: global importance, signed coefficients of linear models, explanations of
extreme rows, confident mistakes.

Importance is unsigned (how much a feature moves scores); a linear model also shows its **signed**
coefficients, one per model input after preprocessing (a one-hot category is its own input), on the
scale the model was fitted on: numeric inputs standardized (mean 0, standard deviation 1 on the
training rows), so a coefficient is the change of the raw score (log-odds for logistic models, before
calibration) per standard deviation of that input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import EvaluationError
from loopline.evaluation._types import Mistake, RowExplanation
from loopline.models import Explanation, TrainedModel
from loopline.spec import Task

TOP_IMPORTANCE = 30
EXTREME_ROWS = 5
TOP_CONTRIBUTIONS = 6
MISTAKES = 10
MISTAKE_VALUES = 8


def top_importance(model: TrainedModel, *, limit: int = TOP_IMPORTANCE) -> list[tuple[str, float]]:
    """``model.importance()``, largest first (by magnitude, keeping the sign), at most ``limit``."""
    found = model.importance()
    if not found:
        return []
    ranked = sorted(found.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    return [(str(k), float(v)) for k, v in ranked[:limit]]


def signed_coefficients(model: TrainedModel, *, limit: int = TOP_IMPORTANCE) -> list[tuple[str, float]]:
    """A linear model's coefficients by model input, largest magnitude first, at most ``limit``; [] for
    any other model and for multiclass (one coefficient row per class)."""
    if model.family != "linear":
        return []
    scorer = getattr(model, "scorer", None)
    coef = getattr(scorer, "coef", None)
    names = list(getattr(getattr(scorer, "preprocessor", None), "feature_names_out_", []) or [])
    if coef is None:
        return []
    matrix = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    if matrix.shape[0] != 1 or matrix.shape[1] != len(names):
        return []
    ranked = sorted(zip(names, matrix[0].tolist(), strict=True), key=lambda kv: (-abs(kv[1]), kv[0]))
    return [(str(n), float(c)) for n, c in ranked[:limit]]


def _explain(model: TrainedModel, frame: pd.DataFrame, rows: np.ndarray) -> Explanation | None:
    found = model.explain(frame.iloc[rows])
    if found is None:
        return None
    contributions = np.asarray(found.contributions)
    if contributions.ndim != 2:
        return None  # per-class contributions (multiclass) are not summarised here
    if contributions.shape != (len(rows), len(found.features)):
        raise EvaluationError(
            f"model '{model.name}' explained {len(rows)} rows with contributions of shape {contributions.shape}; "
            f"expected ({len(rows)}, {len(found.features)}), one column per feature it names"
        )
    return found


def extreme_rows(score: np.ndarray, *, count: int = EXTREME_ROWS) -> np.ndarray:
    """The ``count`` highest-scored rows (highest first), then the ``count`` lowest (lowest first)."""
    order = np.argsort(-score, kind="stable")
    top = order[:count]
    taken = set(top.tolist())
    bottom = [r for r in order[::-1][: 2 * count].tolist() if r not in taken][:count]
    return np.array([*top, *bottom], dtype=np.intp)


def explain_rows(model: TrainedModel, frame: pd.DataFrame, rows: np.ndarray, score: np.ndarray,
                 labels: Sequence[float | None], *, top: int = TOP_CONTRIBUTIONS) -> list[RowExplanation]:
    """The ``top`` largest contributions (by magnitude) for each of ``rows``; [] when the model cannot explain."""
    if len(rows) == 0:
        return []
    found = _explain(model, frame, rows)
    if found is None:
        return []
    out = []
    for i, row in enumerate(rows):
        contributions = found.contributions[i]
        best = np.argsort(-np.abs(contributions), kind="stable")[:top]
        out.append(RowExplanation(row=int(row), prediction=float(score[row]), label=labels[i],
                                  contributions=[(found.features[j], float(contributions[j])) for j in best]))
    return out


def mistake_rows(task: Task, y: np.ndarray, prediction: np.ndarray, *, threshold: float,
                 count: int = MISTAKES) -> tuple[np.ndarray, np.ndarray]:
    """The most confident mistakes and how wrong each is (binary: |label - p| among wrong decisions;
    regression: |error|; multiclass: 1 - p(true class) among wrong argmax; ``y`` holds class indices)."""
    if task == "binary":
        wrong = np.flatnonzero((prediction >= threshold) != (y == 1))
        size = np.abs(y[wrong] - prediction[wrong])
    elif task == "regression":
        wrong = np.arange(len(y))
        size = np.abs(prediction - y)
    else:
        index = y.astype(np.intp)
        wrong = np.flatnonzero(np.argmax(prediction, axis=1) != index)
        size = 1.0 - prediction[wrong, index[wrong]]
    order = np.argsort(-size, kind="stable")[:count]
    return wrong[order], size[order]


def mistakes(model: TrainedModel, frame: pd.DataFrame, task: Task, y: np.ndarray, prediction: np.ndarray, *,
             threshold: float, label: str, entity: str | None = None, count: int = MISTAKES,
             max_values: int = MISTAKE_VALUES) -> list[Mistake]:
    """The ``count`` most confident mistakes with at most ``max_values`` column values each: the columns
    that contributed most to that row when the model explains itself, else its first input columns; with
    the row's ``entity`` id when that column is in ``frame``."""
    rows, _ = mistake_rows(task, y, prediction, threshold=threshold, count=count)
    if len(rows) == 0:
        return []
    found = _explain(model, frame, rows)
    fallback = [c for c in model.features if c in frame.columns] or [c for c in frame.columns if c != label]
    out = []
    for i, row in enumerate(rows):
        columns = fallback
        if found is not None:
            ranked = np.argsort(-np.abs(found.contributions[i]), kind="stable")
            named = [found.features[j] for j in ranked if found.features[j] in frame.columns]
            columns = list(dict.fromkeys([*named, *fallback]))
        values = {str(c): _show(frame[c].iloc[row]) for c in columns[:max_values]}
        if task == "multiclass":
            guess = int(np.argmax(prediction[row]))
            classes = model.classes or tuple(range(prediction.shape[1]))
            values = {"true class": str(classes[int(y[row])]), "predicted class": str(classes[guess]),
                      **dict(list(values.items())[: max_values - 2])}
            shown = float(prediction[row, int(y[row])])
        else:
            shown = float(prediction[row])
        who = _show(frame[entity].iloc[row]) if entity is not None and entity in frame.columns else None
        out.append(Mistake(row=int(row), prediction=shown, label=float(y[row]), values=values, entity=who))
    return out


def _show(value: Any) -> str:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return "(missing)"
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return str(value)
