"""Small seeded frames with every column kind, and their schema."""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopline.data._types import Column, Kind, Schema
from loopline.spec import FeaturesSpec

WORDS = ["price", "offer", "meeting", "lunch", "report", "win", "free", "team", "call", "today"]


def mixed_frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Every kind, with missing values; returns the frame and a binary label that depends on it."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 10.0, n)
    amount[rng.random(n) < 0.1] = np.nan
    visits = rng.poisson(3.0, n)
    member = pd.array(rng.random(n) < 0.4, dtype="boolean")
    member[rng.random(n) < 0.05] = pd.NA
    start = pd.Timestamp("2024-01-01", tz="UTC")
    seen_at = pd.Series(start + pd.to_timedelta(rng.uniform(0, 60 * 24 * 3600, n), unit="s"))
    seen_at[rng.random(n) < 0.05] = pd.NaT
    plan = pd.Series(rng.choice(["basic", "pro", "team", "rare"], n, p=[0.5, 0.3, 0.19, 0.01]), dtype="str")
    plan[rng.random(n) < 0.05] = None
    user = pd.Series([f"u{i}" for i in rng.integers(0, n // 3, n)], dtype="str")
    note = pd.Series([" ".join(rng.choice(WORDS, 5)) for _ in range(n)], dtype="str")
    note[rng.random(n) < 0.05] = None
    logit = 0.03 * np.nan_to_num(amount, nan=20.0) - 0.6 + (plan == "pro").to_numpy() * 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    frame = pd.DataFrame({"amount": amount, "visits": visits, "member": member, "seen_at": seen_at,
                          "plan": plan, "user": user, "note": note})
    return frame, y


def schema_of(frame: pd.DataFrame, kinds: dict[str, Kind]) -> Schema:
    return Schema(tuple(
        Column(name, kinds[name], str(frame[name].dtype), int(frame[name].nunique()),
               float(frame[name].isna().mean()))
        for name in frame.columns
    ))


MIXED_KINDS = {"amount": Kind.NUMERIC, "visits": Kind.NUMERIC, "member": Kind.BOOLEAN, "seen_at": Kind.TIMESTAMP,
               "plan": Kind.CATEGORICAL, "user": Kind.CATEGORICAL, "note": Kind.TEXT}


def mixed_schema(frame: pd.DataFrame) -> Schema:
    return schema_of(frame, MIXED_KINDS)


def small_spec(**over: object) -> FeaturesSpec:
    """High cardinality above 20 distinct values for both learners, so ``user`` is target-encoded (or hashed) and
    ``plan`` is one-hot (linear) or native codes (tree)."""
    return FeaturesSpec.model_validate({"high_cardinality": 20, "native_max_levels": 20, "hash_buckets": 16, **over})
