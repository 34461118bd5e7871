"""Code run in spawned processes by the concurrency tests (importable, so ``spawn`` can find it)."""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any


def register_many(root: str, db_url: str | None, source: str, sha256: str, count: int, barrier: Any,
                  results: Any) -> None:
    """Wait for every worker, then open the registry (racing the migration) and register ``count`` versions."""
    try:
        from loopline.registry import Registry
        from loopline.workspace import Workspace

        env = {"LOOPLINE_DB_URL": db_url} if db_url else {}
        workspace = Workspace.open(root, env=env)
        barrier.wait(timeout=60)
        registry = Registry(workspace)
        run = registry.start_run(spec_name="churn", spec_hash="s", data_fingerprint="d", params={"pid": os.getpid()},
                                 code_version="test")
        numbers = []
        for _ in range(count):
            version = registry.register_model(
                name="churn", run_id=run.run_id, artifact_dir=Path(source), sha256=sha256, family="linear",
                task="binary", features=["x"], metrics={"test": {"roc_auc": 0.5}}, baselines_beaten=[],
                spec_hash="s", data_fingerprint="d", code_version="test", profile=None,
            )
            numbers.append(version.version)
        registry.finish_run(run.run_id, status="finished", metrics={}, timings={})
        results.put(("ok", numbers))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def beat_until_killed(root: str, db_url: str | None, interval_s: float, results: Any) -> None:
    """Start a run, keep its heartbeat going and report its id; then wait to be killed."""
    try:
        import time

        from loopline.registry import Registry
        from loopline.workspace import Workspace

        registry = Registry(Workspace.open(root, env={"LOOPLINE_DB_URL": db_url} if db_url else {}))
        run = registry.start_run(spec_name="churn", spec_hash="s", data_fingerprint="d", params={"pid": os.getpid()},
                                 code_version="test")
        with registry.heartbeat(run.run_id, interval_s=interval_s):
            results.put(("ok", run.run_id))
            time.sleep(600)
    except BaseException:
        results.put(("error", traceback.format_exc()))
