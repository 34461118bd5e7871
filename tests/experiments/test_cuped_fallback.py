"""CUPED that cannot adjust (no pre-period data, a constant covariate) leaves the effects unadjusted with a
note, instead of failing the whole analysis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from loopline import ExperimentError
from loopline.events import EventLog
from loopline.experiments import ExperimentAnalysis, ExperimentSpec, analyze, cuped, cuped_ratio, decide
from loopline.experiments._cuped import CovariateUnusable
from loopline.reports import render_experiment
from tests.experiments.logs import Plan, build

METRICS = [{"name": "ctr", "kind": "ratio", "event": "click"}, {"name": "clicks", "kind": "mean", "event": "click"},
           {"name": "engaged", "kind": "proportion", "event": "click"}]


def _spec(**over: object) -> ExperimentSpec:
    return ExperimentSpec.from_dict({"name": "exp1", "arms": {"control": 0.5, "treatment": 0.5}, "metrics": METRICS,
                                     "primary": "ctr", **over})


@pytest.fixture(scope="module")
def no_pre_period(tmp_path_factory: pytest.TempPathFactory) -> EventLog:
    """An experiment whose units have no exposure before its start (pre_days=0 in the plan)."""
    log = EventLog(tmp_path_factory.mktemp("nopre"))
    build(log, Plan(units={"control": 1500, "treatment": 1500}, click_p={"control": 0.05, "treatment": 0.06},
                    seed=4))
    return log


def test_no_pre_period_rows_fall_back_to_the_unadjusted_analysis_with_a_note(no_pre_period: EventLog) -> None:
    with_cuped = analyze(no_pre_period, _spec(cuped={"pre_days": 3}))
    plain = analyze(no_pre_period, _spec())
    assert all(e.cuped is None for e in with_cuped.effects)
    assert [e.p_value for e in with_cuped.effects] == [e.p_value for e in plain.effects]
    assert [e.adjusted_p_value for e in with_cuped.effects] == [e.adjusted_p_value for e in plain.effects]
    assert [e.effect for e in with_cuped.effects] == [e.effect for e in plain.effects]
    assert plain.notes == ()
    assert len(with_cuped.notes) == 1
    note = with_cuped.notes[0]
    assert note.startswith("CUPED is off: no unit of experiment 'exp1' has a served exposure in the 3 day(s) "
                           "before its start (2026-02-27")
    assert "so every effect is unadjusted" in note and "lengthen cuped.pre_days" in note
    assert decide(with_cuped).recommendation == decide(plain).recommendation


def test_the_report_and_its_json_twin_carry_the_note(no_pre_period: EventLog, tmp_path: Path) -> None:
    analysis: ExperimentAnalysis = analyze(no_pre_period, _spec(cuped={"pre_days": 3}))
    paths = render_experiment(analysis, decide(analysis), tmp_path, title="exp1")
    html = paths.html.read_text(encoding="utf-8")
    assert "CUPED is off: no unit of experiment" in html and "off (see note)" in html
    twin = json.loads(paths.json.read_text(encoding="utf-8"))
    assert twin["analysis"]["notes"] == list(analysis.notes)


def test_with_pre_period_rows_cuped_still_runs(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    build(log, Plan(units={"control": 800, "treatment": 800}, click_p={"control": 0.05, "treatment": 0.06},
                    pre_days=3, seed=4))
    analysis = analyze(log, _spec(cuped={"pre_days": 3}))
    assert analysis.notes == ()
    assert all(e.cuped is not None and e.cuped.variance_reduction > 0 for e in analysis.effects)


def test_a_constant_or_missing_covariate_is_its_own_error_but_still_an_experiment_error() -> None:
    y = np.arange(10.0)
    with pytest.raises(CovariateUnusable, match="zero variance"):
        cuped(y, y + 1, pre_control=np.zeros(10), pre_treatment=np.zeros(10))
    units = (np.ones(10), np.full(10, 2.0))
    with pytest.raises(CovariateUnusable, match=r"Lengthen cuped\.pre_days"):
        cuped_ratio(units, units, pre_control=(np.zeros(10), np.zeros(10)), pre_treatment=units)
    # an undefined ratio in the experiment itself is not a covariate problem: the analysis must still fail
    with pytest.raises(ExperimentError, match="Check the denominator events") as caught:
        cuped_ratio((np.ones(10), np.zeros(10)), units, pre_control=units, pre_treatment=units)
    assert not isinstance(caught.value, CovariateUnusable)
    assert issubclass(CovariateUnusable, ExperimentError)
