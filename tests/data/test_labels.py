"""Labels from an event log: an outcome within the window after each exposure, censoring the recent."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from loopline import DataError
from loopline.data import make_labels
from loopline.spec import EventLabelSpec

T0 = pd.Timestamp("2024-01-01T00:00:00Z")


def _exposures() -> pd.DataFrame:
    return pd.DataFrame({"ts": [T0, T0, T0 + pd.Timedelta("1h"), T0 + pd.Timedelta("2h"), T0 + pd.Timedelta("5h")],
                         "request_id": ["r1", "r1", "r2", "r3", "r4"], "item_id": ["a", "b", "a", "c", "d"]})


def _feedback(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"ts": T0 + pd.Timedelta(dt), "request_id": r, "item_id": i, "event": e, "value": 1.0}
                         for dt, r, i, e in rows])


def test_window_is_inclusive_and_never_looks_before_the_exposure() -> None:
    feedback = _feedback([
        ("10min", "r1", "a", "click"),      # inside the window: positive
        ("31min", "r1", "b", "click"),      # after 30 minutes: negative
        ("1h30min", "r2", "a", "like"),     # another event: ignored
        ("1h59min", "r3", "c", "click"),    # before r3's exposure at 2h: negative
        ("5h", "r4", "d", "click"),         # at the exposure time: positive
        ("6h", "zz", "z", "click"),         # moves the horizon past every window
    ])
    spec = EventLabelSpec(feedback="fb.parquet", window=timedelta(minutes=30))
    out, report = make_labels(_exposures(), feedback, event_time="ts", spec=spec, name="clicked")
    assert out["clicked"].tolist() == [1, 0, 0, 0, 1]
    assert out["request_id"].tolist() == ["r1", "r1", "r2", "r3", "r4"]
    assert (report.exposures, report.censored, report.positives) == (5, 0, 2)


def test_exposures_whose_window_has_not_closed_are_dropped() -> None:
    feedback = _feedback([("10min", "r1", "a", "click")])
    spec = EventLabelSpec(feedback="fb.parquet", window=timedelta(minutes=30))
    out, report = make_labels(_exposures(), feedback, event_time="ts", spec=spec, name="clicked")
    # The last record is at 5h (an exposure), so exposures after 4h30 cannot be labelled yet.
    assert report.censored == 1 and len(out) == 4


def test_a_horizon_says_how_far_the_feedback_log_is_complete() -> None:
    feedback = _feedback([("10min", "r1", "a", "click")])
    spec = EventLabelSpec(feedback="fb.parquet", window=timedelta(minutes=30))
    later = (T0 + pd.Timedelta("6h")).to_pydatetime()
    out, report = make_labels(_exposures(), feedback, event_time="ts", spec=spec, name="clicked", horizon=later)
    assert report.censored == 0 and out["clicked"].tolist() == [1, 0, 0, 0, 0]  # r4's window closed by 6h
    early = (T0 + pd.Timedelta("1h")).to_pydatetime()
    _, report = make_labels(_exposures(), feedback, event_time="ts", spec=spec, name="clicked", horizon=early)
    assert report.censored == 3  # only the two exposures at T0 had their 30 minutes by 1h
    with pytest.raises(DataError, match="has no time zone"):
        make_labels(_exposures(), feedback, event_time="ts", spec=spec, name="clicked",
                    horizon=later.replace(tzinfo=None))


def test_count_and_sum_aggregates() -> None:
    feedback = _feedback([("1min", "r1", "a", "click"), ("2min", "r1", "a", "click"), ("9h", "q", "q", "click")])
    feedback.loc[1, "value"] = 2.5
    count, _ = make_labels(_exposures(), feedback, event_time="ts", name="n",
                           spec=EventLabelSpec(feedback="f", window=timedelta(hours=1), aggregate="count"))
    total, _ = make_labels(_exposures(), feedback, event_time="ts", name="v",
                           spec=EventLabelSpec(feedback="f", window=timedelta(hours=1), aggregate="sum"))
    assert count["n"].tolist()[:2] == [2, 0]
    assert total["v"].tolist()[:2] == [3.5, 0.0]


def test_missing_key_column_is_named() -> None:
    feedback = _feedback([("1min", "r1", "a", "click")]).drop(columns="item_id")
    with pytest.raises(DataError, match="'item_id' is not in the feedback log"):
        make_labels(_exposures(), feedback, event_time="ts", name="y",
                    spec=EventLabelSpec(feedback="fb.parquet", window=timedelta(minutes=30)))
