"""Small seeded splits for each task, built the way the data stage builds them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline.data import Splits, infer_schema
from loopline.spec import ProblemSpec


def frame(n: int, task: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))
    colour = rng.choice(["red", "green", "blue"], n)
    signal = 1.2 * x1 + 0.8 * np.nan_to_num(x2) + np.where(colour == "red", 1.0, 0.0)
    out = pd.DataFrame({
        "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="min"),
        "x1": x1, "x2": x2, "colour": colour, "query": np.arange(n) // 10,
    })
    if task == "binary":
        out["y"] = (rng.random(n) < 1 / (1 + np.exp(-(signal - 1.5)))).astype(np.int64)
    elif task == "regression":
        out["y"] = signal + rng.normal(0, 0.5, n)
    elif task == "multiclass":
        out["y"] = np.select([signal < -0.5, signal < 1.0], ["low", "mid"], "high")
    else:  # ranking: graded relevance 0..3 within each query
        out["y"] = np.clip(np.round(signal + rng.normal(0, 0.5, n)), 0, 3)
    return out


def spec(task: str, **over: Any) -> ProblemSpec:
    body: dict[str, Any] = {"name": "m", "task": task, "data": {"source": "x.csv"}, "event_time": "ts",
                            "label": {"column": "y"}, "models": {"lightgbm": {"num_boost_round": 200}}}
    if task == "ranking":
        body["group"] = "query"
    body.update(over)
    return ProblemSpec.from_dict(body)


def splits(task: str, n: int = 3000, seed: int = 0, negative_rate: float | None = None,
           data: pd.DataFrame | None = None) -> Splits:
    full = frame(n, task, seed) if data is None else data
    a, b = int(0.6 * len(full)), int(0.8 * len(full))
    features = ("x1", "x2", "colour")
    return Splits(train=full.iloc[:a].reset_index(drop=True), valid=full.iloc[a:b].reset_index(drop=True),
                  test=full.iloc[b:].reset_index(drop=True), label="y", time="ts", features=features,
                  schema=infer_schema(full[list(features)]), group="query" if task == "ranking" else None,
                  negative_rate=negative_rate)
