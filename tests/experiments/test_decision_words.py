"""The decision says what it means: "keep running" days from the observed enrolment curve (or that the
population is exhausted), and the effects table, the CLI and the decision use the same verdict words."""

from __future__ import annotations

import dataclasses
import doctest
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopline.events import EventLog
from loopline.experiments import ExperimentAnalysis, ExperimentSpec, _traffic, analyze, decide
from loopline.experiments._traffic import fit_enrolment
from loopline.reports import render_experiment
from tests.experiments.logs import DAY_US, Plan, build

ARMS = {"control": 0.5, "treatment": 0.5}
GEOMETRIC = [4096 * 0.75**d for d in range(7)]  # 4096, 3072, 2304, 1728, 1296, 972, 729: whole numbers


def _spec(**over: Any) -> ExperimentSpec:
    return ExperimentSpec.from_dict({"name": "exp1", "arms": ARMS, **over})


def test_the_curve_of_an_exact_geometric_decay_is_recovered_and_its_days_counted_by_hand() -> None:
    curve = fit_enrolment(GEOMETRIC)
    assert curve.decay == pytest.approx(0.75, abs=1e-9)
    assert curve.rate == pytest.approx(729.0, rel=1e-9)  # the last day's rate
    assert curve.remaining == pytest.approx(729 * 0.75 / 0.25, rel=1e-9)  # 2187: all the days to come
    # by hand: the days after the last supply 546.75, 410.06, 307.55, ... (729 * 0.75^k)
    assert curve.supply(2) == pytest.approx(546.75 + 410.0625)
    assert curve.days_for(956) == 2 and curve.days_for(1000) == 3
    assert curve.days_for(2000) == 9  # 1968.0 after 8 days, 2022.8 after 9
    assert curve.days_for(2187) is None and curve.days_for(5000) is None
    assert curve.fitted == pytest.approx(GEOMETRIC)
    assert doctest.testmod(_traffic).failed == 0


def test_a_partly_covered_day_counts_for_its_share() -> None:
    half_first = fit_enrolment([2048, *GEOMETRIC[1:]], [0.5, 1, 1, 1, 1, 1, 1])
    assert half_first.decay == pytest.approx(0.75, abs=1e-9) and half_first.rate == pytest.approx(729.0)


def test_a_flat_enrolment_is_not_exhausted_and_growth_is_not_promised() -> None:
    flat = fit_enrolment([500, 500, 500, 500])
    assert flat.decay == 1.0 and flat.remaining is None
    assert flat.rate == pytest.approx(500.0) and flat.days_for(1200) == 3
    growing = fit_enrolment([100, 200, 400, 800])
    assert growing.decay == 1.0 and growing.rate == pytest.approx(800.0, rel=1e-6)  # held at the last day's rate
    two_days = fit_enrolment([300, 100])
    assert two_days.decay == 1.0 and two_days.rate == pytest.approx(200.0) and "flat rate" in two_days.method


def test_on_a_simulated_population_of_returning_users_the_remaining_units_are_estimated() -> None:
    # 20,000 users each visit on any day with probability 0.3; a user enrols on the first visit, so after a
    # week about 20,000 * 0.7^7 = 1,647 are left; one week of counts pins that down to about +-8%
    estimates, truths = [], []
    for seed in range(5):
        first_visit = np.random.default_rng(seed).geometric(0.3, 20_000) - 1
        curve = fit_enrolment(np.bincount(first_visit[first_visit < 7], minlength=7))
        assert curve.decay == pytest.approx(0.7, abs=0.01) and curve.remaining is not None
        estimates.append(curve.remaining)
        truths.append(int((first_visit >= 7).sum()))
        assert curve.remaining == pytest.approx(truths[-1], rel=0.15)
    assert np.mean(estimates) == pytest.approx(np.mean(truths), rel=0.03)


def test_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="no new units on any day"):
        fit_enrolment([0, 0, 0])
    with pytest.raises(ValueError, match="expected one count of new units per day and one coverage per day"):
        fit_enrolment([1, 2, 3], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"coverage shares in \[0, 1\]"):
        fit_enrolment([1, -2, 3])


@pytest.fixture(scope="module")
def better(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExperimentAnalysis, pd.DataFrame]:
    log = EventLog(tmp_path_factory.mktemp("better"))
    logs = build(log, Plan(units={"control": 3000, "treatment": 3000}, click_p={"control": 0.05, "treatment": 0.065},
                           seed=21))
    return analyze(log, _spec()), logs.assignments


def test_the_analysis_counts_new_units_per_day_of_first_assignment(
        better: tuple[ExperimentAnalysis, pd.DataFrame]) -> None:
    analysis, assignments = better
    curve = analysis.enrolment
    assert curve is not None
    day = pd.to_datetime(assignments["ts"], utc=True).dt.strftime("%Y-%m-%d")
    reference = day.value_counts().sort_index()
    seen = dict(zip(curve.days, curve.new_units, strict=True))
    assert {d: n for d, n in seen.items() if n} == reference.to_dict()
    assert sum(curve.new_units) == 6000
    start_us = int(pd.Timestamp(analysis.start).value // 1000)
    assert curve.coverage[0] == pytest.approx(1 - (start_us % DAY_US) / DAY_US)


def _keep_running(analysis: ExperimentAnalysis, n_per_arm: int) -> list[str]:
    """The decision's reasons once the primary is undecided, the design asks ``n_per_arm`` per arm (3,000 enrolled)
    and the enrolment is the exact geometric curve above."""
    series = analysis.daily[0]
    assert series.sequential is not None and analysis.design is not None
    unsure = dataclasses.replace(series.sequential, p_values=tuple(0.5 for _ in series.sequential.p_values),
                                 ci_low=tuple(-1.0 for _ in series.sequential.ci_low), stop_look=None)
    waiting = dataclasses.replace(
        analysis, daily=(dataclasses.replace(series, sequential=unsure, stop_day=None),),
        design=dataclasses.replace(analysis.design, n_per_arm=(n_per_arm, n_per_arm)),
        enrolment=fit_enrolment(GEOMETRIC, days=[f"2026-03-0{d}" for d in range(2, 9)]))
    decision = decide(waiting)
    assert decision.recommendation == "keep running"
    return decision.reasons


def test_keep_running_days_come_from_the_enrolment_curve(better: tuple[ExperimentAnalysis, pd.DataFrame]) -> None:
    reasons = _keep_running(better[0], 4000)  # 1,000 more per arm: 2,000 to enrol, 9 days of the curve by hand
    more = next(r for r in reasons if "more units" in r)
    assert "about 2,000 more units, roughly 9 more day(s) at the observed enrolment" in more
    assert "4,096 new units on 2026-03-02, 729 on 2026-03-08; a fitted fall of 25% a day" in more


def test_keep_running_says_when_the_population_is_exhausted(better: tuple[ExperimentAnalysis, pd.DataFrame]) -> None:
    reasons = _keep_running(better[0], 4200)  # 2,400 to enrol, but the curve can supply only 2,187
    more = next(r for r in reasons if "more units" in r)
    assert "about 2,400 more units, but the eligible population is nearly exhausted" in more
    assert "can supply only about 2,187 more units" in more
    assert "cannot reach the design however many more day(s) it runs" in more
    assert "roughly" not in more


def _inconclusive(analysis: ExperimentAnalysis) -> ExperimentAnalysis:
    """The shipped analysis with an always-valid test that has not (yet) excluded 0."""
    series = analysis.daily[0]
    assert series.sequential is not None
    seq = series.sequential
    unsure = dataclasses.replace(seq, p_values=tuple(0.3 for _ in seq.p_values), stop_look=None,
                                 ci_low=tuple(-0.002 for _ in seq.ci_low), ci_high=tuple(0.03 for _ in seq.ci_high))
    return dataclasses.replace(analysis, daily=(dataclasses.replace(series, sequential=unsure, stop_day=None),))


def test_a_fixed_interval_excluding_0_beside_an_always_valid_one_that_does_not_reads_not_yet_conclusive(
        better: tuple[ExperimentAnalysis, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shipped = better[0]
    found = shipped.effect("treatment", "ctr")
    assert found.significant and found.tested.absolute_ci[0] > 0  # the fixed-horizon interval excludes 0
    assert shipped.verdict("treatment", "ctr") == "better" and decide(shipped).recommendation == "ship"
    waiting = _inconclusive(shipped)
    assert waiting.verdict("treatment", "ctr") == "not yet conclusive"
    assert waiting.always_valid_ci("treatment", "ctr") == (-0.002, 0.03)
    assert waiting.verdict("treatment", "engagement") == shipped.verdict("treatment", "engagement")
    decision = decide(waiting)
    assert decision.recommendation == "keep running"
    assert decision.reasons[0].startswith("'ctr' is not yet conclusive in 'treatment': the fixed-horizon 95% "
                                          "interval (+")
    assert "the always-valid one (-0.002 to +0.03) does not (always-valid p=0.3 >= 0.05)" in decision.reasons[0]
    # the JSON twin, the HTML report and the CLI say the same words
    row = next(e for e in waiting.to_dict()["effects"] if e["metric"] == "ctr")
    assert row["verdict"] == "not yet conclusive" and row["always_valid_ci"] == [-0.002, 0.03]
    html = render_experiment(waiting, decision, tmp_path, title="exp1").html.read_text(encoding="utf-8")
    table = html[html.index('id="effects"'):html.index('id="fig-effects"')]
    assert "always-valid CI" in table and "[-0.0020, 0.030]" in table and "not yet conclusive" in table
    assert "not yet conclusive&#39;, as in the decision" in table
    from loopline.cli._experiment import show_analysis

    show_analysis(SimpleNamespace(analysis=waiting, decision=decision, promoted=None,
                                  report=SimpleNamespace(html=tmp_path / "exp1.html")))
    printed = capsys.readouterr().out
    ctr_row = next(line for line in printed.splitlines() if "│ ctr " in line)
    assert "not yet conclusive" in ctr_row and "[-0.002, +0.03]" in ctr_row
    assert "decision: keep running" in printed and "'ctr' is not yet conclusive in 'treatment'" in printed


def test_without_sequential_the_fixed_test_decides_and_no_always_valid_interval_is_shown(
        better: tuple[ExperimentAnalysis, pd.DataFrame]) -> None:
    fixed = dataclasses.replace(_inconclusive(better[0]), spec=better[0].spec.model_copy(update={"sequential": False}))
    assert fixed.verdict("treatment", "ctr") == "better" and fixed.always_valid_ci("treatment", "ctr") is None
    assert decide(fixed).recommendation == "ship"


def test_the_summary_quotes_the_effect_the_p_value_belongs_to(better: tuple[ExperimentAnalysis, pd.DataFrame]) -> None:
    decision = decide(better[0])
    tested = better[0].effect("treatment", "ctr").tested
    assert tested.relative is not None and decision.summary is not None
    assert decision.summary.startswith(f"ctr treatment vs control: {tested.relative:+.2%}")
    assert math.isclose(tested.absolute, better[0].effect("treatment", "ctr").effect.absolute)  # no CUPED here
