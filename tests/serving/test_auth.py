"""API keys: shown once, stored hashed, scoped, revocable while a server runs."""

from __future__ import annotations

import doctest
import hashlib
import json
import re
import stat
from pathlib import Path

import pytest

from loopline import ServingError
from loopline.serving import _auth
from loopline.serving._auth import ApiKeys, AuthError, keys_path
from loopline.workspace import Workspace


def test_doctests() -> None:
    assert doctest.testmod(_auth).failed == 0


def test_a_key_is_stored_as_its_hash_only(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", env={})
    keys = ApiKeys.for_workspace(ws)
    key, token = keys.create("ci", scopes=["predict"])
    secret = token.reveal()

    assert re.fullmatch(r"loopline-[A-Za-z0-9_-]{43}", secret)
    assert keys.path == keys_path(ws) == ws.root / "serving" / "api_keys.json"
    text = keys.path.read_text(encoding="utf-8")
    assert secret not in text and secret[len("loopline-"):] not in text
    stored = json.loads(text)["keys"]
    assert stored[0]["sha256"] == hashlib.sha256(secret.encode()).hexdigest() == key.sha256
    assert stored[0]["scopes"] == ["predict"] and stored[0]["name"] == "ci"
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert "loopline-" not in repr(token) and "loopline-" not in str(key)
    # A second key never repeats the first token.
    assert ApiKeys.for_workspace(ws).create("other")[1].reveal() != secret


def test_verify_answers_401_for_missing_or_unknown_keys_and_403_for_the_wrong_scope(tmp_path: Path) -> None:
    keys = ApiKeys(tmp_path / "keys.json")
    _, predict = keys.create("app", scopes=["predict"])
    _, admin = keys.create("ops", scopes=["admin"])

    assert keys.verify(predict.reveal(), scope="predict").name == "app"
    assert keys.verify(admin.reveal(), scope="admin").name == "ops"
    assert keys.verify(admin.reveal(), scope="predict").name == "ops"  # admin may do what predict may
    for token, status, words in [(None, 401, "needs an API key"), ("", 401, "needs an API key"),
                                 ("loopline-nope", 401, "not valid"), (predict.reveal() + "x", 401, "not valid")]:
        with pytest.raises(AuthError, match=words) as caught:
            keys.verify(token, scope="predict")
        assert caught.value.status == status
    with pytest.raises(AuthError, match="'app' lacks the 'admin' scope") as caught:
        keys.verify(predict.reveal(), scope="admin")
    assert caught.value.status == 403


def test_revoking_takes_effect_for_an_instance_that_already_cached_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    server_side = ApiKeys(path)
    _, token = ApiKeys(path).create("laptop")
    assert server_side.verify(token.reveal(), scope="predict").name == "laptop"  # now cached

    revoked = ApiKeys(path).revoke("laptop")

    assert revoked.revoked_at is not None
    with pytest.raises(AuthError, match="not valid"):
        server_side.verify(token.reveal(), scope="predict")
    assert ApiKeys(path).list() == []
    assert [k.name for k in ApiKeys(path).list(include_revoked=True)] == ["laptop"]
    # The name is free again once revoked; the id works for revoking as well.
    again, _ = ApiKeys(path).create("laptop")
    assert ApiKeys(path).revoke(again.key_id).name == "laptop"


def test_refusals_name_the_problem_and_the_fix(tmp_path: Path) -> None:
    keys = ApiKeys(tmp_path / "keys.json")
    keys.create("ci")
    with pytest.raises(ServingError, match=r"'ci' already exists.*Revoke it first"):
        keys.create("ci")
    with pytest.raises(ServingError, match="expected one or more of predict, admin, got 'write'"):
        keys.create("bot", scopes=["write"])
    with pytest.raises(ServingError, match=r"API key name '\.\./x' is not usable"):
        keys.create("../x")
    with pytest.raises(ServingError, match=r"no active API key named 'ghost'.*active keys: ci"):
        keys.revoke("ghost")
    keys.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ServingError, match=r"keys.json is not a loopline API key file.*loopline keys create"):
        keys.list()
