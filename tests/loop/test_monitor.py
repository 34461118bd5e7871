"""``loop.monitor`` (what ``loopline monitor`` runs): rules fire on the findings of their own window, pass
the cool-down once, are posted once, and the report is drawn."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loopline import SpecError
from loopline.cli import app
from loopline.loop import monitor
from loopline.monitoring._alerts import Alert
from loopline.workspace import Workspace
from tests.conftest import make_customers
from tests.monitoring.conftest import DAY, log_day, monitored_model, shifted, ws

__all__ = ["monitored_model", "ws"]  # the fixtures, shared with tests/monitoring

RULES = {"alerts": [{"metric": "drift.share", "op": ">=", "threshold": 0.5, "severity": "critical"},
                    {"metric": "feature.tenure_months.wasserstein_norm", "op": ">", "threshold": 0.2},
                    {"metric": "quality.rows", "op": "<", "threshold": 100, "window": "2d"},
                    {"metric": "performance.roc_auc", "op": "<", "threshold": 0.7}],
         "cooldown": "6h", "webhook": "http://127.0.0.1:9/alerts"}


def test_rules_fire_once_per_incident_and_are_posted_once(ws: Workspace, tmp_path: Path) -> None:
    log_day(ws, make_customers(1_000, seed=41), DAY)
    log_day(ws, shifted(make_customers(1_000, seed=42), seed=43), DAY + timedelta(days=1))
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(RULES), encoding="utf-8")
    posted: list[tuple[str, list[Alert]]] = []
    end = DAY + timedelta(days=2)

    first = monitor(ws, model="churn", end=end, alerts_file=rules, now=end, post=lambda u, a: posted.append((u, a)))
    assert {a.rule.metric for a in first.alerts} == {"drift.share", "feature.tenure_months.wasserstein_norm"}
    assert [m.rule.metric for m in first.not_evaluated] == ["performance.roc_auc"]  # no labels: not evaluated
    assert "2d" in first.windows and first.windows["2d"].rows == 2_000  # the 2-day rule saw its own window
    assert len(posted) == 1 and posted[0][0] == "http://127.0.0.1:9/alerts" and len(posted[0][1]) == 2
    assert first.delivery == "posted 2 alert(s)"

    again = monitor(ws, model="churn", end=end + timedelta(hours=1), alerts_file=rules, now=end + timedelta(hours=1),
                    window=timedelta(days=1, hours=1), post=lambda u, a: posted.append((u, a)))
    assert len(again.fired) == 2 and again.alerts == [] and len(posted) == 1  # within the cool-down: not again


def test_monitor_writes_the_report_and_json_names_the_alerts(ws: Workspace, tmp_path: Path) -> None:
    for day in range(3):
        frame = make_customers(800, seed=50 + day)
        log_day(ws, shifted(frame, seed=day) if day == 2 else frame, DAY + timedelta(days=day))
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"alerts": [RULES["alerts"][0]]}), encoding="utf-8")
    end = DAY + timedelta(days=3)
    result = CliRunner().invoke(app, ["monitor", "-w", str(ws.root), "-m", "churn", "--end", end.isoformat(),
                                      "--alerts", str(rules), "--report", str(tmp_path / "report"), "--history",
                                      "3d", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert [a["metric"] for a in found["alerts"]] == ["drift.share"] and found["delivery"] is None
    assert Path(found["report"]["html"]).is_file()
    twin = json.loads(Path(found["report"]["json"]).read_text())
    assert len(twin["periods"]) == 3


def test_a_bad_rules_file_stops_before_anything_is_stored(ws: Workspace, tmp_path: Path) -> None:
    log_day(ws, make_customers(500, seed=60), DAY)
    rules = tmp_path / "rules.yaml"
    rules.write_text("alerts:\n  - {metric: drift.share, op: '=>', threshold: 0.5}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["monitor", "-w", str(ws.root), "-m", "churn", "--end",
                                      (DAY + timedelta(days=1)).isoformat(), "--alerts", str(rules)])
    assert result.exit_code == 2 and "rules.yaml" in result.output and "op" in result.output
    with pytest.raises(SpecError, match=r"rules\.yaml"):
        monitor(ws, model="churn", end=DAY + timedelta(days=1), alerts_file=rules)


def test_the_printout_names_each_alert_with_its_severity(ws: Workspace, tmp_path: Path) -> None:
    log_day(ws, shifted(make_customers(600, seed=70), seed=71), DAY)
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"alerts": [RULES["alerts"][0]], "cooldown": "0s"}), encoding="utf-8")
    result = CliRunner().invoke(app, ["monitor", "-w", str(ws.root), "-m", "churn", "--end",
                                      (DAY + timedelta(days=1)).isoformat(), "--alerts", str(rules)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "ALERT [critical] churn v1: drift.share is 0.75, which is >= 0.5" in text
    assert "labels:" not in text  # the churn spec's label is a column: no labels from feedback, nothing claimed
