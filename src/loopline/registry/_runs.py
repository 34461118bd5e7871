"""Training runs: started before training, finished (or failed) with metrics and timings."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopline._errors import RegistryError
from loopline.registry._engine import read_connection, write_transaction
from loopline.registry._schema import runs
from loopline.registry._types import Run

_FINAL = ("finished", "failed")


def _to_run(row: Any) -> Run:
    return Run(
        run_id=row.run_id, spec_name=row.spec_name, spec_hash=row.spec_hash, data_fingerprint=row.data_fingerprint,
        params=row.params, code_version=row.code_version, status=row.status, metrics=row.metrics,
        timings=row.timings, error=row.error, started_at=row.started_at, finished_at=row.finished_at,
    )


def start_run(engine: Engine, *, spec_name: str, spec_hash: str, data_fingerprint: str, params: Mapping[str, Any],
              code_version: str) -> Run:
    if not isinstance(spec_name, str) or not spec_name:
        raise RegistryError(f"start_run needs the spec's name, e.g. 'churn'; got {spec_name!r}.")
    run = Run(run_id=uuid.uuid4().hex, spec_name=spec_name, spec_hash=spec_hash, data_fingerprint=data_fingerprint,
              params=dict(params), code_version=code_version, status="running", metrics={}, timings={}, error=None,
              started_at=datetime.now(UTC), finished_at=None)
    with write_transaction(engine) as conn:
        conn.execute(runs.insert().values(
            run_id=run.run_id, spec_name=spec_name, spec_hash=spec_hash, data_fingerprint=data_fingerprint,
            params=run.params, code_version=code_version, status=run.status, metrics={}, timings={}, error=None,
            started_at=run.started_at, finished_at=None,
        ))
    return run


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
        if row.status != "running":
            raise RegistryError(
                f"run {run_id!r} already ended with status {row.status!r} at {row.finished_at.isoformat()}; "
                "a run is finished once. Start a new run with Registry.start_run(...)."
            )
        conn.execute(runs.update().where(runs.c.run_id == run_id).values(
            status=status, metrics=plain_metrics, timings=plain_timings, error=error, finished_at=datetime.now(UTC)))
        updated = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).one()
    return _to_run(updated)


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
        return _to_run(row)


def list_runs(engine: Engine, limit: int = 50) -> list[Run]:
    """The latest ``limit`` runs, newest first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise RegistryError(f"runs(limit=...) takes a positive whole number, got {limit!r}.")
    with read_connection(engine) as conn:
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id).limit(limit)
        return [_to_run(row) for row in conn.execute(query)]
