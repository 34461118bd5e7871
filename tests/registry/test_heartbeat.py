"""Heartbeats: a run whose process dies is reported abandoned instead of running forever."""

from __future__ import annotations

import multiprocessing
import re
import time

import pytest
import sqlalchemy as sa

from loopline import RegistryError
from loopline.registry import Registry
from loopline.registry._engine import create_registry_engine
from loopline.workspace import Workspace
from tests.registry._workers import beat_until_killed
from tests.registry.conftest import start

INTERVAL_S = 0.2  # so a run is abandoned after 3 silent intervals: 0.6 s


def _stored_status(workspace: Workspace, run_id: str) -> str:
    engine = create_registry_engine(workspace.db_url.reveal())
    with engine.connect() as conn:
        status: str = conn.execute(sa.text("SELECT status FROM runs WHERE run_id = :id"), {"id": run_id}).scalar_one()
    engine.dispose()
    return status


def test_a_beating_run_stays_running_and_a_silent_one_is_abandoned(registry: Registry,
                                                                    workspace: Workspace) -> None:
    run = start(registry)
    with registry.heartbeat(run.run_id, interval_s=INTERVAL_S):
        time.sleep(3.5 * INTERVAL_S)  # longer than the timeout: only the beats keep it alive
        alive = registry.get_run(run.run_id)
    assert alive.status == "running" and alive.error is None
    assert alive.heartbeat_at is not None and alive.heartbeat_at > run.started_at
    time.sleep(3.5 * INTERVAL_S)  # the block ended without finishing the run, as if the process had died
    gone = registry.get_run(run.run_id)
    assert gone.status == "abandoned" and gone.finished_at is None
    assert re.fullmatch(r"abandoned: no heartbeat since \d{4}-\d\d-\d\dT[\d:.]+\+00:00 \(timeout 0\.6 s\); the "
                        r"process running it stopped without finishing it \(killed, or its machine went down\)\. "
                        r"Start a new run\.", gone.error or "")
    assert [r.status for r in registry.runs()] == ["abandoned"]
    # Reading changed nothing; the next run's start writes the verdict into the database.
    assert _stored_status(workspace, run.run_id) == "running"
    start(registry)
    assert _stored_status(workspace, run.run_id) == "abandoned"
    # A run presumed dead that comes back may still finish: nothing it computed is lost.
    done = registry.finish_run(run.run_id, status="finished", metrics={"test": {"roc_auc": 0.8}}, timings={})
    assert done.status == "finished" and registry.get_run(run.run_id).status == "finished"


def test_a_run_without_heartbeat_is_never_abandoned(registry: Registry) -> None:
    run = start(registry)
    assert registry.get_run(run.run_id).status == "running" and run.heartbeat_at == run.started_at


def test_heartbeat_arguments_are_checked(registry: Registry) -> None:
    unknown = r"cannot beat for run 'nope': no such run is running"
    with pytest.raises(RegistryError, match=unknown), registry.heartbeat("nope"):
        pass
    run = start(registry)
    bad_interval = r"heartbeat\(interval_s=\.\.\.\) takes a positive number of seconds, e\.g\. 30; got 0"
    with pytest.raises(RegistryError, match=bad_interval), registry.heartbeat(run.run_id, interval_s=0):
        pass
    registry.finish_run(run.run_id, status="finished", metrics={}, timings={})
    with pytest.raises(RegistryError, match="no such run is running"), registry.heartbeat(run.run_id):
        pass


@pytest.mark.slow
def test_a_run_whose_process_is_killed_is_reported_abandoned(workspace: Workspace) -> None:
    interval_s = 0.5
    db_url = None if workspace.db_url.startswith("sqlite") else workspace.db_url.reveal()
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=beat_until_killed, args=(str(workspace.root), db_url, interval_s, results))
    proc.start()
    try:
        status, detail = results.get(timeout=120)
        assert status == "ok", detail
        registry = Registry(workspace)
        time.sleep(4 * interval_s)  # past the timeout (3 intervals): alive only because the child beats
        assert registry.get_run(detail).status == "running"
    finally:
        proc.kill()  # SIGKILL: no finally block, no atexit, no finish_run
        proc.join(timeout=60)
        results.close()
        results.join_thread()
    assert proc.exitcode == -9
    time.sleep(4 * interval_s)
    found = registry.get_run(detail)
    assert found.status == "abandoned" and "(timeout 1.5 s)" in (found.error or "")
    start(registry)
    assert _stored_status(workspace, detail) == "abandoned"
