"""The Redis online store against the local server (LOOPLINE_TEST_REDIS_URL): the same lookups as the snapshot,
replacement of what left the table, and the app scoring requests that carry ids only."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from loopline._errors import ServingError
from loopline.serving._app import create_app
from loopline.serving._online import Snapshot, materialize
from loopline.serving._online_redis import RedisStore
from loopline.serving._server import ServeSettings
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.serving.test_online import T0, churn_project, project, random_usage

with warnings.catch_warnings():  # starlette asks for httpx2, which loopline does not depend on
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

URL = os.environ.get("LOOPLINE_TEST_REDIS_URL", "")
pytestmark = pytest.mark.skipif(not URL, reason="set LOOPLINE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to "
                                                "test the Redis online store against a running server")
redis = pytest.importorskip("redis", reason="the Redis online store needs: pip install 'loopline[redis]'")


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    name = f"looplinetest-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(URL)
    try:
        for key in client.scan_iter(match=f"{name}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


def keys_under(prefix: str) -> list[str]:
    client = redis.Redis.from_url(URL)
    try:
        return sorted(k.decode() for k in client.scan_iter(match=f"{prefix}:*", count=1000))
    finally:
        client.close()


def assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(expected)
    for name, values in expected.items():
        assert got[name].dtype == values.dtype, name
        if values.dtype.kind in "fM":
            np.testing.assert_array_equal(got[name], values)
        else:
            assert got[name].tolist() == values.tolist(), name


@pytest.mark.parametrize(("seed", "max_age"), [(0, None), (1, "2d")])
def test_redis_answers_the_lookups_the_snapshot_answers(tmp_path: Path, prefix: str, seed: int,
                                                        max_age: str | None) -> None:
    spec = project(tmp_path, random_usage(seed), table={"max_age": max_age, "tie_break": "v"})
    ws = Workspace.open(tmp_path / "ws", env={})
    as_of = T0 + pd.Timedelta(days=8)
    snapshot = materialize(spec, ws, as_of=as_of)
    materialize(spec, ws, as_of=as_of, store="redis", redis_url=URL, prefix=prefix)
    store = RedisStore("shop", url=URL, prefix=prefix)
    try:
        assert store.as_of == snapshot.as_of and [t.to_json() for t in store.tables] == [
            t.to_json() for t in snapshot.tables]
        keys: list[Any] = [*range(-2, 33), None, "7", 7, 7]  # unknown, missing, typed as text, repeated
        assert_same(store.lookup({"user": keys}), snapshot.lookup({"user": keys}))
        later = as_of + pd.Timedelta(days=1)
        assert_same(store.lookup({"user": keys}, at=later), snapshot.lookup({"user": keys}, at=later))
        assert store.lookup({"other": [1]}) == {}
    finally:
        store.close()
    rows = len(snapshot.arrays("usage")[1])
    assert len(keys_under(f"{prefix}:shop:t:usage")) == rows  # one hash per key


def test_a_new_materialisation_replaces_values_and_drops_keys_that_left(tmp_path: Path, prefix: str) -> None:
    usage = pd.DataFrame({"user": [1, 2, 3, 2], "at": [T0, T0, T0, T0 + pd.Timedelta(hours=5)],
                          "spend": [1.0, 2.0, None, 4.0], "tier": ["a", None, "c", "d"]})
    spec = project(tmp_path, usage, table={"max_age": "3h"})
    ws = Workspace.open(tmp_path / "ws", env={})
    materialize(spec, ws, as_of=T0 + pd.Timedelta(hours=1), store="redis", redis_url=URL, prefix=prefix)
    store = RedisStore("shop", url=URL, prefix=prefix)  # a replica that keeps running
    try:
        first = store.lookup({"user": [1, 2, 3]})
        assert first["spend"][:2].tolist() == [1.0, 2.0] and np.isnan(first["spend"][2])
        assert first["tier"].tolist() == ["a", None, "c"]
        materialize(spec, ws, as_of=T0 + pd.Timedelta(hours=6), store="redis", redis_url=URL, prefix=prefix)
        second = store.lookup({"user": [1, 2, 3]})  # 1 and 3 are now older than max_age: gone
        assert np.isnan(second["spend"][[0, 2]]).all() and second["spend"][1] == 4.0
        assert second["tier"].tolist() == [None, "d", None]
    finally:
        store.close()
    assert keys_under(f"{prefix}:shop:t:usage") == [f"{prefix}:shop:t:usage:[2]"]


def test_nothing_stored_or_no_server_reads_like_a_fix(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(ServingError, match=rf"holds no online features for 'shop' \(prefix '{prefix}'\)\. Write them "
                                           r"with 'loopline materialize .*--store redis'"):
        RedisStore("shop", url=URL, prefix=prefix)
    with pytest.raises(ServingError, match=r"Redis online store at redis://\*\*\*@127.0.0.1:1/0 cannot be read"):
        RedisStore("shop", url="redis://user:secret@127.0.0.1:1/0", prefix=prefix)
    materialize(project(tmp_path, random_usage(0)), Workspace.open(tmp_path / "ws", env={}), as_of=T0, store="redis",
                redis_url=URL, prefix=prefix)
    store = RedisStore("shop", url=URL, prefix=prefix)
    store.close()
    store._client = redis.Redis.from_url("redis://127.0.0.1:1/0")  # the server went away after start-up
    with pytest.raises(ServingError, match=r"did not answer .*Retry, or send the features inline"):
        store.lookup({"user": [1]})


def test_the_app_scores_ids_only_from_redis_as_from_the_snapshot(tmp_path: Path, prefix: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from loopline.loop import train

    path = churn_project(tmp_path, pd.Timestamp.now(tz="UTC"))
    name = prefix.replace("-", "_")  # the spec (and model) name is this test's own: its keys are loopline:<name>:*
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**raw, "name": name}), encoding="utf-8")
    spec = ProblemSpec.load(path)
    ws = Workspace.open(tmp_path / "ws", env={})
    assert train(spec, ws, promote=True, n_boot=10).promoted
    materialize(spec, ws)
    monkeypatch.setenv("LOOPLINE_REDIS_URL", URL)
    materialize(spec, ws, store="redis")
    rows = [{"customer_id": f"c{i}", "tenure_months": 10.0 + i, "plan": "pro", "country": "de"} for i in range(60)]
    rows.append({"customer_id": "nobody", "tenure_months": 3.0, "plan": "basic", "country": "us"})
    scores = {}
    try:
        for choice in ("snapshot", "redis"):
            app = create_app(ws, model=name, settings=ServeSettings(online=choice))
            with TestClient(app, raise_server_exceptions=False) as client:
                answer = client.post("/v1/predict", json={"rows": rows})
                assert answer.status_code == 200, answer.text
                scores[choice] = [p["score"] for p in answer.json()["predictions"]]
        assert isinstance(Snapshot.load(ws, name), Snapshot)
        np.testing.assert_allclose(scores["redis"], scores["snapshot"], rtol=0, atol=1e-12)
        assert len(set(scores["redis"])) > 30
    finally:
        client = redis.Redis.from_url(URL)
        for key in client.scan_iter(match=f"loopline:{name}:*", count=1000):
            client.delete(key)
        client.close()
