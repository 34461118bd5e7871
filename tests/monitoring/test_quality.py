"""Data-quality checks of a window against the reference: each check fires on its case and only then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from loopline.features._binning import bin_values
from loopline.monitoring._quality import QualityThresholds, ReferenceColumn, quality
from loopline.monitoring._window import CategoricalWindow, NumericWindow, WindowStats

T0 = datetime(2026, 3, 1, tzinfo=UTC)
EDGES = np.linspace(0.0, 10.0, 11)


def _numeric(values: np.ndarray, *, missing: int = 0, invalid: int = 0) -> NumericWindow:
    return NumericWindow(present=values.size, missing=missing, invalid=invalid, mean=float(values.mean()),
                         std=float(values.std()), minimum=float(values.min()), maximum=float(values.max()),
                         binned=bin_values(values, EDGES))


def _window(columns: dict[str, NumericWindow | CategoricalWindow], *, hourly: list[int] | None = None,
            absent: list[str] | None = None) -> WindowStats:
    counts = hourly or [100] * 24
    hours = [(T0 + timedelta(hours=h), n) for h, n in enumerate(counts) if n]
    return WindowStats(description="the test window", rows=sum(counts), start=T0, end=T0 + timedelta(days=1),
                       first_ts=T0, last_ts=T0 + timedelta(hours=len(counts) - 1, minutes=59), hourly=hours,
                       columns=columns, absent=absent or [])


REFERENCE = {"x": ReferenceColumn(missing_share=0.02), "plan": ReferenceColumn(0.0, known={"free", "pro"}),
             "city": ReferenceColumn(0.0, known=None)}
NOW = T0 + timedelta(days=1, minutes=5)


def test_a_clean_window_has_no_issue() -> None:
    rng = np.random.default_rng(0)
    found = quality(_window({"x": _numeric(rng.uniform(0, 10, 2_000), missing=40),
                             "plan": CategoricalWindow({"free": 900, "pro": 1_100}, 0),
                             "city": CategoricalWindow({"paris": 5, "rome": 3}, 0)}), REFERENCE, now=NOW)
    assert found.issues == []
    x = next(c for c in found.columns if c.name == "x")
    assert x.missing_share == 40 / 2_040 and x.out_of_range_share == 0.0


def test_each_check_fires_on_its_own_case() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.uniform(0, 10, 1_900), rng.uniform(11, 12, 100)])  # 5% above the range
    plan = CategoricalWindow({"free": 900, "pro": 1_000, "team": 60, "edu": 40}, 0)   # 5% never seen
    hourly = [100] * 10 + [20] + [100] * 13                                           # one hour drops to 20
    found = quality(_window({"x": _numeric(values, missing=400, invalid=7), "plan": plan}, hourly=hourly,
                            absent=["tenure"]), REFERENCE, now=T0 + timedelta(days=2))
    checks = {(i.check, i.column) for i in found.issues}
    assert checks == {("absent", "tenure"), ("invalid", "x"), ("missing", "x"), ("out_of_range", "x"),
                      ("new_categories", "plan"), ("volume", None), ("freshness", None)}
    new = next(i for i in found.issues if i.check == "new_categories")
    assert new.value == 100 / 2_000 and "'team', 'edu'" in new.message
    volume = next(i for i in found.issues if i.check == "volume")
    assert "1 hour(s)" in volume.message and "T10:00:00+00:00 with 20" in volume.message


def test_a_small_rise_in_missing_values_is_not_an_issue_but_a_significant_one_is() -> None:
    rng = np.random.default_rng(2)
    small = quality(_window({"x": _numeric(rng.uniform(0, 10, 95), missing=6)}), REFERENCE, now=NOW)  # 5.9%, n=101
    assert not [i for i in small.issues if i.check == "missing"]  # 4 points above: under the 5-point rise
    few = quality(_window({"x": _numeric(rng.uniform(0, 10, 9), missing=1)}), REFERENCE,
                  now=NOW, thresholds=QualityThresholds(missing_rise=0.05))  # 10% of 10 rows: not significant
    assert not [i for i in few.issues if i.check == "missing"]
    big = quality(_window({"x": _numeric(rng.uniform(0, 10, 900), missing=100)}), REFERENCE, now=NOW)
    assert [i.check for i in big.issues] == ["missing"]


def test_edge_hours_cut_by_the_window_do_not_count_as_volume_drops() -> None:
    found = quality(_window({}, hourly=[3] + [100] * 22 + [5]), {}, now=NOW)
    assert found.issues == []
