"""Fake models meeting the TrainedModel protocol, and small seeded frames to evaluate them on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopline.models._types import Explanation, ModelFamily
from loopline.spec import ProblemSpec, Task


@dataclass
class FakeModel:
    """Predicts ``score(frame)``; explains itself as ``coef * x`` over numeric ``features`` when ``coef`` is set."""

    name: str
    score: Callable[[pd.DataFrame], np.ndarray]
    task: Task = "binary"
    features: tuple[str, ...] = ()
    is_baseline: bool = False
    classes: tuple[Any, ...] | None = None
    threshold: float | None = None
    family: ModelFamily = "linear"
    calibration: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0
    coef: dict[str, float] | None = None

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        scores: np.ndarray = np.asarray(self.score(frame))
        return scores

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        if self.coef is None:
            return None
        names = tuple(self.coef)
        contributions = np.column_stack([frame[c].to_numpy(dtype=float) * w for c, w in self.coef.items()])
        return Explanation(features=names, contributions=contributions, base=np.zeros(len(frame)))

    def importance(self) -> dict[str, float] | None:
        return None if self.coef is None else {k: abs(v) for k, v in self.coef.items()}


def sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def binary_frame(n: int = 2000, seed: int = 0, days: float = 20.0) -> pd.DataFrame:
    """Rows with a true probability ``true_p``, a 0/1 label, two numeric and two categorical columns."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    plan = rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2])
    country = rng.choice(["de", "fr", "us"], n)
    true_p = sigmoid(-1.0 + 1.2 * x1 - 0.8 * x2 + np.where(plan == "basic", 0.5, -0.3))
    start = pd.Timestamp("2024-03-01", tz="UTC")
    return pd.DataFrame({
        "ts": start + pd.to_timedelta(np.sort(rng.uniform(0, days, n)), unit="D"),
        "x1": x1, "x2": x2, "plan": plan, "country": country,
        "age": rng.integers(18, 80, n),
        "true_p": true_p,
        "label": (rng.random(n) < true_p).astype(int),
    })


def good_binary(name: str = "good", **over: Any) -> FakeModel:
    defaults: dict[str, Any] = {
        "features": ("x1", "x2", "plan"), "threshold": 0.4, "coef": {"x1": 1.2, "x2": -0.8},
    }
    defaults.update(over)
    return FakeModel(name, lambda f: sigmoid(-1.0 + 1.2 * f["x1"].to_numpy() - 0.8 * f["x2"].to_numpy()), **defaults)


def prior_baseline(rate: float, name: str = "prior") -> FakeModel:
    return FakeModel(name, lambda f: np.full(len(f), rate), is_baseline=True, family="constant")


def make_spec(task: Task = "binary", **over: Any) -> ProblemSpec:
    data: dict[str, Any] = {
        "name": "demo", "task": task, "data": {"source": "x.csv"}, "event_time": "ts",
        "label": {"column": "label"},
    }
    if task == "ranking":
        data["group"] = "query"
    data.update(over)
    return ProblemSpec.from_dict(data, base_dir=Path("."))
