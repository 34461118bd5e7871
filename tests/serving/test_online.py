"""Online features: the snapshot against the training join, its files, lookups, filling requests, and the
contract that matters most: a model scored offline, in batch and online from ids gives the same scores."""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from loopline._errors import InputError, IntegrityError, MissingExtraError, ServingError
from loopline.data import join_feature_tables, load_table
from loopline.registry import Registry
from loopline.serving._app import create_app
from loopline.serving._online import Snapshot, materialize
from loopline.serving._online_fill import fill_columns, fill_rows, open_store
from loopline.serving._online_redis import RedisStore, redis_url
from loopline.serving._scorer import Scorer
from loopline.serving._server import ServeSettings
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace

with warnings.catch_warnings():  # starlette asks for httpx2, which loopline does not depend on
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

T0 = pd.Timestamp("2024-03-01", tz="UTC")
H = pd.Timedelta("1h")


def project(root: Path, usage: pd.DataFrame, *, table: dict[str, Any] | None = None,
            main: pd.DataFrame | None = None) -> ProblemSpec:
    """A spec over a tiny main table and the feature table ``usage`` (written as Parquet)."""
    root.mkdir(parents=True, exist_ok=True)
    usage.to_parquet(root / "usage.parquet", index=False)
    data = main if main is not None else pd.DataFrame({"user": [1], "t": [T0], "y": [0]})
    data.to_parquet(root / "events.parquet", index=False)
    spec = {"name": "shop", "task": "binary", "data": {"source": "events.parquet"}, "event_time": "t",
            "label": {"column": "y"},
            "feature_tables": [{"name": "usage", "source": "usage.parquet", "key": "user", "time": "at",
                                **(table or {})}]}
    return ProblemSpec.from_dict(spec, base_dir=root)


def random_usage(seed: int = 0, n: int = 300) -> pd.DataFrame:
    """Feature rows with ties on (user, time), a tie-break column with gaps, missing keys and times, and
    columns of every kind with missing values."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, 30, n).astype(float)
    user[rng.random(n) < 0.03] = np.nan
    at = T0 + pd.to_timedelta(rng.integers(0, 10 * 24, n), unit="h")  # coarse: many ties
    frame = pd.DataFrame({
        "user": pd.array(np.where(np.isnan(user), None, user), dtype="Int64"),
        "at": pd.Series(at).where(rng.random(n) > 0.03),
        "v": pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 3, n)), dtype="Int64"),
        "spend": np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2.0, 10.0, n).round(2)),
        "tickets": rng.integers(0, 9, n),
        "tier": pd.array(np.where(rng.random(n) < 0.2, None, rng.choice(["a", "b", "c"], n)), dtype=object),
        "active": pd.array(np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.5), dtype="boolean"),
        "seen": pd.Series(T0 - pd.to_timedelta(rng.integers(0, 100, n), unit="D")),
    })
    return frame


def training_join(spec: ProblemSpec, keys: list[Any], at: pd.Timestamp) -> pd.DataFrame:
    """What training joins for an event of each key at ``at``: the reference a snapshot must equal."""
    events = pd.DataFrame({"user": pd.array(keys, dtype="Int64"), "t": at})
    tables = [(t, load_table(spec.resolve(t.source))) for t in spec.feature_tables]
    return join_feature_tables(events, tables, event_time="t")


def same(got: np.ndarray, expected: pd.Series) -> None:
    want = [None if pd.isna(v) else v for v in expected.tolist()]
    have = [None if pd.isna(v) else v for v in got.tolist()]
    if got.dtype.kind == "M":
        have = [None if np.isnat(v) else pd.Timestamp(v, tz="UTC") for v in got]
        want = [None if pd.isna(v) else pd.Timestamp(v) for v in expected]
    assert have == want


# -- the snapshot equals the training join --------------------------------------------------------

@pytest.mark.parametrize(("seed", "max_age", "tie"), [(0, None, "v"), (1, "2d", "v"), (2, "12h", None)])
def test_snapshot_equals_the_training_join_at_its_as_of(tmp_path: Path, seed: int, max_age: str | None,
                                                        tie: str | None) -> None:
    spec = project(tmp_path, random_usage(seed), table={"max_age": max_age, "tie_break": tie})
    as_of = T0 + pd.Timedelta(days=8) + 30 * pd.Timedelta("1min")
    snapshot = materialize(spec, Workspace.open(tmp_path / "ws", env={}), as_of=as_of.isoformat())
    keys = [*range(-2, 33), None]  # unknown keys and a missing one get nulls
    expected = training_join(spec, keys, as_of)
    got = snapshot.lookup({"user": keys})
    assert sorted(got) == sorted(c for c in expected.columns if c not in ("user", "t"))
    assert {"active", "seen", "spend", "tickets", "tier"} <= set(got) and ("v" in got) == (tie is None)
    for column, values in got.items():
        same(values, expected[column])
    assert expected["spend"].isna().sum() > 3 and expected["spend"].notna().sum() > 10


def test_latest_row_by_hand_tie_break_then_ingestion_order_and_max_age(tmp_path: Path) -> None:
    usage = pd.DataFrame({"user": [1, 1, 1, 1, 2, 2, 3], "at": [T0, T0 + H, T0 + H, T0 + 9 * H, T0, T0 + H, T0],
                          "v": [9, 1, 2, 0, 1, 1, 5], "spend": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    spec = project(tmp_path, usage, table={"tie_break": "v", "max_age": "2h"})
    snapshot = materialize(spec, Workspace.open(tmp_path / "ws", env={}), as_of=T0 + 2 * H)
    # user 1: the 9h row is after as_of; at 1h two rows tie and v=2 wins. user 2: a tie on v, the row
    # ingested last wins. user 3: its only row is 2h old, not older than max_age 2h.
    assert snapshot.lookup({"user": [1, 2, 3, 4]})["spend"].tolist()[:3] == [3.0, 6.0, 7.0]
    later = materialize(spec, Workspace.open(tmp_path / "ws", env={}), as_of=T0 + 2 * H + pd.Timedelta("1us"))
    assert np.isnan(later.lookup({"user": [3]})["spend"][0])  # now older than max_age: like training, missing


def test_max_age_is_applied_again_at_lookup_time(tmp_path: Path) -> None:
    usage = pd.DataFrame({"user": [1, 2], "at": [T0, T0 + 5 * H], "spend": [1.0, 2.0]})
    snapshot = materialize(project(tmp_path, usage, table={"max_age": "6h"}), Workspace.open(tmp_path / "ws", env={}),
                           as_of=T0 + 6 * H)
    assert snapshot.lookup({"user": [1, 2]}, at=T0 + 6 * H)["spend"].tolist() == [1.0, 2.0]
    assert snapshot.lookup({"user": [1, 2]}, at=T0 + 8 * H)["spend"].tolist()[1] == 2.0
    assert np.isnan(snapshot.lookup({"user": [1, 2]}, at=T0 + 8 * H)["spend"][0])


def test_a_clashing_table_is_prefixed_as_training_names_it(tmp_path: Path) -> None:
    usage = pd.DataFrame({"user": [1], "at": [T0], "plan": ["pro"], "spend": [3.0]})
    main = pd.DataFrame({"user": [1], "t": [T0 + H], "plan": ["basic"], "y": [1]})
    spec = project(tmp_path, usage, main=main)
    snapshot = materialize(spec, Workspace.open(tmp_path / "ws", env={}), as_of=T0 + H)
    joined = join_feature_tables(main, [(spec.feature_tables[0], usage)], event_time="t")
    assert list(snapshot.tables[0].columns) == ["usage__plan", "usage__spend"] == list(joined.columns[-2:])
    assert snapshot.lookup({"user": [1]})["usage__plan"].tolist() == ["pro"]


def test_composite_keys_and_keys_sent_in_another_type(tmp_path: Path) -> None:
    usage = pd.DataFrame({"user": [1, 1, 2], "shop": ["x", "y", "x"], "at": [T0] * 3, "spend": [1.0, 2.0, 3.0]})
    spec = project(tmp_path, usage, table={"key": ["user", "shop"]})
    snapshot = materialize(spec, Workspace.open(tmp_path / "ws", env={}), as_of=T0)
    got = snapshot.lookup({"user": ["1", 1.0, np.int64(2), 2, None], "shop": ["y", "x", "x", "y", "x"]})["spend"]
    assert got.tolist()[:3] == [2.0, 1.0, 3.0] and np.isnan(got[3:]).all()
    assert snapshot.lookup({"user": [1]}) == {}  # the table's keys are not all given: it does not apply
    with pytest.raises(InputError, match="key 'user' of the online features is integer but the request gives "
                                         "'abc'") as caught:
        snapshot.lookup({"user": ["abc"], "shop": ["x"]})
    assert caught.value.field == "user"


# -- files ----------------------------------------------------------------------------------------

def test_snapshot_files_manifest_and_replacement(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", env={})
    spec = project(tmp_path / "p", random_usage(0))
    first = materialize(spec, ws, as_of=T0 + pd.Timedelta(days=9))
    folder = ws.root / "online" / "shop"
    assert first.path == folder
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["tables"][0]
    assert manifest["as_of"] == "2024-03-10T00:00:00+00:00" and manifest["spec"] == "shop"
    assert entry["rows"] == len(first.arrays("usage")[1]) == 30
    assert hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(["manifest.json", entry["file"]])  # no temporaries
    loaded = Snapshot.load(ws, "shop")
    keys = list(range(30))
    for column, values in first.lookup({"user": keys}).items():
        np.testing.assert_array_equal(loaded.lookup({"user": keys})[column], values)

    materialize(spec, ws, as_of=T0 + pd.Timedelta(days=1))  # other values: a new file; the old one kept a while
    second = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["tables"][0]["file"]
    assert second != entry["file"] and (folder / entry["file"]).is_file()
    materialize(spec, ws, as_of=T0 + pd.Timedelta(days=2))
    assert not (folder / entry["file"]).exists() and (folder / second).is_file()


def test_a_changed_or_misplaced_file_is_refused(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", env={})
    materialize(project(tmp_path / "p", random_usage(0)), ws, as_of=T0 + pd.Timedelta(days=9))
    folder = ws.root / "online" / "shop"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    data = folder / manifest["tables"][0]["file"]
    data.write_bytes(data.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match=r"does not match the sha256 .*loopline materialize"):
        Snapshot.load(ws, "shop")
    manifest["tables"][0]["file"] = "../../loopline.db"
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ServingError, match="outside its folder; refusing to read it"):
        Snapshot.load(ws, "shop")


def test_no_snapshot_no_feature_tables_and_the_store_choice(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", env={})
    with pytest.raises(ServingError, match=r"no online feature snapshot for 'shop': .*manifest.json does not exist\. "
                                           r"Write one with 'loopline materialize"):
        Snapshot.load(ws, "shop")
    assert open_store(ws, "shop", None) is None and open_store(ws, "shop", "off") is None
    with pytest.raises(ServingError, match="no online feature snapshot"):
        open_store(ws, "shop", "snapshot")
    bare = ProblemSpec.from_dict({"name": "shop", "task": "binary", "data": {"source": "x.csv"}, "event_time": "t",
                                  "label": {"column": "y"}}, base_dir=tmp_path)
    with pytest.raises(ServingError, match="declares no feature_tables: there is nothing to serve online"):
        materialize(bare, ws)
    materialize(project(tmp_path / "p", random_usage(0)), ws, as_of=T0)
    assert isinstance(open_store(ws, "shop", None), Snapshot)
    with pytest.raises(ServingError, match=r"as_of must be a time such as"):
        materialize(project(tmp_path / "p", random_usage(0)), ws, as_of="yesterday-ish")


def test_serve_setting_online() -> None:
    assert ServeSettings.from_env({"LOOPLINE_SERVE_ONLINE": "redis"}).online == "redis"
    assert ServeSettings().online is None
    with pytest.raises(ServingError, match=r"online \(LOOPLINE_SERVE_ONLINE\) must be 'snapshot', 'redis' or 'off'"):
        ServeSettings(online="memcached")


def test_redis_needs_its_extra_and_an_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # as if 'redis' were not installed
    spec = project(tmp_path, random_usage(0))
    with pytest.raises(MissingExtraError, match=r"pip install 'loopline\[redis\]'"):
        materialize(spec, Workspace.open(tmp_path / "ws", env={}), store="redis")
    with pytest.raises(MissingExtraError, match=r"pip install 'loopline\[redis\]'"):
        RedisStore("shop", url="redis://127.0.0.1:6379/0")
    with pytest.raises(ServingError, match=r"LOOPLINE_REDIS_URL is not set"):
        redis_url({})
    assert redis_url({"LOOPLINE_REDIS_URL": "redis://h:1/2"}) == "redis://h:1/2"


# -- filling requests -----------------------------------------------------------------------------

def test_fill_rows_inline_values_win_and_rows_without_a_key_are_left_alone(tmp_path: Path) -> None:
    usage = pd.DataFrame({"user": [1, 2], "at": [T0, T0], "spend": [1.5, 2.5], "tier": ["a", "b"],
                          "seen": [T0 - H, T0]})
    snapshot = materialize(project(tmp_path, usage), Workspace.open(tmp_path / "ws", env={}), as_of=T0)
    rows: list[dict[str, Any]] = [{"user": 1}, {"user": 2, "spend": None}, {"x": 1}, {"user": 9, "tier": "z"},
                                  {"user": 1, "spend": 0.0, "tier": "q", "seen": None}]
    filled = fill_rows(snapshot, rows)
    assert filled[0] == {"user": 1, "spend": 1.5, "tier": "a", "seen": T0 - H}
    assert filled[1] == {"user": 2, "spend": None, "tier": "b", "seen": T0}
    assert filled[2] is rows[2] and filled[4] is rows[4]
    assert np.isnan(filled[3]["spend"]) and filled[3]["tier"] == "z" and filled[3]["seen"] is None
    columns = fill_columns(snapshot, {"user": np.array([2, 7]), "tier": np.array(["inline", "x"], dtype=object)})
    assert columns["spend"][0] == 2.5 and np.isnan(columns["spend"][1]) and columns["tier"].tolist() == ["inline", "x"]


# -- the contract: offline, batch and online give the same scores ----------------------------------

def churn_project(root: Path, now: pd.Timestamp) -> Path:
    """Customers whose churn depends on support tickets held in a feature table (as of each event), with ties
    broken by 'version', stale rows (max_age 45 days), customers absent from the table, and a column
    ('country') that clashes with the main table so the table's columns are prefixed."""
    rng = np.random.default_rng(5)
    top = now.floor("h")
    ids = [f"c{i}" for i in range(300)]
    rows = []
    for i, cid in enumerate(ids):
        if i % 10 == 0:
            continue  # never in the feature table
        for _ in range(int(rng.integers(1, 5))):  # ages are whole days + 6h: far from the 45-day edge
            rows.append({"customer_id": cid, "at": top - pd.Timedelta(days=int(rng.integers(0, 120)), hours=6),
                         "tickets": int(rng.poisson(2.0)), "spend": None if rng.random() < 0.1 else
                         round(float(rng.gamma(2.0, 20.0)), 2), "tier": str(rng.choice(["a", "b", "c"])),
                         "country": str(rng.choice(["de", "fr"])), "version": int(rng.integers(0, 3))})
    usage = pd.DataFrame(rows)
    ties = usage.sample(30, random_state=1).assign(tickets=9, version=lambda f: f["version"] + 1)
    usage = pd.concat([usage, ties], ignore_index=True)
    usage.to_parquet(root / "usage.parquet", index=False)
    n = 2500
    customers = pd.DataFrame({
        "customer_id": rng.choice(ids, n),
        "snapshot_at": top - pd.to_timedelta(rng.uniform(1, 100, n), unit="D"),
        "tenure_months": rng.gamma(2.0, 12.0, n).round(1),
        "plan": rng.choice(["basic", "pro"], n),
        "country": rng.choice(["de", "fr", "us"], n),
    })
    table = {"name": "usage", "source": "usage.parquet", "key": "customer_id", "time": "at", "max_age": "45d",
             "tie_break": "version"}
    spec = ProblemSpec.from_dict({"name": "x", "task": "binary", "data": {"source": "x"}, "event_time": "snapshot_at",
                                  "label": {"column": "y"}, "feature_tables": [table]}, base_dir=root)
    joined = join_feature_tables(customers, [(spec.feature_tables[0], usage)], event_time="snapshot_at")
    logit = -1.5 + 0.7 * joined["usage__tickets"].fillna(0).to_numpy() - 0.03 * customers["tenure_months"]
    customers["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    customers.to_csv(root / "customers.csv", index=False)
    (root / "loopline.yaml").write_text(yaml.safe_dump({
        "name": "churn", "task": "binary", "data": {"source": "customers.csv"}, "event_time": "snapshot_at",
        "entity": "customer_id", "label": {"column": "churned"}, "feature_tables": [table]}), encoding="utf-8")
    return root / "loopline.yaml"


def test_offline_batch_and_online_scores_are_identical(tmp_path: Path) -> None:
    from loopline.loop import train

    now = pd.Timestamp.now(tz="UTC")
    spec = ProblemSpec.load(churn_project(tmp_path, now))
    ws = Workspace.open(tmp_path / "ws", env={})
    assert train(spec, ws, promote=True, n_boot=10).promoted
    snapshot = materialize(spec, ws)
    model = Registry(ws).load("churn", "champion")
    assert {"usage__tickets", "usage__spend", "usage__tier", "usage__country"} <= set(model.features)

    ids = [f"c{i}" for i in range(0, 300, 3)] + ["nobody"]
    rng = np.random.default_rng(9)
    inline = pd.DataFrame({"customer_id": ids, "tenure_months": rng.gamma(2.0, 12.0, len(ids)).round(1),
                           "plan": rng.choice(["basic", "pro"], len(ids)),
                           "country": rng.choice(["de", "us"], len(ids))})
    # (a) offline: the training join for an event of each row now, then Model.predict
    events = inline.assign(snapshot_at=pd.Timestamp.now(tz="UTC"))
    tables = [(t, load_table(spec.resolve(t.source))) for t in spec.feature_tables]
    joined = join_feature_tables(events, tables, event_time="snapshot_at")
    assert joined["usage__tickets"].isna().sum() >= 10 and joined["usage__tickets"].notna().sum() >= 50
    offline = np.asarray(model.predict(joined[list(model.features)]), dtype=np.float64)
    # (b) batch: the Scorer on the inline columns filled from the snapshot
    scorer = Scorer.load(Registry(ws), "churn")
    columns = fill_columns(snapshot, {c: inline[c].to_numpy() for c in inline.columns},
                           at=pd.Timestamp.now(tz="UTC").to_pydatetime())
    batch = scorer.score(columns)
    # (c) online: requests carrying the customer id and the main table's features only
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in inline.to_dict("records")]
    app = create_app(ws, model="churn", settings=ServeSettings())
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post("/v1/predict", json={"rows": rows})
        assert answer.status_code == 200, answer.text
        online = np.array([p["score"] for p in answer.json()["predictions"]])
        items = [{"item_id": r["customer_id"], **r} for r in rows[:40]]
        ranked = client.post("/v1/rank", json={"items": items}).json()["items"]
        as_columns = {"item_id": ids[:40], **{c: [r[c] for r in rows[:40]] for c in inline.columns}}
        ranked_columns = client.post("/v1/rank", json={"columns": as_columns}).json()["items"]
        pinned = client.post("/v1/predict", json={"rows": [{**rows[1], "usage__tickets": 9}]}).json()
    np.testing.assert_allclose(batch, offline, rtol=0, atol=1e-9)
    np.testing.assert_allclose(online, offline, rtol=0, atol=1e-9)
    by_id = dict(zip(ids, offline.tolist(), strict=True))
    assert [i["score"] for i in ranked] == pytest.approx([by_id[i["item_id"]] for i in ranked], abs=1e-9)
    assert [i["score"] for i in ranked] == sorted((i["score"] for i in ranked), reverse=True)
    assert ranked_columns == ranked  # ids-only candidates as columns: filled from the same store, same answer
    inline_wins = joined.iloc[[1]].assign(usage__tickets=9.0)
    expected = float(model.predict(inline_wins[list(model.features)])[0])
    assert pinned["predictions"][0]["score"] == pytest.approx(expected, abs=1e-9)
    blind = joined.assign(**{c: np.nan for c in ("usage__tickets", "usage__spend")}).assign(
        usage__tier=None, usage__country=None)
    assert np.abs(np.asarray(model.predict(blind[list(model.features)])) - offline).max() > 0.01  # the table matters


def test_ids_only_needs_a_store(tmp_path: Path) -> None:
    """Without a snapshot the app still asks for every feature; told to use one that is missing, it refuses to start."""
    ws = Workspace.open(tmp_path / "ws", env={})
    Registry(ws)  # an empty registry
    with pytest.raises(ServingError, match="no online feature snapshot for 'churn'"):
        create_app(ws, model="churn", settings=ServeSettings(online="snapshot"), router=_NoRouter())


class _NoRouter:
    def route(self, unit_id: str | None) -> Any:
        raise AssertionError("not routed")

    def record(self, route: Any, *, latency_ms: float, error: bool) -> None:
        return None

    def scorers(self) -> list[Scorer]:
        return []
