"""Training runs: started before training, finished (or failed) with metrics and timings.

A run killed outright (SIGKILL, a lost machine) cannot finish itself. While it trains, its process
refreshes ``heartbeat_at`` (see :mod:`loopline.registry._heartbeat`); a ``running`` run silent for
longer than its ``heartbeat_timeout_s`` is reported ``abandoned`` whenever it is read, and the next
:func:`start_run` writes that status into the database. A run presumed abandoned that comes back
(its next heartbeat or :func:`finish_run`) is ``running`` again, or finishes normally: a heartbeat is
evidence of life, not a verdict. Runs that never beat (started without a heartbeat, or before schema
revision 0002) are never reported abandoned.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopline._errors import RegistryError
from loopline.registry._engine import read_connection, write_transaction
from loopline.registry._schema import runs
from loopline.registry._types import Run, RunStatus

_FINAL = ("finished", "failed")
_OPEN = ("running", "abandoned")


def _silent_since(row: Any, now: datetime) -> datetime | None:
    """When ``row``'s heartbeat stopped, if it has been silent for longer than its timeout; else None."""
    if row.status != "running" or row.heartbeat_timeout_s is None or row.heartbeat_at is None:
        return None
    late = now - row.heartbeat_at > timedelta(seconds=float(row.heartbeat_timeout_s))
    return row.heartbeat_at if late else None


def _abandoned_error(since: datetime, timeout_s: float) -> str:
    return (f"abandoned: no heartbeat since {since.isoformat()} (timeout {timeout_s:g} s); the process running it "
            "stopped without finishing it (killed, or its machine went down). Start a new run.")


def _to_run(row: Any, now: datetime) -> Run:
    status: RunStatus = row.status
    error = row.error
    since = _silent_since(row, now)
    if since is not None:
        status, error = "abandoned", _abandoned_error(since, float(row.heartbeat_timeout_s))
    return Run(
        run_id=row.run_id, spec_name=row.spec_name, spec_hash=row.spec_hash, data_fingerprint=row.data_fingerprint,
        params=row.params, code_version=row.code_version, status=status, metrics=row.metrics,
        timings=row.timings, error=error, started_at=row.started_at, finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
    )


def start_run(engine: Engine, *, spec_name: str, spec_hash: str, data_fingerprint: str, params: Mapping[str, Any],
              code_version: str) -> Run:
    if not isinstance(spec_name, str) or not spec_name:
        raise RegistryError(f"start_run needs the spec's name, e.g. 'churn'; got {spec_name!r}.")
    now = datetime.now(UTC)
    run = Run(run_id=uuid.uuid4().hex, spec_name=spec_name, spec_hash=spec_hash, data_fingerprint=data_fingerprint,
              params=dict(params), code_version=code_version, status="running", metrics={}, timings={}, error=None,
              started_at=now, finished_at=None, heartbeat_at=now)
    with write_transaction(engine) as conn:
        mark_abandoned(conn, now)
        conn.execute(runs.insert().values(
            run_id=run.run_id, spec_name=spec_name, spec_hash=spec_hash, data_fingerprint=data_fingerprint,
            params=run.params, code_version=code_version, status=run.status, metrics={}, timings={}, error=None,
            started_at=run.started_at, finished_at=None, heartbeat_at=now, heartbeat_timeout_s=None,
        ))
    return run


def mark_abandoned(conn: Connection, now: datetime) -> list[str]:
    """Write status ``abandoned`` for every running run whose heartbeat is overdue; return their ids."""
    query = sa.select(runs.c.run_id, runs.c.status, runs.c.heartbeat_at, runs.c.heartbeat_timeout_s).where(
        runs.c.status == "running", runs.c.heartbeat_timeout_s.is_not(None))
    marked = []
    for row in conn.execute(query).all():
        since = _silent_since(row, now)
        if since is None:
            continue
        conn.execute(runs.update().where(runs.c.run_id == row.run_id, runs.c.status == "running",
                                         runs.c.heartbeat_at == row.heartbeat_at)
                     .values(status="abandoned", error=_abandoned_error(since, float(row.heartbeat_timeout_s))))
        marked.append(row.run_id)
    return marked


def beat(engine: Engine, run_id: str, *, timeout_s: float) -> bool:
    """Record a sign of life of ``run_id``; False when the run has ended (or does not exist)."""
    with write_transaction(engine) as conn:
        done = conn.execute(runs.update().where(runs.c.run_id == run_id, runs.c.status.in_(_OPEN)).values(
            heartbeat_at=datetime.now(UTC), heartbeat_timeout_s=timeout_s, status="running", error=None))
        return bool(done.rowcount)


def finish_run(engine: Engine, run_id: str, *, status: str, metrics: Mapping[str, Mapping[str, float]],
               timings: Mapping[str, float], error: str | None) -> Run:
    if status not in _FINAL:
        raise RegistryError(f"finish_run status must be 'finished' or 'failed', got {status!r}.")
    plain_metrics = {str(s): {str(k): float(v) for k, v in values.items()} for s, values in metrics.items()}
    plain_timings = {str(k): float(v) for k, v in timings.items()}
    with write_transaction(engine) as conn:
        row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id).with_for_update()).first()
        if row is None:
            raise RegistryError(f"no run {run_id!r} in the registry; {_recent(conn)}")
        if row.status not in _OPEN:
            raise RegistryError(
                f"run {run_id!r} already ended with status {row.status!r} at {row.finished_at.isoformat()}; "
                "a run is finished once. Start a new run with Registry.start_run(...)."
            )
        now = datetime.now(UTC)
        conn.execute(runs.update().where(runs.c.run_id == run_id).values(
            status=status, metrics=plain_metrics, timings=plain_timings, error=error, finished_at=now))
        updated = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).one()
    return _to_run(updated, now)


def _recent(conn: Connection) -> str:
    ids = list(conn.execute(sa.select(runs.c.run_id).order_by(runs.c.started_at.desc()).limit(5)).scalars())
    if not ids:
        return "there are no runs yet; start one with Registry.start_run(...)."
    return f"the latest runs are {', '.join(ids)}."


def get_run(engine: Engine, run_id: str) -> Run:
    with read_connection(engine) as conn:
        row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).first()
        if row is None:
            raise RegistryError(f"no run {run_id!r} in the registry; {_recent(conn)}")
        return _to_run(row, datetime.now(UTC))


def list_runs(engine: Engine, limit: int = 50) -> list[Run]:
    """The latest ``limit`` runs, newest first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise RegistryError(f"runs(limit=...) takes a positive whole number, got {limit!r}.")
    with read_connection(engine) as conn:
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id).limit(limit)
        now = datetime.now(UTC)
        return [_to_run(row, now) for row in conn.execute(query)]
