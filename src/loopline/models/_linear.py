"""Regularised linear models on the scaled, one-hot ``linear`` preprocessing.

Logistic regression for binary and multiclass labels and for ranking on 0/1 relevance (a pointwise
model whose score is a probability); ridge regression for regression and graded ranking. The
inverse regularisation strength ``C`` (ridge: ``alpha = 1 / C``) is chosen by the validation log-loss
(ridge: mean squared error) from ``GRID``, widened by factors of 10 while the best value sits on an
edge (down to ``C_RANGE[0]``, up to ``C_RANGE[1]``). A best value still on the strong edge there is
noted in the model's params and the run's warnings: the features barely predict the label. Each ``C``
is fitted from zero to a tight tolerance (``TOL``): a warm start from the previous ``C`` stopped at
once on large tables, where the penalty's change is below scikit-learn's default gradient tolerance,
and left every ``C`` with the same coefficients. On downsampled binary data the validation loss is
that of the corrected probabilities.

Explanations are ``coefficient * input`` summed back to source columns, with the intercept as base
(log-odds for logistic models; the predicted class's margin for multiclass). Importance is the mean
absolute contribution per source column on (a sample of) the training matrix, normalised to sum 1.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from loopline.data import Splits
from loopline.features import Preprocessor, build_preprocessor
from loopline.models._model import Fitted, group_by_source, normalised
from loopline.models._targets import Targets
from loopline.models._types import Explanation, ModelFamily
from loopline.spec import ProblemSpec

GRID = (0.01, 0.1, 1.0, 10.0)
C_RANGE = (1e-4, 1e4)  # the grid is widened by factors of 10 up to these
MAX_ITER = 1000
TOL = 1e-8  # lbfgs' gradient tolerance (scikit-learn's 1e-4 stops before small changes of C show)
IMPORTANCE_ROWS = 100_000


@dataclass
class LinearScorer:
    """``x @ coef.T + intercept`` on the preprocessed inputs; one output row of ``coef`` per class
    for multiclass, else one."""

    preprocessor: Preprocessor
    coef: np.ndarray
    intercept: np.ndarray
    importance_: dict[str, float]

    @property
    def family(self) -> ModelFamily:
        return "linear"

    def _margins(self, x: Any) -> np.ndarray:
        z: np.ndarray = np.asarray(x @ self.coef.T, dtype=np.float64) + self.intercept
        return z

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        z = self._margins(self.preprocessor.transform(frame))
        return z[:, 0] if self.coef.shape[0] == 1 else z

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        x = self.preprocessor.transform(frame)
        sources = self.preprocessor.source_columns_
        if self.coef.shape[0] == 1:
            names, grouped = group_by_source(x, sources, self.coef[0])
            return Explanation(features=names, contributions=grouped, base=np.full(len(frame), self.intercept[0]))
        predicted = np.argmax(self._margins(x), axis=1)
        names, grouped = group_by_source(x, sources, self.coef[0])
        for k in range(1, self.coef.shape[0]):
            rows = predicted == k
            if rows.any():
                grouped[rows] = group_by_source(x[rows], sources, self.coef[k])[1]
        return Explanation(features=names, contributions=grouped, base=self.intercept[predicted])

    def importance(self) -> dict[str, float] | None:
        return dict(self.importance_)

    def state(self) -> dict[str, Any]:
        return {"preprocessor": self.preprocessor.get_state(), "coef": self.coef.tolist(),
                "intercept": self.intercept.tolist(), "importance": self.importance_}

    def files(self) -> dict[str, bytes]:
        return {}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LinearScorer:
        return cls(preprocessor=Preprocessor.from_state(state["preprocessor"]),
                   coef=np.asarray(state["coef"], dtype=np.float64),
                   intercept=np.asarray(state["intercept"], dtype=np.float64),
                   importance_={str(k): float(v) for k, v in state["importance"].items()})


def fit_linear(targets: Targets, splits: Splits, spec: ProblemSpec) -> Fitted:
    """Fit on train for each ``C`` of the grid (widened at an edge); keep the one with the lowest validation loss."""
    task = spec.task
    logistic = task in ("binary", "multiclass") or (task == "ranking" and set(np.unique(targets.y_train)) <= {0, 1})
    pre = build_preprocessor(splits.schema, splits.features, spec=spec.features, task=task, for_model="linear",
                             seed=spec.seed)
    x_train = pre.fit_transform(targets.train, targets.encoding_labels)
    x_valid = pre.transform(targets.valid)
    outputs = len(targets.classes) if task == "multiclass" and targets.classes is not None else 1
    offset = math.log(targets.negative_rate) if targets.negative_rate is not None else 0.0
    fits: dict[float, tuple[float, np.ndarray, np.ndarray, bool]] = {}

    def fit(c: float) -> None:
        if logistic:
            model = LogisticRegression(C=c, max_iter=MAX_ITER, tol=TOL)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # recorded in params instead
                model.fit(x_train, targets.y_train.astype(np.int64))
            coef, intercept = _expand(model.coef_, model.intercept_, outputs)
            z = np.asarray(x_valid @ coef.T, dtype=np.float64) + intercept
            loss = _log_loss(targets.y_valid, z[:, 0] + offset if outputs == 1 else z)
            fits[c] = (loss, coef, intercept, int(np.max(model.n_iter_)) < MAX_ITER)
        else:
            ridge = Ridge(alpha=1.0 / c).fit(x_train, targets.y_train)
            coef, intercept = _expand(ridge.coef_, ridge.intercept_, 1)
            z = np.asarray(x_valid @ coef.T, dtype=np.float64) + intercept
            fits[c] = (float(np.mean((targets.y_valid - z[:, 0]) ** 2)), coef, intercept, True)

    for c in GRID:
        fit(c)
    best = _best(fits)
    while best == min(fits) and best / 10 >= C_RANGE[0] * (1 - 1e-9):
        fit(best / 10)
        best = _best(fits)
    while best == max(fits) and best * 10 <= C_RANGE[1] * (1 + 1e-9):
        fit(best * 10)
        best = _best(fits)
    _, coef, intercept, _ = fits[best]
    importance = _importance(x_train, coef, pre.source_columns_, seed=spec.seed)
    scorer = LinearScorer(pre, coef, intercept, importance)
    z_valid = scorer._margins(x_valid)
    grid = sorted(fits)
    params: dict[str, Any] = {
        "model": "logistic" if logistic else "ridge", "C": best, "grid": grid,
        "valid_loss_by_C": {str(c): fits[c][0] for c in grid}, "inputs": int(coef.shape[1]),
        "converged": all(f[3] for f in fits.values()), "encodings": dict(getattr(pre, "encodings_", {})),
    }
    if best == grid[0]:  # (the weakest edge only means: as good as unregularised, which is no warning)
        params["notes"] = [f"linear: the best regularisation C={best:g} is the strongest searched ({grid[0]:g} to "
                           f"{grid[-1]:g}): its features barely predict the label on validation; check their "
                           "encoding, or whether the validation period differs from training"]
    return Fitted(scorer, "logistic" if logistic and outputs == 1 else ("softmax" if logistic else "identity"),
                  params, z_valid[:, 0] if outputs == 1 else z_valid)


def _best(fits: dict[float, tuple[float, np.ndarray, np.ndarray, bool]]) -> float:
    """The ``C`` of the lowest validation loss; on a tie the smaller ``C`` (the stronger regularisation)."""
    return min(fits, key=lambda c: (fits[c][0], c))


def _expand(coef: Any, intercept: Any, outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients as (outputs, inputs); scikit-learn's single margin for two classes becomes two rows."""
    c = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    b = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
    if outputs == 2 and c.shape[0] == 1:
        c, b = np.vstack([np.zeros_like(c), c]), np.r_[0.0, b]
    return c, b


def _log_loss(y: np.ndarray, z: np.ndarray) -> float:
    """Log-loss from log-odds (one column) or class margins."""
    if z.ndim == 1:
        return float(np.mean(np.where(y == 1, np.logaddexp(0.0, -z), np.logaddexp(0.0, z))))
    rows = np.arange(len(y))
    return float(np.mean(logsumexp(z, axis=1) - z[rows, y.astype(np.int64)]))


def _importance(x: Any, coef: np.ndarray, sources: list[str], *, seed: int) -> dict[str, float]:
    rows = x.shape[0]
    if rows > IMPORTANCE_ROWS:
        x = x[np.sort(np.random.default_rng(seed).choice(rows, IMPORTANCE_ROWS, replace=False))]
    names: tuple[str, ...] = ()
    total = np.zeros(0)
    for k in range(coef.shape[0]):
        names, grouped = group_by_source(x, sources, coef[k])
        mean_abs = np.abs(grouped).mean(axis=0)
        total = mean_abs if k == 0 else total + mean_abs
    return normalised({n: float(v) for n, v in zip(names, total, strict=True)})
