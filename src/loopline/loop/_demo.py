"""``loopline demo``: simulate a feed, frame it, train, evaluate, register and promote, end to end.

The demo writes its spec to ``<workspace>/loopline.yaml`` so the user can read it, change it and run
``loopline train --spec <workspace>/loopline.yaml`` on the same simulated logs. It runs only in a workspace
of its own (:func:`open_demo_workspace`): everything it writes, and everything it clears, is inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from loopline import _atomic
from loopline._progress import SILENT, Progress
from loopline.events import EventLog
from loopline.loop._continual_demo import HISTORY_DAYS, ContinualDemo, run_continual_demo
from loopline.loop._demo_spec import demo_spec
from loopline.loop._demo_workspace import clear_demo_folders, require_demo_workspace
from loopline.loop._experiment import ExperimentDemo, run_experiment_demo
from loopline.loop._monitor import MonitorRun, monitor
from loopline.loop._serve_demo import DEFAULT_SERVED_USERS, ServedDemo, run_served_demo
from loopline.loop._train import TrainingOutcome, register_candidate, train
from loopline.simulate import FeedSimulator, SimConfig, SimulationResult
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace

TRUTH = "simulator truth"
"""The simulator's click probability of each impression: the best any model could do."""
TRUTH_BLIND = "simulator truth, position-blind"
"""The true engagement probability without the position effect, scaled to the mean click rate: the best
a model that does not know the feed position (the demo's models do not: the ranking decides it) could do."""
SHADOW = "random"
"""The trained model the served A/B test scores in the shadow: a third version, never served. The random
baseline costs nothing to score; the heuristic rule runs in DuckDB (about 13 ms a call for 40 items), which
backs the server's shadow queue up behind a replay and holds its shutdown until the queue drains."""


@dataclass(frozen=True)
class DemoOutcome:
    workspace: Path
    spec_path: Path
    simulation: SimulationResult
    training: TrainingOutcome
    experiment: ExperimentDemo | None = None
    served: ServedDemo | None = None
    monitoring: MonitorRun | None = None
    continual: ContinualDemo | None = None


def run_demo(workspace: Workspace, *, config: SimConfig | None = None, n_boot: int = 200,
             experiment_days: int = 7, served_days: int = 1, served_users: int | None = DEFAULT_SERVED_USERS,
             continual_days: int = 0, progress: Progress = SILENT) -> DemoOutcome:
    """Simulate, train, evaluate, register, promote; then (``experiment_days`` > 0) register the runner-up
    as challenger and run a simulated A/B test and an interleaving run of champion against challenger;
    then (``served_days`` > 0) run the same two versions as an A/B test through a real server on 127.0.0.1,
    with the random baseline in the shadow, for ``served_days`` more simulated days of about
    ``served_users`` users (None: all), and analyse it from the server's log (:func:`run_served_demo`);
    then (``continual_days`` beyond the continual run's history) simulate that many days of a feed that drifts,
    with the continual-learning loop and without it (:func:`~loopline.loop._continual_demo.run_continual_demo`).

    ``workspace`` must be the demo's own (:func:`open_demo_workspace`); any other is refused before anything
    is written, since a rerun replaces the simulated event log.
    """
    require_demo_workspace(workspace)
    log = EventLog.for_workspace(workspace)
    # A rerun replaces the simulated logs rather than appending a second copy.
    clear_demo_folders(workspace, [log.root / kind for kind in ("exposures", "feedback", "assignments")])
    simulation = FeedSimulator(config or SimConfig()).run(log, progress=progress)

    spec_path = workspace.root / "loopline.yaml"
    spec_text = ("# Written by 'loopline demo'. Edit it and run: loopline train --spec " + str(spec_path)
                 + " --workspace " + str(workspace.root) + "\n"
                 + yaml.safe_dump(demo_spec(log), sort_keys=False))
    _atomic.write_text(spec_path, spec_text)
    spec = ProblemSpec.load(spec_path)

    truth = pd.read_parquet(simulation.truth_path, columns=["request_id", "item_id", "true_p", "p_engage"])

    def references(frame: pd.DataFrame) -> Mapping[str, np.ndarray]:
        joined = frame[["request_id", "item_id"]].merge(truth, on=["request_id", "item_id"], how="left")
        true_p = joined["true_p"].to_numpy(dtype=float)
        engage = joined["p_engage"].to_numpy(dtype=float)
        return {TRUTH: true_p, TRUTH_BLIND: engage * (true_p.mean() / engage.mean())}

    training = train(spec, workspace, promote=True, references=references, n_boot=n_boot, progress=progress)
    experiment: ExperimentDemo | None = None
    served: ServedDemo | None = None
    runner_up = [m.name for m in training.models if not m.is_baseline and m.name != training.best]
    if (experiment_days > 0 or served_days > 0) and runner_up and training.promoted:
        config = config or SimConfig()
        challenger = register_candidate(spec, workspace, training, runner_up[0], alias="challenger",
                                        reason="runner-up of the demo's training run, to test online")
        arms = {"control": (training.version.version, training.trained[training.best]),
                "treatment": (challenger.version, training.trained[runner_up[0]])}
        if experiment_days > 0:
            experiment = run_experiment_demo(workspace, config=config, model_name=spec.name, arms=arms,
                                             days=experiment_days, progress=progress)
        if served_days > 0 and SHADOW in training.trained:
            shadow = register_candidate(spec, workspace, training, SHADOW, alias="shadow",
                                        reason=f"the {SHADOW} baseline, scored in the shadow of the served A/B test")
            served = run_served_demo(workspace, config=config, model_name=spec.name,
                                     arms={arm: version for arm, (version, _) in arms.items()},
                                     shadow=shadow.version, days=served_days, users=served_users, progress=progress)
    monitoring = None
    if served is not None:
        monitoring = monitor_served(workspace, model=spec.name, served=served, progress=progress)
    continual = None
    if continual_days > HISTORY_DAYS:
        continual = run_continual_demo(workspace, config=config or SimConfig(), days=continual_days,
                                       progress=progress)
    return DemoOutcome(workspace=workspace.root, spec_path=spec_path, simulation=simulation, training=training,
                       experiment=experiment, served=served, monitoring=monitoring, continual=continual)


def monitor_served(workspace: Workspace, *, model: str, served: ServedDemo, progress: Progress = SILENT) -> MonitorRun:
    """Monitor the control arm of the served days from the server's log: drift against the champion's training
    reference, quality, health, and performance from the posted feedback, with the report under
    ``reports/monitoring``. The server stamped its records with the wall clock while it replayed the simulated
    days, so the window is the log's own span, and every label window is closed an hour after it. The demo
    posts no webhook."""
    log = EventLog(served.events_root)
    stamps = log.read("exposures", columns=["ts"])["ts"]
    start, end = stamps.min().to_pydatetime(), stamps.max().to_pydatetime() + timedelta(seconds=1)
    return monitor(workspace, model=model, version=served.versions["control"], deployment=served.deployment,
                   log=log, end=end, window=end - start, history=end - start, period=end - start,
                   now=end + timedelta(hours=1), report_dir=workspace.root / "reports" / "monitoring",
                   post=lambda url, alerts: None, progress=progress)
