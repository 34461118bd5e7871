"""The model registry: runs, numbered model versions, aliases with their history, lineage and model cards.

Typical use (the training loop does this for you)::

    registry = Registry(Workspace.open("ws"))
    run = registry.start_run(spec_name="churn", spec_hash=..., data_fingerprint=..., params=..., code_version=...)
    with registry.heartbeat(run.run_id):  # if the process dies, the run is reported 'abandoned'
        ...  # train and save
        version = registry.register_model(name="churn", run_id=run.run_id, artifact_dir=saved, sha256=sha, ...,
                                          alias="champion", reason="beats every baseline on test")
        registry.finish_run(run.run_id, status="finished", metrics=..., timings=...)
    model = registry.load("churn", "champion")

Serving's deployments are kept here too, every revision with who deployed it and why
(``registry.deploy(spec, actor=...)``, ``deployment``, ``deployment_history``), with the online
experiments they run (``registry.experiment(name)``: arms, versions, shares, start and end) and the
kill switches every worker follows (``set_killed``, ``controls``). The alerts monitoring fires are stored
here too, with their rule's cool-down applied (``record_alert``, ``alerts``), and so is the continual-learning
loop's history, every step with its reason (``record_step``, ``loop_steps``).

Registering a version and moving an alias to it is one transaction. Stored artifact paths are
relative to the workspace's artifact root and never resolve outside it.
"""

from __future__ import annotations

from loopline.registry._alerts import StoredAlert
from loopline.registry._card import render_card
from loopline.registry._controls import Control, ControlKind
from loopline.registry._deployments import Deployment, ExperimentArm, ExperimentRecord
from loopline.registry._loop_steps import LoopStep
from loopline.registry._registry import Registry
from loopline.registry._types import AliasChange, ModelVersion, Run, RunStatus

__all__ = [
    "AliasChange",
    "Control",
    "ControlKind",
    "Deployment",
    "ExperimentArm",
    "ExperimentRecord",
    "LoopStep",
    "ModelVersion",
    "Registry",
    "Run",
    "RunStatus",
    "StoredAlert",
    "render_card",
]
