"""Slices: values and bins, the metric per slice, gaps and the worst slices."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from loopline.evaluation import SliceRow, compute_metrics
from loopline.evaluation._slices import MISSING, compute_slices, gap, slice_labels, worst_slices


def test_categories_by_count_with_missing_and_top_20() -> None:
    values = pd.Series(["a"] * 5 + ["b"] * 3 + [None] * 4 + [f"v{i}" for i in range(30)], dtype="str")
    labels, kept = slice_labels(values)
    assert kept[:3] == ["a", MISSING, "b"]
    assert len(kept) == 20
    assert labels[8] == MISSING


def test_continuous_numbers_are_cut_into_quartiles() -> None:
    values = pd.Series(np.r_[np.arange(100.0), np.nan])
    labels, kept = slice_labels(values)
    assert kept == ["[0, 24.75]", "(24.75, 49.5]", "(49.5, 74.25]", "(74.25, 99]", MISSING]
    counts = pd.Series(labels).value_counts()
    assert [counts[k] for k in kept] == [25, 25, 25, 25, 1]


def test_few_distinct_numbers_and_booleans_stay_values() -> None:
    _, kept = slice_labels(pd.Series([1, 2, 2, 3, 3, 3]))
    assert kept == ["3", "2", "1"]
    _, kept = slice_labels(pd.Series([True, False, True]))
    assert kept == ["True", "False"]


@pytest.mark.parametrize(
    ("metric", "value", "overall", "expected"),
    [("roc_auc", 0.7, 0.8, 0.1), ("log_loss", 0.5, 0.4, 0.1), ("rmse", 1.0, 2.0, -1.0),
     ("calibration_ratio", 1.3, 0.9, math.log(1.3) + math.log(0.9)),
     ("calibration_ratio", 0.95, 1.1, -math.log(0.95) - math.log(1.1)),
     ("calibration_ratio", 0.5, 1.0, math.log(2.0)), ("calibration_ratio", 2.0, 1.0, math.log(2.0))],
)
def test_gap_is_positive_when_worse(metric: str, value: float, overall: float, expected: float) -> None:
    assert gap(value, overall, metric) == pytest.approx(expected)


def test_slice_metric_equals_the_metric_on_the_subset() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"plan": rng.choice(["a", "b", "c"], 900)})
    p = rng.random(900)
    y = (rng.random(900) < p).astype(float)
    overall = compute_metrics("binary", y, p)["log_loss"]

    def measure(rows: np.ndarray) -> float:
        return compute_metrics("binary", y[rows], p[rows], names=["log_loss"])["log_loss"]

    rows = compute_slices(frame, ["plan"], metric="log_loss", overall=overall, measure=measure,
                          label_rate=lambda r: float(y[r].mean()))
    for row in rows:
        members = (frame["plan"] == row.value).to_numpy()
        assert row.rows == members.sum()
        assert row.metrics["log_loss"] == pytest.approx(compute_metrics("binary", y[members], p[members])["log_loss"])
        assert row.label_rate == pytest.approx(y[members].mean())
        assert row.gap == pytest.approx(row.metrics["log_loss"] - overall)


def _row(value: str, rows: int, gap: float) -> SliceRow:
    return SliceRow("c", value, rows, None, {"m": 0.0}, gap)


def test_worst_slices_are_large_enough_worse_and_at_most_five() -> None:
    rows = [_row("tiny", 29, 9.0), _row("small", 99, 8.0), _row("nan", 500, float("nan")), _row("better", 500, -1.0),
            *[_row(f"v{i}", 200, i / 10) for i in range(1, 8)]]
    worst = worst_slices(rows, total_rows=10_000)  # at least max(30, 100) rows
    assert [r.value for r in worst] == ["v7", "v6", "v5", "v4", "v3"]
    assert [r.value for r in worst_slices(rows, total_rows=1000)][:1] == ["small"]  # 1% is 10 < 30


def test_worst_slices_by_calibration_ratio_are_those_furthest_from_one() -> None:
    frame = pd.DataFrame({"plan": np.repeat(["near", "over", "under", "far_under"], 100)})
    ratio = {"near": 0.97, "over": 1.2, "under": 0.9, "far_under": 0.5}
    codes = frame["plan"].to_numpy()

    def measure(rows: np.ndarray) -> float:
        return ratio[str(codes[rows[0]])]

    rows = compute_slices(frame, ["plan"], metric="calibration_ratio", overall=1.02, measure=measure,
                          label_rate=lambda r: None)
    worst = worst_slices(rows, total_rows=400)
    assert [r.value for r in worst] == ["far_under", "over", "under", "near"]
    assert worst[0].gap == pytest.approx(-math.log(0.5) - math.log(1.02))
