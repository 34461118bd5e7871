"""``monitor``: what ``loopline monitor`` does: check a window, fire the alert rules, post them, draw the report.

The rules, the cool-down, the webhook, the drift thresholds and the default window come from the spec's
``monitoring:`` block (the spec given, else the one the version was trained with, as stored with its run),
with the rules of an ``alerts`` file in their place when one is given. Each rule is evaluated on the
findings of its own window (rules without one share the main window); the alerts that fire pass the
cool-down in the registry (one incident, one alert), are stored there, and only those are posted to the
webhook. With ``report_dir`` the main window is also checked period by period and drawn as an HTML report
with its JSON twin. A webhook that fails is reported in ``delivery``, never as a lost monitoring pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loopline._errors import LooplineError
from loopline._progress import SILENT, Progress
from loopline.events import EventLog
from loopline.monitoring import DriftThresholds, Findings, check, timeline
from loopline.monitoring._alerts import Alert, AlertLog, NotEvaluated, evaluate, post_webhook
from loopline.registry import Registry
from loopline.reports import ReportPaths, render_monitoring
from loopline.spec import MonitoringSpec, ProblemSpec, format_duration, load_rules
from loopline.workspace import Workspace

log = logging.getLogger("loopline.monitoring")


@dataclass(frozen=True)
class MonitorRun:
    findings: Findings                       # of the main window
    fired: list[Alert]                       # every rule that fired, before the cool-down
    alerts: list[Alert]                      # the new ones: stored, and posted when there is a webhook
    not_evaluated: list[NotEvaluated]
    delivery: str | None = None              # what happened to the webhook post (None: no webhook, or nothing new)
    report: ReportPaths | None = None
    windows: dict[str, Findings] = field(default_factory=dict)  # other rule windows' findings, by duration text

    def to_dict(self) -> dict[str, Any]:
        return {**self.findings.to_dict(), "alerts": [a.to_dict() for a in self.alerts],
                "held_by_cooldown": [a.to_dict() for a in self.fired if a not in self.alerts],
                "not_evaluated": [{"metric": n.rule.metric, "reason": n.reason} for n in self.not_evaluated],
                "delivery": self.delivery,
                "report": None if self.report is None else {"html": str(self.report.html),
                                                            "json": str(self.report.json)}}


def monitor(workspace: Workspace, *, model: str, version: int | str = "champion", deployment: str | None = None,
            window: timedelta | None = None, end: datetime | None = None, spec: Path | None = None,
            alerts_file: Path | None = None, report_dir: Path | None = None, period: timedelta = timedelta(days=1),
            history: timedelta | None = None, table: str | None = None, time_column: str | None = None,
            now: datetime | None = None, post: Callable[[str, list[Alert]], None] = post_webhook,
            log: EventLog | None = None, progress: Progress = SILENT) -> MonitorRun:
    """One pass of ``loopline monitor`` (see the module docstring). ``history`` is the span the report draws
    (the window by default), in ``period`` steps."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    end = end or now
    registry = Registry(workspace, create=False)
    number = registry.get_version(model, version).version
    settings = monitoring_settings(registry, model, number, spec=spec, alerts_file=alerts_file)
    main = window or settings.window
    thresholds = DriftThresholds(**settings.drift.model_dump())
    options: dict[str, Any] = {"version": number, "deployment": deployment, "table": table,
                               "time_column": time_column, "now": now, "drift_thresholds": thresholds, "log": log}
    findings = check(workspace, model=model, end=end, window=main, progress=progress, **options)
    fired: list[Alert] = []
    skipped: list[NotEvaluated] = []
    windows: dict[str, Findings] = {}
    for span, rules in settings.rules_by_window().items():
        seen = findings if span == main else check(workspace, model=model, end=end, window=span, **options)
        if span != main:
            windows[_text(span)] = seen
        hit, missed = evaluate(rules, seen.values(), now=now, model=model, version=number)
        fired += hit
        skipped += missed
    new = AlertLog(registry).record(fired, cooldown=settings.cooldown)
    delivery = None
    if new:
        delivery = _deliver(settings, new, post)
    report = None
    if report_dir is not None:
        span = history or main
        points = timeline(workspace, model=model, start=end - span, end=end, period=period, **options)
        report = render_monitoring(points, findings, report_dir, title=f"{model} v{number}: monitoring",
                                   alerts=[*AlertLog(registry).history(model, since=end - span)])
    return MonitorRun(findings, fired, new, skipped, delivery, report, windows)


def monitoring_settings(registry: Registry, model: str, version: int, *, spec: Path | None = None,
                        alerts_file: Path | None = None) -> MonitoringSpec:
    """The ``monitoring:`` block that applies: ``spec``'s, else the trained spec's (stored with the version's run),
    with ``alerts_file``'s rules in place of its own when given."""
    if spec is not None:
        settings = ProblemSpec.load(spec).monitoring
    else:
        stored = registry.get_run(registry.get_version(model, version).run_id).params.get("spec")
        block = stored.get("monitoring") if isinstance(stored, dict) else None
        settings = MonitoringSpec.model_validate(block or {})
    if alerts_file is not None:
        settings = settings.with_rules(load_rules(alerts_file))
    return settings


def _deliver(settings: MonitoringSpec, alerts: list[Alert], post: Callable[[str, list[Alert]], None]) -> str | None:
    try:
        url = settings.webhook_url()
    except LooplineError as exc:
        return f"not posted: {exc}"
    if url is None:
        return None
    try:
        post(url, alerts)
    except LooplineError as exc:
        log.error("alerts not delivered: %s", exc)
        return f"not posted: {exc}"
    return f"posted {len(alerts)} alert(s)"


def _text(span: timedelta) -> str:
    return format_duration(span)
