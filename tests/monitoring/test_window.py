"""The window's aggregation against plain numpy/pandas on the whole table, and its sources' filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopline import MonitoringError
from loopline.events import EventLog
from loopline.features._binning import bin_values, grid_edges
from loopline.monitoring._window import CategoricalWindow, NumericWindow, WindowSource, aggregate

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _frame(n: int = 5_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 2.0, n)
    x[rng.random(n) < 0.05] = np.nan
    x[:3] = [np.inf, -np.inf, np.nan]
    text = np.where(rng.random(n) < 0.01, "oops", x.astype(str)).astype(object)
    text[rng.random(n) < 0.02] = None
    plan = rng.choice(["free", "pro", "team"], n).astype(object)
    plan[rng.random(n) < 0.03] = None
    return pd.DataFrame({"ts": [T0 + timedelta(minutes=int(m)) for m in rng.integers(0, 48 * 60, n)], "x": x,
                         "x_text": text, "plan": plan, "flag": rng.random(n) < 0.3})


def test_chunked_counts_equal_the_whole_tables_counts() -> None:
    frame = _frame()
    edges = grid_edges(frame["x"].to_numpy()[np.isfinite(frame["x"].to_numpy())], cells=50)
    with WindowSource.from_table(frame) as source:
        stats = aggregate(source, numeric={"x": edges, "x_text": edges}, categorical=["plan", "flag", "nope"],
                          chunk_rows=777)
    x = frame["x"].to_numpy()
    finite = x[np.isfinite(x)]
    column = stats.columns["x"]
    assert isinstance(column, NumericWindow) and column.binned is not None
    assert column.present == finite.size and column.missing == x.size - finite.size and column.invalid == 0
    assert np.array_equal(column.binned.counts, bin_values(finite, edges).counts)
    assert column.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert column.std == pytest.approx(finite.std(), rel=1e-9)
    assert (column.minimum, column.maximum) == (finite.min(), finite.max())

    text = stats.columns["x_text"]
    as_numbers = pd.to_numeric(frame["x_text"], errors="coerce").to_numpy(dtype=np.float64)
    invalid = int((frame["x_text"] == "oops").sum())
    assert isinstance(text, NumericWindow) and text.invalid == invalid
    assert text.present == int(np.isfinite(as_numbers).sum())
    assert text.rows == len(frame)

    plan = stats.columns["plan"]
    assert isinstance(plan, CategoricalWindow)
    assert plan.counts == frame["plan"].value_counts().to_dict() and plan.missing == int(frame["plan"].isna().sum())
    flag = stats.columns["flag"]
    assert isinstance(flag, CategoricalWindow) and flag.counts == {"true": int(frame["flag"].sum()),
                                                                  "false": int((~frame["flag"]).sum())}
    assert stats.absent == ["nope"] and stats.rows == len(frame)


def test_a_table_is_cut_by_its_time_column_and_counted_per_hour(tmp_path: Path) -> None:
    frame = _frame()
    path = tmp_path / "live.parquet"
    frame.to_parquet(path)
    start, end = T0 + timedelta(hours=5), T0 + timedelta(hours=29)
    with WindowSource.from_table(path, time_column="ts", start=start, end=end) as source:
        stats = aggregate(source, numeric={}, categorical=["plan"])
    inside = frame[(frame["ts"] >= start) & (frame["ts"] < end)]
    assert stats.rows == len(inside)
    assert stats.first_ts == inside["ts"].min() and stats.last_ts == inside["ts"].max()
    per_hour = inside.groupby(inside["ts"].dt.floor("h")).size()
    assert [(h, n) for h, n in stats.hourly] == [(h.to_pydatetime(), int(n)) for h, n in per_hour.items()]


def _exposures(day: datetime, n: int, *, deployment: str, version: str, served: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "ts": [day + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, n)], "deployment": deployment,
        "request_id": [f"r{seed}-{i}" for i in range(n)], "unit_id": "u", "item_id": None, "arm": "champion",
        "model_version": version, "score": rng.random(n), "served": served, "position": None,
        "latency_ms": rng.gamma(2.0, 1.0, n), "tenure": rng.normal(0, 1, n)})


def test_the_log_window_keeps_one_deployments_served_exposures_of_one_version(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events")
    parts = [_exposures(T0, 300, deployment="feed", version="1", served=True, seed=1),
             _exposures(T0 + timedelta(days=1), 200, deployment="feed", version="1", served=True, seed=2),
             _exposures(T0, 50, deployment="feed", version="2", served=True, seed=3),
             _exposures(T0, 70, deployment="feed", version="1", served=False, seed=4),
             _exposures(T0, 90, deployment="other", version="1", served=True, seed=5)]
    for part in parts:
        log.write("exposures", part)
    with WindowSource.from_log(log, start=T0, end=T0 + timedelta(days=1), deployment="feed",
                               model_version=1) as source:
        stats = aggregate(source, numeric={"tenure": None}, categorical=[])
    assert stats.rows == 300
    tenure = stats.columns["tenure"]
    assert isinstance(tenure, NumericWindow) and tenure.mean == pytest.approx(parts[0]["tenure"].mean(), rel=1e-12)
    with WindowSource.from_log(log, start=T0, end=T0 + timedelta(days=2), deployment="feed",
                               served_only=False) as source:
        assert aggregate(source, numeric={}, categorical=[]).rows == 300 + 200 + 50 + 70


def test_windows_that_cannot_be_read_say_why(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events")
    with pytest.raises(MonitoringError, match="no exposures of deployment 'feed' between"):
        WindowSource.from_log(log, start=T0, end=T0 + timedelta(days=1), deployment="feed")
    with pytest.raises(MonitoringError, match="is not before end"):
        WindowSource.from_log(log, start=T0, end=T0, deployment="feed")
    with pytest.raises(MonitoringError, match="timezone-aware"):
        WindowSource.from_log(log, start=datetime(2026, 3, 1), end=T0, deployment="feed")
    with pytest.raises(MonitoringError, match="does not exist"):
        WindowSource.from_table(tmp_path / "missing.parquet")
    with pytest.raises(MonitoringError, match="has no time column 'when'"):
        WindowSource.from_table(_frame(10), time_column="when", start=T0)
