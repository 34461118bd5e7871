"""The sample ratio is also checked on exposed units: balanced assignments can hide one arm's lost exposures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loopline.events import EventLog
from loopline.experiments import ExperimentSpec, analyze, check_assignments, decide
from loopline.reports import render_experiment
from tests.experiments.logs import Logs, Plan, build

SPEC = ExperimentSpec.from_dict({"name": "exp1", "arms": {"control": 0.5, "treatment": 0.5}})


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Logs:
    plan = Plan(units={"control": 2000, "treatment": 2000}, click_p={"control": 0.05, "treatment": 0.06}, seed=8)
    return build(EventLog(tmp_path_factory.mktemp("full")), plan)


def _without_exposures_of(logs: Logs, root: Path, share: float) -> tuple[EventLog, int]:
    """The same log with every exposure (and its feedback) of ``share`` of the treatment units lost."""
    treated = logs.assignments.loc[logs.assignments["arm"] == "treatment", "unit_id"].to_numpy()
    lost = set(np.random.default_rng(1).choice(treated, size=int(share * treated.size), replace=False))
    log = EventLog(root)
    log.write("assignments", logs.assignments)
    log.write("exposures", logs.exposures[~logs.exposures["unit_id"].isin(lost)])
    log.write("feedback", logs.feedback[~logs.feedback["unit_id"].isin(lost)])
    return log, len(lost)


def test_balanced_assignments_with_one_arms_exposures_lost_are_an_srm(logs: Logs, tmp_path: Path) -> None:
    log, lost = _without_exposures_of(logs, tmp_path, 0.15)
    analysis = analyze(log, SPEC)
    validity = analysis.validity
    assert not validity.srm.alarm and validity.srm.observed == (2000, 2000)  # assignments look fine
    exposed = validity.srm_exposed
    assert exposed is not None and exposed.observed == (2000, 2000 - lost) and exposed.alarm
    reference = stats.chisquare([2000, 2000 - lost], [(4000 - lost) / 2] * 2)
    assert exposed.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert not validity.valid
    issue = validity.issues[0]
    assert issue.startswith("sample ratio mismatch among exposed units: units with a served exposure per arm "
                            f"control 2,000, treatment {2000 - lost:,} against the configured split control 50.0%, "
                            "treatment 50.0%")
    assert "although the assignments match it; assigned units without a served exposure: control 0.0%, " \
           "treatment 15.0%" in issue
    assert "fix the randomisation before reading results" in issue
    decision = decide(analysis)
    assert decision.recommendation == "do not ship" and decision.reasons == [issue]
    html = render_experiment(analysis, decision, tmp_path / "report", title="exp1").html.read_text(encoding="utf-8")
    assert "units with a served exposure" in html and "Sample ratio mismatch among exposed units" in html


def test_a_complete_log_passes_both_checks(logs: Logs, tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.write("assignments", logs.assignments)
    log.write("exposures", logs.exposures)
    log.write("feedback", logs.feedback)
    validity = analyze(log, SPEC).validity
    exposed_units = pd.Series(logs.exposures.drop_duplicates("unit_id")["arm"]).value_counts()
    assert validity.srm_exposed is not None and not validity.srm_exposed.alarm
    assert validity.srm_exposed.observed == (exposed_units["control"], exposed_units["treatment"])
    assert validity.valid


def test_the_assignments_only_check_has_no_exposure_ratio(logs: Logs, tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.write("assignments", logs.assignments)
    validity = check_assignments(log, SPEC)
    assert validity.srm_exposed is None and validity.valid
