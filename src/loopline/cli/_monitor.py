"""``loopline monitor``: one monitoring pass over a window, printed, as JSON, or as a report."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from loopline.cli._console import BarProgress, fmt, handled, out, print_json
from loopline.workspace import Workspace

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
WorkspaceDir = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: $LOOPLINE_WORKSPACE or ./.loopline)."),
]


def monitor(
    model: Annotated[str, typer.Option("--model", "-m", help="The registered model to watch.")],
    version: Annotated[str, typer.Option("--version", "-v", help="Version number or alias.")] = "champion",
    deployment: Annotated[str | None, typer.Option(help="The deployment whose exposures to read (default: the "
                                                        "model's name).")] = None,
    window: Annotated[str | None, typer.Option(help="How far back from --end (or now): 1d, 6h, 30m (default: the "
                                                    "spec's monitoring.window, else 1d).")] = None,
    end: Annotated[str | None, typer.Option(help="End of the window, ISO 8601 (default: now).")] = None,
    spec: Annotated[Path | None, typer.Option("--spec", "-s", help="A loopline.yaml whose monitoring block applies "
                                                                    "(default: the one the version was trained "
                                                                    "with).")] = None,
    alerts: Annotated[Path | None, typer.Option("--alerts", help="A YAML file of alert rules, in place of the "
                                                                 "spec's.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the HTML report and its JSON twin into "
                                                                 "this folder.")] = None,
    history: Annotated[str | None, typer.Option(help="The span the report draws (default: the window).")] = None,
    period: Annotated[str, typer.Option(help="The report's step: one point per period.")] = "1d",
    table: Annotated[str | None, typer.Option("--table", help="Monitor this Parquet or CSV file (or glob) instead "
                                                              "of the event log.")] = None,
    time_column: Annotated[str | None, typer.Option(help="--table's event-time column, to cut the window "
                                                         "(default: the whole table).")] = None,
    events: Annotated[Path | None, typer.Option("--events", help="The event log to read (default: the workspace's), "
                                                                 "e.g. the demo's served-events.")] = None,
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Drift, data quality, health and performance of a deployed model over a window; fires the alert rules."""
    from loopline import MonitoringError
    from loopline.loop import monitor as run_monitor
    from loopline.monitoring import parse_window

    with handled(as_json=as_json, debug=debug):
        ws = Workspace.open(workspace, create=False)
        until = None
        if end is not None:
            try:
                until = datetime.fromisoformat(end)
            except ValueError:
                raise MonitoringError(f"--end {end!r}: expected an ISO 8601 time such as "
                                      "2026-03-01T00:00:00Z.") from None
            if until.tzinfo is None:
                raise MonitoringError(f"--end {end!r} has no time zone; add one, e.g. {end}Z or {end}+00:00.")
        number: int | str = int(version) if version.isdigit() else version
        run = run_monitor(ws, model=model, version=number, deployment=deployment,
                          window=None if window is None else parse_window(window), end=until, spec=spec,
                          alerts_file=alerts, report_dir=report, period=parse_window(period),
                          history=None if history is None else parse_window(history), table=table,
                          time_column=time_column, log=None if events is None else _event_log(events),
                          progress=BarProgress(enabled=not as_json))
        if as_json:
            print_json(run.to_dict())
            return
        _show(run.findings)
        for alert in run.alerts:
            out.print(f"[red]ALERT[/red] {escape(alert.message)}")
        held = [a for a in run.fired if a not in run.alerts]
        if held:
            out.print(f"{len(held)} rule(s) fired again within the cool-down: not alerted twice.")
        for missed in run.not_evaluated:
            out.print(f"  rule on {escape(missed.rule.metric)} not evaluated: {escape(missed.reason)}")
        if run.delivery:
            out.print(f"webhook: {escape(run.delivery)}")
        if run.report is not None:
            out.print(f"report: {run.report.html}")


def _event_log(root: Path) -> Any:
    from loopline import MonitoringError
    from loopline.events import EventLog

    if not (root / "exposures").is_dir():
        raise MonitoringError(f"--events {root}: not an event log (it has no 'exposures' folder). Give the folder "
                              "that holds exposures/, feedback/ and assignments/.")
    return EventLog(root)


def _show(findings: Any) -> None:
    drift = findings.drift
    verdict = "[red]drift detected[/red]" if drift.drift_detected else "[green]no dataset drift[/green]"
    share = "n/a" if drift.share is None else f"{drift.share:.0%}"
    out.print(f"{findings.model} v{findings.version}: {findings.rows:,} rows of {findings.source}")
    out.print(f"{verdict}: {share} of {len(drift.features)} tested features drifted")
    if drift.domain is not None:
        out.print(f"  multivariate check: {escape(drift.domain.reason)}")
    table = Table(title="drift by feature")
    for column, justify in (("feature", "left"), ("kind", "left"), ("rows", "right"), ("test p", "right"),
                            ("effect", "left"), ("value", "right"), ("drifted", "left")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    shown = [*drift.features, *([drift.prediction] if drift.prediction is not None else []),
             *([drift.label] if drift.label is not None else [])]
    for c in shown:
        v = c.verdict
        table.add_row(c.name, c.kind, f"{c.rows:,}", fmt(v.p_value), v.effect.replace("_", " "), fmt(v.effect_value),
                      "[red]yes[/red]" if v.drifted else "no")
    out.print(table)
    for c in shown:
        if c.drifted:
            out.print(f"  {escape(c.name)}: {escape(c.verdict.reason)}")
    for name, why in drift.skipped.items():
        out.print(f"  not tested: {escape(name)}: {escape(why)}")
    issues = findings.quality.issues
    out.print(f"data quality: {len(issues)} issue(s)" + (":" if issues else ""))
    for issue in issues:
        out.print(f"  [yellow]{issue.check}[/yellow] {escape(issue.message)}")
    labels, measured = findings.labels, findings.performance
    if labels is not None:
        known = labels.exposures - labels.censored
        out.print(f"labels: {known:,} exposures labelled from the feedback log ({labels.positives:,} positive); "
                  f"{labels.censored:,} still inside their label window")
    if measured is not None:
        realised = measured.overall.realised.get(measured.metric)
        estimated = measured.overall.estimated.get(measured.metric)
        shown_realised = "n/a (no labels yet)" if realised is None else (
            f"{realised.value:.4f} [{realised.low:.4f}, {realised.high:.4f}]")
        out.print(f"performance ({measured.metric}): realised {shown_realised}; estimated from the scores "
                  f"{fmt(estimated)}")
    health = findings.health
    if health is not None:
        latency = ", ".join(f"{k} {fmt(v, 2)} ms" for k, v in health.latency_ms.items())
        fallback = "-" if health.fallback_share is None else f"{health.fallback_share:.2%}"
        out.print(f"health: {health.requests:,} requests; latency {latency}; fallback share {fallback}; "
                  f"requests per arm {health.traffic}")
    for note in findings.notes:
        out.print(f"  note: {escape(note)}")
