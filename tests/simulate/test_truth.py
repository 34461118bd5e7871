"""The true effects of a simulated experiment: the population effect against a brute-force oracle on the
truth table, the realised effect against the served impressions, and the cases where each must be 0."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from loopline.simulate import FeedSimulator, SimConfig, SimExperiment, SimulationError, TrueEffect

WORLD = SimConfig(seed=11, n_users=1500, n_posts_per_day=80, n_authors=60, days=3, base_ctr=0.02)
START = pd.Timestamp("2026-01-02", tz="UTC")
LIFT = 0.25


def _run(experiment: SimExperiment, config: SimConfig = WORLD) -> tuple[FeedSimulator, pd.DataFrame]:
    """The simulator after the run and the experiment's impressions joined to their truth."""
    sim = FeedSimulator(dataclasses.replace(config, experiment=experiment))
    exposures, _, truth = sim.run_frames()
    during = exposures[exposures["ts"] >= START].merge(truth, on=["request_id", "item_id"], validate="1:1")
    return sim, during


def _effects(sim: FeedSimulator) -> dict[str, TrueEffect]:
    found = {e.metric: e for e in sim.true_effects}
    assert set(found) == {"ctr", "clicks_per_user", "engagement"} and all(e.arm == "treatment" for e in found.values())
    return found


def _metrics(p: pd.Series, unit: pd.Series) -> dict[str, float]:
    """ctr, clicks_per_user and engagement over units from impression click probabilities (the oracle)."""
    per_unit = pd.DataFrame({"unit": unit.to_numpy(), "p": p.to_numpy(), "no": np.log1p(-p.to_numpy())})
    grouped = per_unit.groupby("unit")
    return {"ctr": float(p.sum() / len(p)), "clicks_per_user": float(grouped["p"].sum().mean()),
            "engagement": float((1 - np.exp(grouped["no"].sum())).mean())}


def test_a_planted_lift_has_a_population_effect_the_oracle_computes_from_every_units_counterfactual() -> None:
    """Both arms rank alike, so each impression would be the same in the other arm, its engagement probability
    divided or multiplied by 1 + lift: the oracle recomputes all three metrics over every unit in each arm."""
    sim, imp = _run(SimExperiment(name="lift", arms={"control": 0.5, "treatment": 0.5}, start_day=1,
                                  lift={"treatment": LIFT}))
    # The engagement probability is capped at 0.999 after the lift; a low base CTR keeps every impression below
    # the cap in both arms, so the oracle may divide and multiply by 1 + lift.
    assert imp["p_engage"].max() < 0.999 / (1 + LIFT)
    treated = (imp["arm"] == "treatment").to_numpy()
    exam = imp["true_p"] / imp["p_engage"]
    base = imp["p_engage"].where(~treated, imp["p_engage"] / (1 + LIFT))
    as_control = _metrics(exam * base, imp["unit_id"])
    as_treatment = _metrics(exam * base * (1 + LIFT), imp["unit_id"])
    drawn_c = _metrics(imp.loc[~treated, "true_p"], imp.loc[~treated, "unit_id"])
    drawn_t = _metrics(imp.loc[treated, "true_p"], imp.loc[treated, "unit_id"])
    for metric, e in _effects(sim).items():
        assert e.units == imp["unit_id"].nunique()
        assert e.population_control == pytest.approx(as_control[metric], rel=1e-9), metric
        assert e.population == pytest.approx(as_treatment[metric] - as_control[metric], rel=1e-9), metric
        assert e.realised_control == pytest.approx(drawn_c[metric], rel=1e-9), metric
        assert e.realised == pytest.approx(drawn_t[metric] - drawn_c[metric], rel=1e-9), metric
    ctr = sim.true_effects[0]
    # A multiplicative lift on every impression is exactly the relative population effect on CTR and clicks per
    # unit; the draw of units into arms moves the realised one well away from it.
    assert ctr.population_relative == pytest.approx(LIFT, rel=1e-9)
    assert _effects(sim)["clicks_per_user"].population_relative == pytest.approx(LIFT, rel=1e-9)
    assert abs(ctr.realised_relative - LIFT) > 0.01  # type: ignore[operator]


def test_with_different_rankings_each_units_own_arm_reproduces_the_served_truth() -> None:
    """A treatment policy changes what is shown; the counterfactual of a unit's own arm is what it was shown, so
    the realised effect equals the one computed from the served impressions' click probabilities."""
    def stale_first(candidates: pd.DataFrame) -> np.ndarray:
        return np.asarray(candidates["post_age_hours"].to_numpy())  # the oldest posts on top: a worse feed

    sim, imp = _run(SimExperiment(name="policy", arms={"control": 0.5, "treatment": 0.5}, start_day=1,
                                  policies={"treatment": stale_first}, lift={"treatment": 0.1}))
    treated = (imp["arm"] == "treatment").to_numpy()
    drawn_c = _metrics(imp.loc[~treated, "true_p"], imp.loc[~treated, "unit_id"])
    drawn_t = _metrics(imp.loc[treated, "true_p"], imp.loc[treated, "unit_id"])
    truth = sim.experiment_truth
    assert truth is not None
    for metric, e in _effects(sim).items():
        assert e.realised_control == pytest.approx(drawn_c[metric], rel=1e-9), metric
        assert e.realised == pytest.approx(drawn_t[metric] - drawn_c[metric], rel=1e-9), metric
        assert truth["population_effects"]["treatment"][metric]["absolute"] == e.population
        assert truth["realised_effects"]["treatment"][metric]["absolute"] == e.realised
    ctr = _effects(sim)["ctr"]
    assert truth["effects"]["treatment"]["ctr_absolute"] == pytest.approx(ctr.realised, rel=1e-9)
    # The stale ranking outweighs the planted +10%: every unit served by it would click less.
    assert ctr.population_relative is not None and ctr.population_relative < -0.1


def test_an_a_a_test_has_no_population_effect_but_a_realised_one() -> None:
    same = lambda candidates: candidates["post_quality_score"].to_numpy()  # noqa: E731
    sim, _ = _run(SimExperiment(name="aa", arms={"control": 0.5, "treatment": 0.5}, start_day=1,
                                policies={"control": same, "treatment": same}))
    for metric, e in _effects(sim).items():
        assert e.population == 0.0 and e.population_relative == 0.0, metric
        assert e.realised != 0.0, metric  # the units drawn into the two arms differ by chance


def test_the_result_carries_the_truth_and_an_interleaved_run_has_no_per_arm_effect(tmp_path: object) -> None:
    from pathlib import Path

    from loopline.events import EventLog

    config = dataclasses.replace(WORLD, n_users=600, days=2)
    ab = SimExperiment(name="ab", arms={"control": 0.5, "treatment": 0.5}, start_day=1, lift={"treatment": LIFT})
    result = FeedSimulator(dataclasses.replace(config, experiment=ab)).run(EventLog(Path(str(tmp_path)) / "ab"))
    assert result.true_effect("treatment", "ctr") == result.true_effects[0]
    assert result.true_effect("treatment", "ctr").population_relative == pytest.approx(LIFT)
    with pytest.raises(SimulationError, match=r"no true effect of arm 'control' on metric 'ctr'; known: "
                                              r"treatment/ctr, treatment/clicks_per_user, treatment/engagement\."):
        result.true_effect("control")
    interleaved = SimExperiment(name="il", arms={"control": 0.5, "treatment": 0.5}, start_day=1, interleave=True)
    sim = FeedSimulator(dataclasses.replace(config, experiment=interleaved))
    sim.run_frames()
    assert sim.true_effects == () and sim.experiment_truth is not None
    assert sim.experiment_truth["population_effects"] == {} and sum(
        sim.experiment_truth["expected_click_share"].values()) == pytest.approx(1.0)
    plain = FeedSimulator(config)
    plain.run_frames()
    assert plain.experiment_truth is None and plain.true_effects == ()
