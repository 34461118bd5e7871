"""Experiments run by the simulator: hash assignment, a planted effect, lost logs, interleaving."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loopline.events import EventLog, assign
from loopline.experiments import analyze_interleaving, compare_means, team_draft
from loopline.simulate import FeedSimulator, SimConfig, SimExperiment, SimulationError
from loopline.simulate import _experiment as sim_experiment
from loopline.simulate._experiment import ExperimentState, make_rerank

BASE = SimConfig(seed=2, n_users=2000, n_posts_per_day=150, n_authors=200, days=8)
START = pd.Timestamp("2026-01-05", tz="UTC")


def _run(tmp_path: Path, experiment: SimExperiment, name: str = "log") -> tuple[EventLog, object]:
    log = EventLog(tmp_path / name)
    return log, FeedSimulator(dataclasses.replace(BASE, experiment=experiment)).run(log)


def test_days_before_the_start_are_those_of_the_run_without_the_experiment() -> None:
    plain = FeedSimulator(BASE).run_frames()
    experiment = SimExperiment(name="e", arms={"control": 0.5, "treatment": 0.5}, start_day=4,
                               lift={"treatment": 0.3})
    with_exp = FeedSimulator(dataclasses.replace(BASE, experiment=experiment)).run_frames()
    for a, b in zip(plain, with_exp, strict=True):
        if "ts" not in a.columns:
            continue
        pre_a, pre_b = a[a["ts"] < START].reset_index(drop=True), b[b["ts"] < START].reset_index(drop=True)
        pd.testing.assert_frame_equal(pre_a, pre_b[pre_a.columns])
    assert (with_exp[0].loc[with_exp[0]["ts"] >= START, "arm"].isin(["control", "treatment"])).all()


def test_units_are_assigned_by_the_serving_hash_and_a_planted_lift_is_the_true_effect(tmp_path: Path) -> None:
    experiment = SimExperiment(name="lift", arms={"control": 0.5, "treatment": 0.5}, start_day=4,
                               lift={"treatment": 0.2}, model_versions={"treatment": "v2"})
    log, result = _run(tmp_path, experiment)
    assignments = log.read("assignments")
    assert assignments["unit_id"].is_unique
    expected = assign("lift", assignments["unit_id"].to_numpy(), {"control": 0.5, "treatment": 0.5})
    assert (assignments["arm"].to_numpy() == expected).all()
    exposures = log.read("exposures")
    during = exposures[exposures["ts"] >= START]
    assert during.groupby("unit_id")["arm"].nunique().max() == 1
    assert set(during.loc[during["arm"] == "treatment", "model_version"]) == {"v2"}
    truth = result.experiment_truth  # type: ignore[attr-defined]
    # The true effect is the realised one: the planted +20% on engagement, times the chance mix of users per arm.
    assert truth["effects"]["treatment"]["ctr_relative"] == pytest.approx(0.2, abs=0.07)
    counts = assignments["arm"].value_counts()
    assert stats.chisquare([counts["control"], counts["treatment"]]).pvalue > 0.001


def test_lost_logs_show_as_a_sample_ratio_mismatch(tmp_path: Path) -> None:
    experiment = SimExperiment(name="broken", arms={"control": 0.5, "treatment": 0.5}, start_day=3,
                               broken_share=0.15)
    log, _ = _run(tmp_path, experiment)
    counts = log.read("assignments")["arm"].value_counts()
    assert counts["treatment"] < counts["control"]
    assert stats.chisquare([counts["control"], counts["treatment"]]).pvalue < 0.001


@pytest.mark.slow
def test_a_policy_is_used_and_interleaving_is_more_sensitive_than_the_ab_test(tmp_path: Path) -> None:
    """A slightly better ranker: one day of interleaving finds it, the A/B test on the same traffic cannot."""
    def no_topic_match(candidates: pd.DataFrame) -> np.ndarray:
        # The built-in ranking without its exploration noise and its match on the declared (noisy) topic.
        return np.asarray(0.3 * np.log1p(candidates["author_followers"].to_numpy())
                          + 2.0 * candidates["post_quality_score"].to_numpy()
                          - 0.03 * candidates["post_age_hours"].to_numpy())

    config = dataclasses.replace(BASE, n_users=4000, days=6)  # about 4,000 interleaved queries on the last day
    ab = SimExperiment(name="ab", arms={"control": 0.5, "treatment": 0.5}, start_day=5,
                       policies={"treatment": no_topic_match})
    ab_log = EventLog(tmp_path / "ab")
    ab_result = FeedSimulator(dataclasses.replace(config, experiment=ab)).run(ab_log)
    true_effect = ab_result.experiment_truth["effects"]["treatment"]["ctr_relative"]
    exposures = ab_log.read("exposures")
    clicks = ab_log.read("feedback").query("event == 'click'")
    day = exposures[exposures["ts"] >= pd.Timestamp("2026-01-06", tz="UTC")]
    per_unit = day.groupby(["unit_id", "arm"]).size().rename("n").reset_index()
    clicked = day.merge(clicks[["request_id", "item_id"]], on=["request_id", "item_id"]).groupby("unit_id").size()
    per_unit["clicks"] = per_unit["unit_id"].map(clicked).fillna(0.0)
    ab_p = compare_means(per_unit.loc[per_unit["arm"] == "control", "clicks"],
                         per_unit.loc[per_unit["arm"] == "treatment", "clicks"]).p_value

    interleaved = SimExperiment(name="il", arms={"control": 0.5, "treatment": 0.5}, start_day=5,
                                policies={"treatment": no_topic_match}, interleave=True)
    il_log = EventLog(tmp_path / "il")
    FeedSimulator(dataclasses.replace(config, experiment=interleaved)).run(il_log)
    teams = il_log.read("exposures")
    assert set(teams.loc[teams["ts"] >= pd.Timestamp("2026-01-06", tz="UTC"), "team"]) == {"control", "treatment"}
    result = analyze_interleaving(il_log, "il")
    assert true_effect > 0.03 and result.preferred == "B"  # B is the treatment's ranker: it is truly better
    assert ab_p > 0.05 > result.p_value  # one day of the same traffic: the A/B test cannot tell, interleaving can


def test_bad_experiments_are_refused() -> None:
    with pytest.raises(SimulationError, match="start_day must be >= 1"):
        SimExperiment(name="x", arms={"a": 1, "b": 1}, start_day=0)
    with pytest.raises(SimulationError, match=r"lift names arms \['c'\]"):
        SimExperiment(name="x", arms={"a": 1, "b": 1}, start_day=1, lift={"c": 0.1})
    with pytest.raises(SimulationError, match=r"only days 0\.\.7 are simulated"):
        dataclasses.replace(BASE, experiment=SimExperiment(name="x", arms={"a": 1, "b": 1}, start_day=9))


def test_the_simulator_interleaves_exactly_like_experiments_team_draft(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's interleaving path (rankings from both arms' scores, unusable candidates dropped) gives,
    session by session, the lists and teams of ``loopline.experiments.team_draft`` on the same random draws."""
    rng = np.random.default_rng(5)
    sessions, k, length = 400, 12, 8
    h = rng.normal(size=(sessions, k))
    h[rng.random(h.shape) < 0.15] = -np.inf  # duplicates and sessions without posts are -inf in the simulator
    treatment = rng.normal(size=(sessions, k))
    treatment[rng.random(treatment.shape) < 0.3] = np.nan  # a policy may fail to score a candidate
    monkeypatch.setattr(sim_experiment, "candidate_frame",
                        lambda *args: pd.DataFrame({"score": treatment.reshape(-1)}))
    experiment = SimExperiment(name="il", arms={"control": 0.5, "treatment": 0.5}, start_day=1,
                               policies={"treatment": lambda frame: frame["score"].to_numpy()}, interleave=True)
    state = ExperimentState(experiment, [f"u{i}" for i in range(50)], seed=3)
    reference_rng = copy.deepcopy(state.rng)
    world, names = SimpleNamespace(post_created_us=np.zeros(1)), SimpleNamespace(extend_posts=lambda n: None)
    rerank = make_rerank(state, world, names, SimpleNamespace(feed_length=length), 1)
    users = rng.integers(0, 50, sessions)
    picks, logged, teams = rerank(users, np.zeros(sessions, dtype=np.int64), np.tile(np.arange(k), (sessions, 1)), h,
                                  np.zeros((sessions, k)))
    assert teams is not None
    stopped_early = 0
    for s in range(sessions):
        usable_a = [j for j in np.argsort(-h[s], kind="stable") if np.isfinite(h[s, j])]
        b = np.where(np.isfinite(h[s]), treatment[s], -np.inf)
        usable_b = [j for j in np.argsort(-b, kind="stable") if np.isfinite(b[j])]
        items, owners = team_draft(usable_a, usable_b, reference_rng, length=length)
        assert picks[s, : len(items)].tolist() == list(items)
        assert (picks[s, len(items):] == -1).all()
        assert ["control" if t == 0 else "treatment" for t in teams[s, : len(items)]] == [
            "control" if o == "A" else "treatment" for o in owners]
        for item, owner in zip(items, owners, strict=True):  # each shown item logs the score of its own team
            expected = 1.0 / (1.0 + np.exp(-(h[s, item] - 3.0))) if owner == "A" else treatment[s, item]
            assert logged[s, item] == pytest.approx(expected)
        stopped_early += len(items) < min(length, len(set(usable_a) | set(usable_b)))
    assert stopped_early > 0  # the textbook stop (one side has nothing left) happened and was followed
