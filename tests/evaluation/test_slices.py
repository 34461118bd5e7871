"""Slices: values and bins, the metric per slice, gaps and the worst slices."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from loopline.evaluation import SliceRow, compute_metrics
from loopline.evaluation._slices import (
    MIN_ROWS,
    MISSING,
    compute_slices,
    gap,
    rank_slices,
    slice_labels,
    worst_slices,
)


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


def _binary_resample(y: np.ndarray, p: np.ndarray, metric: str = "log_loss",
                     seed: int = 0) -> Callable[[np.ndarray, int], tuple[float, np.ndarray]]:
    """The metric on rows, with bootstrap draws: a plain loop over resamples (the oracle of the intervals)."""
    def resample(rows: np.ndarray, n: int) -> tuple[float, np.ndarray]:
        value = compute_metrics("binary", y[rows], p[rows], names=[metric])[metric]
        rng = np.random.default_rng(seed)
        draws = np.array([compute_metrics("binary", y[d], p[d], names=[metric])[metric]
                          for d in (rows[rng.integers(0, len(rows), len(rows))] for _ in range(n))])
        return value, draws
    return resample


def test_slice_metric_equals_the_metric_on_the_subset() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"plan": rng.choice(["a", "b", "c"], 900)})
    p = rng.random(900)
    y = (rng.random(900) < p).astype(float)
    overall = compute_metrics("binary", y, p)["log_loss"]
    rows = compute_slices(frame, ["plan"], metric="log_loss", overall=overall, resample=_binary_resample(y, p),
                          label_rate=lambda r: float(y[r].mean()), n_boot=50)
    for row in rows:
        members = (frame["plan"] == row.value).to_numpy()
        assert row.rows == members.sum() and row.judged
        assert row.metrics["log_loss"] == pytest.approx(compute_metrics("binary", y[members], p[members])["log_loss"])
        assert row.label_rate == pytest.approx(y[members].mean())
        assert row.gap == pytest.approx(row.metrics["log_loss"] - overall)
        # the interval is the percentiles of the slice's resampled log-loss, less the overall value
        _, draws = _binary_resample(y, p)(np.flatnonzero(members), 50)
        low, high = np.percentile(draws - overall, [2.5, 97.5])
        assert row.gap_low == pytest.approx(min(low, row.gap)) and row.gap_high == pytest.approx(max(high, row.gap))


def test_a_planted_bad_slice_ranks_first_and_a_small_noisy_one_does_not() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.3, 0.3, 0.3, 0.1])
    region[:60] = "tiny"  # 60 rows: too small to judge, with predictions made terrible
    region[60:180] = "noisy"  # 120 rows, slightly worse, with a wide interval
    truth = rng.beta(2, 5, n)
    y = (rng.random(n) < truth).astype(float)
    p = truth.copy()
    west = region == "west"
    p[west] = np.clip(truth[west] + rng.normal(0, 0.25, west.sum()), 0.01, 0.99)  # the planted bad slice
    p[:60] = 1 - truth[:60]
    p[60:180] = np.clip(truth[60:180] + rng.normal(0, 0.12, 120), 0.01, 0.99)
    frame = pd.DataFrame({"region": region})
    overall = compute_metrics("binary", y, p)["log_loss"]
    rows = compute_slices(frame, ["region"], metric="log_loss", overall=overall, resample=_binary_resample(y, p),
                          label_rate=lambda r: float(y[r].mean()), n_boot=100)
    by = {r.value: r for r in rows}
    assert by["tiny"].gap > by["west"].gap  # the tiny slice's point gap is the largest of all ...
    assert not by["tiny"].judged and by["tiny"].gap_low is None  # ... but 60 rows are too few to judge
    assert by["noisy"].judged and by["noisy"].gap_high - by["noisy"].gap_low > by["west"].gap_high - by["west"].gap_low
    ranked = rank_slices(rows)
    assert ranked[0].value == "west" and ranked[-1].value == "tiny"
    worst = worst_slices(rows)
    assert worst[0].value == "west" and "tiny" not in [r.value for r in worst]
    assert all(r.gap_low is not None and r.gap_low > 0 for r in worst)


def _row(value: str, rows: int, gap: float, low: float | None = None) -> SliceRow:
    return SliceRow("c", value, rows, None, {"m": 0.0}, gap, gap_low=low, gap_high=None if low is None else gap + 1,
                    judged=rows >= MIN_ROWS)


def test_worst_slices_are_judged_surely_worse_and_at_most_five_by_the_low_end() -> None:
    rows = [_row("tiny", 29, 9.0), _row("nan", 500, float("nan")), _row("better", 500, -1.0, -2.0),
            _row("unsure", 500, 5.0, -0.1), *[_row(f"v{i}", 200, 1.0, i / 10) for i in range(1, 8)]]
    assert MIN_ROWS == 100
    assert [r.value for r in worst_slices(rows)] == ["v7", "v6", "v5", "v4", "v3"]
    assert [r.value for r in rank_slices(rows)][-3:] == ["better", "nan", "tiny"]


def test_worst_slices_by_calibration_ratio_are_those_furthest_from_one() -> None:
    frame = pd.DataFrame({"plan": np.repeat(["near", "over", "under", "far_under"], 100)})
    ratio = {"near": 0.97, "over": 1.2, "under": 0.9, "far_under": 0.5}
    codes = frame["plan"].to_numpy()

    def resample(rows: np.ndarray, n: int) -> tuple[float, np.ndarray]:
        value = ratio[str(codes[rows[0]])]
        return value, np.full(n, value)

    rows = compute_slices(frame, ["plan"], metric="calibration_ratio", overall=1.02, resample=resample,
                          label_rate=lambda r: None)
    worst = worst_slices(rows)
    assert [r.value for r in worst] == ["far_under", "over", "under", "near"]
    assert worst[0].gap == pytest.approx(-math.log(0.5) - math.log(1.02))
    assert worst[0].gap_low == pytest.approx(worst[0].gap)


def test_docstring_examples_of_slices_curves_and_over_time() -> None:
    import doctest

    from loopline.evaluation import _curves, _over_time, _slices

    for module in (_slices, _curves, _over_time):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
