"""Alert rules: evaluation, the cool-down against the real registry (SQLite and, when a server is given,
PostgreSQL), and the webhook against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import doctest
import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from loopline import MonitoringError
from loopline.monitoring import _alerts
from loopline.monitoring._alerts import Alert, AlertLog, NotEvaluated, evaluate, post_webhook, webhook_payload
from loopline.registry import Registry
from loopline.spec import AlertRule
from loopline.workspace import Workspace
from tests.registry.conftest import POSTGRES_ENV, SKIP_POSTGRES, make_artifact, postgres_schema_url, register

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHARE = AlertRule(metric="drift.share", op=">=", threshold=0.5, severity="critical")
AUC = AlertRule(metric="performance.roc_auc", op="<", threshold=0.7, window=timedelta(days=7), severity="critical")
P99 = AlertRule(metric="health.latency_p99_ms", op=">", threshold=50)


def test_module_doctest() -> None:
    assert doctest.testmod(_alerts).failed == 0


# -- evaluate ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("op", "fires_below", "fires_at", "fires_above"), [
    (">", False, False, True), (">=", False, True, True), ("<", True, False, False), ("<=", True, True, False),
    ("==", False, True, False), ("!=", True, False, True)])
def test_each_operator_fires_on_the_right_side_of_the_threshold(op: str, fires_below: bool, fires_at: bool,
                                                                fires_above: bool) -> None:
    rule = AlertRule(metric="m", op=op, threshold=0.25)  # type: ignore[arg-type]
    fired = [bool(evaluate([rule], {"m": v}, now=NOW, model="churn")[0]) for v in (0.2, 0.25, 0.3)]
    assert fired == [fires_below, fires_at, fires_above]
    assert bool(evaluate([rule], {"m": np.float32(0.25)}, now=NOW, model="churn")[0]) == fires_at  # numpy numbers


def test_fired_alerts_carry_the_rule_value_model_version_time_and_a_message() -> None:
    values = {"drift.share": 0.62, "performance.roc_auc": 0.655, "health.latency_p99_ms": 12.0}
    local = NOW.astimezone(timezone(timedelta(hours=2)))
    fired, skipped = evaluate([SHARE, AUC, P99], values, now=local, model="churn", version=3)
    assert skipped == []
    assert fired == [
        Alert(rule=SHARE, value=0.62, fired_at=NOW, model="churn", version=3,
              message="[critical] churn v3: drift.share is 0.62, which is >= 0.5"),
        Alert(rule=AUC, value=0.655, fired_at=NOW, model="churn", version=3,
              message="[critical] churn v3: performance.roc_auc over 1w is 0.655, which is < 0.7"),
    ]
    assert fired[0].fired_at.tzinfo == UTC
    unversioned, _ = evaluate([P99], {"health.latency_p99_ms": 51.5}, now=NOW, model="churn")
    assert unversioned[0].message == "[warning] churn: health.latency_p99_ms is 51.5, which is > 50"
    assert unversioned[0].version is None


def test_absent_none_and_nan_metrics_do_not_fire_and_are_reported_as_not_evaluated() -> None:
    rules = [SHARE, AUC, P99, AlertRule(metric="feature.past_ctr.psi", op=">", threshold=0.2)]
    values = {"drift.shares": 0.9, "performance.roc_auc": None, "health.latency_p99_ms": math.nan,
              "feature.other.psi": 5.0}
    fired, skipped = evaluate(rules, values, now=NOW, model="churn", version=1)
    assert fired == []
    assert skipped == [
        NotEvaluated(SHARE, "no value named 'drift.share' in this window; did you mean 'drift.shares'?"),
        NotEvaluated(AUC, "performance.roc_auc has no value in this window (not computable, e.g. too few rows or "
                          "labels)"),
        NotEvaluated(P99, "health.latency_p99_ms has no value in this window (not computable, e.g. too few rows or "
                          "labels)"),
        NotEvaluated(rules[3], "no value named 'feature.past_ctr.psi' in this window"),
    ]
    assert evaluate([], values, now=NOW, model="churn") == ([], [])


def test_evaluate_refuses_what_it_cannot_use() -> None:
    with pytest.raises(MonitoringError, match=r"now must be a timezone-aware datetime, e\.g\. datetime\.now\(UTC\); "
                                              r"got datetime\.datetime\(2026, 3, 1, 12, 0\)\."):
        evaluate([SHARE], {"drift.share": 1.0}, now=datetime(2026, 3, 1, 12), model="churn")
    with pytest.raises(MonitoringError, match=r"values\['drift\.share'\] must be a number or None, got 'high'\."):
        evaluate([SHARE], {"drift.share": "high"}, now=NOW, model="churn")  # type: ignore[dict-item]
    with pytest.raises(MonitoringError, match=r"values\['drift\.share'\] must be a number or None, got True\."):
        evaluate([SHARE], {"drift.share": True}, now=NOW, model="churn")
    with pytest.raises(MonitoringError, match=r"rules must be AlertRule objects"):
        evaluate([{"metric": "drift.share"}], {}, now=NOW, model="churn")  # type: ignore[list-item]
    with pytest.raises(MonitoringError, match=r"evaluate needs the name of the model"):
        evaluate([SHARE], {}, now=NOW, model="")


# -- the cool-down against the registry --------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """A registry holding model 'churn' v1 and v2; on PostgreSQL in a new schema, dropped afterwards."""
    if request.param == "sqlite":
        env: dict[str, str] = {}
        schema = None
    else:
        base = os.environ.get(POSTGRES_ENV)
        if not base:
            pytest.skip(SKIP_POSTGRES)
        schema = f"loopline_test_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(base, poolclass=NullPool)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        env = {"LOOPLINE_DB_URL": postgres_schema_url(base, schema)}
    try:
        registry = Registry(Workspace.open(tmp_path / "ws", env=env))
        artifact = make_artifact(tmp_path / "saved")
        register(registry, artifact)
        register(registry, artifact)
        yield registry
    finally:
        if schema is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


def _fire(at: datetime, *, version: int | None = 1, share: float = 0.62) -> list[Alert]:
    fired, _ = evaluate([SHARE, P99], {"drift.share": share, "health.latency_p99_ms": 10.0}, now=at, model="churn",
                        version=version)
    return fired


def test_the_same_rule_twice_within_the_cooldown_alerts_once_and_after_it_twice(registry: Registry) -> None:
    log = AlertLog(registry)
    first = _fire(NOW)
    assert log.record(first, cooldown=timedelta(hours=6)) == first
    assert log.record(_fire(NOW + timedelta(hours=2), share=0.7), cooldown=timedelta(hours=6)) == []
    assert log.history("churn") == first
    later = _fire(NOW + timedelta(hours=6, minutes=1), share=0.55)
    assert log.record(later, cooldown=timedelta(hours=6)) == later
    history = log.history("churn")
    assert history == first + later
    assert [(a.rule, a.value, a.model, a.version) for a in history] == [(SHARE, 0.62, "churn", 1),
                                                                         (SHARE, 0.55, "churn", 1)]
    assert log.history("churn", since=NOW + timedelta(hours=1)) == later


def test_one_batch_applies_the_cooldown_within_itself_and_versions_are_separate(registry: Registry) -> None:
    log = AlertLog(registry)
    batch = _fire(NOW) + _fire(NOW + timedelta(minutes=5)) + _fire(NOW, version=2)
    assert log.record(batch, cooldown=timedelta(hours=1)) == [batch[0], batch[2]]
    assert log.record(_fire(NOW + timedelta(minutes=10)), cooldown=timedelta(0)) != []
    assert len(log.history("churn")) == 3
    expected = r"cooldown must be a non-negative timedelta such as timedelta\(hours=6\), got '6h'\. Give the spec's "
    with pytest.raises(MonitoringError, match=expected + r"monitoring\.cooldown\."):
        log.record(batch, cooldown="6h")  # type: ignore[arg-type]


# -- the webhook ------------------------------------------------------------------------------------------------

class Receiver:
    """A real HTTP receiver on 127.0.0.1 for one test: it records each POST's body and headers and answers with
    the next of ``statuses`` (the last one repeats); ``"hang"`` holds the request without ever answering and
    ``"trickle"`` sends a 200 one byte every 50 ms. Bounded: it serves for at most ``lifetime_s`` seconds and
    stops by itself then, or when the ``with`` block ends."""

    def __init__(self, statuses: Sequence[int | str] = (200,), *, lifetime_s: float = 10.0) -> None:
        self.statuses = list(statuses)
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()
        self.deadline = time.monotonic() + lifetime_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.bodies.append(body)
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                index = min(len(receiver.bodies), len(receiver.statuses)) - 1
                answer = receiver.statuses[index]
                if answer == "hang":
                    receiver.release.wait(max(0.0, receiver.deadline - time.monotonic()))
                    self.close_connection = True
                    return
                if answer == "trickle":
                    for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n":
                        if receiver.release.wait(0.05):
                            break
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_response(int(answer))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (a timed-out attempt) is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.timeout = 0.05
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.release.is_set() and time.monotonic() < self.deadline:
            self.server.handle_request()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/alerts"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release.set()
        self.thread.join(timeout=5)
        self.server.server_close()


def test_the_payload_holds_each_alerts_rule_value_model_and_version() -> None:
    alerts = _fire(NOW) + evaluate([AUC], {"performance.roc_auc": 0.61}, now=NOW, model="fraud", version=None)[0]
    with Receiver() as receiver:
        post_webhook(receiver.url, alerts, timeout_s=2.0)
    assert len(receiver.bodies) == 1
    assert receiver.headers[0]["content-type"] == "application/json"
    payload = json.loads(receiver.bodies[0])
    assert payload == webhook_payload(alerts)
    assert [(a["rule"], a["value"], a["model"], a["version"]) for a in payload["alerts"]] == [
        ({"metric": "drift.share", "op": ">=", "threshold": 0.5, "window": None, "severity": "critical"}, 0.62,
         "churn", 1),
        ({"metric": "performance.roc_auc", "op": "<", "threshold": 0.7, "window": "1w", "severity": "critical"},
         0.61, "fraud", None)]
    assert payload["alerts"][0]["fired_at"] == "2026-03-01T12:00:00+00:00"
    assert payload["text"] == ("loopline: 2 alerts\n[critical] churn v1: drift.share is 0.62, which is >= 0.5\n"
                               "[critical] fraud: performance.roc_auc over 1w is 0.61, which is < 0.7")


def test_nothing_is_sent_without_alerts() -> None:
    with Receiver() as receiver:
        post_webhook(receiver.url, [], timeout_s=1.0)
    assert receiver.bodies == []


def test_a_receiver_answering_500_then_200_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    alerts = _fire(NOW)
    with caplog.at_level(logging.WARNING, logger="loopline.monitoring._alerts"), Receiver([500, 200]) as receiver:
        post_webhook(receiver.url + "?token=s3cret", alerts, timeout_s=2.0, retries=2)
    assert len(receiver.bodies) == 2 and receiver.bodies[0] == receiver.bodies[1]
    assert [r.getMessage() for r in caplog.records] == [
        f"webhook {receiver.url}?***, attempt 1 of 3: HTTP 500 Internal Server Error"]


def test_a_receiver_that_keeps_failing_is_tried_retries_plus_one_times_then_named_without_its_secret(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="loopline.monitoring._alerts"), Receiver([503]) as receiver, \
            pytest.raises(MonitoringError) as failed:
        post_webhook(receiver.url + "?token=s3cret", _fire(NOW), timeout_s=1.0, retries=2)
    assert len(receiver.bodies) == 3
    assert str(failed.value) == (
        f"could not deliver 1 alert to the webhook {receiver.url}?***: HTTP 503 Service Unavailable (3 attempts "
        "within 3 s). Check that the receiver is up and the URL is right (monitoring.webhook); the alerts are stored "
        "in the registry (AlertLog.history).")
    assert len(caplog.records) == 4 and caplog.records[-1].levelno == logging.ERROR
    assert not any("s3cret" in r.getMessage() for r in caplog.records)


def test_a_client_error_is_not_retried() -> None:
    with Receiver([404, 200]) as receiver, pytest.raises(MonitoringError, match=r"HTTP 404 Not Found \(1 attempt "
                                                                                  r"within 3 s\)"):
        post_webhook(receiver.url, _fire(NOW), timeout_s=1.0, retries=2)
    assert len(receiver.bodies) == 1


@pytest.mark.parametrize("behaviour", ["hang", "trickle"])
def test_a_receiver_that_never_answers_makes_post_webhook_raise_within_the_bound(behaviour: str) -> None:
    timeout_s, retries = 0.3, 2
    with Receiver([behaviour]) as receiver:
        started = time.monotonic()
        with pytest.raises(MonitoringError) as failed:
            post_webhook(receiver.url + "?token=s3cret", _fire(NOW), timeout_s=timeout_s, retries=retries)
        elapsed = time.monotonic() - started
    assert timeout_s <= elapsed <= timeout_s * (retries + 1) + 1.0  # the bound, plus scheduling on a busy machine
    message = str(failed.value)
    assert message.startswith(f"could not deliver 1 alert to the webhook {receiver.url}?***: no answer within ")
    assert "s3cret" not in message and "within 0.9 s)" in message
    if behaviour == "hang":  # each attempt waited its timeout; a third one had no time left after the pauses
        assert len(receiver.bodies) == 2 and "(2 attempts within 0.9 s)" in message


def test_an_unreachable_receiver_is_retried_then_named() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(MonitoringError, match=rf"to the webhook http://127\.0\.0\.1:{port}/h: ConnectError .*\(3 "
                                              r"attempts within 3 s\)"):
        post_webhook(f"http://127.0.0.1:{port}/h", _fire(NOW), timeout_s=1.0, retries=2)
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"url": "ftp://hooks.example.com/x?token=s3cret"},
     r"the webhook must be an http\(s\) URL such as 'https://hooks\.example\.com/alerts', got "
     r"'ftp://hooks\.example\.com/x\?\*\*\*'\. Check monitoring\.webhook in the spec\."),
    ({"timeout_s": 0}, r"timeout_s must be a positive number of seconds, got 0\."),
    ({"timeout_s": math.inf}, r"timeout_s must be a positive number of seconds, got inf\."),
    ({"retries": -1}, r"retries must be a whole number >= 0, got -1\."),
])
def test_post_webhook_refuses_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"url": "http://127.0.0.1:9/h", "timeout_s": 1.0, "retries": 0, **kwargs}
    with pytest.raises(MonitoringError, match=message):
        post_webhook(arguments.pop("url"), _fire(NOW), **arguments)
