"""Baselines every candidate must beat: the constant prior, random scores and the spec's rule.

- ``constant``: the train label mean (binary, regression, ranking) or class shares (multiclass).
- ``random``: scores that ignore the features, seeded and drawn per row: binary, a Beta draw whose
  mean is the prior; multiclass, a Dirichlet draw around the class shares; regression, a draw from
  the train label's quantiles; ranking, uniform. Its AUC is 0.5 by construction.
- ``heuristic``: the spec's ``baseline.rule``, a DuckDB SQL expression over the columns, mapped to
  the task's scale by a one-feature fit on train (logistic for binary, linear for regression; the
  raw expression for ranking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression

from loopline._errors import ModelError
from loopline.models._types import Explanation, ModelFamily
from loopline.spec import Task

_EPS = 1e-6


@dataclass
class ConstantScorer:
    task: Task
    prior: list[float]
    family: ModelFamily = "constant"

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        if self.task == "multiclass":
            return np.tile(np.asarray(self.prior), (len(frame), 1))
        return np.full(len(frame), self.prior[0])

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        return None

    def importance(self) -> dict[str, float] | None:
        return None

    def state(self) -> dict[str, Any]:
        return {"task": self.task, "prior": self.prior}

    def files(self) -> dict[str, bytes]:
        return {}


@dataclass
class RandomScorer:
    task: Task
    seed: int
    prior: list[float]
    quantiles: list[float]
    family: ModelFamily = "random"

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        n = len(frame)
        rng = np.random.default_rng([self.seed, n])
        if self.task == "binary":
            p = min(max(self.prior[0], _EPS), 1 - _EPS)
            return np.clip(rng.beta(2 * p / (1 - p) if p < 0.5 else 2.0, 2.0 if p < 0.5 else 2 * (1 - p) / p, n),
                           _EPS, 1 - _EPS)
        if self.task == "multiclass":
            alpha = np.maximum(np.asarray(self.prior) * len(self.prior), 0.05)
            return rng.dirichlet(alpha, n)
        if self.task == "regression":
            return np.interp(rng.random(n), np.linspace(0, 1, len(self.quantiles)), self.quantiles)
        return rng.random(n)

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        return None

    def importance(self) -> dict[str, float] | None:
        return None

    def state(self) -> dict[str, Any]:
        return {"task": self.task, "seed": self.seed, "prior": self.prior, "quantiles": self.quantiles}

    def files(self) -> dict[str, bytes]:
        return {}


@dataclass
class HeuristicScorer:
    task: Task
    rule: str
    fill: float
    slope: float
    intercept: float
    family: ModelFamily = "heuristic"

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        values = evaluate_rule(self.rule, frame)
        return np.where(np.isfinite(values), values, self.fill)

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        s = self.score(frame)
        if self.task == "binary":
            return np.clip(1.0 / (1.0 + np.exp(-(self.slope * s + self.intercept))), _EPS, 1 - _EPS)
        if self.task == "regression":
            return self.slope * s + self.intercept
        return s

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        return None

    def importance(self) -> dict[str, float] | None:
        return None

    def state(self) -> dict[str, Any]:
        return {"task": self.task, "rule": self.rule, "fill": self.fill, "slope": self.slope,
                "intercept": self.intercept}

    def files(self) -> dict[str, bytes]:
        return {}


def evaluate_rule(rule: str, frame: pd.DataFrame) -> np.ndarray:
    """The value of the SQL expression ``rule`` for each row of ``frame`` (NaN where it is null)."""
    con = duckdb.connect()
    con.register("frame", frame)
    try:
        table = con.sql(f"SELECT CAST(({rule}) AS DOUBLE) AS score FROM frame").to_arrow_table()
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0].rstrip('.')
        raise ModelError(f"baseline.rule {rule!r} cannot be evaluated: {message}. It is a DuckDB SQL expression over "
                         f"the columns {[str(c) for c in frame.columns]}.") from exc
    finally:
        con.close()
    return np.asarray(table.column("score").to_numpy(zero_copy_only=False), dtype=float)


def constant(task: Task, y: np.ndarray, classes: tuple[Any, ...] | None) -> ConstantScorer:
    return ConstantScorer(task, _prior(task, y, classes))


def random(task: Task, y: np.ndarray, classes: tuple[Any, ...] | None, *, seed: int) -> RandomScorer:
    quantiles = [float(q) for q in np.quantile(y.astype(float), np.linspace(0, 1, 101))] \
        if task == "regression" else []
    return RandomScorer(task, seed, _prior(task, y, classes), quantiles)


def heuristic(task: Task, rule: str, frame: pd.DataFrame, y: np.ndarray) -> HeuristicScorer:
    if task == "multiclass":
        raise ModelError("baseline.rule gives one score per row, which cannot rank several classes; remove it for "
                         "task 'multiclass'.")
    values = evaluate_rule(rule, frame)
    finite = np.isfinite(values)
    if not finite.any():
        raise ModelError(f"baseline.rule {rule!r} is null or infinite in every training row.")
    fill = float(np.median(values[finite]))
    s = np.where(finite, values, fill).reshape(-1, 1)
    slope, intercept = 1.0, 0.0
    if task == "binary" and len(np.unique(y)) == 2:
        lr = LogisticRegression(C=1e4).fit(s, y)
        slope, intercept = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    elif task == "regression":
        lin = LinearRegression().fit(s, y)
        slope, intercept = float(lin.coef_[0]), float(lin.intercept_)
    return HeuristicScorer(task, rule, fill, slope, intercept)


def _prior(task: Task, y: np.ndarray, classes: tuple[Any, ...] | None) -> list[float]:
    if task == "multiclass":
        assert classes is not None
        values = pd.Series(y)
        return [float((values == c).mean()) for c in classes]
    return [float(np.mean(y.astype(float)))]
