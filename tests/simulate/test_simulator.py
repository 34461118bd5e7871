"""The simulator's output: seeded, in the event-log contract, consistent between exposures and feedback."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopline.events import EXPOSURE, FEEDBACK, EventLog, conform
from loopline.simulate import FeedSimulator, SimConfig
from tests.simulate.conftest import SMALL, Frames

TINY = SimConfig(seed=11, n_users=300, n_posts_per_day=60, n_authors=40, days=2)


def test_the_same_seed_gives_identical_frames_and_another_seed_does_not() -> None:
    first = FeedSimulator(TINY).run_frames()
    again = FeedSimulator(TINY).run_frames()
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a, b)
    other = FeedSimulator(replace(TINY, seed=12)).run_frames()
    assert len(other[0]) != len(first[0]) or not other[0]["item_id"].equals(first[0]["item_id"])
    assert not set(other[0]["request_id"]) & set(first[0]["request_id"])  # ids never collide across seeds


def test_exposures_and_feedback_conform_to_the_contract(small: Frames) -> None:
    for kind, frame, schema in (("exposures", small.exposures, EXPOSURE), ("feedback", small.feedback, FEEDBACK)):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        conformed = conform(kind, table)  # type: ignore[arg-type]
        assert pa.schema(list(conformed.schema)[: len(schema)]) == schema
    e = small.exposures
    assert (e["deployment"] == "sim").all() and (e["arm"] == "control").all() and e["served"].all()
    assert e["position"].between(0, SMALL.feed_length - 1).all()
    assert str(e["ts"].dtype) == "datetime64[us, UTC]"
    features = {"country", "device", "age_bucket", "user_top_topic", "user_activity", "topic", "author_id",
                "author_followers", "post_age_hours", "post_quality_score"}
    assert features <= set(e.columns)
    assert e[sorted(features)].notna().all().all()
    assert (e["post_age_hours"] >= 0).all() and (e["post_age_hours"] <= SMALL.freshness_window_h).all()
    assert set(small.feedback["event"]) == {"click", "like"}


def test_every_feedback_row_answers_an_earlier_exposure(small: Frames) -> None:
    e, f = small.exposures, small.feedback
    assert not e.duplicated(["request_id", "item_id"]).any()
    joined = f.merge(e[["request_id", "item_id", "unit_id", "ts"]], on=["request_id", "item_id"], how="left",
                     suffixes=("", "_exposure"), validate="m:1")
    assert joined["ts_exposure"].notna().all()
    assert (joined["ts"] > joined["ts_exposure"]).all()
    assert (joined["unit_id"] == joined["unit_id_exposure"]).all()
    assert not f.duplicated(["request_id", "item_id", "event"]).any()  # one click, at most one like
    clicks = f[f["event"] == "click"].set_index(["request_id", "item_id"])["ts"]
    likes = f[f["event"] == "like"].set_index(["request_id", "item_id"])["ts"]
    assert likes.index.isin(clicks.index).all()
    assert (likes > clicks.loc[likes.index]).all()  # a like follows its click


def test_the_truth_has_one_true_p_per_impression(small: Frames) -> None:
    t = small.truth
    assert len(t) == len(small.exposures)
    keys = pd.MultiIndex.from_frame(t[["request_id", "item_id"]])
    assert keys.is_unique and keys.equals(pd.MultiIndex.from_frame(small.exposures[["request_id", "item_id"]]))
    assert t["true_p"].between(0, 1, inclusive="neither").all()
    assert (t["true_p"] <= t["p_engage"]).all()


def test_run_writes_what_run_frames_returns(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    calls: list[tuple[str, float | None]] = []

    class Recorder:
        def start(self, task: str, total: float | None = None) -> None:
            calls.append(("start", total))

        def advance(self, amount: float = 1.0) -> None:
            calls.append(("advance", amount))

        def finish(self) -> None:
            calls.append(("finish", None))

    result = FeedSimulator(TINY).run(log, progress=Recorder())
    exposures, feedback, truth = FeedSimulator(TINY).run_frames()
    assert calls == [("start", 2), ("advance", 1.0), ("advance", 1.0), ("finish", None)]
    back = log.read("exposures")
    assert len(back) == result.impressions == len(exposures)
    pd.testing.assert_frame_equal(back.sort_values(["request_id", "position"]).reset_index(drop=True),
                                  exposures.sort_values(["request_id", "position"]).reset_index(drop=True))
    assert result.clicks == int((feedback["event"] == "click").sum())
    assert result.likes == int((feedback["event"] == "like").sum())
    assert result.ctr == pytest.approx(result.clicks / result.impressions)
    assert result.sessions == exposures["request_id"].nunique()
    assert (result.start, result.end) == (TINY.start, TINY.start + timedelta(days=2))
    assert set(result.paths) == set(log.segments("exposures")) | set(log.segments("feedback"))
    stored_truth = pd.read_parquet(result.truth_path)
    np.testing.assert_allclose(stored_truth["true_p"].to_numpy(), truth["true_p"].to_numpy())
    assert len(log.read("feedback")) == len(feedback)
