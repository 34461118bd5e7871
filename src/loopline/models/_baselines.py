"""Baselines every candidate must beat: the constant prior, random scores and the spec's rule.

- ``constant``: the train label mean (binary, regression, ranking) or class shares (multiclass).
- ``random``: scores that ignore the features, drawn from a generator seeded by the spec's seed and
  the row count: binary, a Beta draw whose mean is the prior; multiclass, a Dirichlet draw around
  the class shares; regression, a draw from the train label's distribution (its percentiles,
  interpolated). Its AUC is 0.5 by construction. Ranking is the exception: one draw of an order is
  one sample of a random ranker, and on ~100 queries its NDCG varies by several points from draw to
  draw. Its scores are all 0.5 instead: every ranking metric is tie-aware (tied items in expectation
  over their random orders, see ``evaluation._ranking``), so a constant score gets exactly the
  expectation over all orders, the random ranker's true value (and an item-level AUC of exactly 0.5).
- ``heuristic``: the spec's ``baseline.rule`` (a DuckDB SQL expression, always run in the data stage's
  SQL sandbox: at training and at every prediction of a stored model), mapped to the task's scale
  by a one-feature fit on train: logistic (binary), multinomial logistic (multiclass), least squares
  (regression); ranking keeps the raw expression. Null values of the rule get the train median.

Each scorer gives a raw score (see ``_model.Scorer``): log-odds, class log-probabilities or values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from loopline._errors import ModelError
from loopline.models._rule import check_rule, evaluate_rule
from loopline.models._types import Explanation, ModelFamily
from loopline.spec import Task

EPS = 1e-6
QUANTILES = 101


class _Unexplained:
    """Baselines explain nothing and have no feature importance."""

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        return None

    def importance(self) -> dict[str, float] | None:
        return None

    def files(self) -> dict[str, bytes]:
        return {}


@dataclass
class ConstantScorer(_Unexplained):
    task: Task
    prior: list[float]

    @property
    def family(self) -> ModelFamily:
        return "constant"

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        n = len(frame)
        if self.task == "multiclass":
            return np.tile(np.log(np.clip(self.prior, EPS, 1.0)), (n, 1))
        value = float(logit(np.clip(self.prior[0], EPS, 1 - EPS))) if self.task == "binary" else self.prior[0]
        return np.full(n, value, dtype=np.float64)

    def state(self) -> dict[str, Any]:
        return {"task": self.task, "prior": self.prior}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ConstantScorer:
        return cls(state["task"], [float(v) for v in state["prior"]])


@dataclass
class RandomScorer(_Unexplained):
    task: Task
    seed: int
    prior: list[float]
    quantiles: list[float]

    @property
    def family(self) -> ModelFamily:
        return "random"

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        n = len(frame)
        rng = np.random.default_rng([self.seed, n])
        if self.task == "binary":
            p = float(np.clip(self.prior[0], EPS, 1 - EPS))
            a, b = (2 * p / (1 - p), 2.0) if p < 0.5 else (2.0, 2 * (1 - p) / p)  # mean a / (a + b) = p
            out: np.ndarray = logit(np.clip(rng.beta(a, b, n), EPS, 1 - EPS))
            return out
        if self.task == "multiclass":
            alpha = np.maximum(np.asarray(self.prior) * len(self.prior), 0.05)
            return np.log(np.clip(rng.dirichlet(alpha, n), EPS, 1.0))
        if self.task == "regression":
            drawn: np.ndarray = np.interp(rng.random(n), np.linspace(0, 1, len(self.quantiles)), self.quantiles)
            return drawn
        return np.full(n, 0.5)  # ranking: all tied, so the metrics are the expectation over random orders

    def state(self) -> dict[str, Any]:
        return {"task": self.task, "seed": self.seed, "prior": self.prior, "quantiles": self.quantiles}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RandomScorer:
        return cls(state["task"], int(state["seed"]), [float(v) for v in state["prior"]],
                   [float(v) for v in state["quantiles"]])


@dataclass
class HeuristicScorer(_Unexplained):
    """``slope * rule + intercept`` per output (one output, or one per class); ``fill`` replaces nulls."""

    task: Task
    rule: str
    fill: float
    slope: list[float]
    intercept: list[float]

    @property
    def family(self) -> ModelFamily:
        return "heuristic"

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        values = evaluate_rule(self.rule, frame)
        s = np.where(np.isfinite(values), values, self.fill)
        if self.task == "multiclass":
            margins: np.ndarray = np.outer(s, self.slope) + np.asarray(self.intercept)
            return margins
        return self.slope[0] * s + self.intercept[0]

    def state(self) -> dict[str, Any]:
        return {"task": self.task, "rule": self.rule, "fill": self.fill, "slope": self.slope,
                "intercept": self.intercept}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HeuristicScorer:
        """The stored scorer; its rule is refused at load unless it is one SQL expression (it also runs sandboxed)."""
        check_rule(str(state["rule"]))
        return cls(state["task"], str(state["rule"]), float(state["fill"]), [float(v) for v in state["slope"]],
                   [float(v) for v in state["intercept"]])


def prior(task: Task, y: np.ndarray, n_classes: int | None) -> list[float]:
    """The train label mean, or the class shares (``y`` holds class indices) for multiclass."""
    if task == "multiclass":
        assert n_classes is not None
        return [float(v) for v in np.bincount(y.astype(np.int64), minlength=n_classes) / len(y)]
    return [float(np.mean(y))]


def fit_constant(task: Task, y: np.ndarray, n_classes: int | None) -> ConstantScorer:
    return ConstantScorer(task, prior(task, y, n_classes))


def fit_random(task: Task, y: np.ndarray, n_classes: int | None, *, seed: int) -> RandomScorer:
    quantiles = [float(q) for q in np.quantile(y, np.linspace(0, 1, QUANTILES))] if task == "regression" else []
    return RandomScorer(task, seed, prior(task, y, n_classes), quantiles)


def fit_heuristic(task: Task, rule: str, frame: pd.DataFrame, y: np.ndarray,
                  n_classes: int | None) -> HeuristicScorer:
    """The rule mapped to ``task``'s scale by a one-feature fit on the training rows ``frame``."""
    values = evaluate_rule(rule, frame)
    finite = np.isfinite(values)
    if not finite.any():
        raise ModelError(f"baseline.rule {rule!r} is null (or infinite) in every training row; check the columns it "
                         "uses and their missing values")
    fill = float(np.median(values[finite]))
    s = np.where(finite, values, fill)
    center, scale = float(s.mean()), float(s.std())
    if task == "ranking":
        return HeuristicScorer(task, rule, fill, [1.0], [0.0])
    if scale == 0:  # a constant rule carries no information: fall back to the prior
        base = prior(task, y, n_classes)
        if task == "binary":
            return HeuristicScorer(task, rule, fill, [0.0], [float(logit(np.clip(base[0], EPS, 1 - EPS)))])
        if task == "multiclass":
            return HeuristicScorer(task, rule, fill, [0.0] * len(base), [float(v) for v in np.log(base)])
        return HeuristicScorer(task, rule, fill, [0.0], base)
    z = ((s - center) / scale).reshape(-1, 1)
    if task == "regression":
        slope, intercept = np.polyfit(z[:, 0], y, 1)
        return HeuristicScorer(task, rule, fill, [float(slope / scale)], [float(intercept - slope * center / scale)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr = LogisticRegression(C=1e4, max_iter=1000).fit(z, y.astype(np.int64))
    coef, b = lr.coef_[:, 0], lr.intercept_
    if task == "multiclass" and len(coef) == 1:  # two classes: scikit-learn fits one margin, for class 1
        coef, b = np.r_[0.0, coef], np.r_[0.0, b]
    return HeuristicScorer(task, rule, fill, [float(c / scale) for c in coef],
                           [float(i - c * center / scale) for c, i in zip(coef, b, strict=True)])
