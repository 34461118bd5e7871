"""Days served by a plan: arms, experiments and shadows per day, and code run between two days."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopline import simulate
from loopline.events import EventLog, assign
from loopline.simulate import DayPlan, DaySummary, FeedSimulator, SimConfig, SimExperiment, SimulationError

TINY = SimConfig(seed=7, n_users=200, n_posts_per_day=60, n_authors=40, days=3)
DAY = pd.Timedelta(days=1)


def by_quality(candidates: pd.DataFrame) -> np.ndarray:
    return candidates["post_quality_score"].to_numpy()


def by_freshness(candidates: pd.DataFrame) -> np.ndarray:
    return -candidates["post_age_hours"].to_numpy()


def canary(units: np.ndarray) -> np.ndarray:
    return assign("canary:feed", units, {"canary": 0.3, "champion": 0.7})


def ab(units: np.ndarray) -> np.ndarray:
    return assign("ab", units, {"champion": 0.5, "challenger": 0.5})


def day_of(frame: pd.DataFrame) -> pd.Series:
    return (frame["ts"] - TINY.start) // DAY


def test_the_arms_serve_the_units_assign_gives_them(tmp_path: Path) -> None:
    plan = DayPlan(arms={"champion": None, "canary": by_quality}, assign=canary,
                   versions={"champion": "v1", "canary": "v2"}, deployment="feed")
    log = EventLog(tmp_path)
    FeedSimulator(TINY).run(log, plan=lambda d: plan if d >= 1 else None)
    exposures, feedback = log.read("exposures"), log.read("feedback")
    before, during = exposures[day_of(exposures) == 0], exposures[day_of(exposures) >= 1]
    assert set(before["deployment"]) == {"sim"} and set(before["arm"]) == {"control"}
    assert set(during["deployment"]) == {"feed"} and during["served"].all()
    expected = dict(zip(during["unit_id"], canary(during["unit_id"].to_numpy()), strict=True))
    assert (during["arm"] == during["unit_id"].map(expected)).all()
    assert set(during["arm"]) == {"champion", "canary"}
    assert (during["model_version"] == during["arm"].map({"champion": "v1", "canary": "v2"})).all()
    answered = feedback.merge(exposures[["request_id", "item_id", "deployment"]], on=["request_id", "item_id"],
                              suffixes=("", "_exposure"), validate="m:1")
    assert (answered["deployment"] == answered["deployment_exposure"]).all()  # feedback carries the deployment
    assert set(answered["deployment"]) == {"sim", "feed"}
    assert not log.segments("assignments")  # no arm is in an experiment


def test_a_policy_scoring_by_a_column_orders_the_feed_by_it() -> None:
    plan = DayPlan.single(by_quality, arm="champion", version="v2", shadows={"v2-copy": by_quality})
    exposures, _, _ = FeedSimulator(TINY).run_frames(plan=lambda d: plan)
    served = exposures[exposures["served"]].sort_values(["request_id", "position"])
    np.testing.assert_array_equal(served["score"].to_numpy(), served["post_quality_score"].to_numpy())
    assert (served.groupby("request_id")["score"].diff().dropna() <= 0).all()  # best first
    # The feed is the policy's best feed_length candidates: those the same policy ranks first in the shadow.
    shadow = exposures[~exposures["served"]]
    top = shadow[shadow["position"] < TINY.feed_length].sort_values(["request_id", "position"])
    pd.testing.assert_frame_equal(top[["request_id", "item_id", "position"]].reset_index(drop=True),
                                  served[["request_id", "item_id", "position"]].reset_index(drop=True))

    builtin = FeedSimulator(TINY).run_frames()[0]
    assert not builtin["score"].equals(builtin["post_quality_score"])


def test_assignments_are_written_once_per_unit_per_experiment(tmp_path: Path) -> None:
    in_ab = DayPlan(arms={"champion": None, "challenger": by_freshness}, assign=ab,
                    versions={"champion": "v1", "challenger": "v2"}, experiment={"champion": "ab", "challenger": "ab"})
    # Day 2: the same experiment goes on, and a second one starts with only the challenger's units in it.
    second = dataclasses.replace(in_ab, experiment={"champion": "ab", "challenger": "ab-2"})
    log = EventLog(tmp_path)
    FeedSimulator(TINY).run(log, plan=lambda d: {0: None, 1: in_ab, 2: second}[d])
    assignments, exposures = log.read("assignments"), log.read("exposures")
    assert not assignments.duplicated(["experiment", "unit_id"]).any()
    day = day_of(exposures)
    in_ab_rows = (day == 1) | ((day == 2) & (exposures["arm"] == "champion"))
    first = exposures[in_ab_rows].groupby("unit_id").agg(ts=("ts", "min"), arm=("arm", "first"))
    in_first = assignments[assignments["experiment"] == "ab"].set_index("unit_id").sort_index()
    assert list(in_first.index) == sorted(first.index)  # every unit exposed in the experiment, once
    assert (in_first["ts"] == first.loc[in_first.index, "ts"]).all()  # at its first exposure
    assert (in_first["arm"] == first.loc[in_first.index, "arm"]).all()
    assert (assignments["deployment"] == "sim").all()
    on_day_2 = exposures[day_of(exposures) == 2]
    challenger_units = set(on_day_2.loc[on_day_2["arm"] == "challenger", "unit_id"])
    in_second = assignments[assignments["experiment"] == "ab-2"]
    assert set(in_second["unit_id"]) == challenger_units and (in_second["arm"] == "challenger").all()
    assert (in_second["ts"] >= TINY.start + 2 * DAY).all()


def test_shadows_are_logged_unserved_with_their_own_scores_and_ranking(tmp_path: Path) -> None:
    plan = DayPlan(arms={"champion": None, "canary": by_freshness}, assign=canary,
                   versions={"champion": "v1", "canary": "v2"}, shadows={"v2": by_freshness})
    log = EventLog(tmp_path)
    result = FeedSimulator(TINY).run(log, plan=lambda d: plan)
    exposures, feedback = log.read("exposures"), log.read("feedback")
    truth = pd.read_parquet(result.truth_path)
    served, shadow = exposures[exposures["served"]], exposures[~exposures["served"]]
    assert result.impressions == len(served) == len(truth)  # shadows have no truth and are not impressions
    assert len(shadow) > len(served)  # every usable candidate is scored
    assert (shadow["model_version"] == "v2").all() and (shadow["arm"] == "champion").all()
    assert not set(shadow["unit_id"]) & set(served.loc[served["arm"] == "canary", "unit_id"])  # v2 serves them
    np.testing.assert_allclose(shadow["score"], -shadow["post_age_hours"], atol=1e-9)
    ordered = shadow.sort_values(["request_id", "position"])
    assert (ordered.groupby("request_id")["score"].diff().dropna() <= 0).all()
    assert (ordered.groupby("request_id").cumcount() == ordered["position"]).all()
    assert not shadow.duplicated(["request_id", "item_id"]).any()
    champion = served[served["arm"] == "champion"]
    assert set(shadow["request_id"]) == set(champion["request_id"])
    keys = ["request_id", "item_id"]
    joined = champion.merge(shadow, on=keys, suffixes=("", "_shadow"), validate="1:1")
    assert len(joined) == len(champion)  # the shadow scored every item the champion served, with the same rows
    for column in ("ts", "unit_id", "country", "user_activity", "topic", "author_followers", "post_age_hours"):
        assert (joined[column] == joined[f"{column}_shadow"]).all(), column
    assert len(feedback.merge(served[keys], on=keys)) == len(feedback)  # feedback answers served exposures
    # ... and matches their shadow rows too, on the same keys: readers of exposures keep served rows only.
    assert not feedback.merge(shadow[keys], on=keys).empty


def test_after_day_sees_the_day_in_the_log_and_a_plan_change_serves_the_next_day(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    deployed: dict[str, DayPlan | None] = {"now": None}
    seen: list[DaySummary] = []

    def plan(d: int) -> DayPlan | None:
        return deployed["now"]

    def after_day(d: int, summary: DaySummary) -> None:
        exposures = log.read("exposures")
        assert day_of(exposures).max() == d  # the day's rows are written, nothing later
        assert summary.impressions == int((day_of(exposures) == d).sum())
        seen.append(summary)
        if d == 0:  # retrained: the challenger takes 30% from tomorrow
            deployed["now"] = DayPlan(arms={"champion": None, "canary": by_quality}, assign=canary,
                                      versions={"canary": "v2"}, deployment="feed")

    result = FeedSimulator(TINY).run(log, plan=plan, after_day=after_day)
    assert [s.day for s in seen] == [0, 1, 2]
    assert (seen[1].start, seen[1].end) == (TINY.start + DAY, TINY.start + 2 * DAY)
    exposures = log.read("exposures")
    assert set(exposures.loc[day_of(exposures) == 0, "arm"]) == {"control"}
    assert set(exposures.loc[day_of(exposures) >= 1, "arm"]) == {"champion", "canary"}
    assert set(seen[0].arms) == {"control"} and set(seen[1].arms) == {"champion", "canary"}

    truth = exposures.merge(pd.read_parquet(result.truth_path), on=["request_id", "item_id"], validate="1:1")
    clicks = log.read("feedback").query("event == 'click'")
    assert sum(s.clicks for s in seen) == len(clicks) == result.clicks
    for summary in seen:
        day = truth[day_of(truth) == summary.day]
        assert summary.true_p == pytest.approx(day["true_p"].mean(), rel=1e-12)
        for arm, found in summary.arms.items():
            rows = day[day["arm"] == arm]
            assert found.impressions == len(rows)
            assert found.true_p == pytest.approx(rows["true_p"].mean(), rel=1e-12)
            assert found.clicks == len(rows.merge(clicks, on=["request_id", "item_id"]))


def test_without_a_plan_nothing_changes_and_one_builtin_arm_is_the_day_without_a_plan() -> None:
    plain = FeedSimulator(TINY).run_frames()
    for plan in (lambda d: None, lambda d: DayPlan.single(None) if d >= 1 else None):
        planned = FeedSimulator(TINY).run_frames(plan=plan)
        for a, b in zip(plain, planned, strict=True):
            pd.testing.assert_frame_equal(a, b)
    # A plan changes only the days it serves: day 0 is the same, day 1 on differs.
    other = FeedSimulator(TINY).run_frames(plan=lambda d: DayPlan.single(by_quality) if d >= 1 else None)[0]
    first = plain[0][day_of(plain[0]) == 0]
    pd.testing.assert_frame_equal(first, other[day_of(other) == 0])
    assert not plain[0][day_of(plain[0]) == 1]["item_id"].reset_index(drop=True).equals(
        other[day_of(other) == 1]["item_id"].reset_index(drop=True))


def test_a_plan_and_an_experiment_together_are_refused(tmp_path: Path) -> None:
    experiment = SimExperiment(name="e", arms={"control": 0.5, "treatment": 0.5}, start_day=1)
    sim = FeedSimulator(dataclasses.replace(TINY, experiment=experiment))
    with pytest.raises(SimulationError, match=r"a plan and SimConfig\.experiment \('e'\) cannot be used together"):
        sim.run(EventLog(tmp_path), plan=lambda d: None)
    assert not (tmp_path / "exposures").exists()  # refused before anything is written
    with pytest.raises(SimulationError, match="cannot be used together"):
        sim.run_frames(plan=lambda d: None)


def test_bad_plans_are_refused_with_the_fix() -> None:
    sim = FeedSimulator(TINY)
    wrong_arm = DayPlan(arms={"champion": None}, assign=lambda units: np.full(len(units), "champoin"))
    with pytest.raises(SimulationError, match=r"DayPlan of day 0: assign gave unit 'u000000' the arm 'champoin'.*"
                                              r"not in arms \['champion'\]"):
        sim.run_frames(plan=lambda d: wrong_arm)
    short = DayPlan(arms={"champion": None}, assign=lambda units: ["champion"])
    with pytest.raises(SimulationError, match="assign returned 1 arms for 200 units"):
        sim.run_frames(plan=lambda d: short)
    with pytest.raises(SimulationError, match=r"plan\(0\) returned dict; return a DayPlan"):
        sim.run_frames(plan=lambda d: {"champion": None})  # type: ignore[arg-type,return-value]
    with pytest.raises(SimulationError, match=r"DayPlan.versions names arms \['canary'\]"):
        DayPlan(arms={"champion": None}, assign=canary, versions={"canary": "v2"})
    with pytest.raises(SimulationError, match=r"DayPlan\.arms is empty"):
        DayPlan(arms={}, assign=canary)
    with pytest.raises(SimulationError, match=r"DayPlan.shadows\['v2'\]: expected a policy"):
        DayPlan(arms={"champion": None}, assign=canary, shadows={"v2": "by_quality"})  # type: ignore[dict-item]
    with pytest.raises(SimulationError, match=r"DayPlan\.deployment: name 'my feed' is not usable"):
        DayPlan(arms={"champion": None}, assign=canary, deployment="my feed")


def test_exports_and_examples() -> None:
    assert {"DayPlan", "DaySummary", "ArmDay"} <= set(simulate.__all__)
    result = doctest.testmod(importlib.import_module("loopline.simulate._plan"))
    assert result.failed == 0 and result.attempted > 0
