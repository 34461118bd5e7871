"""The loop's history (``loop_steps``): steps stored whole with their reasons, read back oldest first, checked
before anything is written, and migration 0005, on SQLite and, when a server is given, PostgreSQL."""

from __future__ import annotations

import doctest
import math
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from loopline import RegistryError
from loopline.registry import LoopStep, Registry, _loop_steps
from loopline.registry._migrate import alembic_config, head_revision
from loopline.registry._schema import (
    alerts,
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


@pytest.fixture
def churn(registry: Registry, artifact: tuple[Path, str]) -> Registry:
    """Model 'churn' v1 and v2, and model 'fraud' v1."""
    register(registry, artifact)
    register(registry, artifact)
    register(registry, artifact, name="fraud")
    return registry


def test_a_step_is_stored_whole_and_read_back_as_it_was_returned(churn: Registry) -> None:
    berlin = timezone(timedelta(hours=2))
    step = churn.record_step(
        model="churn", stage="canary", status="rolled_back", reason="  p99 latency 180 ms over the 120 ms limit ",
        at=datetime(2026, 3, 1, 14, 30, tzinfo=berlin), version=2, deployment="feed",
        details={"p99_ms": np.float64(180.0), "limit_ms": 120, "requests": np.int64(5000), "share": 0.05,
                 "window": ("10m", None), "checks": {"error_rate": True}},
        actor="loop@host-1")
    assert step == LoopStep(
        id=step.id, model="churn", deployment="feed", version=2, stage="canary", status="rolled_back",
        reason="p99 latency 180 ms over the 120 ms limit", actor="loop@host-1", at=T0 + 30 * timedelta(minutes=1),
        details={"p99_ms": 180.0, "limit_ms": 120, "requests": 5000, "share": 0.05, "window": ["10m", None],
                 "checks": {"error_rate": True}})
    assert step.at.tzinfo == UTC and type(step.details["requests"]) is int
    assert churn.loop_steps("churn") == [step]
    stored = churn.loop_steps("churn")[0]
    assert stored.at.tzinfo is not None and stored.at.utcoffset() == timedelta(0)
    assert type(stored.details["p99_ms"]) is float and type(stored.details["requests"]) is int


def test_defaults_nan_and_infinity_in_the_details_survive_the_round_trip(churn: Registry) -> None:
    plain = churn.record_step(model="churn", stage="retrain", status="started", reason="scheduled", at=T0)
    assert (plain.version, plain.deployment, plain.details, plain.actor) == (None, None, {}, "loop")
    judged = churn.record_step(model="churn", stage="judge", status="failed", reason="challenger not better",
                               at=T0 + HOUR, version=2, details={"auc": math.nan, "lift": -math.inf,
                                                                  "per_slice": [math.inf, 0.5]})
    stored = churn.loop_steps("churn")
    assert stored[0] == plain
    details = stored[1].details
    assert math.isnan(details["auc"]) and details["lift"] == -math.inf and details["per_slice"] == [math.inf, 0.5]
    assert math.isnan(judged.details["auc"]) and judged.details["lift"] == -math.inf


def test_steps_come_back_oldest_first_by_time_then_in_the_order_they_were_stored(churn: Registry) -> None:
    def step(stage: str, at: datetime, **over: Any) -> LoopStep:
        return churn.record_step(**{"model": "churn", "stage": stage, "status": "passed", "reason": stage,
                                    "at": at, **over})

    late = step("promote", T0 + 3 * HOUR, version=2, deployment="feed")
    first_at_t1 = step("shadow", T0 + HOUR, version=2, deployment="feed")
    second_at_t1 = step("canary", T0 + HOUR, version=2, deployment="feed")   # same instant: stored order
    early = step("retrain", T0)                                              # recorded last, happened first
    other_deployment = step("ab_test", T0 + 2 * HOUR, version=2, deployment="feed-eu")
    step("retrain", T0 + HOUR, model="fraud")                                # another model's history
    assert [s.stage for s in churn.loop_steps("churn")] == ["retrain", "shadow", "canary", "ab_test", "promote"]
    assert churn.loop_steps("churn") == [early, first_at_t1, second_at_t1, other_deployment, late]
    assert churn.loop_steps("churn", since=T0 + HOUR) == [first_at_t1, second_at_t1, other_deployment, late]
    assert churn.loop_steps("churn", since=T0 + 3 * HOUR) == [late]
    assert churn.loop_steps("churn", since=T0 + 4 * HOUR) == []
    assert churn.loop_steps("churn", deployment="feed") == [first_at_t1, second_at_t1, late]
    assert churn.loop_steps("churn", deployment="feed", since=T0 + 2 * HOUR) == [late]
    assert churn.loop_steps("churn", deployment="nowhere") == []
    assert [s.model for s in churn.loop_steps("fraud")] == ["fraud"]


def test_a_bad_step_is_refused_with_the_field_and_nothing_is_written(churn: Registry) -> None:
    fields: dict[str, Any] = {"model": "churn", "stage": "shadow", "status": "passed", "reason": "scores agree",
                              "at": T0, "version": 1}
    bad: list[tuple[dict[str, Any], str]] = [
        ({"model": "chrun"}, r"no model named 'chrun' in the registry; known models: churn, fraud\."),
        ({"model": "../x"}, r"model name '\.\./x' is not usable"),
        ({"version": 7}, r"model 'churn' has no version 7; its versions are 1, 2 \(newest 2\)\."),
        ({"version": 0}, r"a loop step's version is a version number \(1, 2, \.\.\.\) or None, got 0\."),
        ({"version": True}, r"a loop step's version is a version number \(1, 2, \.\.\.\) or None, got True\."),
        ({"stage": "Shadow"}, r"a loop step's stage 'Shadow' is not usable: expected 1-32 lowercase letters or '_' "
                              r"\(e\.g\. 'canary'\)\. Put the words that explain it in the reason\."),
        ({"stage": "x" * 33}, r"a loop step's stage 'x{33}' is not usable"),
        ({"stage": ""}, r"a loop step's stage '' is not usable"),
        ({"status": "rolled back"}, r"a loop step's status 'rolled back' is not usable: expected 1-32 lowercase "
                                    r"letters or '_' \(e\.g\. 'rolled_back'\)"),
        ({"status": None}, r"a loop step's status None is not usable"),
        ({"reason": "  "}, r"give a non-empty reason"),
        ({"actor": ""}, r"give a non-empty actor"),
        ({"actor": "a" * 201}, r"a loop step's actor is at most 200 characters \(who or what took the step, e\.g\. "
                               r"'loop' or a user name\), got 201\."),
        ({"at": datetime(2026, 3, 1)}, r"a loop step's at must be a timezone-aware datetime, e\.g\. "
                                       r"datetime\.now\(UTC\); got datetime\.datetime\(2026, 3, 1, 0, 0\)\."),
        ({"at": "2026-03-01"}, r"a loop step's at must be a timezone-aware datetime"),
        ({"deployment": "feed/eu"}, r"deployment name 'feed/eu' is not usable: expected 1-100 letters, digits"),
        ({"details": [1, 2]}, r"a loop step's details are a mapping of plain JSON values, e\.g\. \{'auc': 0\.81\}, "
                              r"or None; got a list\."),
        ({"details": {"model": {"weights": object()}}},
         r"a loop step's details must be plain JSON values \(numbers, strings, booleans, None, lists and mappings "
         r"of them\): details\.model\.weights: a object is not JSON\."),
    ]
    for over, message in bad:
        with pytest.raises(RegistryError, match=message):
            churn.record_step(**{**fields, **over})
    assert churn.loop_steps("churn") == []
    with pytest.raises(RegistryError, match=r"no model named 'chrun' in the registry; known models: churn, fraud\."):
        churn.loop_steps("chrun")
    with pytest.raises(RegistryError, match=r"since must be a timezone-aware datetime"):
        churn.loop_steps("churn", since=datetime(2026, 3, 1))
    with pytest.raises(RegistryError, match=r"deployment name 'a b' is not usable"):
        churn.loop_steps("churn", deployment="a b")


def test_an_empty_registry_says_so(registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"no model named 'churn': the registry is empty\. Train and register "
                                            r"one with 'loopline train'\."):
        registry.record_step(model="churn", stage="retrain", status="started", reason="scheduled", at=T0)


def test_simultaneous_steps_are_all_stored_each_with_its_own_id(churn: Registry) -> None:
    results: list[LoopStep] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def record(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(churn.record_step(model="churn", stage="shadow", status="passed", reason=f"worker {i}",
                                             at=T0 + timedelta(seconds=i)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len({s.id for s in results}) == 4
    assert [s.reason for s in churn.loop_steps("churn")] == [f"worker {i}" for i in range(4)]


def test_check_word_doctest() -> None:
    assert doctest.testmod(_loop_steps).failed == 0


# -- migration 0005 ---------------------------------------------------------------------------------------------




TABLES = (runs, model_versions, aliases, alias_history, deployments, controls, experiments, alerts)


def test_a_fresh_registry_has_the_loop_steps_table_exactly_as_declared(registry: Registry, engine: Engine) -> None:
    assert schema_differences(engine) == []
    with engine.connect() as conn:
        indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(conn).get_indexes("loop_steps")}
    assert indexes == {"ix_loop_steps_model_at": ["model", "at"]}


def test_revision_0005_adds_the_loop_steps_table_to_a_database_at_0004_without_losing_rows(
        workspace: Workspace, engine: Engine, artifact: tuple[Path, str]) -> None:
    registry = Registry(workspace)
    register(registry, artifact)
    registry.promote("churn", 1, reason="first")
    registry.deploy({"name": "feed", "model": "churn", "experiment": "ab",
                     "arms": {"control": {"version": 1, "weight": 0.5}, "treatment": {"version": "champion",
                                                                                      "weight": 0.5}},
                     "shadows": [], "canary": None, "holdout": 0.0, "interleave": False}, actor="ana")
    registry.set_killed("experiment", "ab", True, "bad arm")
    registry.record_alert(model="churn", version=1, rule={"metric": "drift.share", "severity": "critical"},
                          value=0.6, message="drift", fired_at=T0, cooldown=HOUR)
    with engine.begin() as conn:  # back to the database an older loopline left: revision 0004, no loop_steps
        command.downgrade(alembic_config(conn), "0004")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0004"
        assert "loop_steps" not in sa.inspect(conn).get_table_names()
    before = table_rows(engine, TABLES)
    assert all(before.values())

    reopened = Registry(workspace)  # upgrades to head
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    assert table_rows(engine, TABLES) == before
    assert schema_differences(engine) == []
    step = reopened.record_step(model="churn", stage="promote", status="passed", reason="won the A/B test",
                                at=T0, version=1, deployment="feed", details={"lift": 0.02})
    assert reopened.loop_steps("churn") == [step]
    assert reopened.get_version("churn", "champion").version == 1 and len(reopened.alerts("churn")) == 1

    with engine.begin() as conn:  # and back again: only the loop's history goes
        command.downgrade(alembic_config(conn), "0004")
    with engine.connect() as conn:
        assert "loop_steps" not in sa.inspect(conn).get_table_names()
    assert table_rows(engine, TABLES) == before
