"""The server's Prometheus metrics, in a registry of their own per app (two apps never share counts).

Exported at ``GET /v1/metrics`` in the Prometheus text format:

- ``loopline_requests_total{endpoint, status}``: every answered request, by route and HTTP status;
- ``loopline_request_latency_seconds{endpoint, model, version, arm}``: time to answer a scored request
  (``/predict``, ``/rank``, ``/explain``), from the first byte of the body to the response;
- ``loopline_errors_total{endpoint, kind}``: refused or failed requests (``input``, ``auth``,
  ``too_large``, ``unavailable``, ``internal``);
- ``loopline_fallbacks_total{reason}``: answers that did not come from the routed model (``no_model``:
  the baseline order because nothing could score; later also ``latency_budget``);
- ``loopline_log_dropped_total{kind, reason}``: event-log records lost because the logging queue was
  full (``queue_full``) or a write failed (``write_failed``); ``loopline_log_queue_depth`` shows the backlog;
- ``loopline_shadow_errors_total{model}``: shadow scorings that failed (never seen by callers);
- ``loopline_killed{target}``: 1 while a kill switch holds a model or experiment off, else 0.

With several workers each process keeps its own counts, and a scrape reads the worker that answers it.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServingMetrics:
    """The collectors of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("loopline_requests", "Requests answered, by endpoint and HTTP status.",
                                ["endpoint", "status"], registry=r)
        self.latency = Histogram("loopline_request_latency_seconds", "Time to answer a scored request.",
                                 ["endpoint", "model", "version", "arm"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.errors = Counter("loopline_errors", "Requests refused or failed, by kind.", ["endpoint", "kind"],
                              registry=r)
        self.fallbacks = Counter("loopline_fallbacks", "Answers not from the routed model, by reason.", ["reason"],
                                 registry=r)
        self.dropped = Counter("loopline_log_dropped", "Event-log records lost, by kind and reason.",
                               ["kind", "reason"], registry=r)
        self.queue_depth = Gauge("loopline_log_queue_depth", "Batches of records waiting to be logged.",
                                 registry=r)
        self.shadow_errors = Counter("loopline_shadow_errors", "Shadow scorings that failed.", ["model"], registry=r)
        self.killed = Gauge("loopline_killed", "1 while a kill switch holds this model or experiment off.",
                            ["target"], registry=r)

    def count_dropped(self, kind: str, reason: str, rows: int) -> None:
        self.dropped.labels(kind=kind, reason=reason).inc(rows)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        """Read the logging backlog from ``depth`` at each scrape."""
        self.queue_depth.set_function(lambda: float(depth()))

    def set_killed(self, target: str, killed: bool) -> None:
        self.killed.labels(target=target).set(1.0 if killed else 0.0)

    def render(self) -> bytes:
        """The Prometheus text exposition of every collector."""
        text: bytes = generate_latest(self.registry)
        return text
