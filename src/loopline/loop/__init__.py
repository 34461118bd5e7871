"""The loop: the only package that wires several stages together (offline training, the demo)."""

from __future__ import annotations

from loopline.loop._demo import TRUTH, TRUTH_BLIND, DemoOutcome, demo_spec, run_demo
from loopline.loop._train import (
    ModelSummary,
    TrainingOutcome,
    code_version,
    evaluate_version,
    train,
)

__all__ = [
    "TRUTH",
    "TRUTH_BLIND",
    "DemoOutcome",
    "ModelSummary",
    "TrainingOutcome",
    "code_version",
    "demo_spec",
    "evaluate_version",
    "run_demo",
    "train",
]
