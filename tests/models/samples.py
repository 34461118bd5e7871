"""Small seeded splits for each task, shaped the way the data stage hands them over."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline.data import Splits, infer_schema
from loopline.spec import ProblemSpec

FEATURES = ("x1", "x2", "colour", "noise")
CLASSES = ("high", "low", "mid")


def signal(frame: pd.DataFrame) -> np.ndarray:
    """The true score behind every label: x1 and x2 (missing counts as 0) and a red bonus."""
    red = (frame["colour"] == "red").to_numpy(dtype=float)
    return 1.2 * frame["x1"].to_numpy() + 0.8 * np.nan_to_num(frame["x2"].to_numpy()) + red


def make_frame(task: str, n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Time-ordered rows with a numeric column with NaNs, a categorical column, noise and a label ``y``.

    Ranking rows belong to queries of about eight rows whose rows are spread over time, so a
    query's rows are not contiguous.
    """
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({
        "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="min"),
        "x1": rng.normal(size=n),
        "x2": np.where(rng.random(n) < 0.15, np.nan, rng.normal(size=n)),
        "colour": rng.choice(["red", "green", "blue"], n),
        "noise": rng.normal(size=n),
        "query": rng.permutation(np.arange(n) // 8),
    })
    s = signal(out)
    if task == "binary":
        out["y"] = (rng.random(n) < 1 / (1 + np.exp(-(s - 1.0)))).astype(np.int64)
    elif task == "regression":
        out["y"] = s + rng.normal(0, 0.5, n)
    elif task == "multiclass":
        noisy = s + rng.normal(0, 0.5, n)
        out["y"] = np.select([noisy < -0.3, noisy < 1.2], ["low", "mid"], "high")
    else:  # graded relevance 0..3
        out["y"] = np.clip(np.round(s + rng.normal(0, 0.5, n)), 0, 3)
    return out


def make_spec(task: str, *, rounds: int = 60, **over: Any) -> ProblemSpec:
    models = {"lightgbm": {"num_boost_round": rounds, "min_child_samples": 20, "num_threads": 1},
              "early_stopping_rounds": 10}
    models.update(over.pop("models", {}))
    body: dict[str, Any] = {"name": "m", "task": task, "data": {"source": "x.csv"}, "event_time": "ts",
                            "label": {"column": "y"}, "models": models}
    if task == "ranking":
        body["group"] = "query"
    body.update(over)
    return ProblemSpec.from_dict(body)


def make_splits(task: str, n: int = 2000, seed: int = 0, *, frame: pd.DataFrame | None = None,
                negative_rate: float | None = None) -> Splits:
    """60/20/20 by time; with ``negative_rate``, train negatives are kept with that probability."""
    full = make_frame(task, n, seed) if frame is None else frame
    a, b = int(0.6 * len(full)), int(0.8 * len(full))
    train = full.iloc[:a]
    if negative_rate is not None:
        keep = (train["y"] == 1) | (np.random.default_rng(seed + 1).random(len(train)) < negative_rate)
        train = train[keep]
    return Splits(train=train.reset_index(drop=True), valid=full.iloc[a:b].reset_index(drop=True),
                  test=full.iloc[b:].reset_index(drop=True), label="y", time="ts", features=FEATURES,
                  schema=infer_schema(full[list(FEATURES)]), group="query" if task == "ranking" else None,
                  negative_rate=negative_rate)
