"""Online experiments in the loop: analyse an A/B test from the event log, decide, promote on ship,
write the report; and the demo's experiment between the champion and a challenger on the simulator.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from loopline import _atomic
from loopline._errors import ExperimentError
from loopline._names import check_name
from loopline._paths import resolve_inside
from loopline._progress import SILENT, Progress
from loopline.events import EventLog
from loopline.experiments import (
    Decision,
    ExperimentAnalysis,
    ExperimentSpec,
    InterleavingResult,
    analyze,
    analyze_interleaving,
    decide,
    promote_on_ship,
)
from loopline.loop._demo_workspace import clear_demo_folders
from loopline.models import TrainedModel
from loopline.registry import AliasChange, Registry
from loopline.reports import ReportPaths, render_experiment
from loopline.simulate import FeedSimulator, SimConfig, SimExperiment, SimulationResult
from loopline.workspace import Workspace

EXPERIMENTS = "experiments"


@dataclass(frozen=True)
class ExperimentOutcome:
    """What ``loopline experiment analyze`` produced."""

    analysis: ExperimentAnalysis
    decision: Decision
    promoted: AliasChange | None
    report: ReportPaths


def experiment_spec_path(workspace: Workspace, name: str) -> Path:
    """Where an experiment's spec is kept in the workspace: ``experiments/<name>.yaml``.

    ``name`` must follow loopline's name rule (:class:`~loopline.ExperimentError` otherwise), so the
    path never leads out of the workspace.
    """
    check_name(name, what="experiment", error=ExperimentError, example="ranker-ab")
    return resolve_inside(workspace.root, f"{EXPERIMENTS}/{name}.yaml", what=f"the spec of experiment {name!r}",
                          error=ExperimentError, fix="Choose another experiment name.")


def experiment_report_dir(workspace: Workspace, name: str) -> Path:
    """The folder of an experiment's report: ``<reports>/experiments/<name>/``, never outside the workspace."""
    check_name(name, what="experiment", error=ExperimentError, example="ranker-ab")
    return resolve_inside(workspace.reports_root, f"{EXPERIMENTS}/{name}", what=f"the report of experiment {name!r}",
                          error=ExperimentError, fix="Choose another experiment name.")


def analyze_experiment(workspace: Workspace, spec: ExperimentSpec, *, model_name: str | None = None,
                       ship_version: int | None = None, interleaving: InterleavingResult | None = None,
                       facts: dict[str, str] | None = None, log: EventLog | None = None) -> ExperimentOutcome:
    """Analyse ``spec`` on the workspace's event log, decide, and write the report.

    With ``model_name`` the offline metrics of each arm's model version are set beside its online
    effect; with ``ship_version`` as well, a "ship" decision makes that version ``champion``, the
    experiment named as the reason in the alias history, once the shipping arm is shown to have
    served exactly that version (else :class:`~loopline.ExperimentError`, with nothing written).
    """
    report_dir = experiment_report_dir(workspace, spec.name)  # refused before anything is read or written
    registry = Registry(workspace, create=False) if model_name is not None else None
    analysis = analyze(log or EventLog.for_workspace(workspace), spec, registry=registry, model_name=model_name)
    decision = decide(analysis)
    promoted = None
    if registry is not None and model_name is not None and ship_version is not None:
        promoted = promote_on_ship(analysis, decision, registry, model_name, ship_version)
    report = render_experiment(analysis, decision, report_dir,
                               title=f"Experiment {spec.name}", facts=facts, interleaving=interleaving)
    return ExperimentOutcome(analysis=analysis, decision=decision, promoted=promoted, report=report)


@dataclass(frozen=True)
class ExperimentDemo:
    """The demo's A/B test and interleaving run, with the simulator's true effects beside the estimates."""

    spec_path: Path
    outcome: ExperimentOutcome
    simulation: SimulationResult
    truth: dict[str, Any]
    interleaving: InterleavingResult
    interleaving_truth: dict[str, Any]


def run_experiment_demo(workspace: Workspace, *, config: SimConfig, model_name: str,
                        arms: dict[str, tuple[int, TrainedModel]], days: int = 7, name: str = "ranker-ab",
                        progress: Progress = SILENT) -> ExperimentDemo:
    """Run ``days`` more simulated days in which each arm ranks the feed with its model, then analyse.

    ``arms`` maps arm name to (registered version, model); the first arm is control. The simulation
    repeats the training days exactly (same seed, same built-in policy) and starts the experiment the
    day after, so the event log reads as one continuous history. An interleaving run of the same two
    rankers goes to a separate log.
    """
    log = EventLog.for_workspace(workspace)
    names = list(arms)
    policies = {arm: _policy(model) for arm, (_, model) in arms.items()}
    versions = {arm: f"v{version}" for arm, (version, _) in arms.items()}
    weights = {arm: 1.0 / len(arms) for arm in arms}
    ab = SimExperiment(name=name, arms=weights, start_day=config.days, policies=policies, model_versions=versions)
    clear_demo_folders(workspace, [log.root / kind for kind in ("exposures", "feedback", "assignments")])
    simulation = FeedSimulator(dataclasses.replace(config, days=config.days + days, experiment=ab)).run(
        log, progress=progress)

    spec = ExperimentSpec.from_dict({
        "name": name, "control": names[0], "arms": weights, "primary": "ctr",
        "cuped": {"pre_days": 7}, "guardrails": [{"metric": "clicks_per_user", "margin": 0.02, "relative": True}],
    })
    spec_path = experiment_spec_path(workspace, name)
    header = (f"# Written by 'loopline demo'. Analyse with: loopline experiment analyze {name} --workspace "
              f"{workspace.root}\n")
    _atomic.write_text(spec_path, header + yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True),
                                                          sort_keys=False))

    interleaved_log = EventLog(workspace.root / "interleaving-events")
    clear_demo_folders(workspace, [interleaved_log.root])
    ilv = SimExperiment(name=f"{name}-interleaved", arms=weights, start_day=config.days, policies=policies,
                        model_versions=versions, interleave=True)
    ilv_sim = FeedSimulator(dataclasses.replace(config, days=config.days + days, experiment=ilv)).run(
        interleaved_log, progress=progress)
    interleaving = analyze_interleaving(interleaved_log, f"{name}-interleaved")

    truth = _plain(simulation.experiment_truth)
    challenger_version = arms[names[1]][0]
    facts = {"true relative effect on CTR (simulator, population)": _true_effect(truth, names[1]),
             "interleaving preference": f"{interleaving.preferred_name or 'none'} (p = {interleaving.p_value:.3g})"}
    outcome = analyze_experiment(workspace, spec, model_name=model_name, ship_version=challenger_version,
                                 interleaving=interleaving, facts=facts, log=log)
    return ExperimentDemo(spec_path=spec_path, outcome=outcome, simulation=simulation, truth=truth,
                          interleaving=interleaving, interleaving_truth=_plain(ilv_sim.experiment_truth))


def _policy(model: TrainedModel) -> Any:
    def score(candidates: pd.DataFrame) -> Any:
        return model.predict(candidates)

    return score


def _plain(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "to_dict"):
        found: dict[str, Any] = value.to_dict()
        return found
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return dict(value)


def true_ctr_effect(truth: dict[str, Any], arm: str) -> float | None:
    """The simulator's relative effect of ``arm`` on CTR: the population effect (what the experiment's interval
    estimates) when the run measured it, else the realised effect of the units drawn."""
    population = truth.get("population_effects", {})
    found = population.get(arm, {}).get("ctr", {}) if isinstance(population, dict) else {}
    value = found.get("relative") if isinstance(found, dict) else None
    if value is None:
        effects = truth.get("effects", {})
        realised = effects.get(arm, {}) if isinstance(effects, dict) else {}
        value = realised.get("ctr_relative") if isinstance(realised, dict) else None
    return None if value is None else float(value)


def _true_effect(truth: dict[str, Any], arm: str) -> str:
    value = true_ctr_effect(truth, arm)
    return "n/a" if value is None else f"{value:+.2%}"
