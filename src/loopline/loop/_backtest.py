"""``backtest``: replay the spec's retraining policy over past logs, and see what it would have done and reached.

The replay runs in a scratch workspace (a temporary folder: nothing in the real registry moves) that starts with a
copy of the real champion. At each tick ``t`` from ``start`` to ``end`` (every ``every``) it runs one pass of the
loop with the clock at ``t`` (:func:`~loopline.loop.run_loop`): the triggers, the retrain and the judge see only
what was known at ``t`` (exposures before ``t``, feedback before ``t``, label windows closed by ``t``). Gates cannot
be replayed (they need live traffic), so a challenger that passes the judge is taken to pass them and to serve from
``t`` plus the gates' least time (``RetrainSpec.gate_time``). Between ticks, the model then in force and the
original champion (the no-retraining counterfactual) are both scored on the period's labelled rows, with every
label as finally known.

The metric is measured on logged data: rows the old policy chose to show. For a pointwise prediction (the
probability of a click on a shown item) that is the population the model will be judged on; for a change of
ranking it says nothing of the items the new model would have shown instead. An online A/B test does.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import LoopError
from loopline._progress import SILENT, Progress
from loopline.data import prepare
from loopline.evaluation import compute_metrics
from loopline.events import EventLog
from loopline.loop._continual import LoopPass, data_end, run_loop
from loopline.loop._train import code_version
from loopline.models import TrainedModel
from loopline.registry import Registry
from loopline.reports import ReportPaths, render_backtest
from loopline.spec import GatesSpec, ProblemSpec, SplitSpec, format_duration, metric_loss
from loopline.workspace import Workspace


@dataclass(frozen=True)
class BacktestPeriod:
    start: datetime
    end: datetime
    rows: int
    version: str            # the model in force ("champion" or the scratch version that replaced it: "retrain 2")
    policy: float           # the primary metric the policy reached over the period
    champion: float         # the original champion's, on the same rows


@dataclass(frozen=True)
class Backtest:
    model: str
    metric: str
    start: datetime
    end: datetime
    every: timedelta
    gate_time: timedelta
    periods: list[BacktestPeriod]
    actions: list[dict[str, Any]]           # every step the replayed loop recorded, with its time
    policy: float                           # the metric over every replayed row, policy vs champion
    champion: float
    retrains: int
    promotions: int
    report: ReportPaths | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "metric": self.metric, "start": self.start.isoformat(), "end": self.end.isoformat(),
            "every": format_duration(self.every), "gate_time": format_duration(self.gate_time),
            "policy": self.policy, "champion": self.champion, "improvement": metric_loss(self.metric, self.champion)
            - metric_loss(self.metric, self.policy), "retrains": self.retrains, "promotions": self.promotions,
            "periods": [{"start": p.start.isoformat(), "end": p.end.isoformat(), "rows": p.rows, "version": p.version,
                         "policy": p.policy, "champion": p.champion} for p in self.periods],
            "actions": self.actions,
        }


def backtest(spec: ProblemSpec, workspace: Workspace, *, start: datetime, end: datetime,
             every: timedelta = timedelta(days=1), log: EventLog | None = None, report_dir: Path | None = None,
             n_boot: int | None = None, progress: Progress = SILENT) -> Backtest:
    """Replay ``spec.retrain`` from ``start`` to ``end`` (see the module docstring)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise LoopError("backtest: give start and end with a time zone, e.g. 2026-01-15T00:00:00+00:00.")
    if not start < end:
        raise LoopError(f"backtest: start ({start.isoformat()}) must come before end ({end.isoformat()}).")
    if every <= timedelta(0):
        raise LoopError(f"backtest: every must be longer than 0, got {format_duration(every)!r}.")
    real = Registry(workspace, create=False)
    original = real.get_version(spec.name, "champion")
    trained_until = data_end(real, original)
    if trained_until > start:
        raise LoopError(f"backtest: the champion v{original.version} of '{spec.name}' was trained and tested on data "
                        f"up to {trained_until.isoformat()}, after --start ({start.isoformat()}); replayed from there, "
                        "it would be judged on rows it has seen. Start at or after that time.")
    original_model = real.load(spec.name, original.version)
    log = log or EventLog.for_workspace(workspace)
    offline = spec.model_copy(update={"retrain": spec.retrain.model_copy(update={
        "deployment": None, "gates": GatesSpec(shadow=None, canary=None, ab=None)})})
    gate_time = spec.retrain.gate_time()
    rows = _labelled(spec, start, end)
    ticks = _ticks(start, end, every)
    with tempfile.TemporaryDirectory(prefix="loopline-backtest-") as tmp:
        scratch = Workspace.open(Path(tmp) / "workspace", create=True)
        registry = Registry(scratch)
        copy_champion(real, registry, spec, original.version)
        in_force: list[tuple[datetime, str, TrainedModel]] = [(start, "champion", original_model)]
        periods: list[BacktestPeriod] = []
        progress.start("replaying the loop", total=len(ticks))
        try:
            for tick, until in ticks:
                done: LoopPass = run_loop(offline, scratch, now=tick, log=log, n_boot=n_boot, replay=True)
                for step in done.steps:
                    if step.stage == "promote" and step.version is not None:
                        model = registry.load(spec.name, step.version)
                        in_force.append((tick + gate_time, f"retrain {step.version - 1}", model))
                label, model = _current(in_force, tick)
                periods.append(_period(spec, rows, tick, until, label, model, original_model))
                progress.advance()
        finally:
            progress.finish()
        steps = registry.loop_steps(spec.name)
    actions = [{"at": s.at.isoformat(), "stage": s.stage, "status": s.status, "version": _name(s.version),
                "reason": s.reason} for s in steps]
    used = [p for p in periods if p.rows]
    policy, champion = _pooled(spec, rows, in_force, original_model, start, end)
    result = Backtest(model=spec.name, metric=spec.primary_metric, start=start, end=end, every=every,
                      gate_time=gate_time, periods=used, actions=actions, policy=policy, champion=champion,
                      retrains=sum(s.stage == "retrain" for s in steps),
                      promotions=sum(s.stage == "promote" for s in steps))
    if report_dir is not None:
        paths = render_backtest(result.to_dict(), report_dir, title=f"{spec.name}: backtest of the retraining policy")
        result = Backtest(**{**result.__dict__, "report": paths})
    return result


def _name(version: int | None) -> str | None:
    """A scratch version as people read it: 1 is the real champion, the others the replay's retrains."""
    if version is None:
        return None
    return "champion" if version == 1 else f"retrain {version - 1}"


def _ticks(start: datetime, end: datetime, every: timedelta) -> list[tuple[datetime, datetime]]:
    out = []
    t = start
    while t < end:
        out.append((t, min(t + every, end)))
        t += every
    return out


def _labelled(spec: ProblemSpec, start: datetime, end: datetime) -> pd.DataFrame:
    """Every labelled row with its event time in ``[start, end)``, labels as finally known, nothing sampled away."""
    whole = spec.model_copy(update={"sampling": spec.sampling.model_copy(update={"negative_rate": None,
                                                                                   "max_rows": None}),
                                    "split": SplitSpec()})  # every row kept: no gap, no grouping, no fixed dates
    prepared = prepare(whole, since=start)
    s = prepared.splits
    frame = pd.concat([s.train, s.valid, s.test], ignore_index=True)
    times = frame[s.time]
    return frame[(times < pd.Timestamp(end))].sort_values(s.time, kind="stable").reset_index(drop=True)


def _current(in_force: list[tuple[datetime, str, TrainedModel]], at: datetime) -> tuple[str, TrainedModel]:
    found = [(label, model) for since, label, model in in_force if since <= at]
    return found[-1]


def _score(spec: ProblemSpec, frame: pd.DataFrame, model: TrainedModel) -> float:
    label = spec.label.target
    groups = frame[spec.group].to_numpy() if spec.task == "ranking" and spec.group else None
    values = compute_metrics(spec.task, frame[label].to_numpy(), model.predict(frame), threshold=model.threshold,
                             groups=groups, classes=model.classes, **spec.metrics.scoring)
    return float(values.get(spec.primary_metric, np.nan))


def _period(spec: ProblemSpec, rows: pd.DataFrame, start: datetime, end: datetime, label: str,
            model: TrainedModel, original: TrainedModel) -> BacktestPeriod:
    times = rows[spec.event_time]
    part = rows[(times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))]
    if part.empty:
        return BacktestPeriod(start, end, 0, label, float("nan"), float("nan"))
    return BacktestPeriod(start, end, len(part), label, _score(spec, part, model), _score(spec, part, original))


def _pooled(spec: ProblemSpec, rows: pd.DataFrame, in_force: list[tuple[datetime, str, TrainedModel]],
            original: TrainedModel, start: datetime, end: datetime) -> tuple[float, float]:
    """The metric over every replayed row: each row scored by the model in force at its time."""
    if rows.empty:
        return float("nan"), float("nan")
    times = rows[spec.event_time]
    scored = []
    bounds = [*(since for since, _, _ in in_force), end]
    for i, (since, _, model) in enumerate(in_force):
        part = rows[(times >= pd.Timestamp(since)) & (times < pd.Timestamp(bounds[i + 1]))]
        if len(part):
            scored.append((part, model.predict(part)))
    label = spec.label.target
    y = np.concatenate([p[label].to_numpy() for p, _ in scored])
    p = np.concatenate([s for _, s in scored])
    ordered = pd.concat([part for part, _ in scored], ignore_index=True)
    groups = ordered[spec.group].to_numpy() if spec.task == "ranking" and spec.group else None
    metrics = compute_metrics(spec.task, y, p, groups=groups, classes=original.classes, **spec.metrics.scoring)
    return float(metrics.get(spec.primary_metric, np.nan)), _score(spec, ordered, original)


def copy_champion(real: Registry, scratch: Registry, spec: ProblemSpec, version: int) -> None:
    """Version ``version`` of the real registry as the next version (and champion) of ``scratch``, with its profile,
    metrics and its run's splits, the artifact checked on the way (a backtest's, or the demo counterfactual's)."""
    found = real.get_version(spec.name, version)
    splits = real.get_run(found.run_id).params.get("splits")
    run = scratch.start_run(spec_name=spec.name, spec_hash=found.spec_hash, data_fingerprint=found.data_fingerprint,
                            params={"spec": spec.model_dump(mode="json"), "splits": splits, "backtest_of": version},
                            code_version=code_version())
    scratch.register_model(name=spec.name, run_id=run.run_id, artifact_dir=found.artifact_path, sha256=found.sha256,
                           family=found.family, task=found.task, features=list(found.features), metrics=found.metrics,
                           baselines_beaten=list(found.baselines_beaten), spec_hash=found.spec_hash,
                           data_fingerprint=found.data_fingerprint, code_version=found.code_version,
                           profile=real.profile(spec.name, version), alias="champion",
                           reason=f"backtest: the real champion v{version}")
    scratch.finish_run(run.run_id, status="finished", metrics={}, timings={})
