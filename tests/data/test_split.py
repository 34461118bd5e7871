"""The time-based split: disjoint in time, gaps respected, entities grouped, the entity overlap between splits
measured, empty splits refused."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from loopline import DataError
from loopline.data import SplitFrames, split_by_time
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
    overlap = parts.overlap
    assert overlap is not None and overlap.train_test > 0
    assert overlap.dropped_rows == overlap.valid_rows + overlap.test_rows > 0
    ungrouped = split_by_time(frame, SplitSpec(), time="ts", entity="user")
    assert ungrouped.overlap == replace(overlap, dropped_rows=0)
    assert len(ungrouped.valid) - len(parts.valid) == overlap.valid_rows
    assert len(ungrouped.test) - len(parts.test) == overlap.test_rows


def _naive_overlap(parts: SplitFrames, entity: str) -> dict[str, object]:
    """The overlap counted with Python sets, row by row."""
    train = {e for e in parts.train[entity] if not pd.isna(e)}
    valid = {e for e in parts.valid[entity] if not pd.isna(e)}
    test = {e for e in parts.test[entity] if not pd.isna(e)}
    both = sorted(str(e) for e in train & test)
    return {"train_test": len(train & test), "valid_test": len(valid & test), "train_valid": len(train & valid),
            "test_rows": sum(1 for e in parts.test[entity] if e in train or e in valid),
            "valid_rows": sum(1 for e in parts.valid[entity] if e in train),
            "test_total": len(parts.test), "valid_total": len(parts.valid), "examples": tuple(both[:5])}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_overlap_is_measured_without_grouping_and_matches_a_naive_count(seed: int) -> None:
    frame = _frame(seed=seed)
    frame.loc[frame.sample(50, random_state=seed).index, "user"] = None
    parts = split_by_time(frame, SplitSpec(), time="ts", entity="user")
    overlap = parts.overlap
    assert overlap is not None
    assert {k: getattr(overlap, k) for k in _naive_overlap(parts, "user")} == _naive_overlap(parts, "user")
    assert overlap.dropped_rows == 0
    assert overlap.test_share == overlap.test_rows / len(parts.test)
    assert split_by_time(frame, SplitSpec(), time="ts").overlap is None


def test_disjoint_entities_have_no_overlap_and_later_only_overlaps_are_counted() -> None:
    frame = _frame()
    frame["user"] = [f"u{i}" for i in range(len(frame))]
    parts = split_by_time(frame, SplitSpec(), time="ts", entity="user")
    assert parts.overlap is not None
    assert (parts.overlap.test_rows, parts.overlap.valid_rows, parts.overlap.examples) == (0, 0, ())
    # one entity seen only in validation and test: no train/test overlap, yet the test rows are not new
    ordered = frame.sort_values("ts", kind="stable").reset_index(drop=True)
    ordered.loc[[800, 801, 950], "user"] = "late"
    parts = split_by_time(ordered, SplitSpec(), time="ts", entity="user")
    assert parts.overlap is not None
    assert (parts.overlap.train_test, parts.overlap.valid_test, parts.overlap.test_rows) == (0, 1, 1)
    assert parts.overlap.examples == ("late",)


def test_an_emptied_grouped_split_says_grouping_dropped_its_rows() -> None:
    frame = _frame()
    frame["user"] = "same"
    with pytest.raises(DataError, match=r"the valid split is empty: .*\(split.group_by_entity dropped its \d+ rows "
                                        r"of entities seen in an earlier split\)"):
        split_by_time(frame, SplitSpec(group_by_entity=True), time="ts", entity="user")


def test_the_overlap_of_a_million_rows_adds_well_under_a_second() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    frame = pd.DataFrame({"ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="s"),
                          "user": pd.Series(rng.integers(0, 200_000, n)).map("u{}".format)})
    started = time.perf_counter()
    plain = split_by_time(frame, SplitSpec(), time="ts")
    middle = time.perf_counter()
    parts = split_by_time(frame, SplitSpec(), time="ts", entity="user")
    added = (time.perf_counter() - middle) - (middle - started)
    assert parts.overlap is not None and parts.overlap.test_rows > 0.9 * len(plain.test)
    assert added < 1.0, f"the overlap added {added:.2f}s"
