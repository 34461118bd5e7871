"""One monitoring pass end to end: a registered churn model, its exposures in the event log, drift found
where it was planted and nowhere else, and the same through ``loopline monitor``."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from loopline import MonitoringError
from loopline.cli import app
from loopline.events import EventLog
from loopline.monitoring import check, timeline
from loopline.registry import Registry
from loopline.serving import Scorer
from loopline.spec import EventLabelSpec, LabelSpec
from loopline.workspace import Workspace
from tests.conftest import make_customers
from tests.monitoring.conftest import DAY, FEATURES, log_day, shifted


def test_drift_is_found_where_it_was_planted_and_nowhere_else(ws: Workspace) -> None:
    log_day(ws, make_customers(3_000, seed=11), DAY)
    log_day(ws, shifted(make_customers(3_000, seed=12), seed=13), DAY + timedelta(days=1))

    calm = check(ws, model="churn", start=DAY, end=DAY + timedelta(days=1), now=DAY + timedelta(days=1))
    assert calm.rows == 3_000 and not calm.drift_detected
    assert [c.name for c in calm.drift.features if c.drifted] == []
    assert {c.name for c in calm.drift.features} == set(FEATURES)  # the hashed country compared as hashes
    assert calm.drift.prediction is not None and not calm.drift.prediction.drifted
    assert [i.check for i in calm.quality.issues] == []
    assert calm.drift.domain is not None and not calm.drift.domain.drifted  # the stored sample of training rows

    moved = check(ws, model="churn", start=DAY + timedelta(days=1), end=DAY + timedelta(days=2),
                  now=DAY + timedelta(days=2))
    drifted = {c.name for c in moved.drift.features if c.drifted}
    assert drifted == {"tenure_months", "plan"}
    assert moved.drift.share == 0.5 and moved.drift_detected
    assert moved.drift.domain is not None and moved.drift.domain.drifted
    assert moved.drift.domain.top_features[0][0] in {"tenure_months", "plan"}
    plan = next(c for c in moved.drift.features if c.name == "plan")
    assert plan.statistics["new_share"] == pytest.approx(0.08, abs=0.015)
    assert {(i.check, i.column) for i in moved.quality.issues} >= {("new_categories", "plan")}
    assert moved.health is not None and moved.health.requests == 3_000
    values = moved.values()
    assert values["drift.share"] == 0.5 and values["feature.tenure_months.drifted"] == 1.0


def test_monitor_prints_json_with_each_feature_and_the_datasets_verdict(ws: Workspace) -> None:
    log_day(ws, shifted(make_customers(2_000, seed=21), seed=22), DAY)
    result = CliRunner().invoke(app, ["monitor", "--workspace", str(ws.root), "--model", "churn", "--window", "1d",
                                      "--end", (DAY + timedelta(days=1)).isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["drift_detected"] is True and found["rows"] == 2_000
    by_name = {f["feature"]: f for f in found["features"]}
    assert set(by_name) == set(FEATURES)
    tenure = by_name["tenure_months"]
    assert tenure["drifted"] and tenure["verdict"]["test"] == "ks" and tenure["statistics"]["ks_p_value"] < 1e-6
    assert {"ks", "wasserstein_norm", "psi"} <= set(tenure["statistics"])
    assert {"chi_square", "jensen_shannon", "new_share"} <= set(by_name["plan"]["statistics"])

    text = CliRunner().invoke(app, ["monitor", "--workspace", str(ws.root), "--model", "churn", "--window", "1d",
                                    "--end", (DAY + timedelta(days=1)).isoformat()])
    assert text.exit_code == 0 and "drift detected" in text.output and "tenure_months" in text.output


def test_bad_windows_and_models_get_specific_messages(ws: Workspace) -> None:
    with pytest.raises(MonitoringError, match="no exposures of deployment 'churn' between"):
        check(ws, model="churn", start=DAY, end=DAY + timedelta(days=1))
    result = CliRunner().invoke(app, ["monitor", "--workspace", str(ws.root), "--model", "churn", "--window",
                                      "soon"])
    assert result.exit_code == 2 and "--window" in result.output
    result = CliRunner().invoke(app, ["monitor", "--workspace", str(ws.root), "--model", "churn", "--end",
                                      "2026-03-01T00:00:00"])
    assert result.exit_code == 2 and "has no time zone" in result.output


def test_a_timeline_checks_each_period_and_leaves_out_empty_ones(ws: Workspace) -> None:
    log_day(ws, make_customers(1_500, seed=31), DAY)
    log_day(ws, shifted(make_customers(1_500, seed=32), seed=33), DAY + timedelta(days=2))  # day 2 is empty
    points = timeline(ws, model="churn", start=DAY, end=DAY + timedelta(days=3), period=timedelta(days=1),
                      now=DAY + timedelta(days=3))
    assert [(p.start, p.rows, p.drift_detected) for p in points] == [
        (DAY, 1_500, False), (DAY + timedelta(days=2), 1_500, True)]
    with pytest.raises(MonitoringError, match="period must be positive"):
        timeline(ws, model="churn", start=DAY, end=DAY + timedelta(days=1), period=timedelta(0))


def test_performance_is_measured_once_feedback_labels_the_window(ws: Workspace) -> None:
    customers = make_customers(3_000, seed=71)
    log_day(ws, customers, DAY)
    churned = customers.index[customers["churned"] == 1]
    feedback = pd.DataFrame({"ts": [DAY + timedelta(seconds=int(s) + 60) for s in np.linspace(0, 86_399, 3_000)],
                             "deployment": "churn", "request_id": [f"{DAY:%d}-{i}" for i in range(3_000)],
                             "unit_id": None, "item_id": None, "event": "churn", "value": 1.0}).iloc[churned]
    EventLog.for_workspace(ws).write("feedback", feedback)
    label = LabelSpec(name="churned", from_events=EventLabelSpec(feedback="the served log", event="churn",
                                                                 window="1h", on=["request_id"]))
    end = DAY + timedelta(days=1)
    found = check(ws, model="churn", start=DAY, end=end, now=end + timedelta(hours=2), label=label)
    measured = found.performance
    assert measured is not None and found.labels is not None
    assert found.labels.exposures == 3_000 and found.labels.censored == 0
    scores = Scorer.load(Registry(ws, create=False), "churn").score(customers[list(FEATURES)])
    realised = measured.overall.realised["roc_auc"]
    assert realised is not None
    assert realised.value == pytest.approx(roc_auc_score(customers["churned"], scores), abs=1e-12)
    assert realised.low < realised.value < realised.high
    estimated = measured.overall.estimated["roc_auc"]
    assert estimated is not None and abs(estimated - realised.value) < 0.05  # an estimate, shown beside it
    assert found.drift.label is not None and not found.drift.label.drifted  # same churn rate as training
    values = found.values()
    assert values["performance.roc_auc"] == realised.value and "performance.estimated.roc_auc" in values

    early = check(ws, model="churn", start=DAY, end=end, now=DAY + timedelta(hours=12), label=label)
    assert early.labels is not None and early.labels.censored > 1_000  # open windows are not negatives


def test_the_estimate_is_recalibrated_on_the_previous_windows_labelled_rows(ws: Workspace) -> None:
    label = LabelSpec(name="churned", from_events=EventLabelSpec(feedback="the served log", event="churn",
                                                                 window="1h", on=["request_id"]))
    log = EventLog.for_workspace(ws)
    before = DAY - timedelta(days=1)
    end = DAY + timedelta(days=1)
    for day, seed in ((DAY, 73), (before, 72)):
        customers = make_customers(3_000, seed=seed)
        log_day(ws, customers, day)
        churned = customers.index[customers["churned"] == 1]
        log.write("feedback", pd.DataFrame({
            "ts": [day + timedelta(seconds=int(s) + 60) for s in np.linspace(0, 86_399, 3_000)],
            "deployment": "churn", "request_id": [f"{day:%d}-{i}" for i in range(3_000)], "unit_id": None,
            "item_id": None, "event": "churn", "value": 1.0}).iloc[churned])
        found = check(ws, model="churn", start=DAY, end=end, now=end + timedelta(hours=2), label=label)
        assert found.performance is not None
        if day == DAY:  # no earlier window yet: the raw scores
            assert not any("recalibrated" in note for note in found.performance.notes)
    measured = found.performance
    assert measured is not None
    assert "the estimates use the scores recalibrated (isotonic) on 3,000 reference rows" in measured.notes
    # the estimate is the same as the estimator's, given the previous day's scores and labels as the reference
    from loopline.monitoring import labelled_exposures, performance

    previous = log.read("exposures", start=before, end=DAY)
    labelled, _ = labelled_exposures(previous, log.read("feedback"), label_spec=label, now=end + timedelta(hours=2))
    window = log.read("exposures", start=DAY, end=end)
    same = performance(window, None, task="binary", metrics=["roc_auc"], n_boot=0,
                       reference=(previous.loc[labelled.index, "score"].to_numpy(), labelled["churned"].to_numpy()))
    assert measured.overall.estimated["roc_auc"] == pytest.approx(same.overall.estimated["roc_auc"], abs=1e-12)


def test_an_all_null_column_and_a_version_without_profile_get_specific_messages(ws: Workspace) -> None:
    customers = make_customers(1_000, seed=81)
    customers["tenure_months"] = np.nan
    log_day(ws, customers, DAY)
    found = check(ws, model="churn", start=DAY, end=DAY + timedelta(days=1), now=DAY + timedelta(days=1))
    tenure = next(c for c in found.drift.features if c.name == "tenure_months")
    assert not tenure.drifted and "too few" in tenure.verdict.reason
    missing = [i for i in found.quality.issues if i.check == "missing"]
    assert [i.column for i in missing] == ["tenure_months"] and "missing in 100.0% of rows" in missing[0].message

    registry = Registry(ws, create=False)
    trained = registry.get_version("churn", 1)
    registry.register_model(
        name="churn", run_id=trained.run_id, artifact_dir=trained.artifact_path, sha256=trained.sha256,
        family=trained.family, task=trained.task, features=list(trained.features), metrics=trained.metrics,
        baselines_beaten=list(trained.baselines_beaten), spec_hash=trained.spec_hash,
        data_fingerprint=trained.data_fingerprint, code_version=trained.code_version, profile=None)
    with pytest.raises(MonitoringError, match="version 2 of model 'churn' has no reference profile"):
        check(ws, model="churn", version=2, start=DAY, end=DAY + timedelta(days=1))
