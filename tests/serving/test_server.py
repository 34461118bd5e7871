"""A real server process on 127.0.0.1: what a client sees over the wire, and what survives kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from loopline import ServingError
from loopline.events import EventLog
from loopline.registry import Registry
from loopline.serving._auth import ApiKeys
from loopline.serving._server import ServeSettings, is_loopback, read_env
from loopline.workspace import Workspace
from tests.serving.conftest import FEATURES, customer_rows

START_TIMEOUT_S = 90.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    output: Path

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> Server:
    """``python -m loopline.serving`` on a free loopback port, once it answers /v1/health."""
    port = _free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    output = ws.root.parent / f"server-{port}.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "loopline.serving", "--workspace", str(ws.root), "--model", "churn",
             "--port", str(port), "--log-level", "warning", *args],
            env={**clean, "OMP_NUM_THREADS": "1", **(env or {})}, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{port}", output)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/v1/health", timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop(server)
    raise AssertionError(f"the server did not answer within {START_TIMEOUT_S} s:\n{server.log()}")


def stop(server: Server, sig: signal.Signals = signal.SIGTERM) -> None:
    """Stop the server (and any workers it started) and wait; SIGKILL the group if it does not stop in time."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, sig)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)


def _copy(trained_workspace: Path, folder: Path) -> Workspace:
    shutil.copytree(trained_workspace, folder / "ws")
    return Workspace.open(folder / "ws", env={}, create=False)


@dataclass
class Served:
    ws: Workspace
    server: Server
    predict: dict[str, str]
    admin: dict[str, str]


@pytest.fixture(scope="module")
def served(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One worker with API keys required, a 20 kB body limit and at most 50 rows per request."""
    ws = _copy(trained_workspace, tmp_path_factory.mktemp("server"))
    keys = ApiKeys.for_workspace(ws)
    predict = {"Authorization": f"Bearer {keys.create('app', scopes=['predict'])[1].reveal()}"}
    admin = {"Authorization": f"Bearer {keys.create('ops', scopes=['admin'])[1].reveal()}"}
    server = start(ws, "--auth",
                   env={"LOOPLINE_SERVE_MAX_BODY_BYTES": "20000", "LOOPLINE_SERVE_MAX_ROWS": "50"})
    try:
        yield Served(ws, server, predict, admin)
    finally:
        stop(server)


# -- settings --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True),
                                                 ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                                 ("192.168.1.20", False), ("example.org", False)])
def test_auth_is_required_by_default_beyond_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert ServeSettings(host=host).auth_required is not loopback
    assert ServeSettings(host=host, require_auth=True).auth_required
    assert not ServeSettings(host=host, require_auth=False).auth_required


def test_settings_travel_through_the_environment_and_back() -> None:
    settings = ServeSettings(host="0.0.0.0", port=9100, workers=3, alias="challenger", deployment="web",
                             require_auth=False, max_body_bytes=10_000, max_rows=20, log_queue=5, log_interval_s=0.5,
                             log_max_rows=100, log_top=7, log_features=False)
    env = settings.to_env()
    assert env["LOOPLINE_SERVE_REQUIRE_AUTH"] == "false" and env["LOOPLINE_SERVE_LOG_INTERVAL_S"] == "0.5"
    assert ServeSettings.from_env(env) == settings
    assert ServeSettings.from_env({}) == ServeSettings()
    assert read_env({**env, "LOOPLINE_SERVE_MODEL": "churn"}) == ("churn", settings)


@pytest.mark.parametrize(("env", "words"), [
    ({"LOOPLINE_SERVE_PORT": "http"}, "LOOPLINE_SERVE_PORT='http': expected int (default 8000)"),
    ({"LOOPLINE_SERVE_REQUIRE_AUTH": "maybe"}, "LOOPLINE_SERVE_REQUIRE_AUTH='maybe': expected true or false"),
    ({"LOOPLINE_SERVE_PORT": "70000"}, "port (LOOPLINE_SERVE_PORT) must be at most 65535, got 70000"),
    ({"LOOPLINE_SERVE_WORKERS": "0"}, "workers (LOOPLINE_SERVE_WORKERS) must be at least 1, got 0"),
    ({"LOOPLINE_SERVE_LOG_INTERVAL_S": "0"}, "log_interval_s (LOOPLINE_SERVE_LOG_INTERVAL_S) must be a positive"),
    ({"LOOPLINE_SERVE_ALIAS": "../x"}, "alias (LOOPLINE_SERVE_ALIAS): '../x' is not a name"),
])
def test_a_bad_setting_names_its_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(ServingError) as caught:
        ServeSettings.from_env(env)
    assert words in str(caught.value)


def test_a_worker_without_a_model_to_serve_says_which_variable_is_missing() -> None:
    with pytest.raises(ServingError, match="LOOPLINE_SERVE_MODEL is not set"):
        read_env({})


# -- a real server ---------------------------------------------------------------------------------------


def test_a_real_server_scores_like_the_model(served: Served) -> None:
    rows = customer_rows(5)
    model = Registry(served.ws).load("churn", "champion")
    expected = np.asarray(model.predict(pd.DataFrame(rows)[list(FEATURES)]))
    with httpx.Client(base_url=served.server.url, timeout=10) as client:
        assert client.get("/v1/health").json() == {"status": "alive"}
        assert client.get("/v1/ready").status_code == 200
        answers = [client.post("/v1/predict", json={"rows": rows, "unit_id": f"u{i}"}, headers=served.predict)
                   for i in range(6)]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose([p["score"] for p in answer.json()["predictions"]], expected, atol=1e-9)
    assert len({a.headers["x-request-id"] for a in answers}) == 6


def test_a_real_server_refuses_with_401_403_413_and_422_bodies(served: Served) -> None:
    rows = customer_rows(3)
    with httpx.Client(base_url=served.server.url, timeout=10) as client:
        anonymous = client.post("/v1/predict", json={"rows": rows})
        bad_key = client.post("/v1/predict", json={"rows": rows}, headers={"Authorization": "Bearer loopline-x"})
        wrong_scope = client.get("/v1/metrics", headers=served.predict)
        metrics = client.get("/v1/metrics", headers=served.admin)
        too_big = client.post("/v1/predict", json={"rows": customer_rows(300)}, headers=served.predict)
        too_many = client.post("/v1/predict", json={"rows": customer_rows(51)}, headers=served.predict)
        wrong_type = client.post("/v1/predict", json={"rows": [{**rows[0], "support_tickets": "several"}]},
                                 headers=served.predict)
        missing = client.post("/v1/rank", json={"items": [{"item_id": "a"}]}, headers=served.predict)
    assert anonymous.status_code == 401 and "needs an API key" in anonymous.json()["error"]
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert bad_key.status_code == 401 and "not valid" in bad_key.json()["error"]
    assert wrong_scope.status_code == 403 and "lacks the 'admin' scope" in wrong_scope.json()["error"]
    assert metrics.status_code == 200 and "loopline_requests_total" in metrics.text
    assert too_big.status_code == 413 and "limit of 20000 bytes" in too_big.json()["error"]
    assert too_many.status_code == 413 and too_many.json()["field"] == "rows"
    assert wrong_type.status_code == 422 and wrong_type.json()["field"] == "support_tickets"
    assert "'several'" in wrong_type.json()["error"]
    assert missing.status_code == 422 and missing.json()["field"] == "tenure_months"
    for answer in (anonymous, bad_key, wrong_scope, too_big, too_many, wrong_type, missing):
        assert set(answer.json()) == {"error", "field", "request_id"}
        assert "Traceback" not in answer.text and 'File "' not in answer.text


def test_binding_beyond_loopback_without_keys_is_refused_before_starting(trained_workspace: Path,
                                                                         tmp_path: Path) -> None:
    ws = _copy(trained_workspace, tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    done = subprocess.run(
        [sys.executable, "-m", "loopline.serving", "--workspace", str(ws.root), "--model", "churn",
         "--host", "0.0.0.0", "--port", str(_free_port())],
        env={**clean, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "API keys are required" in done.stderr and "loopline keys create" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_two_workers_start_from_the_settings_passed_through_the_environment(trained_workspace: Path,
                                                                           tmp_path: Path) -> None:
    ws = _copy(trained_workspace, tmp_path)
    server = start(ws, "--workers", "2", env={"LOOPLINE_SERVE_MAX_ROWS": "2"})
    try:
        listing = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        children = listing.read_text().split() if listing.exists() else ["?", "?"]  # Linux shows the workers
        with httpx.Client(base_url=server.url, timeout=10) as client:
            answers = [client.post("/v1/predict", json={"rows": customer_rows(2)}) for _ in range(4)]
            refused = [client.post("/v1/predict", json={"rows": customer_rows(3)}) for _ in range(4)]
    finally:
        stop(server)
    assert len(children) >= 2  # uvicorn's workers (the parent only supervises)
    assert all(a.status_code == 200 for a in answers)
    assert all(r.status_code == 413 and r.json()["field"] == "rows" for r in refused)  # every worker read the limit


@pytest.mark.slow
def test_every_acknowledged_feedback_survives_kill_9_and_buffered_exposures_survive_a_clean_stop(
    trained_workspace: Path, tmp_path: Path
) -> None:
    ws = _copy(trained_workspace, tmp_path)
    server = start(ws, env={"LOOPLINE_SERVE_LOG_INTERVAL_S": "60"})
    acknowledged: list[str] = []
    lock = threading.Lock()
    stopped = threading.Event()

    def post(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for n in range(100_000):
                ids = [f"fb-{worker}-{n}-{j}" for j in range(3)]
                try:
                    answer = client.post("/v1/feedback", json={"events": [
                        {"request_id": i, "event": "click"} for i in ids]})
                except httpx.TransportError:
                    return
                if answer.status_code != 200:
                    return
                with lock:
                    acknowledged.extend(ids)
                if stopped.is_set():
                    return

    posters = [threading.Thread(target=post, args=(w,)) for w in range(2)]
    for thread in posters:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(server.process.pid, signal.SIGKILL)  # mid-stream: requests are in flight
    server.process.wait(timeout=10)
    stopped.set()
    for thread in posters:
        thread.join(timeout=30)

    log = EventLog.for_workspace(ws)
    for segment in log.segments("feedback"):
        pq.read_table(segment)  # every segment in place is whole
    stored = set(log.read("feedback")["request_id"])
    assert len(acknowledged) >= 150
    assert set(acknowledged) <= stored

    # A restart on the same workspace serves again; its exposures wait for the 60 s interval, so only the
    # clean stop can have written them.
    again = start(ws, env={"LOOPLINE_SERVE_LOG_INTERVAL_S": "60"})
    answer = httpx.post(f"{again.url}/v1/predict", json={"rows": customer_rows(2)}, timeout=10)
    assert answer.status_code == 200
    time.sleep(0.5)
    assert answer.json()["request_id"] not in set(log.read("exposures")["request_id"])
    stop(again)
    assert again.process.returncode in (0, -signal.SIGTERM), again.log()  # uvicorn re-raises the signal it handled
    assert list(log.read("exposures")["request_id"]) == [answer.json()["request_id"]] * 2
