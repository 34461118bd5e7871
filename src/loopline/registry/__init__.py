"""The model registry: runs, numbered model versions, aliases with their history, lineage and model cards.

Typical use (the training loop does this for you)::

    registry = Registry(Workspace.open("ws"))
    run = registry.start_run(spec_name="churn", spec_hash=..., data_fingerprint=..., params=..., code_version=...)
    version = registry.register_model(name="churn", run_id=run.run_id, artifact_dir=saved, sha256=sha, ...)
    registry.promote("churn", version.version, reason="beats every baseline on test")
    model = registry.load("churn", "champion")
"""

from __future__ import annotations

from loopline.registry._card import render_card
from loopline.registry._registry import Registry
from loopline.registry._types import AliasChange, ModelVersion, Run, RunStatus

__all__ = ["AliasChange", "ModelVersion", "Registry", "Run", "RunStatus", "render_card"]
