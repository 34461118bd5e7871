"""Validity: sample ratio, units in several arms, novelty, A/A and calibration; the moment helpers against the core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopline.events import TS, EventLog
from loopline.experiments import ExperimentSpec, analyze, check_assignments, compare_means, compare_ratios, srm
from loopline.experiments._series import Moments, moment_effect, weighted_trend
from tests.experiments.logs import START, Plan, build

SPEC = ExperimentSpec.from_dict({"name": "exp1", "arms": {"control": 0.5, "treatment": 0.5}})


def _assignments(log: EventLog, counts: dict[str, int], *, days: int = 5) -> None:
    """Assignments only, spread evenly over ``days`` (cheap: one Arrow table)."""
    arms = np.random.default_rng(0).permutation(np.repeat(np.array(list(counts)), list(counts.values())))
    n = arms.size
    start_us = int(START.timestamp() * 1_000_000)
    ts = start_us + (np.arange(n) * (days * 86_400_000_000 // n)) % (days * 86_400_000_000)
    log.write("assignments", pa.table({
        "ts": pa.array(ts).cast(TS), "deployment": pa.repeat(pa.scalar("web"), n),
        "experiment": pa.repeat(pa.scalar("exp1"), n),
        "unit_id": pa.array([f"u{i}" for i in range(n)]), "arm": pa.array(arms),
    }))


def test_srm_is_caught_at_50_5_to_49_5_with_100k_per_arm(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    _assignments(log, {"control": 101_000, "treatment": 99_000})
    found = check_assignments(log, SPEC)
    assert found.srm.alarm and not found.valid
    assert found.srm.p_value == pytest.approx(srm([101_000, 99_000]).p_value)
    assert "sample ratio mismatch" in found.issues[0]
    assert "fix the randomisation before reading results" in found.issues[0]
    assert found.srm_by_day.days == ("2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06")
    assert found.srm_by_day.cumulative.observed == (101_000, 99_000)


def test_exact_split_passes_and_weights_are_respected(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "even")
    _assignments(log, {"control": 100_000, "treatment": 100_000})
    assert check_assignments(log, SPEC).valid
    skewed = EventLog(tmp_path / "skewed")
    _assignments(skewed, {"control": 20_000, "treatment": 180_000})
    spec = ExperimentSpec.from_dict({"name": "exp1", "arms": {"control": 1, "treatment": 9}})
    assert check_assignments(skewed, spec).valid
    assert not check_assignments(skewed, SPEC).valid


def test_one_day_out_of_balance_is_a_warning(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    _assignments(log, {"control": 20_000, "treatment": 20_000}, days=4)
    late = pd.Timestamp(START) + pd.Timedelta(days=5, hours=1)
    log.write("assignments", pd.DataFrame({"ts": late, "deployment": "web", "experiment": "exp1",
                                           "unit_id": [f"x{i}" for i in range(600)], "arm": "control"}))
    found = check_assignments(log, SPEC)
    assert found.srm_by_day.alarm_days == ("2026-03-07",)
    assert found.srm_by_day.empty_days == ("2026-03-06",)
    assert any("2026-03-07" in w for w in found.warnings)


def test_units_in_several_arms_invalidate_and_count_in_their_first_arm(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    build(log, Plan(units={"control": 300, "treatment": 300}, click_p={"control": 0.1, "treatment": 0.1},
                    noise=True))
    found = check_assignments(log, SPEC)
    assert found.units_in_several_arms == 1
    assert "assigned to more than one arm" in found.issues[0]
    assert sum(found.srm.observed) == 600


@pytest.mark.parametrize(("decay", "flagged"), [(0.5, True), (None, False)])
def test_novelty_is_flagged_when_the_effect_decays_with_exposure_age(tmp_path: Path, decay: float | None,
                                                                     flagged: bool) -> None:
    log = EventLog(tmp_path)
    build(log, Plan(units={"control": 3000, "treatment": 3000}, click_p={"control": 0.05, "treatment": 0.10},
                    decay=decay, seed=0))
    check = analyze(log, SPEC).validity.novelty[0]
    assert check.flagged is flagged
    assert check.ages == (0, 1, 2, 3, 4, 5)
    assert check.slope is not None and check.p_value is not None
    if flagged:
        assert check.slope < 0 and check.p_value < 0.01
        assert check.effects[0] > 2 * check.effects[-1]


def test_weighted_trend_matches_numpy_polyfit() -> None:
    rng = np.random.default_rng(0)
    x = np.arange(8, dtype=float)
    se = rng.uniform(0.5, 2.0, 8)
    y = 0.3 - 0.1 * x + rng.normal(0, se)
    slope, slope_se, p_value = weighted_trend(x, y, se)
    coef, cov = np.polyfit(x, y, 1, w=1 / se, cov="unscaled")
    assert slope == pytest.approx(coef[0], rel=1e-9)
    assert slope_se == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-9)
    assert 0 < p_value < 1


def _moments(x: np.ndarray, y: np.ndarray) -> Moments:
    return Moments(float(x.size), x.sum(), (x * x).sum(), y.sum(), (y * y).sum(), (x * y).sum(),
                   float((x > 0).sum()))


def test_moment_effects_equal_the_core_on_the_units() -> None:
    rng = np.random.default_rng(2)
    y_c, y_t = rng.poisson(5, 400) + 1.0, rng.poisson(6, 300) + 1.0
    x_c, x_t = rng.binomial(y_c.astype(int), 0.1).astype(float), rng.binomial(y_t.astype(int), 0.12).astype(float)
    mean = moment_effect("mean", _moments(x_c, y_c), _moments(x_t, y_t), alpha=0.05, metric="m")
    want = compare_means(x_c, x_t, metric="m")
    assert mean.p_value == pytest.approx(want.p_value, rel=1e-9)
    assert mean.df == pytest.approx(want.df, rel=1e-9)
    ratio = moment_effect("ratio", _moments(x_c, y_c), _moments(x_t, y_t), alpha=0.05, metric="r")
    want = compare_ratios((x_c, y_c), (x_t, y_t), metric="r")
    assert ratio.absolute_se == pytest.approx(want.absolute_se, rel=1e-9)
    assert ratio.relative_ci == pytest.approx(want.relative_ci, rel=1e-9)


@pytest.mark.parametrize(("treatment_p", "passed"), [(0.05, True), (0.07, False)])
def test_aa_mode_reports_a_significant_primary_effect_as_a_broken_pipeline(tmp_path: Path, treatment_p: float,
                                                                           passed: bool) -> None:
    log = EventLog(tmp_path)
    build(log, Plan(units={"control": 3000, "treatment": 3000}, click_p={"control": 0.05, "treatment": treatment_p},
                    seed=5))
    validity = analyze(log, SPEC.model_copy(update={"aa": True})).validity
    assert validity.aa is not None
    assert validity.aa.passed is passed
    assert validity.valid is passed
    if not passed:
        assert "A/A check failed" in validity.issues[0] and "pipeline" in validity.issues[0]


def test_calibration_is_flagged_per_arm_when_off_by_more_than_ten_percent(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    build(log, Plan(units={"control": 2000, "treatment": 2000}, click_p={"control": 0.1, "treatment": 0.1},
                    score_scale={"treatment": 1.5}, seed=4))
    checks = {c.arm: c for c in analyze(log, SPEC).validity.calibration}
    assert not checks["control"].flagged and checks["control"].ratio == pytest.approx(1.0, abs=0.06)
    assert checks["treatment"].flagged and checks["treatment"].ratio == pytest.approx(1.5, abs=0.1)
