"""The alerts table: the cool-down applied in one locked transaction, the history, and migration 0004, on SQLite
and, when a server is given, PostgreSQL."""

from __future__ import annotations

import doctest
import math
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from loopline import RegistryError
from loopline.registry import Registry, StoredAlert, _alerts
from loopline.registry._migrate import alembic_config, head_revision
from loopline.registry._schema import (
    alias_history,
    aliases,
    controls,
    deployments,
    experiments,
    model_versions,
    runs,
)
from loopline.workspace import Workspace
from tests.registry.conftest import register, schema_differences, table_rows

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
RULE = {"metric": "drift.share", "op": ">=", "threshold": 0.5, "window": None, "severity": "critical"}


@pytest.fixture
def churn(registry: Registry, artifact: tuple[Path, str]) -> Registry:
    """Model 'churn' v1 and v2."""
    register(registry, artifact)
    register(registry, artifact)
    return registry


def _record(registry: Registry, at: datetime, *, rule: dict[str, Any] | None = None, version: int | None = 1,
            cooldown: timedelta = 6 * HOUR, value: float = 0.6) -> StoredAlert | None:
    return registry.record_alert(model="churn", version=version, rule=rule or RULE, value=value,
                                 message=f"drift.share is {value}", fired_at=at, cooldown=cooldown)


def test_one_incident_one_alert_within_the_cooldown_and_a_new_one_after_it(churn: Registry) -> None:
    first = _record(churn, T0)
    assert first is not None and (first.model, first.version, first.metric, first.severity) == (
        "churn", 1, "drift.share", "critical")
    assert _record(churn, T0 + 5 * HOUR) is None                   # same rule, same version, within 6 h
    assert _record(churn, T0 + 6 * HOUR - timedelta(seconds=1)) is None
    second = _record(churn, T0 + 6 * HOUR)                          # exactly the cool-down later: a new incident
    assert second is not None and second.id != first.id
    assert [a.fired_at for a in churn.alerts("churn")] == [T0, T0 + 6 * HOUR]


def test_the_cooldown_is_per_rule_and_per_version(churn: Registry) -> None:
    assert _record(churn, T0) is not None
    assert _record(churn, T0, version=2) is not None                       # another version: another series
    assert _record(churn, T0, version=None) is not None                    # the model as a whole
    assert _record(churn, T0 + HOUR, version=None) is None
    assert _record(churn, T0, rule={**RULE, "threshold": 0.4}) is not None  # another rule
    assert _record(churn, T0, rule={**RULE, "severity": "warning"}) is not None
    assert len(churn.alerts("churn")) == 5


def test_an_older_window_evaluated_again_does_not_alert_twice_and_zero_cooldown_alerts_every_time(
        churn: Registry) -> None:
    assert _record(churn, T0) is not None
    assert _record(churn, T0 - 2 * HOUR) is None         # within the cool-down before a stored alert
    assert _record(churn, T0 - 6 * HOUR) is not None     # a cool-down earlier: its own incident
    for _ in range(3):
        assert _record(churn, T0, rule={**RULE, "op": ">"}, cooldown=timedelta(0)) is not None
    assert len(churn.alerts("churn")) == 5


def test_the_history_keeps_every_field_oldest_first_and_filters_by_time(churn: Registry) -> None:
    late = _record(churn, T0 + 10 * HOUR, value=math.inf)
    early = _record(churn, T0.astimezone(UTC) - HOUR, rule={**RULE, "window": "1w"}, value=0.75)
    assert late is not None and early is not None
    stored = churn.alerts("churn")
    assert stored == [early, late]
    assert stored[0].rule == {**RULE, "window": "1w"} and stored[0].value == 0.75
    assert stored[0].fired_at == T0 - HOUR and stored[0].fired_at.tzinfo is not None
    assert stored[1].value == math.inf and stored[1].message == "drift.share is inf"
    assert stored[0].rule_key == _alerts.rule_key({**RULE, "window": "1w"}) != stored[1].rule_key
    assert churn.alerts("churn", since=T0) == [late]
    assert churn.alerts("churn", since=T0 + 10 * HOUR) == [late]
    assert churn.alerts("churn", since=T0 + 11 * HOUR) == []


def test_alerts_need_a_registered_model_and_plain_values(churn: Registry) -> None:
    with pytest.raises(RegistryError, match=r"no model named 'chrun' in the registry; known models: churn\."):
        churn.record_alert(model="chrun", version=None, rule=RULE, value=0.6, message="m", fired_at=T0,
                           cooldown=HOUR)
    with pytest.raises(RegistryError, match=r"model 'churn' has no version 7; its versions are 1, 2 \(newest 2\)\."):
        _record(churn, T0, version=7)
    with pytest.raises(RegistryError, match=r"no model named 'chrun'"):
        churn.alerts("chrun")
    bad: list[tuple[dict[str, Any], str]] = [
        ({"fired_at": datetime(2026, 3, 1)}, r"fired_at must be a timezone-aware datetime \(UTC\), got "),
        ({"cooldown": -HOUR}, r"cooldown must be a non-negative timedelta"),
        ({"value": math.nan}, r"an alert's value is the number that fired it, got nan\."),
        ({"value": True}, r"an alert's value is the number that fired it, got True\."),
        ({"version": 0}, r"an alert's version is a version number \(1, 2, \.\.\.\) or None, got 0\."),
        ({"rule": {"op": ">"}}, r"an alert's rule needs a 'metric' and a 'severity' \(non-empty strings\), got "
                                r"metric=None, severity=None\. Pass AlertRule.model_dump\(mode='json'\)\."),
        ({"message": "  "}, r"give a non-empty message"),
    ]
    for over, message in bad:
        fields: dict[str, Any] = {"model": "churn", "version": 1, "rule": RULE, "value": 0.6, "message": "m",
                                  "fired_at": T0, "cooldown": HOUR}
        with pytest.raises(RegistryError, match=message):
            churn.record_alert(**{**fields, **over})
    with pytest.raises(RegistryError, match="since must be a timezone-aware datetime"):
        churn.alerts("churn", since=datetime(2026, 3, 1))
    assert churn.alerts("churn") == []


def test_simultaneous_recorders_of_one_incident_store_it_once(churn: Registry) -> None:
    results: list[StoredAlert | None] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def record(offset_s: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(_record(churn, T0 + timedelta(seconds=offset_s)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(r is not None for r in results) == 1 and len(results) == 4
    assert len(churn.alerts("churn")) == 1


def test_rule_key_doctest() -> None:
    assert doctest.testmod(_alerts).failed == 0


# -- migration 0004 ---------------------------------------------------------------------------------------------




TABLES = (runs, model_versions, aliases, alias_history, deployments, controls, experiments)


def test_revision_0004_adds_the_alerts_table_to_a_database_at_0003_without_losing_rows(
        workspace: Workspace, engine: Engine, artifact: tuple[Path, str]) -> None:
    registry = Registry(workspace)
    register(registry, artifact)
    registry.promote("churn", 1, reason="first")
    registry.deploy({"name": "feed", "model": "churn", "experiment": "ab",
                     "arms": {"control": {"version": 1, "weight": 0.5}, "treatment": {"version": "champion",
                                                                                      "weight": 0.5}},
                     "shadows": [], "canary": None, "holdout": 0.0, "interleave": False}, actor="ana")
    registry.set_killed("experiment", "ab", True, "bad arm")
    with engine.begin() as conn:  # back to the database an older loopline left: revision 0003, no alerts table
        command.downgrade(alembic_config(conn), "0003")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0003"
        assert "alerts" not in sa.inspect(conn).get_table_names()
    before = table_rows(engine, TABLES)
    assert all(before[name] for name in ("runs", "model_versions", "aliases", "alias_history", "deployments",
                                         "controls", "experiments"))

    reopened = Registry(workspace)  # upgrades to head
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    assert table_rows(engine, TABLES) == before
    assert schema_differences(engine) == []
    assert reopened.record_alert(model="churn", version=1, rule=RULE, value=0.6, message="m", fired_at=T0,
                                 cooldown=HOUR) is not None
    assert reopened.get_version("churn", "champion").version == 1

    with engine.begin() as conn:  # and back again: only the alerts go
        command.downgrade(alembic_config(conn), "0003")
    with engine.connect() as conn:
        assert "alerts" not in sa.inspect(conn).get_table_names()
    assert table_rows(engine, TABLES) == before
