"""Fired alerts, kept with the cool-down applied: one incident, one alert.

Monitoring evaluates its rules (``loopline.monitoring``) and hands each alert that fired here. An alert is
stored only when no alert of the same rule for the same model and version was fired within ``cooldown`` of
it, before or after (so evaluating an older window again does not alert twice either); otherwise nothing
is written and None comes back. A rule is identified by ``rule_key``, the sha256 of its canonical JSON
(sorted keys, no spaces): changing any of its fields, the threshold say, makes it another rule.

Each alert is one transaction, and the check and the insert happen inside it under a lock: on SQLite the
write transaction (``BEGIN IMMEDIATE``) holds the database's write lock, on PostgreSQL a transaction-scoped
advisory lock on (model, version, rule) is taken first. Two processes recording the same incident at once
store it once.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopline._errors import RegistryError
from loopline.registry._aliases import check_text
from loopline.registry._engine import read_connection, write_transaction
from loopline.registry._lookup import require_model, require_version
from loopline.registry._schema import alerts


@dataclass(frozen=True)
class StoredAlert:
    """An alert as stored: ``rule`` is the rule's plain JSON (``metric``, ``op``, ``threshold``, ...)."""

    id: int
    model: str
    version: int | None
    rule: dict[str, Any]
    rule_key: str
    metric: str
    severity: str
    value: float
    message: str
    fired_at: datetime


def rule_key(rule: Mapping[str, Any]) -> str:
    """sha256 of ``rule``'s canonical JSON (sorted keys, no spaces).

    >>> rule_key({"metric": "drift.share", "op": ">=", "threshold": 0.5})[:12]
    '0f13438cada8'
    """
    canonical = json.dumps(dict(rule), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_alert(engine: Engine, *, model: str, version: int | None, rule: Mapping[str, Any], value: float,
                 message: str, fired_at: datetime, cooldown: timedelta) -> StoredAlert | None:
    """Store one fired alert unless its rule fired for the same model version within ``cooldown``; see the
    module docstring."""
    plain_rule, metric, severity = _check_rule(rule)
    message = check_text("message", message)
    _check(model=model, version=version, value=value, fired_at=fired_at, cooldown=cooldown)
    key = rule_key(plain_rule)
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(model, version, key)})
        require_model(conn, model)
        if version is not None:
            require_version(conn, model, version)
        if cooldown > timedelta(0):
            same_version = alerts.c.version.is_(None) if version is None else alerts.c.version == version
            recent = conn.execute(sa.select(alerts.c.id).where(
                alerts.c.model == model, same_version, alerts.c.rule_key == key,
                alerts.c.fired_at > fired_at - cooldown, alerts.c.fired_at < fired_at + cooldown).limit(1)).first()
            if recent is not None:
                return None
        inserted = conn.execute(alerts.insert().values(
            model=model, version=version, rule_key=key, rule=plain_rule, metric=metric, severity=severity,
            value=float(value), message=message, fired_at=fired_at)).inserted_primary_key
    if inserted is None:  # pragma: no cover - every backend we support reports the new id
        raise RegistryError("the database did not report the id of the stored alert.")
    return StoredAlert(id=int(inserted[0]), model=model, version=version, rule=plain_rule, rule_key=key, metric=metric,
                       severity=severity, value=float(value), message=message, fired_at=fired_at)


def history(engine: Engine, model: str, *, since: datetime | None = None) -> list[StoredAlert]:
    """The alerts stored for ``model`` (fired at or after ``since``), oldest first."""
    if since is not None and (not isinstance(since, datetime) or since.tzinfo is None):
        raise RegistryError(f"since must be a timezone-aware datetime, e.g. datetime.now(UTC) - timedelta(days=7); "
                            f"got {since!r}.")
    with read_connection(engine) as conn:
        require_model(conn, model)
        query = sa.select(alerts).where(alerts.c.model == model)
        if since is not None:
            query = query.where(alerts.c.fired_at >= since)
        rows = conn.execute(query.order_by(alerts.c.fired_at, alerts.c.id)).all()
    return [StoredAlert(id=row.id, model=row.model, version=row.version, rule=row.rule, rule_key=row.rule_key,
                        metric=row.metric, severity=row.severity, value=row.value, message=row.message,
                        fired_at=row.fired_at) for row in rows]


def _check_rule(rule: Mapping[str, Any]) -> tuple[dict[str, Any], str, str]:
    if not isinstance(rule, Mapping):
        raise RegistryError(f"an alert's rule is a mapping of plain JSON values with 'metric' and 'severity', got "
                            f"{type(rule).__name__}.")
    metric, severity = rule.get("metric"), rule.get("severity")
    if not isinstance(metric, str) or not metric or not isinstance(severity, str) or not severity:
        raise RegistryError(f"an alert's rule needs a 'metric' and a 'severity' (non-empty strings), got "
                            f"metric={metric!r}, severity={severity!r}. Pass AlertRule.model_dump(mode='json').")
    return dict(rule), metric, severity


def _check(*, model: str, version: int | None, value: float, fired_at: datetime, cooldown: timedelta) -> None:
    if not isinstance(model, str) or not model:
        raise RegistryError(f"an alert names the model it is about, got model={model!r}.")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise RegistryError(f"an alert's version is a version number (1, 2, ...) or None, got {version!r}.")
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise RegistryError(f"an alert's value is the number that fired it, got {value!r}.")
    if not isinstance(fired_at, datetime) or fired_at.tzinfo is None:
        raise RegistryError(f"fired_at must be a timezone-aware datetime (UTC), got {fired_at!r}.")
    if not isinstance(cooldown, timedelta) or cooldown < timedelta(0):
        raise RegistryError(f"cooldown must be a non-negative timedelta, e.g. timedelta(hours=6), got {cooldown!r}.")


def _lock_key(model: str, version: int | None, key: str) -> int:
    """A signed 64-bit number for PostgreSQL's advisory lock of (model, version, rule)."""
    digest = hashlib.blake2b(f"alert\0{model}\0{version}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
