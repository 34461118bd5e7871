"""The registry's tables as SQLAlchemy Core metadata (the Alembic migrations create exactly these).

JSON documents are stored as text written by :func:`dumps` (so NaN metrics survive on every
backend, PostgreSQL's JSON types refuse them) and timestamps are timezone-aware UTC on the way in
and out, whatever the backend stores. ``artifact_path`` and ``card_path`` are POSIX paths relative to
the workspace's artifact root (rows written before schema revision 0002 may hold absolute paths; see
``loopline.registry._lookup``). A run's ``heartbeat_at`` is its last sign of life and
``heartbeat_timeout_s`` how long it may stay silent before it is reported abandoned. ``alerts`` holds the
alerts monitoring fired (revision 0004). ``loop_steps`` holds the continual-learning loop's history, every
step with its stage, status and reason (revision 0005).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from loopline._json import dumps as json_dumps

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _refuse(value: Any) -> Any:
    raise TypeError(
        f"cannot store a {type(value).__name__} in the registry; pass plain JSON values "
        "(str, int, float, bool, None, lists and dicts of them)"
    )


def dumps(value: Any) -> str:
    """``value`` as JSON text (:mod:`loopline._json`) with NaN and infinities kept (``NaN``, ``Infinity``).

    These columns are private to the registry and read back only by :class:`JSONText` (Python's
    :func:`json.loads` accepts the tokens), so a NaN metric comes back as a float NaN, not as a
    missing value. Whatever leaves the registry for people or programs is encoded again with the
    standard rule (NaN as null).
    """
    return json_dumps(value, nonfinite="keep", default=_refuse)


class JSONText(sa.TypeDecorator[Any]):
    """A JSON document stored as text."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp (stored naive UTC on SQLite, ``timestamptz`` on PostgreSQL)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"registry timestamps must be timezone-aware UTC, got naive {value.isoformat()}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData(naming_convention=NAMING)

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("spec_name", sa.String(200), nullable=False),
    sa.Column("spec_hash", sa.String(128), nullable=False),
    sa.Column("data_fingerprint", sa.String(128), nullable=False),
    sa.Column("code_version", sa.String(200), nullable=False),
    sa.Column("params", JSONText(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("metrics", JSONText(), nullable=False),
    sa.Column("timings", JSONText(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
    sa.Column("heartbeat_timeout_s", sa.Float(), nullable=True),
)

model_versions = sa.Table(
    "model_versions", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("artifact_path", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("family", sa.String(64), nullable=False),
    sa.Column("task", sa.String(32), nullable=False),
    sa.Column("features", JSONText(), nullable=False),
    sa.Column("metrics", JSONText(), nullable=False),
    sa.Column("baselines_beaten", JSONText(), nullable=False),
    sa.Column("spec_hash", sa.String(128), nullable=False),
    sa.Column("data_fingerprint", sa.String(128), nullable=False),
    sa.Column("code_version", sa.String(200), nullable=False),
    sa.Column("profile", JSONText(), nullable=True),
    sa.Column("card_path", sa.Text(), nullable=False),
    sa.Column("report_path", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

aliases = sa.Table(
    "aliases", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"]),
)

alias_history = sa.Table(
    "alias_history", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("alias", sa.String(100), nullable=False),
    sa.Column("from_version", sa.Integer(), nullable=True),
    sa.Column("to_version", sa.Integer(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("ts", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["name", "to_version"], ["model_versions.name", "model_versions.version"]),
    sa.Index(None, "name", "alias"),
)

deployments = sa.Table(
    "deployments", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("spec", JSONText(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.UniqueConstraint("name", "revision"),
)
"""Every revision of every deployment; the newest revision of a name is its ``active`` one."""

controls = sa.Table(
    "controls", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer(), nullable=True),
    sa.Column("killed", sa.Boolean(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index(None, "kind", "name"),
)
"""Kill switches, append-only: the newest row of a (kind, name, version) target is its state."""

experiments = sa.Table(
    "experiments", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("deployment", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("arms", JSONText(), nullable=False),
    sa.Column("interleave", sa.Boolean(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
)
"""The online experiments deployments run: their arms with the versions each served, start and end."""

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer(), nullable=True),
    sa.Column("rule_key", sa.String(64), nullable=False),
    sa.Column("rule", JSONText(), nullable=False),
    sa.Column("metric", sa.Text(), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("value", sa.Float(), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("fired_at", UTCDateTime(), nullable=False),
    sa.Index(None, "model", "rule_key", "fired_at"),
)
"""Fired alerts that passed their rule's cool-down (``loopline.registry._alerts``), append-only."""

loop_steps = sa.Table(
    "loop_steps", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("deployment", sa.String(200), nullable=True),
    sa.Column("version", sa.Integer(), nullable=True),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("details", JSONText(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index(None, "model", "at"),
)
"""The continual-learning loop's steps with their reasons (``loopline.registry._loop_steps``), append-only."""
