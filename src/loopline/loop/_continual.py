"""``run_loop``: one pass of ``loopline loop``: retrain when a trigger fires, judge the challenger, move it through
the gates, promote it or roll it back, and record every step in the registry with its reason.

Run it on a schedule (cron, an orchestrator, or the demo's simulated days); each pass does what is due and returns.
The state lives in the registry: the loop's steps (``Registry.loop_steps``), the deployment's revisions and the
aliases. A pass does one of two things.

- **No challenger in flight.** The triggers of the spec's ``retrain:`` block are evaluated (never sooner than
  ``min_interval`` after the last retrain): ``schedule`` (the champion's data ends that long ago: the ``until`` of the
  retrain that made it, else the end of its run's last split), ``drift`` (monitoring's verdicts over
  ``monitoring.window``) and ``decay`` (the realised metric over that window against the champion's own over its
  first full window of serving).
  When one fires, a challenger is trained on the sliding ``window`` up to now (``full``), or continued from the
  champion's booster (``warm_start``), with the freshest ``judge.window`` held out as its test split, then judged
  against the champion on those rows (the paired improvement of the primary metric, :mod:`loopline.loop._judge`).
  A challenger that beats the champion and every baseline takes the ``challenger`` alias and enters the first gate.
- **A challenger in a gate.** Its verdict is read (:mod:`loopline.loop._gates`): wait, pass (next gate, or
  promotion after the last) or fail (the deployment as it was before the gates, and the reason). A gate is
  recorded before the deployment changes, and a failure before the rollback, so a pass that stops half-way leaves
  a step the next pass finishes (a rollback not yet stored is stored). An error reading a gate waits until the
  gate's time is up, then fails it; a champion moved by hand during the gates fails them; a gate turned off in
  the spec while a challenger is in it is passed, and the gates after it still run.

Two passes must not run at once (one cron entry, or an orchestrator's single concurrency): the registry keeps
every step, but two concurrent retrains would both start gates.

Every time the loop uses is ``now`` (the wall clock by default): a replay or a simulation passes its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import LoopError, LooplineError
from loopline._progress import SILENT, Progress
from loopline.data import Splits
from loopline.events import EventLog
from loopline.loop._gates import (
    GateResult,
    ab_spec,
    ab_verdict,
    canary_verdict,
    promoted,
    shadow_verdict,
    with_gate,
)
from loopline.loop._judge import Comparison, compare
from loopline.loop._train import Candidates, TrainingOutcome, train
from loopline.models import TrainedModel, continue_training
from loopline.monitoring import DriftThresholds, Findings, check, labelled_exposures, performance
from loopline.registry import LoopStep, ModelVersion, Registry
from loopline.serving import DeploymentSpec, deploy
from loopline.spec import GATES, ProblemSpec, format_duration, metric_loss
from loopline.workspace import Workspace

ACTOR = "loopline loop"


@dataclass(frozen=True)
class Trigger:
    name: str          # schedule, drift, decay, forced
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoopPass:
    """What one pass did: the steps it recorded (oldest first) and where the loop now stands."""

    model: str
    at: datetime
    champion: int
    stage: str                  # "idle", or the gate the challenger is in
    challenger: int | None
    steps: list[LoopStep]
    note: str                   # why nothing (more) happened, or what did
    findings: Findings | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "at": self.at.isoformat(), "champion": self.champion, "stage": self.stage,
                "challenger": self.challenger, "note": self.note,
                "steps": [{"stage": s.stage, "status": s.status, "version": s.version, "reason": s.reason,
                           "details": s.details, "at": s.at.isoformat()} for s in self.steps]}


def run_loop(spec: ProblemSpec, workspace: Workspace, *, now: datetime | None = None, log: EventLog | None = None,
             force: bool = False, n_boot: int | None = None, replay: bool = False,
             progress: Progress = SILENT) -> LoopPass:
    """One pass of the loop for ``spec.name`` (see the module docstring). ``force`` retrains now whatever the
    triggers say (not while a challenger is in a gate). ``log`` is the event log the gates and triggers read (the
    workspace's by default). ``replay`` (the backtest's) reads the log as traffic some other policy served: the
    triggers score its rows with the champion rather than look for the champion's own served rows."""
    settings = spec.retrain
    if not settings.triggers.any() and not force:
        raise LoopError(f"{spec.source_name}: retrain: has no trigger, so the loop would never retrain. Add one "
                        "(retrain.triggers.schedule: 7d, drift: true, or decay: {metric: roc_auc, drop: 0.02}), or "
                        "pass --force to retrain once now.")
    if settings.gates.order() and settings.deployment is None:
        raise LoopError(f"{spec.source_name}: the gates {settings.gates.order()} run in a deployment: set "
                        "retrain.deployment, or turn every gate off to promote on the judge alone.")
    if settings.gates.ab is not None and settings.deployment is not None:
        ab_spec(settings.gates.ab, deployment=settings.deployment, challenger=1, start=datetime.now(UTC))  # checked now
    now = (now or datetime.now(UTC)).astimezone(UTC)
    registry = Registry(workspace, create=False)
    champion = registry.get_version(spec.name, "champion")
    log = log or EventLog.for_workspace(workspace)
    loop = _Loop(spec, workspace, registry, log, now, champion, progress, n_boot, replay=replay)
    steps = registry.loop_steps(spec.name)
    last = steps[-1] if steps else None
    if last is not None and now < last.at:
        raise LoopError(f"the loop's last step for '{spec.name}' is at {last.at.isoformat()}, after --now "
                        f"({now.isoformat()}); its clock only moves forward. Pass a later --now.")
    in_flight = last is not None and (
        (last.stage in GATES and last.status in ("started", "passed", "failed"))  # a failed gate not yet rolled back
        or (last.stage == "judge" and last.status == "passed" and bool(settings.gates.order())))
    if last is not None and in_flight:
        if force:
            raise LoopError(f"v{last.version} of '{spec.name}' is in the {last.stage} gate; --force retrains only when "
                            "no challenger is in flight. Wait for the gate, or roll it back first.")
        return loop.resume(last, steps)
    return loop.maybe_retrain(steps, force=force)


def data_end(registry: Registry, version: ModelVersion) -> datetime:
    """The end of the last split ``version``'s run trained and tested on, else its registration time."""
    try:
        splits = registry.get_run(version.run_id).params.get("splits")
    except LooplineError:
        splits = None
    ends = [str(s["end"]) for s in splits or [] if isinstance(s, dict) and s.get("end") and s.get("rows")]
    if not ends:
        return version.created_at
    found = max(pd.Timestamp(e) for e in ends)
    return (found.tz_localize("UTC") if found.tzinfo is None else found.tz_convert("UTC")).to_pydatetime()


def _positive_scores(predicted: Any) -> Any:
    """What the log's ``score`` holds: the positive class's probability for a binary model, the score otherwise."""
    values = np.asarray(predicted, dtype=float)
    return values[:, -1] if values.ndim == 2 else values


class _Loop:
    def __init__(self, spec: ProblemSpec, workspace: Workspace, registry: Registry, log: EventLog, now: datetime,
                 champion: ModelVersion, progress: Progress, n_boot: int | None, *, replay: bool = False) -> None:
        self.spec, self.workspace, self.registry, self.log, self.now = spec, workspace, registry, log, now
        self.replay = replay
        self.champion, self.progress = champion, progress
        self.settings = spec.retrain
        self.n_boot = self.settings.judge.n_boot if n_boot is None else n_boot
        self.recorded: list[LoopStep] = []

    # -- steps ----------------------------------------------------------------------------------------

    def record(self, stage: str, status: str, reason: str, *, version: int | None = None,
               details: dict[str, Any] | None = None) -> LoopStep:
        step = self.registry.record_step(model=self.spec.name, stage=stage, status=status, reason=reason[:4000],
                                         at=self.now, version=version, deployment=self.settings.deployment,
                                         details=details or {}, actor=ACTOR)
        self.recorded.append(step)
        return step

    def outcome(self, stage: str, challenger: int | None, note: str, findings: Findings | None = None) -> LoopPass:
        champion = self.registry.get_version(self.spec.name, "champion").version
        return LoopPass(self.spec.name, self.now, champion, stage, challenger, self.recorded, note, findings)

    # -- no challenger in flight ------------------------------------------------------------------------

    def maybe_retrain(self, steps: list[LoopStep], *, force: bool) -> LoopPass:
        retrains = [s for s in steps if s.stage == "retrain"]
        if retrains and not force and self.now - retrains[-1].at < self.settings.min_interval:
            return self.outcome("idle", None, f"the last retrain was at {retrains[-1].at.isoformat()}, less than "
                                f"min_interval ({format_duration(self.settings.min_interval)}) ago")
        findings = None
        if force:
            fired = [Trigger("forced", "retrain forced (--force)")]
        else:
            fired, findings = self.triggers(steps)
        if not fired:
            return self.outcome("idle", None, "no trigger fired", findings)
        self.record("trigger", "fired", "; ".join(t.reason for t in fired), version=self.champion.version,
                    details={t.name: t.details for t in fired})
        outcome = self.retrain()
        version = outcome.version.version
        self.record("retrain", "finished", f"{self.settings.mode} retrain on data up to {self.now.isoformat()}: "
                    f"{outcome.best}, registered as v{version}", version=version,
                    details={"mode": self.settings.mode, "run_id": outcome.run_id, "best": outcome.best,
                             "until": self.now.isoformat(), "splits": [s.__dict__ for s in outcome.splits]})
        verdict = self.judge(outcome)
        if verdict.verdict == "fail":
            self.record("judge", "failed", verdict.reason, version=version, details=verdict.details)
            return self.outcome("idle", None, f"v{version} rejected: {verdict.reason}", findings)
        self.record("judge", "passed", verdict.reason, version=version, details=verdict.details)
        self.registry.set_alias(self.spec.name, "challenger", version, reason=f"loop: {verdict.reason}", actor=ACTOR)
        gates = self.settings.gates.order()
        if not gates:
            self.promote(version, "no gates: promoted on the judge")
            return self.outcome("idle", None, f"v{version} promoted on the judge", findings)
        base = self.active_deployment()
        return self.start_gate(gates[0], version, base, findings)

    def triggers(self, steps: list[LoopStep]) -> tuple[list[Trigger], Findings | None]:
        t = self.settings.triggers
        fired: list[Trigger] = []
        if t.schedule is not None:
            since = self.trained_until(steps)
            if self.now - since >= t.schedule:
                fired.append(Trigger("schedule", f"schedule: the champion's data ends {since.isoformat()}, "
                                     f"{format_duration(t.schedule)} or more ago",
                                     {"trained_until": since.isoformat()}))
        findings = None
        if t.drift or t.decay is not None:
            findings = self.monitor()
            counted = [c for c in findings.drift.features if c.name not in set(t.drift_ignore)]
            drifted = [c.name for c in counted if c.drifted]
            share = len(drifted) / len(counted) if counted else 0.0
            if t.drift and counted and share >= self.spec.monitoring.drift.dataset_share:
                fired.append(Trigger("drift", f"drift: {len(drifted)} feature(s) drifted ({share:.0%} of those "
                                     f"tested: {', '.join(drifted[:8])})", {"share": share, "features": drifted}))
            if t.decay is not None:
                value = findings.values().get(f"performance.{t.decay.metric}")
                reference, where = self.decay_reference(steps, t.decay.metric)
                if value is not None and reference is not None:
                    fall = metric_loss(t.decay.metric, value) - metric_loss(t.decay.metric, reference)
                    if fall > t.decay.drop:
                        fired.append(Trigger("decay", f"decay: {t.decay.metric} {value:.4f} over the last "
                                             f"{format_duration(self.spec.monitoring.window)} against {reference:.4f} "
                                             f"{where} (worse by {fall:.4f} > {t.decay.drop:g})",
                                             {"value": value, "reference": reference, "fall": fall}))
        return fired, findings

    def decay_reference(self, steps: list[LoopStep], metric: str) -> tuple[float | None, str]:
        """What the champion's metric is compared with: its realised value over its first full monitoring window of
        served traffic (measured once, then kept as a ``reference`` step), else its test-split value while it has
        served none. Live traffic is not the test split: the champion chose what it served, and positions and
        feedback differ, so a test-split reference would call every live model decayed."""
        for step in reversed(steps):
            if (step.stage == "reference" and step.version == self.champion.version
                    and isinstance(step.details.get(metric), int | float)):
                return float(step.details[metric]), f"in its first {step.details.get('window', 'window')} of serving"
        first = self.first_served()
        window = self.spec.monitoring.window
        if first is None:
            test = self.champion.metrics.get("test", {}).get(metric)
            return (None if test is None else float(test)), "on the champion's test split"
        if self.now - first < 2 * window:  # its first window, and one more to compare with
            return None, ""
        block = self.spec.monitoring
        found = check(self.workspace, model=self.spec.name, version=self.champion.version,
                      deployment=self.settings.deployment, start=first, end=first + window, now=self.now,
                      drift_thresholds=DriftThresholds(**block.drift.model_dump()), log=self.log,
                      label=self.spec.label).values().get(f"performance.{metric}")
        if found is None:
            return None, ""
        self.record("reference", "measured", f"v{self.champion.version}'s {metric} over its first "
                    f"{format_duration(window)} of serving: {found:.4f}", version=self.champion.version,
                    details={metric: found, "start": first.isoformat(), "window": format_duration(window)})
        return float(found), f"in its first {format_duration(window)} of serving"

    def first_served(self) -> datetime | None:
        """When the champion's first served exposure of the deployment was logged (None: it has served none, or the
        log is replayed traffic of another policy)."""
        if self.replay:
            return None
        frame = self.log.read("exposures", end=self.now, columns=["ts", "deployment", "model_version", "served"])
        mine = frame["model_version"].astype(str) == str(self.champion.version)
        if self.settings.deployment is not None:
            mine &= frame["deployment"] == self.settings.deployment
        mine &= frame["served"].fillna(True).astype(bool)
        if not mine.any():
            return None
        first: datetime = pd.Timestamp(frame.loc[mine, "ts"].min()).to_pydatetime()
        return first

    def monitor(self) -> Findings:
        """Monitoring's findings over the last ``monitoring.window``: of the champion's own served traffic when the log
        holds any; else (the champion has not served yet, or a backtest replays logs another policy served) of the
        window's served exposures scored by the champion, its performance from their labels known by now."""
        block = self.spec.monitoring
        start = self.now - block.window
        options: dict[str, Any] = {"model": self.spec.name, "version": self.champion.version, "end": self.now,
                                   "window": block.window, "now": self.now,
                                   "drift_thresholds": DriftThresholds(**block.drift.model_dump())}
        exposures = self.log.read("exposures", start=start, end=self.now)
        if self.settings.deployment is not None and "deployment" in exposures:
            exposures = exposures[exposures["deployment"] == self.settings.deployment]
        if "served" in exposures:
            exposures = exposures[exposures["served"].fillna(True).astype(bool)]
        own = exposures.get("model_version", pd.Series(dtype=object)).astype(str) == str(self.champion.version)
        if not self.replay and own.any():
            return check(self.workspace, deployment=self.settings.deployment, log=self.log, label=self.spec.label,
                         **options)
        if exposures.empty:
            raise LoopError(f"the event log at {self.log.root} has no served exposures between {start.isoformat()} and "
                            f"{self.now.isoformat()}: nothing to check the triggers on. Serve traffic first, or use "
                            "triggers.schedule alone.")
        champion = self.registry.load(self.spec.name, self.champion.version)
        frame = exposures.reset_index(drop=True)
        frame = frame.assign(score=_positive_scores(champion.predict(frame)), model_version=str(self.champion.version))
        feedback = self.log.read("feedback", start=start, end=self.now)
        events = self.spec.label.from_events

        def measured(source: Any, profile: Any) -> Any:
            if events is None:
                return None
            labelled, _ = labelled_exposures(frame, feedback[feedback["event"] == events.event],
                                             label_spec=self.spec.label, now=self.now)
            return performance(frame, labelled[self.spec.label.target], task=self.spec.task, start=start,
                               end=self.now, metric=self.spec.primary_metric, threshold=champion.threshold,
                               k=self.spec.metrics.k, gain=self.spec.metrics.gain,
                               relevant_at=self.spec.metrics.relevant_at, n_boot=0)

        return check(self.workspace, table=frame, performance=measured, **options)

    def trained_until(self, steps: list[LoopStep]) -> datetime:
        """Where the champion's data ends: the ``until`` of the retrain that made it, else the end of its run's last
        split, else (a version from before runs kept their splits) its registration time."""
        for step in reversed(steps):
            if step.stage == "retrain" and step.version == self.champion.version and "until" in step.details:
                return datetime.fromisoformat(str(step.details["until"]))
        return data_end(self.registry, self.champion)

    def retrain(self) -> TrainingOutcome:
        s = self.settings
        test_start = self.now - s.judge.window
        split = self.spec.split.model_copy(update={"valid_start": test_start - s.judge.valid,
                                                   "test_start": test_start})
        spec = self.spec.model_copy(update={"split": split})
        candidates: Candidates | None = None
        if s.mode == "warm_start":
            model = self.registry.load(self.spec.name, self.champion.version)

            def candidates(splits: Splits, spec: ProblemSpec) -> list[TrainedModel]:
                return [continue_training(model, splits, spec, rounds=s.warm_start_rounds,
                                          version=self.champion.version)]
        since = None if s.window is None else self.now - s.window
        return train(spec, self.workspace, since=since, until=self.now, n_boot=self.n_boot, candidates=candidates,
                     progress=self.progress)

    def judge(self, outcome: TrainingOutcome) -> GateResult:
        """The challenger against the champion on the freshest labelled rows (the retrain's test split)."""
        if outcome.prepared is None:
            raise LoopError(f"run {outcome.run_id} kept no prepared data to judge on")
        splits = outcome.prepared.splits
        test = splits.test
        champion = self.registry.load(self.spec.name, self.champion.version)
        absent = [f for f in champion.features if f not in test.columns]
        if absent:
            return GateResult("fail", f"the champion v{self.champion.version} needs column(s) {absent} the fresh data "
                              "does not have, so the two cannot be compared on the same rows")
        challenger = outcome.trained[outcome.best]
        groups = test[splits.group].to_numpy() if self.spec.task == "ranking" and splits.group else None
        found: Comparison = compare(self.spec.task, test[splits.label].to_numpy(), challenger=challenger.predict(test),
                                    champion=champion.predict(test), metric=self.spec.primary_metric, groups=groups,
                                    classes=challenger.classes, n_boot=self.n_boot, **self.spec.metrics.scoring,
                                    seed=self.spec.seed)
        details = {**found.to_dict(), "beats_baselines": outcome.beats_baselines}
        judge = self.settings.judge
        minimum = judge.min_improvement
        if not outcome.beats_baselines:
            return GateResult("fail", f"{found.describe()}; but it does not beat every baseline", details)
        if not found.improvement > minimum:
            return GateResult("fail", f"{found.describe()}: not better than the champion by more than {minimum:g}",
                              details)
        if judge.significant and self.n_boot >= 2 and not np.isnan(found.low) and not found.low > minimum:
            return GateResult("fail", f"{found.describe()}: the interval reaches {minimum:g}, so the improvement may "
                              "be noise (judge.significant)", details)
        return GateResult("pass", found.describe(), details)

    # -- a challenger in a gate ----------------------------------------------------------------------

    def deployment(self) -> str:
        if self.settings.deployment is None:
            raise LoopError(f"{self.spec.source_name}: the gates run in a deployment: set retrain.deployment.")
        return self.settings.deployment

    def active_deployment(self) -> tuple[DeploymentSpec, int | None]:
        name = self.deployment()
        found = self.registry.find_deployment(name)
        if found is None:
            return DeploymentSpec.from_dict({"name": name, "model": self.spec.name}), None
        return DeploymentSpec.from_dict(found.spec, source=f"deployment '{name}'"), found.revision

    def base_of(self, step: LoopStep) -> DeploymentSpec:
        name = self.deployment()
        revision = step.details.get("base_revision")
        if revision is None:
            return DeploymentSpec.from_dict({"name": name, "model": self.spec.name})
        found = next((d for d in self.registry.deployment_history(name) if d.revision == revision), None)
        if found is None:
            raise LoopError(f"deployment '{name}' has no revision {revision}, the one the loop started from; the "
                            "registry was changed by hand. Roll the deployment back yourself and retrain.")
        return DeploymentSpec.from_dict(found.spec, source=f"deployment '{name}' revision {revision}")

    def start_gate(self, gate: str, version: int, base: tuple[DeploymentSpec, int | None],
                   findings: Findings | None = None) -> LoopPass:
        """Record the gate, then change the deployment: a pass that stops in between leaves a gate whose verdict
        the next pass reads (and fails, with nothing served by the challenger), never a changed deployment the
        loop does not know about."""
        spec, revision = base
        changed = with_gate(spec, gate, challenger=version, champion=self.champion.version,
                            settings=getattr(self.settings.gates, gate))
        self.record(gate, "started", f"v{version} enters the {gate} gate", version=version,
                    details={"base_revision": revision, "champion": self.champion.version})
        deploy(self.registry, changed, actor=ACTOR, reason=f"loop: v{version} enters the {gate} gate")
        return self.outcome(gate, version, f"v{version} is in the {gate} gate", findings)

    def resume(self, last: LoopStep, steps: list[LoopStep]) -> LoopPass:
        """Go on from the loop's last step: a judged challenger waiting for its first gate, a gate to read, a
        passed gate whose next one has not started, or a failed gate whose rollback has not been stored."""
        version = last.version
        if version is None:
            raise LoopError(f"the loop's last step ({last.stage} {last.status}) names no version; the registry was "
                            "changed by hand. Record a rollback or retrain with --force once the deployment is as "
                            "it should be.")
        if last.stage == "judge":  # judged and aliased, but the first gate was never recorded
            return self.start_gate(self.settings.gates.order()[0], version, self.active_deployment())
        started = next((s for s in reversed(steps) if s.stage == last.stage and s.status == "started"
                        and s.version == version), None)
        if started is None:
            raise LoopError(f"the loop's last step ({last.stage} {last.status} of v{version}) has no recorded start; "
                            "the registry was changed by hand.")
        base = self.base_of(started)
        champion = int(started.details.get("champion", self.champion.version))
        if last.status == "failed":  # the rollback was not stored: store it now
            return self.roll_back(last.stage, version, base, last.reason)
        if last.status == "passed":  # a pass that stopped between two gates: go on
            return self.after_pass(last.stage, version, started, base, champion)
        return self.advance(last.stage, version, started, base, champion)

    def advance(self, gate: str, version: int, started: LoopStep, base: DeploymentSpec, champion: int) -> LoopPass:
        live = self.registry.get_version(self.spec.name, "champion").version
        if live not in (champion, version):
            verdict = GateResult("fail", f"the champion moved from v{champion} to v{live} during the gates (by hand); "
                                 f"v{version} was judged against v{champion}")
        else:
            verdict = self.verdict(gate, version, started.at, champion)
        if verdict.verdict == "wait":
            return self.outcome(gate, version, verdict.reason)
        if verdict.verdict == "fail":
            self.record(gate, "failed", verdict.reason, version=version, details=verdict.details)
            return self.roll_back(gate, version, base, verdict.reason)
        self.record(gate, "passed", verdict.reason, version=version, details=verdict.details)
        return self.after_pass(gate, version, started, base, champion)

    def roll_back(self, gate: str, version: int, base: DeploymentSpec, reason: str) -> LoopPass:
        deploy(self.registry, base, actor=ACTOR, reason=f"loop: v{version} rolled back: {reason}"[:4000])
        self.record("rollback", "done", f"v{version} failed the {gate} gate; the deployment is back as it was",
                    version=version)
        return self.outcome("idle", None, f"v{version} rolled back: {reason}")

    def after_pass(self, gate: str, version: int, started: LoopStep, base: DeploymentSpec, champion: int) -> LoopPass:
        # The gates after this one in their fixed order, among those on in the spec now (a gate turned off while a
        # challenger is in it is passed, never the gates after it).
        later = [g for g in GATES[GATES.index(gate) + 1:] if getattr(self.settings.gates, g) is not None]
        if later:
            return self.start_gate(later[0], version, (base, started.details.get("base_revision")))
        passed = [g for g in GATES[:GATES.index(gate) + 1]]
        # The A/B gate's "ship" has already made the challenger champion (after checking what its arm served).
        if self.registry.get_version(self.spec.name, "champion").version != version:
            self.registry.promote(self.spec.name, version, reason=f"loop: passed {', '.join(passed)}", actor=ACTOR)
        deploy(self.registry, promoted(base, old=champion, new=version), actor=ACTOR,
               reason=f"loop: v{version} promoted after the {gate} gate")
        self.record("promote", "done", f"v{version} is champion: it passed {', '.join(passed)}", version=version,
                    details={"previous": champion})
        return self.outcome("idle", None, f"v{version} promoted")

    def promote(self, version: int, reason: str) -> None:
        previous = self.champion.version
        self.registry.promote(self.spec.name, version, reason=f"loop: {reason}", actor=ACTOR)
        self.record("promote", "done", f"v{version} is champion: {reason}", version=version,
                    details={"previous": previous})

    def verdict(self, gate: str, version: int, start: datetime, champion: int) -> GateResult:
        """The gate's verdict; an error reading it (no traffic yet, an experiment that cannot be analysed) waits
        until the gate's time is up, then fails with the error, so a split of traffic never outlives its gate."""
        gates = self.settings.gates
        deployment = self.deployment()
        settings = getattr(gates, gate, None)
        if settings is None:
            return GateResult("pass", f"the {gate} gate is off in the spec now")
        deadline = start + (settings.max_duration if gate == "ab" else settings.duration)
        try:
            if gate == "shadow":
                return shadow_verdict(self.spec, settings, self.log, deployment=deployment, challenger=version,
                                      champion=champion, start=start, now=self.now)
            if gate == "canary":
                return canary_verdict(settings, self.log, self.registry, deployment=deployment, challenger=version,
                                      start=start, now=self.now)
            return ab_verdict(settings, self.workspace, self.log, model=self.spec.name, deployment=deployment,
                              challenger=version, start=start, now=self.now)
        except LooplineError as exc:
            if self.now < deadline:
                return GateResult("wait", f"the {gate} gate cannot be read yet: {exc}")
            return GateResult("fail", f"the {gate} gate could not be read by its deadline: {exc}")
