"""The gates a challenger passes before it serves everyone: shadow, canary, A/B test; each as a deployment revision
and a verdict read from the event log.

Every gate starts from the deployment as it was before the loop touched it (its *base* spec, kept with the gate's
first step) and changes one thing: the challenger scored in the ``shadows``; the challenger as the ``canary``; the
arms replaced by an experiment ``<deployment>-v<N>`` of ``control`` (the champion) against ``treatment`` (the
challenger). Rolling back stores the base spec again; promoting stores it with the champion's arm now serving the
new champion. So holdouts, exploration and anything else the deployment had stay as they were throughout.

A verdict is ``wait`` (the gate's time is not up, or the test cannot decide yet), ``pass`` or ``fail``, with the
reason people read in the registry's history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from loopline._errors import LoopError
from loopline.events import EventLog
from loopline.experiments import ExperimentSpec
from loopline.loop._experiment import analyze_experiment
from loopline.loop._judge import Comparison, compare
from loopline.monitoring import labelled_exposures
from loopline.registry import Registry
from loopline.serving import CANARY_ARM, DeploymentSpec
from loopline.spec import AbGate, CanaryGate, ProblemSpec, ShadowGate, format_duration
from loopline.workspace import Workspace

Verdict = Literal["wait", "pass", "fail"]
CONTROL, TREATMENT = "control", "treatment"


@dataclass(frozen=True)
class GateResult:
    verdict: Verdict
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def experiment_name(deployment: str, version: int) -> str:
    return f"{deployment}-v{version}"


def with_gate(base: DeploymentSpec, gate: str, *, challenger: int, champion: int, settings: Any) -> DeploymentSpec:
    """``base`` changed for ``gate`` (see the module docstring); a :class:`LoopError` when the deployment is busy."""
    data = base.to_dict()
    where = f"deployment '{base.name}'"
    if gate == "shadow":
        data["shadows"] = [*data["shadows"], challenger]
    elif gate == "canary":
        if base.canary is not None:
            raise LoopError(f"{where} already runs a canary of {base.canary.version}; end it before the loop's canary "
                            "gate, or turn the gate off (retrain.gates.canary: null).")
        c: CanaryGate = settings
        data["canary"] = {"version": challenger, "share": c.share, "max_error_rate": c.max_error_rate,
                          "max_p99_ms": c.max_p99_ms, "window_s": c.window_s, "min_requests": c.min_requests}
    elif gate == "ab":
        if base.experiment is not None or len(base.arms) > 1:
            raise LoopError(f"{where} already runs experiment '{base.experiment}'; end it before the loop's A/B gate, "
                            "or turn the gate off (retrain.gates.ab: null).")
        ab: AbGate = settings
        data["experiment"] = experiment_name(base.name, challenger)
        data["arms"] = {CONTROL: {"version": champion, "weight": 1 - ab.share},
                        TREATMENT: {"version": challenger, "weight": ab.share}}
        data["interleave"] = False
    else:
        raise LoopError(f"unknown gate {gate!r}")
    return DeploymentSpec.from_dict(data, source=f"{where} with the {gate} gate")


def promoted(base: DeploymentSpec, *, old: int, new: int) -> DeploymentSpec:
    """``base`` with every reference to the old champion by number now naming the new one (aliases follow by
    themselves once ``champion`` moves)."""
    data = base.to_dict()
    for arm in data["arms"].values():
        if arm["version"] == old:
            arm["version"] = new
    return DeploymentSpec.from_dict(data, source=f"deployment '{base.name}' after promoting v{new}")


def shadow_verdict(spec: ProblemSpec, gate: ShadowGate, log: EventLog, *, deployment: str, challenger: int,
                   champion: int, start: datetime, now: datetime) -> GateResult:
    """Pass when, ``duration`` after ``start``, the shadow scored at least ``min_rows`` exposures and its primary
    metric on the champion's served, labelled items is no worse than the champion's by more than
    ``max_loss_increase``."""
    if now - start < gate.duration:
        return GateResult("wait", f"shadow runs until {(start + gate.duration).isoformat()}")
    exposures = _exposures(log, deployment, start, now)
    shadow = exposures[~exposures["served"] & (exposures["model_version"] == str(challenger))]
    if len(shadow) < gate.min_rows:
        return GateResult("fail", f"v{challenger} scored only {len(shadow):,} exposures in the shadow over "
                          f"{format_duration(now - start)} (min_rows {gate.min_rows:,}): too little traffic reached "
                          "it, or it failed to score", {"rows": len(shadow)})
    served = exposures[exposures["served"] & (exposures["model_version"] == str(champion))]
    feedback = log.read("feedback", start=start, end=now)
    labelled, _ = labelled_exposures(served, feedback, label_spec=spec.label, now=now)
    pair = labelled.merge(shadow[["request_id", "item_id", "score"]].drop_duplicates(["request_id", "item_id"]),
                          on=["request_id", "item_id"], suffixes=("", "_shadow"))
    if len(pair) < gate.min_rows:
        return GateResult("fail", f"only {len(pair):,} of the champion's served exposures have a known label and a "
                          f"shadow score (min_rows {gate.min_rows:,})", {"rows": len(shadow), "paired": len(pair)})
    found = _compare(spec, pair, challenger="score_shadow", champion="score")
    details = {"rows": len(shadow), **found.to_dict()}
    if found.improvement < -gate.max_loss_increase:
        return GateResult("fail", f"in the shadow, {found.describe()}: worse than the champion by more than "
                          f"{gate.max_loss_increase:g}", details)
    return GateResult("pass", f"in the shadow, {found.describe()}", details)


def canary_verdict(gate: CanaryGate, log: EventLog, registry: Registry, *, deployment: str, challenger: int,
                   start: datetime, now: datetime) -> GateResult:
    """Fail at once when the server took the canary out; pass when, ``duration`` after ``start``, it served at least
    ``min_requests`` requests with a p99 latency within ``max_p99_ms``."""
    active = DeploymentSpec.from_dict(registry.deployment(deployment).spec, source=f"deployment '{deployment}'")
    if active.canary is None or active.canary.version != challenger:
        reason = registry.deployment(deployment).reason
        return GateResult("fail", f"the canary of v{challenger} was taken out of '{deployment}': {reason}")
    if now - start < gate.duration:
        return GateResult("wait", f"canary runs until {(start + gate.duration).isoformat()}")
    exposures = _exposures(log, deployment, start, now)
    rows = exposures[exposures["served"] & (exposures["arm"] == CANARY_ARM)]
    requests = rows.drop_duplicates("request_id")
    latency = requests["latency_ms"].dropna().to_numpy(dtype=float)
    p99 = float(np.percentile(latency, 99)) if len(latency) else math.nan
    details = {"requests": len(requests), "latency_p99_ms": p99}
    if len(requests) and math.isnan(p99):
        return GateResult("fail", "the canary's requests logged no latency, so max_p99_ms cannot be checked", details)
    if len(requests) < gate.min_requests:
        return GateResult("fail", f"the canary served only {len(requests):,} requests over "
                          f"{format_duration(now - start)} (min_requests {gate.min_requests:,})", details)
    if p99 > gate.max_p99_ms:
        return GateResult("fail", f"the canary's p99 latency was {p99:.1f} ms (max_p99_ms {gate.max_p99_ms:g})",
                          details)
    return GateResult("pass", f"the canary served {len(requests):,} requests, p99 {p99:.1f} ms", details)


def ab_spec(gate: AbGate, *, deployment: str, challenger: int, start: datetime,
            end: datetime | None = None) -> ExperimentSpec:
    """The loop's A/B test as an experiment spec (the gate's ``experiment`` settings added), read up to ``end``."""
    data = {**gate.experiment, "name": experiment_name(deployment, challenger), "deployment": deployment,
            "control": CONTROL, "arms": {CONTROL: 1 - gate.share, TREATMENT: gate.share},
            "primary": gate.primary, "start": start, **({"end": end} if end is not None else {})}
    return ExperimentSpec.from_dict(data)


def ab_verdict(gate: AbGate, workspace: Workspace, log: EventLog, *, model: str, deployment: str, challenger: int,
               start: datetime, now: datetime) -> GateResult:
    """From ``min_duration`` on, the experiment's decision: "ship" passes (and makes the challenger champion, after
    checking the treatment arm served exactly it), "do not ship" fails, and "keep running" waits until
    ``max_duration``, then fails."""
    if now - start < gate.min_duration:
        return GateResult("wait", f"the A/B test is read from {(start + gate.min_duration).isoformat()} on")
    spec = ab_spec(gate, deployment=deployment, challenger=challenger, start=start, end=now)
    outcome = analyze_experiment(workspace, spec, model_name=model, ship_version=challenger, log=log)
    decision = outcome.decision
    details = {"experiment": spec.name, "recommendation": decision.recommendation, "summary": decision.summary,
               "reasons": list(decision.reasons), "report": str(outcome.report.html)}
    summary = decision.summary or "; ".join(decision.reasons)
    if decision.recommendation == "ship" and decision.arm == TREATMENT and outcome.promoted is not None:
        return GateResult("pass", f"experiment {spec.name}: ship ({summary})", details)
    if decision.recommendation == "keep running":
        if now - start < gate.max_duration:
            return GateResult("wait", f"experiment {spec.name}: keep running ({summary})", details)
        return GateResult("fail", f"experiment {spec.name} was still undecided after "
                          f"{format_duration(gate.max_duration)} (max_duration): {summary}", details)
    return GateResult("fail", f"experiment {spec.name}: {decision.recommendation} ({summary})", details)


def _exposures(log: EventLog, deployment: str, start: datetime, end: datetime) -> pd.DataFrame:
    columns = ["ts", "deployment", "request_id", "unit_id", "item_id", "arm", "model_version", "score", "served",
               "latency_ms"]
    frame = log.read("exposures", start=start, end=end, columns=columns)
    frame = frame[frame["deployment"] == deployment]
    frame = frame.assign(served=frame["served"].fillna(True).astype(bool),
                         model_version=frame["model_version"].astype("string"))
    return frame.reset_index(drop=True)


def _compare(spec: ProblemSpec, pair: pd.DataFrame, *, challenger: str, champion: str) -> Comparison:
    y = pair[spec.label.target].to_numpy(dtype=float)
    groups = pair["request_id"].to_numpy() if spec.task == "ranking" else None
    return compare(spec.task, y, challenger=pair[challenger].to_numpy(dtype=float),
                   champion=pair[champion].to_numpy(dtype=float), metric=spec.primary_metric, groups=groups,
                   n_boot=spec.retrain.judge.n_boot, seed=spec.seed, **spec.metrics.scoring)
