"""The loop: the only package that wires several stages together (offline training, experiments, monitoring,
continual learning (retrain, judge, gates, promote or roll back, and its backtest), the demo, the demo's experiment
served through a real server)."""

from __future__ import annotations

from loopline._errors import LoopError
from loopline.loop._backtest import Backtest, BacktestPeriod
from loopline.loop._backtest import backtest as run_backtest
from loopline.loop._continual import LoopPass, Trigger, run_loop
from loopline.loop._continual_demo import HISTORY_DAYS as DEMO_HISTORY_DAYS
from loopline.loop._continual_demo import ContinualDemo, run_continual_demo
from loopline.loop._demo import TRUTH, TRUTH_BLIND, DemoOutcome, run_demo
from loopline.loop._demo_spec import demo_spec
from loopline.loop._demo_workspace import MARKER as DEMO_MARKER
from loopline.loop._demo_workspace import open_demo_workspace, require_demo_workspace
from loopline.loop._experiment import (
    ExperimentDemo,
    ExperimentOutcome,
    analyze_experiment,
    experiment_spec_path,
    run_experiment_demo,
)
from loopline.loop._gates import GateResult
from loopline.loop._judge import Comparison, compare
from loopline.loop._lineage import VersionEvaluation
from loopline.loop._monitor import MonitorRun, monitor, monitoring_settings
from loopline.loop._serve_demo import ServedDemo, run_served_demo
from loopline.loop._train import (
    ModelSummary,
    TrainingOutcome,
    code_version,
    evaluate_version,
    register_candidate,
    train,
)

__all__ = [
    "DEMO_HISTORY_DAYS",
    "DEMO_MARKER",
    "TRUTH",
    "TRUTH_BLIND",
    "Backtest",
    "BacktestPeriod",
    "Comparison",
    "ContinualDemo",
    "DemoOutcome",
    "ExperimentDemo",
    "ExperimentOutcome",
    "GateResult",
    "LoopError",
    "LoopPass",
    "ModelSummary",
    "MonitorRun",
    "ServedDemo",
    "TrainingOutcome",
    "Trigger",
    "VersionEvaluation",
    "analyze_experiment",
    "code_version",
    "compare",
    "demo_spec",
    "evaluate_version",
    "experiment_spec_path",
    "monitor",
    "monitoring_settings",
    "open_demo_workspace",
    "register_candidate",
    "require_demo_workspace",
    "run_backtest",
    "run_continual_demo",
    "run_demo",
    "run_experiment_demo",
    "run_loop",
    "run_served_demo",
    "train",
]
