"""The time-based split: disjoint in time, gaps respected, entities grouped, empty splits refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from loopline import DataError
from loopline.data import split_by_time
from loopline.spec import SplitSpec


def _frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 30, n), unit="D")
    return pd.DataFrame({"ts": ts.floor("h"), "user": rng.integers(0, 200, n).astype(str), "y": rng.integers(0, 2, n)})


def test_fractions_give_disjoint_ordered_splits_with_ties_kept_together() -> None:
    frame = _frame()
    parts = split_by_time(frame, SplitSpec(), time="ts")
    assert parts.train["ts"].max() < parts.valid["ts"].min()
    assert parts.valid["ts"].max() < parts.test["ts"].min()
    assert len(parts.train) + len(parts.valid) + len(parts.test) == len(frame)
    assert abs(len(parts.train) / len(frame) - 0.7) < 0.02


def test_cut_dates_and_gap() -> None:
    frame = _frame()
    spec = SplitSpec(valid_start=datetime(2024, 1, 20, tzinfo=UTC), test_start=datetime(2024, 1, 25, tzinfo=UTC),
                     gap=timedelta(days=1))
    parts = split_by_time(frame, spec, time="ts")
    assert parts.train["ts"].max() < pd.Timestamp("2024-01-20", tz="UTC")
    assert parts.valid["ts"].min() >= pd.Timestamp("2024-01-21", tz="UTC")
    assert parts.valid["ts"].max() < pd.Timestamp("2024-01-25", tz="UTC")
    assert parts.test["ts"].min() >= pd.Timestamp("2024-01-26", tz="UTC")


def test_grouped_split_keeps_entities_out_of_later_splits() -> None:
    frame = _frame()
    parts = split_by_time(frame, SplitSpec(group_by_entity=True), time="ts", entity="user")
    seen = set(parts.train["user"])
    assert not seen & set(parts.valid["user"]) and not seen & set(parts.test["user"])
    assert not set(parts.valid["user"]) & set(parts.test["user"])
    assert parts.shared_entities and parts.dropped_shared_rows > 0


def test_an_empty_split_is_explained() -> None:
    frame = _frame()
    spec = SplitSpec(valid_start=datetime(2025, 1, 1, tzinfo=UTC), test_start=datetime(2025, 2, 1, tzinfo=UTC))
    with pytest.raises(DataError, match="the valid split is empty: the data spans 2024-01-01"):
        split_by_time(frame, spec, time="ts")
