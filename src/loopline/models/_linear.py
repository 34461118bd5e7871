"""Regularised linear models: logistic regression (binary, multiclass, binary-relevance ranking)
and ridge regression (regression, graded ranking), on the scaled, one-hot ``linear`` preprocessing.

The regularisation strength is chosen on validation from a small grid. Explanations are
``coefficient * input`` summed back to source columns (log-odds for binary); importance is the
mean absolute contribution on a sample of train.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss, mean_squared_error

from loopline.features import Preprocessor, build_preprocessor
from loopline.models._model import group_by_source
from loopline.models._types import Explanation, ModelFamily
from loopline.spec import ProblemSpec, Task

GRID = (0.01, 0.1, 1.0, 10.0)


@dataclass
class LinearScorer:
    task: Task
    preprocessor: Preprocessor
    coef: np.ndarray  # (classes or 1, inputs)
    intercept: np.ndarray
    logistic: bool
    importance_: dict[str, float] = field(default_factory=dict)
    family: ModelFamily = "linear"

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        x = self.preprocessor.transform(frame)
        out = x @ self.coef.T + self.intercept
        return np.asarray(out, dtype=float)

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        z = self.margin(frame)
        if not self.logistic:
            return z[:, 0]
        if z.shape[1] == 1:
            return np.asarray(1.0 / (1.0 + np.exp(-z[:, 0])), dtype=float)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=float)

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        if self.coef.shape[0] != 1:
            return None
        x: Any = self.preprocessor.transform(frame)
        contrib = np.asarray(x.multiply(self.coef[0]).toarray() if sp.issparse(x) else x * self.coef[0],
                             dtype=np.float64)
        names, grouped = group_by_source(contrib, self.preprocessor.feature_names_out_,
                                         self.preprocessor.source_columns_)
        return Explanation(features=names, contributions=grouped, base=np.full(len(frame), float(self.intercept[0])))

    def importance(self) -> dict[str, float] | None:
        return dict(self.importance_)

    def state(self) -> dict[str, Any]:
        return {"task": self.task, "preprocessor": self.preprocessor.get_state(), "coef": self.coef.tolist(),
                "intercept": self.intercept.tolist(), "logistic": self.logistic, "importance": self.importance_}

    def files(self) -> dict[str, bytes]:
        return {}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LinearScorer:
        return cls(task=state["task"], preprocessor=Preprocessor.from_state(state["preprocessor"]),
                   coef=np.asarray(state["coef"], dtype=float), intercept=np.asarray(state["intercept"], dtype=float),
                   logistic=bool(state["logistic"]), importance_=dict(state["importance"]))


def fit_linear(spec: ProblemSpec, train: pd.DataFrame, valid: pd.DataFrame, features: tuple[str, ...],
               schema: Any, y_train: np.ndarray, y_valid: np.ndarray) -> tuple[LinearScorer, dict[str, Any], float]:
    """Fit on train, pick the regularisation on validation; return the scorer, params and fit seconds."""
    clock = time.perf_counter()
    task = spec.task
    logistic = task in ("binary", "multiclass") or (task == "ranking" and set(np.unique(y_train)) <= {0.0, 1.0})
    pre = build_preprocessor(schema, features, spec=spec.features, task=task if task != "ranking" else "regression",
                             for_model="linear", seed=spec.seed)
    x_train = pre.fit_transform(train, y_train if task != "multiclass" else None)
    x_valid = pre.transform(valid)
    best: tuple[float, Any, float] | None = None
    for c in GRID:
        if logistic:
            model: Any = LogisticRegression(C=c, max_iter=500, tol=1e-4).fit(x_train, y_train)
            p = model.predict_proba(x_valid)
            loss = float(log_loss(y_valid, p if p.shape[1] > 2 else p[:, 1], labels=model.classes_))
        else:
            model = Ridge(alpha=1.0 / c).fit(x_train, y_train)
            loss = float(mean_squared_error(y_valid, model.predict(x_valid)))
        if best is None or loss < best[0]:
            best = (loss, model, c)
    assert best is not None
    _, model, c = best
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=float))
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=float))
    scorer = LinearScorer(task, pre, coef, intercept, logistic)
    if coef.shape[0] == 1:
        sample = train.iloc[:20_000]
        explained = scorer.explain(sample)
        assert explained is not None
        mean_abs = np.abs(explained.contributions).mean(axis=0)
        total = float(mean_abs.sum()) or 1.0
        scorer.importance_ = {n: float(v / total) for n, v in zip(explained.features, mean_abs, strict=True)}
    params = {"kind": "logistic" if logistic else "ridge", "C": c, "inputs": int(coef.shape[1])}
    return scorer, params, time.perf_counter() - clock
