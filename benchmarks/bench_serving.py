"""loopline's server against the in-process model call, a hand-written FastAPI server and MLflow's.

    python benchmarks/bench_serving.py --mlflow-python /tmp/mlflow-venv/bin/python
    python benchmarks/bench_serving.py --quick          # a smoke run: a few requests per cell

A synthetic feed (impressions: a user's tenure, session depth, device and country; an item's past CTR,
author followers and topic from an ``items`` feature table joined point-in-time; a click label) trains a
binary LightGBM model of ~300 trees through ``loopline.loop.train`` into a temporary workspace, where it
becomes the champion. Then, one server process at a time, on 127.0.0.1 only:

- loopline: ``python -m loopline.serving`` (what ``loopline serve`` runs), one worker (every
  server gets ``--workers``), the full request path: body limits, validation, routing (the live router
  following the registry), exposure logging with feature values, Prometheus metrics. ``/v1/predict``
  with 1 row; ``/v1/rank`` with 500 candidates whose features are inline (as ``items``, one object each,
  and as ``columns``, one list per field: the ratios compare both with the other servers' own forms), and
  (when the online store exists) with item ids only (as items and as columns), the user's features in
  ``context``.
- hand-written: FastAPI + uvicorn, one worker, ``pandas.DataFrame(rows)``, the categories mapped to the
  model's codes with ``Series.map``, then ``Booster.predict`` (what ``LGBMClassifier.predict_proba``
  calls) on the same trees. Its handlers are ``async def`` (no thread-pool hop: its fastest form).
- MLflow: the same booster saved with ``mlflow.lightgbm.save_model`` and a signature inferred from the
  inputs (so MLflow checks requests against the schema, as loopline validates them), served by ``mlflow
  models serve --env-manager local`` (one worker) from a separate virtual environment
  (``--mlflow-python``; make one with ``python -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip
  install mlflow``). It is sent the features already encoded (category codes, as doubles) in
  ``dataframe_split``, which spares it the category mapping; its "rank" is scoring the 500 rows (the
  client would sort them).
- no-op: a bare ASGI app on the same uvicorn that reads each body and answers a fixed JSON object. No server
  can beat it with the same HTTP stack and load generator, so its throughput bounds every ratio.
- in-process, beside them: ``Model.predict`` on a pandas frame, ``Scorer.score`` on the decoded JSON rows,
  and the bare ``Booster.predict`` on the encoded float matrix.

Every process runs with ``OMP_NUM_THREADS=1`` (LightGBM on one thread everywhere), so the comparison
is fair on this 2-core machine. (LightGBM releases the GIL while it predicts, so a server that predicts
on a thread pool, as MLflow's does, can still use a second core at concurrency 8.) The trees are scored
by LightGBM unless ``lleaves`` is importable (``pip install 'loopline[fast]'``); the summary line says
which backend loopline's scorer chose. The load generator is a small asyncio loop speaking HTTP/1.1 over
keep-alive connections (one per concurrent client), with pre-encoded requests; each cell sends at most
``--requests`` requests and stops after ``--seconds``, after a short warm-up. Latency is from writing a
request to reading its whole answer; throughput is answers per second of wall time. A request that does
not answer 200 counts as an error. Before measuring, each server's scores for a sample request are
compared with ``Model.predict``.

``--profile FILE`` afterwards runs the loopline server once more under cProfile for the same load and
prints where its time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

START = pd.Timestamp("2024-01-01", tz="UTC")
DAYS = 30
TOPICS = [f"t{i:02d}" for i in range(30)]
COUNTRIES = ["us", "de", "fr", "jp", "br", "in", "gb", "es", "it", "mx", "ca", "kr"]
DEVICES = ["ios", "android", "web"]
USER_FEATURES = ("user_tenure_days", "session_depth", "device", "country")
ITEM_FEATURES = ("past_ctr", "author_followers", "topic")
MODEL = "feed"
CANDIDATES = 500
POOL = 64  # distinct request bodies cycled through per endpoint
START_TIMEOUT_S = 180.0
HOST = "127.0.0.1"
SYSTEMS = ("in-process", "loopline", "hand-written", "mlflow", "no-op")
PROFILED = r"loopline/serving/|lightgbm/basic|lleaves|json/|pydantic|fastapi/routing|starlette/routing|_http|h11_impl"


# -- the data and the model ------------------------------------------------------------------------

@dataclass(frozen=True)
class Feed:
    impressions: pd.DataFrame  # ts, user_id, item_id, user features, click
    items: pd.DataFrame        # the feature table: item_id, updated_at, item features (two snapshots per item)
    users: pd.DataFrame        # user_id and the user features
    latest: pd.DataFrame       # item_id and its latest item features (what serving sees)


def make_feed(events: int, *, n_items: int = 5_000, n_users: int = 3_000, seed: int = 0) -> Feed:
    """Impressions whose click depends on user and item features (nonlinear, with an interaction)."""
    rng = np.random.default_rng(seed)
    topic = rng.choice(TOPICS, n_items)
    followers = rng.lognormal(6, 2, n_items).round(0)
    ctr0 = rng.beta(2, 30, n_items)
    ctr1 = np.clip(ctr0 * rng.lognormal(0, 0.3, n_items), 0, 1)
    ids = np.array([f"i{i}" for i in range(n_items)])
    half = START + pd.Timedelta(days=DAYS / 2)
    items = pd.DataFrame({"item_id": np.r_[ids, ids], "updated_at": [START] * n_items + [half] * n_items,
                          "past_ctr": np.r_[ctr0, ctr1].round(4), "author_followers": np.r_[followers, followers],
                          "topic": np.r_[topic, topic]})
    tenure = rng.gamma(2.0, 60.0, n_users).round(1)
    device = rng.choice(DEVICES, n_users, p=[0.4, 0.45, 0.15])
    country = rng.choice(COUNTRIES, n_users)
    u = rng.integers(0, n_users, events)
    it = rng.integers(0, n_items, events)
    ts = START + pd.to_timedelta(np.sort(rng.uniform(0.01, DAYS, events)), unit="D")
    ctr = np.where(ts >= half, ctr1[it], ctr0[it])
    depth = rng.poisson(5, events)
    topic_effect = dict(zip(TOPICS, rng.normal(0, 0.5, len(TOPICS)), strict=True))
    logit = (-2.5 + 12 * ctr + 0.15 * np.log1p(followers[it]) + np.array([topic_effect[t] for t in topic[it]])
             + np.where(device[u] == "web", -0.4, 0.1) + 0.3 * np.sin(tenure[u] / 40) - 0.05 * depth
             + 0.3 * (device[u] == "ios") * (topic[it] < "t10"))
    click = (rng.random(events) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    user_ids = np.array([f"u{i}" for i in range(n_users)])
    impressions = pd.DataFrame({"ts": ts, "user_id": user_ids[u], "item_id": ids[it], "user_tenure_days": tenure[u],
                                "session_depth": depth, "device": device[u], "country": country[u], "click": click})
    users = pd.DataFrame({"user_id": user_ids, "user_tenure_days": tenure, "device": device, "country": country})
    latest = items.iloc[n_items:].reset_index(drop=True).drop(columns="updated_at")
    return Feed(impressions, items, users, latest)


@dataclass(frozen=True)
class Built:
    workspace: Path
    spec_path: Path
    model: Any             # the champion's TrainedModel
    version: int
    trees: int
    columns: list[str]     # the booster's input columns, in order
    codes: dict[str, list[str]]  # categorical column -> categories, whose index is the code
    booster_file: Path
    train_s: float


def build(root: Path, feed: Feed, *, learning_rate: float) -> Built:
    """Train the LightGBM candidate (300 rounds, no early stop before that) and make it the champion."""
    from loopline.loop import train
    from loopline.registry import Registry
    from loopline.spec import ProblemSpec
    from loopline.workspace import Workspace

    feed.impressions.to_parquet(root / "impressions.parquet")
    feed.items.to_parquet(root / "items.parquet")
    spec = {"name": MODEL, "task": "binary", "data": {"source": "impressions.parquet"}, "event_time": "ts",
            "entity": "user_id", "label": {"column": "click"}, "features": {"exclude": ["item_id"]},
            "feature_tables": [{"name": "items", "source": "items.parquet", "key": "item_id",
                                "time": "updated_at"}],
            "models": {"candidates": ["lightgbm"], "calibration": "none", "early_stopping_rounds": 300,
                       "lightgbm": {"num_boost_round": 300, "learning_rate": learning_rate}}}
    spec_path = root / "loopline.yaml"
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    ws = Workspace.open(root / "ws", env={})
    clock = time.perf_counter()
    outcome = train(ProblemSpec.load(spec_path), ws, promote=True, n_boot=10)
    train_s = time.perf_counter() - clock
    registry = Registry(ws)
    if not outcome.promoted:
        registry.promote(MODEL, outcome.version.version, reason="serving benchmark")
    version = registry.get_version(MODEL, "champion").version
    model: Any = registry.load(MODEL, version)  # a LightGBM model: model.scorer holds the preprocessor and booster
    if model.family != "lightgbm":
        raise SystemExit(f"the champion is a {model.family} model, not LightGBM; the benchmark needs trees.")
    columns: list[str] = []
    codes: dict[str, list[str]] = {}
    for encoder in model.scorer.preprocessor.get_state()["encoders"]:
        if encoder["type"] == "codes":
            codes[encoder["column"]] = [str(c) for c in encoder["categories"]]
        elif encoder["type"] != "numeric" or encoder.get("indicator"):
            raise SystemExit(f"column {encoder['column']!r} is encoded as {encoder['type']!r}; the hand-written "
                             "server only knows raw numbers and category codes.")
        columns.append(encoder["column"])
    booster_file = root / "booster.txt"
    model.scorer.booster.save_model(str(booster_file))
    return Built(ws.root, spec_path, model, version, int(model.scorer.booster.num_trees()), columns, codes,
                 booster_file, train_s)


def materialize_items(built: Built) -> str | None:
    """Fill the online store for id-only requests; the reason when this build of loopline cannot."""
    try:
        from loopline.serving import _online
        from loopline.spec import ProblemSpec
        from loopline.workspace import Workspace

        _online.materialize(ProblemSpec.load(built.spec_path), Workspace.open(built.workspace, env={}, create=False))
    except Exception as exc:  # any failure only means: not measured
        return f"{type(exc).__name__}: {exc}"
    return None


# -- request bodies ---------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


@dataclass
class Requests:
    """The same rows, as each system is sent them; plus the rows themselves for the in-process calls."""

    predict_rows: list[list[dict[str, Any]]] = field(default_factory=list)   # one row each
    rank_rows: list[list[dict[str, Any]]] = field(default_factory=list)      # 500 items each (with item_id)
    rank_units: list[str] = field(default_factory=list)
    ids_only: list[dict[str, Any]] = field(default_factory=list)            # context + item ids


def make_requests(feed: Feed, *, seed: int, rank_pool: int) -> Requests:
    rng = np.random.default_rng(seed + 1)
    users: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in feed.users.to_dict("records")]
    latest: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in feed.latest.to_dict("records")]
    depth = rng.poisson(5, POOL + rank_pool)
    out = Requests()

    def row(user: dict[str, Any], item: dict[str, Any], d: int) -> dict[str, Any]:
        values = {"user_tenure_days": user["user_tenure_days"], "session_depth": d, "device": user["device"],
                  "country": user["country"], **{k: item[k] for k in ITEM_FEATURES}}
        return {k: _plain(v) for k, v in values.items()}

    for i in range(POOL):
        user, item = users[rng.integers(len(users))], latest[rng.integers(len(latest))]
        out.predict_rows.append([{"item_id": item["item_id"], **row(user, item, int(depth[i]))}])
    for i in range(rank_pool):
        user = users[rng.integers(len(users))]
        d = int(depth[POOL + i])
        picked = rng.choice(len(latest), CANDIDATES, replace=False)
        out.rank_rows.append([{"item_id": latest[j]["item_id"], **row(user, latest[j], d)} for j in picked])
        out.rank_units.append(str(user["user_id"]))
        context = {k: _plain(user[k]) for k in USER_FEATURES if k != "session_depth"} | {"session_depth": d}
        out.ids_only.append({"unit_id": str(user["user_id"]), "context": context,
                             "items": [{"item_id": latest[j]["item_id"]} for j in picked]})
    return out


def _http(path: str, body: Any) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload


def encoded(rows: list[dict[str, Any]], built: Built) -> list[list[Any]]:
    """Rows as the booster's inputs: numbers as they are, categories as their codes (None when unknown)."""
    index = {c: {v: i for i, v in enumerate(cats)} for c, cats in built.codes.items()}
    return [[index[c].get(r[c]) if c in index else r[c] for c in built.columns] for r in rows]


def floats(rows: list[dict[str, Any]], built: Built) -> list[list[float | None]]:
    """:func:`encoded` with every value a float (the MLflow signature's type is double)."""
    return [[None if v is None else float(v) for v in row] for row in encoded(rows, built)]


# -- the load generator -----------------------------------------------------------------------------

@dataclass
class Cell:
    system: str
    endpoint: str
    concurrency: int
    latencies_s: list[float]
    elapsed_s: float
    errors: int = 0
    note: str = ""

    @property
    def count(self) -> int:
        return len(self.latencies_s)

    def quantile_ms(self, q: float) -> float:
        return float(np.quantile(np.asarray(self.latencies_s), q) * 1000) if self.latencies_s else float("nan")

    @property
    def rate(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s > 0 else float("nan")


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, bytes(body)
        body += (await reader.readexactly(size + 2))[:-2]


async def _run_load(port: int, messages: Sequence[bytes], *, concurrency: int, requests: int,
                    seconds: float) -> tuple[list[float], float, int, str]:
    connections = [await asyncio.open_connection(HOST, port, limit=1 << 24) for _ in range(concurrency)]
    latencies: list[float] = []
    state = {"next": 0, "errors": 0}
    first_error: list[str] = []
    clock = time.perf_counter()
    deadline = clock + seconds

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while state["next"] < requests and time.perf_counter() < deadline:
            message = messages[state["next"] % len(messages)]
            state["next"] += 1
            t0 = time.perf_counter()
            writer.write(message)
            status, body = await _read_answer(reader)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                state["errors"] += 1
                if not first_error:
                    first_error.append(f"{status}: {body[:300]!r}")

    try:
        await asyncio.gather(*(client(r, w) for r, w in connections))
    finally:
        elapsed = time.perf_counter() - clock
        for _, writer in connections:
            writer.close()
    return latencies, elapsed, state["errors"], first_error[0] if first_error else ""


def load(system: str, endpoint: str, port: int, messages: Sequence[bytes], *, concurrency: int, requests: int,
         seconds: float, warmup: int) -> Cell:
    """Warm up, then send at most ``requests`` requests from ``concurrency`` clients, for at most ``seconds``."""
    asyncio.run(_run_load(port, messages, concurrency=concurrency, requests=warmup, seconds=min(seconds, 3.0)))
    latencies, elapsed, errors, first = asyncio.run(
        _run_load(port, messages, concurrency=concurrency, requests=requests, seconds=seconds))
    cell = Cell(system, endpoint, concurrency, latencies, elapsed, errors, note=first)
    print(f"  {system:<12} {endpoint:<20} c={concurrency}: {cell.count} requests in {elapsed:.1f} s, "
          f"p50 {cell.quantile_ms(0.5):.2f} ms, {cell.rate:,.0f} req/s" + (f", {errors} errors ({first})"
                                                                            if errors else ""), flush=True)
    return cell


def post(port: int, path: str, body: Any) -> Any:
    """One request, its JSON answer (for the score checks)."""
    import httpx

    answer = httpx.post(f"http://{HOST}:{port}{path}", json=body, timeout=30.0)
    if answer.status_code != 200:
        raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.text[:500]}")
    return answer.json()


def time_calls(system: str, endpoint: str, call: Callable[[Any], Any], inputs: Sequence[Any], *, requests: int,
               seconds: float, warmup: int) -> Cell:
    """The in-process call, one at a time (the same bounds as a cell of the load generator)."""
    for i in range(min(warmup, requests)):
        call(inputs[i % len(inputs)])
    latencies: list[float] = []
    clock = time.perf_counter()
    deadline = clock + seconds
    for i in range(requests):
        t0 = time.perf_counter()
        if t0 > deadline:
            break
        call(inputs[i % len(inputs)])
        latencies.append(time.perf_counter() - t0)
    return Cell(system, endpoint, 1, latencies, time.perf_counter() - clock)


# -- server processes -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running(name: str, command: list[str], *, port: int, health: str, env: dict[str, str], log: Path,
            timeout_s: float = START_TIMEOUT_S, stop: signal.Signals = signal.SIGTERM) -> Iterator[None]:
    """A server process in its own session, up once ``health`` answers 200; stopped with ``stop`` (then SIGKILL).

    uvicorn re-raises the signal it stopped on; SIGINT then ends Python with KeyboardInterrupt, so that a
    profiler wrapped around the server still writes its file."""
    import httpx

    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {health} within {timeout_s:.0f} s: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://{HOST}:{port}{health}", timeout=1.0).status_code == 200:
                    break
            time.sleep(0.2)
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, stop)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env["OMP_NUM_THREADS"] = "1"
    return env


HAND_SERVER = '''\
"""A model server written the way users commonly write one: FastAPI, a pandas frame from the JSON, LightGBM."""
import json
import os
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

META = json.loads(open(os.environ["BENCH_MODEL_META"]).read())
BOOSTER = lgb.Booster(model_file=META["booster"])
COLUMNS = META["columns"]
CODES = {column: {value: i for i, value in enumerate(cats)} for column, cats in META["codes"].items()}

app = FastAPI()


class PredictBody(BaseModel):
    rows: list[dict[str, Any]]


class RankBody(BaseModel):
    items: list[dict[str, Any]]


def score(records):
    frame = pd.DataFrame(records)
    for column, codes in CODES.items():
        frame[column] = frame[column].map(codes)
    return BOOSTER.predict(frame[COLUMNS].astype("float64"))


@app.post("/predict")
async def predict(body: PredictBody):
    return {"predictions": [{"score": s} for s in score(body.rows).tolist()]}


@app.post("/rank")
async def rank(body: RankBody):
    scores = score(body.items)
    order = np.argsort(-scores, kind="stable")
    return {"items": [{"item_id": body.items[i]["item_id"], "score": float(scores[i]), "position": p}
                      for p, i in enumerate(order.tolist())]}


@app.get("/health")
async def health():
    return {"ok": True}
'''

FLOOR_SERVER = '''\
"""No model at all: reads the body and answers a fixed JSON object. The fastest any Python server on this
uvicorn can answer here: a ceiling on every server's throughput at each concurrency."""


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})
'''

MLFLOW_SAVE = '''\
import json
import sys

import lightgbm as lgb
import mlflow
import mlflow.lightgbm
import pandas as pd
from mlflow.models import infer_signature

booster = lgb.Booster(model_file=sys.argv[1])
given = json.loads(open(sys.argv[3]).read())
example = pd.DataFrame(given["rows"], columns=given["columns"], dtype="float64")
mlflow.lightgbm.save_model(booster, sys.argv[2], signature=infer_signature(example, booster.predict(example)))
print(mlflow.__version__)
'''


# -- the run ----------------------------------------------------------------------------------------

@dataclass
class Bounds:
    requests: int
    seconds: float
    warmup: int


def reference(built: Built, rows: list[dict[str, Any]]) -> np.ndarray:
    frame = pd.DataFrame([{k: r[k] for k in built.model.features} for r in rows])
    return np.asarray(built.model.predict(frame), dtype=np.float64)


def in_process(built: Built, req: Requests, bounds: Bounds) -> list[Cell]:
    from loopline.registry import Registry
    from loopline.serving._scorer import Scorer
    from loopline.workspace import Workspace

    scorer = Scorer.load(Registry(Workspace.open(built.workspace, env={}, create=False)), MODEL, "champion")
    features = list(built.model.features)
    frames1 = [pd.DataFrame([{k: r[k] for k in features} for r in rows]) for rows in req.predict_rows]
    frames500 = [pd.DataFrame([{k: r[k] for k in features} for r in rows]) for rows in req.rank_rows]
    x1 = [np.asarray(encoded(rows, built), dtype=np.float64) for rows in req.predict_rows]
    x500 = [np.asarray(encoded(rows, built), dtype=np.float64) for rows in req.rank_rows]
    booster = built.model.scorer.booster
    cells = []
    for system, endpoint, call, inputs in (
        ("Model.predict", "predict 1 row", built.model.predict, frames1),
        ("Model.predict", "rank 500 inline", built.model.predict, frames500),
        (f"Scorer.score[{scorer.backend}]", "predict 1 row", scorer.score, req.predict_rows),
        (f"Scorer.score[{scorer.backend}]", "rank 500 inline", scorer.score, req.rank_rows),
        ("Booster.predict", "predict 1 row", booster.predict, x1),
        ("Booster.predict", "rank 500 inline", booster.predict, x500),
    ):
        cells.append(time_calls(system, endpoint, call, inputs, requests=bounds.requests, seconds=bounds.seconds,
                                warmup=bounds.warmup))
        print(f"  {system:<12} {endpoint:<17} in process: p50 {cells[-1].quantile_ms(0.5):.3f} ms", flush=True)
    return cells


def loopline_command(built: Built, port: int, workers: int, profile: Path | None = None) -> list[str]:
    head = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile else [])
    return [*head, "-m", "loopline.serving", "--workspace", str(built.workspace), "--model", MODEL,
            "--port", str(port), "--workers", str(workers), "--log-level", "warning"]


def check(name: str, got: Sequence[float], want: np.ndarray) -> float:
    diff = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - want)))
    if diff > 1e-6:
        raise SystemExit(f"{name}'s scores differ from Model.predict by {diff:.3g}; not the same model.")
    return diff


def as_columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The same candidates as /v1/rank's ``columns`` form: one list per field."""
    return {name: [row[name] for row in rows] for name in rows[0]}


def bench_loopline(built: Built, req: Requests, bounds: Bounds, conc: Sequence[int], tmp: Path, workers: int,
                   ids_reason: str | None, agree: dict[str, float]) -> tuple[list[Cell], str]:
    port = free_port()
    predict = [_http("/v1/predict", {"rows": rows, "unit_id": f"u{i}"}) for i, rows in enumerate(req.predict_rows)]
    rank = [_http("/v1/rank", {"unit_id": unit, "items": rows}) for unit, rows in zip(req.rank_units, req.rank_rows,
                                                                                     strict=True)]
    columns = [_http("/v1/rank", {"unit_id": unit, "columns": as_columns(rows)})
               for unit, rows in zip(req.rank_units, req.rank_rows, strict=True)]
    ids = [_http("/v1/rank", body) for body in req.ids_only]
    ids_columns = [_http("/v1/rank", {**{k: v for k, v in body.items() if k != "items"},
                                      "columns": as_columns(body["items"])}) for body in req.ids_only]
    cells: list[Cell] = []
    with running("loopline", loopline_command(built, port, workers), port=port, health="/v1/ready", env=base_env(),
                 log=tmp / "loopline-server.log"):
        import httpx

        backend = str(httpx.get(f"http://{HOST}:{port}/v1/models", timeout=10).json()[0]["backend"])
        got = post(port, "/v1/predict", {"rows": req.rank_rows[0]})
        agree["loopline"] = check("loopline", [p["score"] for p in got["predictions"]],
                                  reference(built, req.rank_rows[0]))
        by_columns = post(port, "/v1/rank", {"columns": as_columns(req.rank_rows[0])})
        want_all = dict(zip([r["item_id"] for r in req.rank_rows[0]], reference(built, req.rank_rows[0]), strict=True))
        agree["loopline columns"] = check("loopline columns", [i["score"] for i in by_columns["items"]],
                                          np.array([want_all[i["item_id"]] for i in by_columns["items"]]))
        if ids_reason is None:
            try:
                ranked = post(port, "/v1/rank", req.ids_only[0])
                want = dict(zip([r["item_id"] for r in req.rank_rows[0]], reference(built, req.rank_rows[0]),
                                strict=True))
                agree["loopline ids-only"] = check("loopline ids-only", [i["score"] for i in ranked["items"]],
                                                   np.array([want[i["item_id"]] for i in ranked["items"]]))
            except RuntimeError as exc:
                ids_reason = str(exc)
        for c in conc:
            cells.append(load("loopline", "predict 1 row", port, predict, concurrency=c, **vars(bounds)))
            cells.append(load("loopline", "rank 500 inline", port, rank, concurrency=c, **vars(bounds)))
            cells.append(load("loopline", "rank 500 columns", port, columns, concurrency=c, **vars(bounds)))
            if ids_reason is None:
                cells.append(load("loopline", "rank 500 ids", port, ids, concurrency=c, **vars(bounds)))
                cells.append(load("loopline", "rank 500 ids columns", port, ids_columns, concurrency=c,
                                  **vars(bounds)))
    if ids_reason is not None:
        cells += [Cell("loopline", form, c, [], 0.0, note=f"not available ({ids_reason[:160]})")
                  for c in conc for form in ("rank 500 ids", "rank 500 ids columns")]
    return cells, backend


def bench_hand(built: Built, req: Requests, bounds: Bounds, conc: Sequence[int], tmp: Path, workers: int,
               agree: dict[str, float]) -> list[Cell]:
    port = free_port()
    (tmp / "hand_server.py").write_text(HAND_SERVER, encoding="utf-8")
    meta = tmp / "hand_meta.json"
    meta.write_text(json.dumps({"booster": str(built.booster_file), "columns": built.columns, "codes": built.codes}))
    command = [sys.executable, "-m", "uvicorn", "hand_server:app", "--app-dir", str(tmp), "--host", HOST, "--port",
               str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    predict = [_http("/predict", {"rows": rows}) for rows in req.predict_rows]
    rank = [_http("/rank", {"items": rows}) for rows in req.rank_rows]
    cells: list[Cell] = []
    env = {**base_env(), "BENCH_MODEL_META": str(meta)}
    with running("hand-written", command, port=port, health="/health", env=env, log=tmp / "hand-server.log"):
        got = post(port, "/predict", {"rows": req.rank_rows[0]})
        agree["hand-written"] = check("hand-written", [p["score"] for p in got["predictions"]],
                                      reference(built, req.rank_rows[0]))
        for c in conc:
            cells.append(load("hand-written", "predict 1 row", port, predict, concurrency=c, **vars(bounds)))
            cells.append(load("hand-written", "rank 500 inline", port, rank, concurrency=c, **vars(bounds)))
    return cells


def bench_floor(req: Requests, bounds: Bounds, conc: Sequence[int], tmp: Path, workers: int) -> list[Cell]:
    """The no-op server (FLOOR_SERVER) sent the same requests: what the HTTP stack and the load generator cost."""
    (tmp / "floor_server.py").write_text(FLOOR_SERVER, encoding="utf-8")
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "floor_server:app", "--app-dir", str(tmp), "--host", HOST, "--port",
               str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    predict = [_http("/v1/predict", {"rows": rows}) for rows in req.predict_rows]
    rank = [_http("/v1/rank", {"items": rows}) for rows in req.rank_rows]
    cells: list[Cell] = []
    with running("no-op", command, port=port, health="/health", env=base_env(), log=tmp / "floor-server.log"):
        for c in conc:
            cells.append(load("no-op server", "predict 1 row", port, predict, concurrency=c, **vars(bounds)))
            cells.append(load("no-op server", "rank 500 inline", port, rank, concurrency=c, **vars(bounds)))
    return cells


def bench_mlflow(built: Built, req: Requests, bounds: Bounds, conc: Sequence[int], tmp: Path, workers: int,
                 python: str | None, agree: dict[str, float]) -> tuple[list[Cell], str]:
    def absent(why: str) -> tuple[list[Cell], str]:
        print(f"  MLflow: not available ({why})", flush=True)
        return [Cell("MLflow", e, c, [], 0.0, note=f"not available ({why})")
                for c in conc for e in ("predict 1 row", "rank 500 inline")], f"not available ({why})"

    if python is None:
        return absent("no --mlflow-python given")
    model_dir = tmp / "mlflow-model"
    example = tmp / "mlflow-example.json"
    example.write_text(json.dumps({"columns": built.columns, "rows": floats(req.rank_rows[0][:20], built)}))
    env = {**base_env(), "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_TRACKING_URI": (tmp / "mlruns").as_uri()}
    env.pop("VIRTUAL_ENV", None)
    try:
        saved = subprocess.run([python, "-c", MLFLOW_SAVE, str(built.booster_file), str(model_dir), str(example)],
                               env=env, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return absent(f"{python}: {exc}")
    if saved.returncode != 0:
        return absent(f"saving the model failed: {saved.stderr.strip().splitlines()[-1:]}")
    version = saved.stdout.strip().splitlines()[-1]
    port = free_port()
    command = [python, "-m", "mlflow", "models", "serve", "-m", str(model_dir), "--env-manager", "local", "-h", HOST,
               "-p", str(port), "-w", str(workers)]

    def split(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"dataframe_split": {"columns": built.columns, "data": floats(rows, built)}}

    predict = [_http("/invocations", split(rows)) for rows in req.predict_rows]
    rank = [_http("/invocations", split(rows)) for rows in req.rank_rows]
    cells: list[Cell] = []
    try:
        with running("MLflow", command, port=port, health="/ping", env=env, log=tmp / "mlflow-server.log"):
            got = post(port, "/invocations", split(req.rank_rows[0]))
            agree["MLflow"] = check("MLflow", got["predictions"], reference(built, req.rank_rows[0]))
            for c in conc:
                cells.append(load("MLflow", "predict 1 row", port, predict, concurrency=c, **vars(bounds)))
                cells.append(load("MLflow", "rank 500 inline", port, rank, concurrency=c, **vars(bounds)))
    except RuntimeError as exc:
        return absent(str(exc)[:300])
    return cells, f"mlflow {version}"


def profile_loopline(built: Built, req: Requests, bounds: Bounds, tmp: Path, out: Path) -> None:
    """The loopline server under cProfile for /predict and /rank at concurrency 1; the top entries."""
    predict = [_http("/v1/predict", {"rows": rows, "unit_id": f"u{i}"}) for i, rows in enumerate(req.predict_rows)]
    rank = [_http("/v1/rank", {"unit_id": u, "items": rows}) for u, rows in zip(req.rank_units, req.rank_rows,
                                                                               strict=True)]
    for endpoint, messages in (("predict", predict), ("rank", rank)):
        target = out.with_name(f"{out.stem}-{endpoint}{out.suffix or '.prof'}")
        port = free_port()
        with running("loopline (profiled)", loopline_command(built, port, 1, target), port=port, health="/v1/ready",
                     env=base_env(), log=tmp / f"loopline-profile-{endpoint}.log", stop=signal.SIGINT):
            load("loopline+cProfile", endpoint, port, messages, concurrency=1, **vars(bounds))
        stats = pstats.Stats(str(target))
        print(f"\ncProfile of the loopline server, /{endpoint} at concurrency 1 ({target}; start-up included); "
              "top by own time:")
        stats.sort_stats("tottime").print_stats(20)
        print(f"the request path by cumulative time (/{endpoint}):")
        stats.sort_stats("cumulative").print_stats(PROFILED, 30)


# -- the report -------------------------------------------------------------------------------------

def table(cells: Sequence[Cell]) -> None:
    print(f"\n{'system':<24} {'endpoint':<20} {'conc':>4} {'requests':>8} {'errors':>6} {'p50 ms':>9} "
          f"{'p99 ms':>9} {'req/s':>9}")
    for cell in cells:
        if not cell.latencies_s:
            print(f"{cell.system:<24} {cell.endpoint:<20} {cell.concurrency:>4} {cell.note}")
            continue
        print(f"{cell.system:<24} {cell.endpoint:<20} {cell.concurrency:>4} {cell.count:>8} {cell.errors:>6} "
              f"{cell.quantile_ms(0.5):>9.3f} {cell.quantile_ms(0.99):>9.3f} {cell.rate:>9,.1f}")


def find(cells: Sequence[Cell], system: str, endpoint: str, c: int) -> Cell | None:
    for cell in cells:
        if cell.system == system and cell.endpoint == endpoint and cell.concurrency == c and cell.latencies_s:
            return cell
    return None


def ratios(cells: Sequence[Cell], conc: Sequence[int]) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print("\nthroughput ratios, loopline / other, in this run:")
    for endpoint, target in (("predict 1 row", 40.0), ("rank 500 inline", 10.0), ("rank 500 columns", 10.0)):
        for c in conc:
            ours = find(cells, "loopline", endpoint, c)
            for other in ("MLflow", "hand-written", "no-op server"):  # each other server is sent its own form
                theirs = find(cells, other, endpoint.replace("columns", "inline"), c)
                if ours is None or theirs is None:
                    print(f"  {endpoint:<17} c={c} vs {other:<12}: n/a")
                    continue
                ratio = ours.rate / theirs.rate
                goal = f" (target >= {target:.0f}x: {verdict(ratio >= target)})" if other == "MLflow" else ""
                print(f"  {endpoint:<17} c={c} vs {other:<12}: {ratio:6.2f}x{goal}")
            mlflow = find(cells, "MLflow", endpoint.replace("columns", "inline"), c)
            floor = find(cells, "no-op server", endpoint.replace("columns", "inline"), c)
            if mlflow is not None and floor is not None and mlflow.rate and floor.rate:
                print(f"  {'':<17}        (the no-op server answers {floor.rate / mlflow.rate:.1f}x MLflow's "
                      f"throughput: the most any server could reach here)")
    print("latency targets (loopline, concurrency 1):")
    predict = find(cells, "loopline", "predict 1 row", 1)
    if predict is not None:
        p50 = predict.quantile_ms(0.5)
        print(f"  /v1/predict 1 row p50 {p50:.3f} ms (target <= 1 ms: {verdict(p50 <= 1.0)})")
    for form in ("inline", "columns"):
        rank = find(cells, "loopline", f"rank 500 {form}", 1)
        if rank is not None:
            p99 = rank.quantile_ms(0.99)
            print(f"  /v1/rank 500 {form:<7} p99 {p99:.3f} ms (target <= 5 ms: {verdict(p99 <= 5.0)})")


def http_stack() -> str:
    """What uvicorn runs on here (its 'auto' choice): the HTTP parser and the event loop."""
    import importlib.util

    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{parser} + {loop}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="most requests per cell (after the warm-up)")
    parser.add_argument("--seconds", type=float, default=20.0, help="most seconds per cell")
    parser.add_argument("--warmup", type=int, default=200, help="requests sent and not counted before each cell")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--workers", type=int, default=1, help="server processes, the same for every server")
    parser.add_argument("--events", type=int, default=150_000, help="impressions to train on")
    parser.add_argument("--learning-rate", type=float, default=0.015)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mlflow-python", default=None, help="the python of a virtual environment with mlflow")
    parser.add_argument("--profile", type=Path, default=None, help="also profile the loopline server (cProfile)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 requests, at most 2 s per cell")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS),
                        help="which to measure (all by default; the ratios need loopline beside another)")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.seconds, args.warmup = 100, 2.0, 10
    if os.environ.get("OMP_NUM_THREADS") != "1":
        os.environ["OMP_NUM_THREADS"] = "1"  # read by LightGBM when it first predicts in this process
    bounds = Bounds(args.requests, args.seconds, args.warmup)
    conc = list(args.concurrency)

    import fastapi
    import lightgbm
    import uvicorn

    import loopline

    load_before = os.getloadavg()
    print(f"load average at start {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"{os.cpu_count()} cores; OMP_NUM_THREADS=1 in every process")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as name:
        tmp = Path(name)
        clock = time.perf_counter()
        feed = make_feed(args.events, seed=args.seed)
        built = build(tmp, feed, learning_rate=args.learning_rate)
        print(f"trained {MODEL} v{built.version}: {built.trees} trees on {len(built.columns)} inputs "
              f"({', '.join(built.columns)}), trained in {built.train_s:.1f} s "
              f"({time.perf_counter() - clock:.1f} s with the data)")
        ids_reason = materialize_items(built)
        req = make_requests(feed, seed=args.seed, rank_pool=16 if args.quick else POOL)
        agree: dict[str, float] = {}
        print("in-process calls:", flush=True)
        systems = set(args.systems)
        cells = in_process(built, req, bounds) if "in-process" in systems else []
        print("servers on 127.0.0.1:", flush=True)
        backend, mlflow_version = "not measured", "MLflow not measured"
        if "loopline" in systems:
            served, backend = bench_loopline(built, req, bounds, conc, tmp, args.workers, ids_reason, agree)
            cells += served
        if "hand-written" in systems:
            cells += bench_hand(built, req, bounds, conc, tmp, args.workers, agree)
        if "no-op" in systems:
            cells += bench_floor(req, bounds, conc, tmp, args.workers)
        if "mlflow" in systems:
            mlflow_cells, mlflow_version = bench_mlflow(built, req, bounds, conc, tmp, args.workers,
                                                        args.mlflow_python, agree)
            cells += mlflow_cells
        load_after = os.getloadavg()
        print(f"\nloopline {loopline.__version__} (trees on {backend}), lightgbm {lightgbm.__version__}, "
              f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__} ({http_stack()}), {mlflow_version}; "
              f"{args.workers} worker(s) each; {built.trees} trees; requests <= {bounds.requests} and "
              f"<= {bounds.seconds:g} s per cell after {bounds.warmup} warm-up requests")
        print("largest score difference from Model.predict on a 500-row request: "
              + ", ".join(f"{k} {v:.1e}" for k, v in agree.items()))
        table(cells)
        ratios(cells, conc)
        print(f"load average at end {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
        if args.profile is not None:
            profile_loopline(built, req, bounds, tmp, args.profile.resolve())


if __name__ == "__main__":
    main()
