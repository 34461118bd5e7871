"""Multiclass metrics on class probabilities: log loss, accuracy, macro F1, top-k accuracy.

``prediction[:, j]`` is the probability of ``classes[j]``. The predicted class is the first
column with the largest probability (``argmax``). Conventions:

- macro F1 averages the per-class F1 over the classes that occur in the labels or in the
  predicted classes (scikit-learn's default label set);
- top-k accuracy uses ``k = min(k, n_classes - 1)`` with the ``k`` given (the spec's
  ``metrics.k``), so it never degenerates to 1.0; ties are broken as in
  ``sklearn.metrics.top_k_accuracy_score``;
- the log loss clips probabilities to ``[eps, 1 - eps]`` and does not renormalise rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import EvaluationError
from loopline.evaluation._sums import dot
from loopline.spec import METRICS

_EPS = float(np.finfo(np.float64).eps)


def class_indices(y: np.ndarray, classes: Sequence[Any] | None, n_columns: int, *, where: str) -> np.ndarray:
    """The column index of each label. Without ``classes``, the sorted distinct labels name the
    columns when there are as many as columns, else labels must be the integers 0..n_columns-1."""
    if classes is None:
        found = np.unique(y)
        if len(found) == n_columns:
            classes = list(found)
        elif np.issubdtype(y.dtype, np.integer) and found.min() >= 0 and found.max() < n_columns:
            return y.astype(np.intp)
        else:
            raise EvaluationError(
                f"labels of {where} hold {len(found)} classes but the predictions have {n_columns} columns; "
                "pass classes= (the model's classes, in column order)"
            )
    if len(classes) != n_columns:
        raise EvaluationError(
            f"the model has {len(classes)} classes but its predictions for {where} have {n_columns} columns"
        )
    known = pd.Index(list(classes))
    if not known.is_unique:
        raise EvaluationError(f"the model's classes must be distinct, got {', '.join(map(str, classes))}")
    index = np.asarray(known.get_indexer(pd.Index(y)), dtype=np.intp)
    unknown = index < 0
    if unknown.any():
        shown = ", ".join(sorted({str(v) for v in y[unknown][:1000]})[:5])
        raise EvaluationError(
            f"labels of {where} include {shown}, which the model does not know (its classes are "
            f"{', '.join(str(c) for c in classes)}); retrain on data that contains every class"
        )
    return index


def top_k(n_classes: int, k: int) -> int:
    return max(1, min(k, n_classes - 1))


class MulticlassScorer:
    def __init__(self, y_index: np.ndarray, proba: np.ndarray, *, k: int = 10,
                 names: Sequence[str] | None = None) -> None:
        self.names = tuple(names) if names is not None else METRICS["multiclass"]
        n, n_classes = proba.shape
        self.units = n
        self._n_classes = n_classes
        rows = np.arange(n)
        self._loss = -np.log(np.clip(proba[rows, y_index], _EPS, 1.0 - _EPS))
        predicted = np.argmax(proba, axis=1)
        self._correct = (predicted == y_index).astype(np.float64)
        ranked = np.argsort(proba, axis=1, kind="mergesort")[:, ::-1][:, : top_k(n_classes, k)]
        self._top_k = (ranked == y_index[:, None]).any(axis=1).astype(np.float64)
        self._cell = y_index * n_classes + predicted

    def compute(self, weights: np.ndarray | None = None) -> dict[str, float]:
        w = np.ones(self.units) if weights is None else weights
        total = float(w.sum())
        out = {
            "log_loss": dot(w, self._loss) / total,
            "accuracy": dot(w, self._correct) / total,
            "top_k_accuracy": dot(w, self._top_k) / total,
        }
        if "macro_f1" in self.names:
            c = self._n_classes
            matrix = np.bincount(self._cell, weights=w, minlength=c * c).reshape(c, c)
            tp = np.diag(matrix)
            actual, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
            present = (actual + predicted) > 0
            f1 = 2 * tp[present] / (actual[present] + predicted[present])
            out["macro_f1"] = float(f1.mean()) if f1.size else float("nan")
        return {name: out[name] for name in self.names}

