"""``prepare(spec, since=..., until=...)``: the rows of a time window, labels as known at ``until``, shadow rows.

The oracle is plain pandas: the exposures with ``since <= ts < until`` that were served, labelled by a loop over the
feedback that arrived before ``until``, those whose label window had not closed by ``until`` censored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopline import DataError
from loopline.data import Prepared, prepare
from loopline.spec import ProblemSpec

T0 = pd.Timestamp("2024-03-01", tz="UTC")
N = 1440  # one exposure every 5 minutes for 5 days
WINDOW = pd.Timedelta("30min")
SINCE = datetime(2024, 3, 2, tzinfo=UTC)
UNTIL = datetime(2024, 3, 4, tzinfo=UTC)
U = pd.Timestamp(UNTIL)


def _exposures(*, shadows: bool = True) -> pd.DataFrame:
    """An exposure every 5 minutes, a tenth of them shadow rows (``served`` false) unless ``shadows`` is off."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"ts": T0 + pd.to_timedelta(np.arange(N) * 5, unit="min"),
                          "request_id": [f"r{i}" for i in range(N)], "item_id": "p", "x": rng.random(N)})
    frame["served"] = rng.random(N) > 0.1 if shadows else True
    # planted around the window's edges (ids say what each one tests)
    planted = pd.DataFrame({
        "ts": [pd.Timestamp(SINCE), U, U - pd.Timedelta("20min"), U - pd.Timedelta("50min")],
        "request_id": ["at-since", "at-until", "click-after-until", "click-before-until"],
        "item_id": "p", "x": 0.5, "served": True})
    return pd.concat([frame, planted], ignore_index=True)


def _feedback(exposures: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    grid = exposures[~exposures["request_id"].str.contains("-")]
    clicked = rng.random(len(grid)) < 0.2 + 0.5 * grid["x"].to_numpy()
    # whole minutes plus 7 seconds, up to 50 minutes: some land beyond the 30-minute window, none on the minute
    delay = pd.to_timedelta(rng.integers(0, 50, len(grid)) * 60 + 7, unit="s")
    clicks = pd.DataFrame({"ts": (grid["ts"] + delay)[clicked], "request_id": grid["request_id"][clicked],
                           "item_id": "p", "event": "click", "value": 1.0})
    likes = clicks.assign(event="like").iloc[::3]  # another event never makes a label
    planted = pd.DataFrame({"ts": [pd.Timestamp(SINCE) + pd.Timedelta("1min"), U + pd.Timedelta("1min"),
                                   U + pd.Timedelta("5min"), U - pd.Timedelta("25min")],
                            "request_id": ["at-since", "at-until", "click-after-until", "click-before-until"],
                            "item_id": "p", "event": "click", "value": 1.0})
    return pd.concat([clicks, likes, planted], ignore_index=True).sort_values("ts", ignore_index=True)


def _spec(tmp_path: Path, exposures: pd.DataFrame, feedback: pd.DataFrame) -> ProblemSpec:
    exposures.to_parquet(tmp_path / "exposures.parquet", index=False)
    feedback.to_parquet(tmp_path / "feedback.parquet", index=False)
    return ProblemSpec.from_dict({
        "name": "clicks", "task": "binary", "data": {"source": "exposures.parquet"}, "event_time": "ts",
        "label": {"name": "clicked", "from_events": {"feedback": "feedback.parquet", "window": "30m"}},
    }, base_dir=tmp_path)


def _oracle(exposures: pd.DataFrame, feedback: pd.DataFrame, since: datetime | None,
            until: datetime) -> tuple[dict[str, int], int]:
    """The label of every kept exposure (by request id) and how many were censored, the slow way."""
    rows = exposures[exposures["served"].astype(bool)]
    rows = rows[(rows["ts"] >= pd.Timestamp(since or T0)) & (rows["ts"] < pd.Timestamp(until))]
    known = feedback[(feedback["event"] == "click") & (feedback["ts"] < pd.Timestamp(until))]
    labels: dict[str, int] = {}
    censored = 0
    for ts, request, item in zip(rows["ts"].tolist(), rows["request_id"].tolist(), rows["item_id"].tolist(),
                                 strict=True):
        if ts + WINDOW >= pd.Timestamp(until):  # feedback is known strictly before until: the window must close before
            censored += 1
            continue
        mine = known[(known["request_id"] == request) & (known["item_id"] == item)]
        labels[str(request)] = int(((mine["ts"] >= ts) & (mine["ts"] <= ts + WINDOW)).any())
    return labels, censored


def _rows(prepared: Prepared) -> pd.DataFrame:
    return pd.concat(prepared.splits.frames().values(), ignore_index=True)


def _labels(prepared: Prepared) -> dict[str, int]:
    rows = _rows(prepared)
    return dict(zip(rows["request_id"].astype(str), rows["clicked"].astype(int), strict=True))


# -- the window -------------------------------------------------------------------------------------------------

def test_only_the_served_rows_of_the_window_are_kept_with_the_labels_known_at_until(tmp_path: Path) -> None:
    exposures = _exposures()
    feedback = _feedback(exposures)
    prepared = prepare(_spec(tmp_path, exposures, feedback), since=SINCE, until=UNTIL)
    expected, censored = _oracle(exposures, feedback, SINCE, UNTIL)
    got = _labels(prepared)
    assert got == expected and len(got) > 450
    assert prepared.label_report is not None
    assert (prepared.label_report.censored, prepared.label_report.positives) == (censored, sum(expected.values()))
    times = _rows(prepared)["ts"]
    assert times.min() == pd.Timestamp(SINCE) and times.max() < U  # since is in the window, until is not
    assert got["at-since"] == 1 and "at-until" not in got
    # a click 25 minutes before until, 25 minutes after its exposure: known, positive
    assert got["click-before-until"] == 1
    # a click after until, inside its exposure's window: the window is still open at until, so censored, never a
    # positive read from the future (nor a negative)
    assert "click-after-until" not in got
    checks = {(i.check, i.column) for i in prepared.validation.issues}
    assert ("censored", "clicked") in checks


def test_since_alone_keeps_the_rest_of_the_data_and_until_alone_the_start(tmp_path: Path) -> None:
    exposures = _exposures(shadows=False)
    feedback = _feedback(exposures)
    spec = _spec(tmp_path, exposures, feedback)
    late = prepare(spec, since=UNTIL)
    # without until, the feedback log is complete up to the last time recorded (the oracle's until is just after it)
    horizon = max(exposures["ts"].max(), feedback.loc[feedback["event"] == "click", "ts"].max())
    expected, _ = _oracle(exposures, feedback, UNTIL, horizon + pd.Timedelta("1us"))
    assert _labels(late) == expected
    early = prepare(spec, until=SINCE)
    expected, _ = _oracle(exposures, feedback, None, SINCE)
    assert _labels(early) == expected and len(expected) == 288 - 6  # the last 6 of the first day censored


def test_feedback_at_or_after_until_changes_nothing(tmp_path: Path) -> None:
    exposures = _exposures()
    feedback = _feedback(exposures)
    (tmp_path / "full").mkdir()
    (tmp_path / "cut").mkdir()
    full = prepare(_spec(tmp_path / "full", exposures, feedback), since=SINCE, until=UNTIL)
    cut = prepare(_spec(tmp_path / "cut", exposures[exposures["ts"] < U], feedback[feedback["ts"] < U]),
                  since=SINCE, until=UNTIL)
    for name, frame in full.splits.frames().items():
        pd.testing.assert_frame_equal(frame, cut.splits.frames()[name])
    assert full.label_report == cut.label_report


def test_a_window_that_ends_exactly_at_until_is_censored_or_counted_never_a_false_negative(tmp_path: Path) -> None:
    exposures = _exposures(shadows=False)
    boundary = pd.DataFrame({"ts": [U - WINDOW], "request_id": ["ends-at-until"], "item_id": "p", "x": 0.5,
                             "served": True})
    exposures = pd.concat([exposures, boundary], ignore_index=True)
    feedback = pd.concat([_feedback(exposures), pd.DataFrame({
        "ts": [U], "request_id": ["ends-at-until"], "item_id": "p", "event": "click", "value": 1.0})],
        ignore_index=True)
    got = _labels(prepare(_spec(tmp_path, exposures, feedback), since=SINCE, until=UNTIL))
    # without until the exposure is a positive (its click is inside [ts, ts + 30m]); with until its outcome
    # is not known yet, so it must be censored (or counted), never kept as a negative
    assert got.get("ends-at-until", 1) == 1


def test_a_time_zone_other_than_utc_gives_the_same_instants(tmp_path: Path) -> None:
    exposures = _exposures()
    spec = _spec(tmp_path, exposures, _feedback(exposures))
    plus_two = timezone(timedelta(hours=2))
    a = prepare(spec, since=SINCE, until=UNTIL)
    b = prepare(spec, since=SINCE.astimezone(plus_two), until=UNTIL.astimezone(plus_two))
    for name, frame in a.splits.frames().items():
        pd.testing.assert_frame_equal(frame, b.splits.frames()[name])


# -- refusals ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("since", "until", "expected"), [
    (datetime(2024, 3, 2), None,
     "since=2024-03-02T00:00:00 has no time zone; event times are UTC instants. Pass e.g. "
     "datetime(2026, 1, 1, tzinfo=timezone.utc)."),
    (SINCE, datetime(2024, 3, 4, 12),
     "until=2024-03-04T12:00:00 has no time zone; event times are UTC instants. Pass e.g. "
     "datetime(2026, 1, 1, tzinfo=timezone.utc)."),
    (UNTIL, SINCE,
     "since (2024-03-04T00:00:00+00:00) must come before until (2024-03-02T00:00:00+00:00)."),
    (SINCE, SINCE,
     "since (2024-03-02T00:00:00+00:00) must come before until (2024-03-02T00:00:00+00:00)."),
])
def test_naive_times_and_an_empty_interval_are_refused_before_any_data_is_read(
        tmp_path: Path, since: datetime | None, until: datetime | None, expected: str) -> None:
    spec = ProblemSpec.from_dict({
        "name": "clicks", "task": "binary", "data": {"source": "missing.parquet"}, "event_time": "ts",
        "label": {"column": "clicked"}}, base_dir=tmp_path)
    with pytest.raises(DataError) as info:
        prepare(spec, since=since, until=until)
    assert str(info.value) == expected


@pytest.mark.parametrize(("since", "until", "span"), [
    (None, datetime(2024, 2, 1, tzinfo=UTC), "[..., 2024-02-01T00:00:00+00:00)"),
    (datetime(2024, 4, 1, tzinfo=UTC), None, "[2024-04-01T00:00:00+00:00, ...)"),
    (datetime(2024, 3, 6, tzinfo=UTC), datetime(2024, 3, 7, tzinfo=UTC),
     "[2024-03-06T00:00:00+00:00, 2024-03-07T00:00:00+00:00)"),
])
def test_a_window_without_rows_names_the_column_and_the_datas_time_range(
        tmp_path: Path, since: datetime | None, until: datetime | None, span: str) -> None:
    exposures = _exposures()
    spec = _spec(tmp_path, exposures, _feedback(exposures))
    with pytest.raises(DataError) as info:
        prepare(spec, since=since, until=until)
    assert str(info.value) == (
        f"no row of the data of loopline.yaml has its ts in {span}; its times run from 2024-03-01 00:00:00+00:00 "
        "to 2024-03-05 23:55:00+00:00. Choose a window inside them.")


# -- shadow rows ------------------------------------------------------------------------------------------------

def _table_spec(tmp_path: Path, frame: pd.DataFrame) -> ProblemSpec:
    frame.to_parquet(tmp_path / "table.parquet", index=False)
    return ProblemSpec.from_dict({"name": "clicks", "task": "binary", "data": {"source": "table.parquet"},
                                  "event_time": "ts", "label": {"column": "clicked"}}, base_dir=tmp_path)


def _table(served: Any, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    x = rng.random(n)
    return pd.DataFrame({"ts": T0 + pd.to_timedelta(np.arange(n), unit="h"), "request_id": [f"r{i}" for i in range(n)],
                         "x": x, "clicked": (rng.random(n) < 0.2 + 0.5 * x).astype(int), "served": served})


def test_shadow_rows_are_dropped_and_the_report_says_how_many(tmp_path: Path) -> None:
    served = np.random.default_rng(3).random(600) > 0.25
    frame = _table(served)
    prepared = prepare(_table_spec(tmp_path, frame))
    rows = _rows(prepared)
    assert sorted(rows["request_id"]) == sorted(frame.loc[served, "request_id"])
    assert rows["served"].all()
    [shadow] = [i for i in prepared.validation.issues if i.check == "shadow"]
    assert (shadow.severity, shadow.column, shadow.message) == (
        "info", "served", f"{(~served).sum()} rows with served = false were dropped: they are a shadow model's scores "
        "of candidates the user never saw, not exposures.")
    assert "served" not in prepared.splits.features  # constant once the shadow rows are gone


def test_shadow_rows_outside_the_window_are_not_counted(tmp_path: Path) -> None:
    exposures = _exposures()
    prepared = prepare(_spec(tmp_path, exposures, _feedback(exposures)), since=SINCE, until=UNTIL)
    inside = exposures[(exposures["ts"] >= pd.Timestamp(SINCE)) & (exposures["ts"] < U)]
    [shadow] = [i for i in prepared.validation.issues if i.check == "shadow"]
    assert shadow.message.startswith(f"{(~inside['served']).sum()} rows with served = false were dropped")
    assert not set(inside.loc[~inside["served"], "request_id"]) & set(_rows(prepared)["request_id"])


@pytest.mark.parametrize("served", [
    np.tile([1, 0, 1], 200),                 # integers
    np.tile(["yes", "no", "yes"], 200),      # words
    True,                                    # every row served
])
def test_a_served_column_that_is_not_a_boolean_with_a_false_is_left_alone(tmp_path: Path, served: Any) -> None:
    prepared = prepare(_table_spec(tmp_path, _table(served)))
    assert len(_rows(prepared)) == 600
    assert not [i for i in prepared.validation.issues if i.check == "shadow"]


def test_shadow_rows_are_dropped_when_served_also_holds_nulls(tmp_path: Path) -> None:
    served = pd.array(np.tile([True, False, None, True], 150), dtype="boolean")
    prepared = prepare(_table_spec(tmp_path, _table(served)))
    assert len(_rows(prepared)) == 450  # the 150 false rows dropped; a null is taken as served
    assert [i.message[:41] for i in prepared.validation.issues if i.check == "shadow"] == [
        "150 rows with served = false were dropped"]
