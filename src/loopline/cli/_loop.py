"""``loopline loop``: one pass of the continual-learning loop, its history, or a backtest of its policy."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

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
_STATUS = {"passed": "green", "done": "green", "finished": "green", "started": "cyan", "fired": "yellow",
           "failed": "red"}


def loop(
    spec: Annotated[Path, typer.Option("--spec", "-s", help="The problem spec; its retrain: block is the "
                                                           "policy.")] = Path("loopline.yaml"),
    now: Annotated[str | None, typer.Option(help="The loop's clock, ISO 8601 (default: now).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Retrain now, whatever the triggers say.")] = False,
    history: Annotated[bool, typer.Option("--history", help="Show the loop's recorded steps and do "
                                                            "nothing.")] = False,
    backtest: Annotated[bool, typer.Option("--backtest", help="Replay the policy over past logs from --start to "
                                                              "--end; nothing real changes.")] = False,
    start: Annotated[str | None, typer.Option(help="--backtest: first instant replayed, ISO 8601.")] = None,
    end: Annotated[str | None, typer.Option(help="--backtest: end of the replay, ISO 8601.")] = None,
    every: Annotated[str, typer.Option(help="--backtest: how often the replayed loop runs.")] = "1d",
    report: Annotated[Path | None, typer.Option("--report", help="--backtest: write the HTML report and its "
                                                                 "JSON twin into this folder.")] = None,
    events: Annotated[Path | None, typer.Option("--events", help="The event log to read (default: the "
                                                                 "workspace's).")] = None,
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Retrain on a trigger, judge the challenger, gate it (shadow, canary, A/B), promote or roll back.

    Every step is recorded in the registry with its reason. Run it on a schedule.
    """
    from loopline import LoopError
    from loopline.events import EventLog
    from loopline.loop import run_backtest, run_loop
    from loopline.monitoring import parse_window
    from loopline.registry import Registry
    from loopline.spec import ProblemSpec

    with handled(as_json=as_json, debug=debug):
        problem = ProblemSpec.load(spec)
        ws = Workspace.open(workspace, create=False)
        log = None if events is None else EventLog(events)
        progress = BarProgress(enabled=not as_json)
        if history:
            steps = Registry(ws, create=False).loop_steps(problem.name)
            if as_json:
                print_json([{"at": s.at.isoformat(), "stage": s.stage, "status": s.status, "version": s.version,
                             "reason": s.reason, "details": s.details} for s in steps])
            else:
                _steps_table([(s.at.isoformat(timespec="seconds"), s.stage, s.status, s.version, s.reason)
                              for s in steps], title=f"{problem.name}: the loop's history")
            return
        if backtest:
            if start is None or end is None:
                raise LoopError("--backtest needs --start and --end (ISO 8601 times such as 2026-01-10T00:00Z): the "
                                "span of past logs to replay.")
            result = run_backtest(problem, ws, start=_time("--start", start), end=_time("--end", end),
                                  every=parse_window(every), log=log, report_dir=report, progress=progress)
            if as_json:
                print_json({**result.to_dict(), "report": None if result.report is None else
                            {"html": str(result.report.html), "json": str(result.report.json)}})
                return
            out.print(f"{problem.name}: {result.metric} {fmt(result.policy)} with the policy against "
                      f"{fmt(result.champion)} without retraining; {result.retrains} retrain(s), "
                      f"{result.promotions} promotion(s) (gates assumed to take {result.to_dict()['gate_time']}).")
            _steps_table([(a["at"], a["stage"], a["status"], a["version"], a["reason"]) for a in result.actions],
                         title="what the policy would have done")
            if result.report is not None:
                out.print(f"report: {result.report.html}")
            return
        done = run_loop(problem, ws, now=None if now is None else _time("--now", now), log=log, force=force,
                        progress=progress)
        if as_json:
            print_json(done.to_dict())
            return
        _steps_table([(s.at.isoformat(timespec="seconds"), s.stage, s.status, s.version, s.reason)
                      for s in done.steps], title=f"{problem.name}: this pass")
        where = "no challenger in flight" if done.challenger is None else f"v{done.challenger} in the {done.stage} gate"
        out.print(f"champion v{done.champion}; {where}. {escape(done.note)}")


def _time(option: str, text: str) -> datetime:
    from loopline.loop import LoopError

    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        raise LoopError(f"{option} {text!r}: expected an ISO 8601 time such as 2026-03-01T00:00:00Z.") from None
    if found.tzinfo is None:
        raise LoopError(f"{option} {text!r} has no time zone; add one, e.g. {text}Z or {text}+00:00.")
    return found


def _steps_table(rows: list[tuple[str, str, str, int | str | None, str]], *, title: str) -> None:
    if not rows:
        out.print(f"{title}: nothing recorded.")
        return
    table = Table(title=title)
    for column in ("at", "stage", "status", "version", "reason"):
        table.add_column(column, overflow="fold")
    for at, stage, status, version, reason in rows:
        colour = _STATUS.get(status, "white")
        table.add_row(at, stage, f"[{colour}]{status}[/]", "" if version is None else str(version), escape(reason))
    out.print(table)
