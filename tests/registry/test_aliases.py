"""Aliases: promotion, rollback, and the history every move leaves."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from loopline import RegistryError
from loopline.registry import AliasChange, Registry
from tests.registry.conftest import register


@pytest.fixture
def three(registry: Registry, artifact: tuple[Path, str]) -> Registry:
    for _ in range(3):
        register(registry, artifact)
    return registry


def test_promote_moves_the_champion_and_records_each_move(three: Registry) -> None:
    first = three.promote("churn", 1, reason="first model")
    second = three.promote("churn", 2, reason="better AUC", actor="loop")
    assert (first.from_version, first.to_version) == (None, 1)
    assert (second.from_version, second.to_version, second.actor, second.reason) == (1, 2, "loop", "better AUC")
    assert three.aliases("churn") == {"champion": 2}
    assert three.get_version("churn", "champion").version == 2
    assert three.alias_history("churn") == [first, second]
    assert second.ts >= first.ts and second.ts.utcoffset() == timedelta(0)


def test_rollback_returns_to_the_previous_version_and_is_itself_undoable(three: Registry) -> None:
    three.promote("churn", 1, reason="first")
    three.promote("churn", 3, reason="new one")
    back = three.rollback("churn", reason="error rate up")
    assert (back.from_version, back.to_version, back.reason, back.actor) == (3, 1, "error rate up", "cli")
    assert three.aliases("churn") == {"champion": 1}
    again = three.rollback("churn", reason="false alarm")
    assert (again.from_version, again.to_version) == (1, 3)
    assert [(h.from_version, h.to_version) for h in three.alias_history("churn", "champion")] == [
        (None, 1), (1, 3), (3, 1), (1, 3)]


def test_aliases_move_independently(three: Registry) -> None:
    three.promote("churn", 1, reason="a")
    three.set_alias("churn", "challenger", 2, reason="b")
    three.set_alias("churn", "challenger", 3, reason="c")
    three.rollback("churn", alias="challenger", reason="d")
    assert three.aliases("churn") == {"challenger": 2, "champion": 1}
    assert [h.to_version for h in three.alias_history("churn", "challenger")] == [2, 3, 2]
    assert [h.alias for h in three.alias_history("churn")] == ["champion", "challenger", "challenger", "challenger"]
    assert three.get_version("churn", 2).aliases == ("challenger",)


def test_rollback_without_history_says_why(three: Registry) -> None:
    with pytest.raises(RegistryError, match=r"cannot roll back alias 'champion' of model 'churn': it has never "
                                            r"been set.*it has no aliases yet\."):
        three.rollback("churn", reason="x")
    three.promote("churn", 2, reason="first")
    with pytest.raises(RegistryError, match=r"its only change pointed it at v2 for the first time, so there is no "
                                            r"earlier version\. .*'loopline models promote churn <version>"):
        three.rollback("churn", reason="x")
    assert three.aliases("churn") == {"champion": 2}
    with pytest.raises(RegistryError, match=r"no model named 'fraud' in the registry; known models: churn\."):
        three.rollback("fraud", reason="x")


def test_alias_errors_name_the_model_version_and_alias(three: Registry) -> None:
    with pytest.raises(RegistryError, match=r"model 'churn' has no version 9; its versions are 1, 2, 3 \(newest 3\)"):
        three.promote("churn", 9, reason="x")
    with pytest.raises(RegistryError, match=r"no model named 'churm' in the registry; known models: churn\."):
        three.set_alias("churm", "champion", 1, reason="x")
    with pytest.raises(RegistryError, match=r"alias 'v2' would read as a version number"):
        three.set_alias("churn", "v2", 1, reason="x")
    with pytest.raises(RegistryError, match=r"alias 'two words' is not usable"):
        three.set_alias("churn", "two words", 1, reason="x")
    with pytest.raises(RegistryError, match=r"give a non-empty reason; it is kept in the registry's history"):
        three.promote("churn", 1, reason="  ")
    with pytest.raises(RegistryError, match=r"set_alias takes a version number, e.g. 3; got '1'"):
        three.set_alias("churn", "champion", "1", reason="x")  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match=r"no model named 'fraud'"):
        three.aliases("fraud")
    with pytest.raises(RegistryError, match=r"no model named 'fraud'"):
        three.alias_history("fraud")
    assert three.alias_history("churn") == [] and three.aliases("churn") == {}


def test_a_refused_move_changes_nothing(three: Registry) -> None:
    three.promote("churn", 1, reason="first")
    with pytest.raises(RegistryError):
        three.promote("churn", 4, reason="no such version")
    assert three.aliases("churn") == {"champion": 1}
    assert len(three.alias_history("churn")) == 1


def test_alias_changes_are_plain_values(three: Registry) -> None:
    change = three.promote("churn", 1, reason="first")
    assert isinstance(change, AliasChange)
    with pytest.raises(AttributeError):
        change.to_version = 2  # type: ignore[misc]
