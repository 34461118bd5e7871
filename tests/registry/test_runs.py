"""Runs: started, finished once, listed newest first."""

from __future__ import annotations

import math

import pytest

from loopline import RegistryError
from loopline.registry import Registry
from tests.registry.conftest import start


def test_a_run_starts_running_and_finishes_with_its_outcome(registry: Registry) -> None:
    run = registry.start_run(spec_name="churn", spec_hash="s", data_fingerprint="d",
                             params={"spec": {"name": "churn", "seed": 0}}, code_version="0.1.0")
    assert (run.status, run.metrics, run.timings, run.finished_at) == ("running", {}, {}, None)
    assert registry.get_run(run.run_id) == run
    done = registry.finish_run(run.run_id, status="finished", metrics={"test": {"roc_auc": 0.8, "brier": math.inf}},
                               timings={"train_s": 1.5})
    assert done.status == "finished" and done.timings == {"train_s": 1.5} and done.error is None
    assert done.metrics["test"]["roc_auc"] == 0.8 and math.isinf(done.metrics["test"]["brier"])
    assert done.params == {"spec": {"name": "churn", "seed": 0}}
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert registry.get_run(run.run_id) == done


def test_a_failed_run_keeps_its_error(registry: Registry) -> None:
    run = start(registry)
    failed = registry.finish_run(run.run_id, status="failed", metrics={}, timings={}, error="DataError: no rows")
    assert (failed.status, failed.error) == ("failed", "DataError: no rows")


def test_a_run_is_finished_once(registry: Registry) -> None:
    run = start(registry)
    registry.finish_run(run.run_id, status="finished", metrics={}, timings={})
    with pytest.raises(RegistryError, match=rf"run '{run.run_id}' already ended with status 'finished'"):
        registry.finish_run(run.run_id, status="failed", metrics={}, timings={})
    with pytest.raises(RegistryError, match=r"status must be 'finished' or 'failed', got 'done'"):
        registry.finish_run(run.run_id, status="done", metrics={}, timings={})  # type: ignore[arg-type]


def test_unknown_runs_list_the_latest(registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"no run 'nope' in the registry; there are no runs yet"):
        registry.finish_run("nope", status="failed", metrics={}, timings={})
    run = start(registry)
    with pytest.raises(RegistryError, match=rf"no run 'nope' in the registry; the latest runs are {run.run_id}\."):
        registry.get_run("nope")


def test_runs_are_listed_newest_first(registry: Registry) -> None:
    ids = [start(registry).run_id for _ in range(4)]
    assert [r.run_id for r in registry.runs()] == ids[::-1]
    assert [r.run_id for r in registry.runs(limit=2)] == ids[:1:-1]
    with pytest.raises(RegistryError, match=r"runs\(limit=\.\.\.\) takes a positive whole number, got 0"):
        registry.runs(0)
