"""System health from the event log (against numpy on the same rows) and from a server's metrics text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopline import MonitoringError
from loopline.events import EventLog
from loopline.monitoring._health import health, server_counters
from loopline.monitoring._window import WindowSource
from loopline.serving._metrics import ServingMetrics

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _ranked_requests(n_requests: int, *, seed: int) -> pd.DataFrame:
    """Rankings: three shown items per request (one latency per request), some answered by a fallback, a shadow."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_requests):
        latency = float(rng.gamma(2.0, 3.0))
        arm = "challenger" if r % 4 == 0 else "champion"
        fallback = "latency_budget" if r % 10 == 0 else None
        for position in range(3):
            rows.append({"ts": T0 + timedelta(seconds=r), "deployment": "feed", "request_id": f"r{r}",
                         "unit_id": f"u{r % 7}", "item_id": f"i{position}", "arm": arm,
                         "model_version": "2" if arm == "challenger" else "1", "score": rng.random(),
                         "served": True, "position": position, "latency_ms": latency, "fallback": fallback})
        if r % 5 == 0:
            rows.append({**rows[-1], "served": False, "model_version": "3", "fallback": None})
    return pd.DataFrame(rows)


def test_health_from_the_log_counts_requests_not_items(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events")
    frame = _ranked_requests(400, seed=0)
    log.write("exposures", frame)
    with WindowSource.from_log(log, start=T0, end=T0 + timedelta(days=1), deployment="feed",
                               served_only=False) as source:
        found = health(source)
    served = frame[frame["served"]]
    per_request = served.groupby("request_id").agg(latency=("latency_ms", "first"), arm=("arm", "first"),
                                                   fallback=("fallback", lambda s: s.notna().any()))
    assert found.requests == 400 and found.exposures == len(served)
    for key, level in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        assert found.latency_ms[key] == pytest.approx(np.quantile(per_request["latency"], level), rel=1e-9)
    assert found.fallback_share == pytest.approx(per_request["fallback"].mean())
    assert found.traffic == per_request["arm"].value_counts().to_dict()
    assert found.shadow_share == pytest.approx((~frame["served"]).sum() / len(served))
    assert found.values()["health.latency_p99_ms"] == found.latency_ms["p99"]


def test_counters_read_back_what_a_loopline_server_exports(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    metrics.requests.labels(endpoint="/v1/rank", status="200").inc(90)
    metrics.requests.labels(endpoint="/v1/rank", status="422").inc(6)
    metrics.requests.labels(endpoint="/v1/rank", status="500").inc(4)
    metrics.errors.labels(endpoint="/v1/rank", kind="input").inc(6)
    metrics.errors.labels(endpoint="/v1/rank", kind="internal").inc(4)
    metrics.fallbacks.labels(reason="kill_switch").inc(3)
    metrics.count_dropped("exposures", "queue_full", 25)
    counters = server_counters(metrics.render().decode())
    assert counters.requests == 100 and counters.errors == {"input": 6.0, "internal": 4.0}
    assert counters.fallbacks == {"kill_switch": 3.0} and counters.dropped == {"queue_full": 25.0}

    log = EventLog(tmp_path / "events")
    log.write("exposures", _ranked_requests(50, seed=1))
    with WindowSource.from_log(log, start=T0, end=T0 + timedelta(days=1), served_only=False) as source:
        found = health(source, counters=counters)
    assert found.error_rate == pytest.approx(4 / 100)  # a client's bad input is not a server error
    written = 50 * 3 + 10
    assert found.dropped_share == pytest.approx(25 / (written + 25))


def test_a_table_without_serving_columns_is_refused_by_name() -> None:
    frame = pd.DataFrame({"ts": [T0], "x": [1.0]})
    with WindowSource.from_table(frame) as source, pytest.raises(MonitoringError, match=r"lacks .*'request_id'"):
        health(source)
    with pytest.raises(MonitoringError, match="not Prometheus text"):
        server_counters("loopline_requests_total{endpoint=\"/v1/rank\" 3\n")
