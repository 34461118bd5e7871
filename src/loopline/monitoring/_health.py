"""System health of a deployment: from the exposures it logged, and from the server's Prometheus metrics.

From the event log (:func:`health`): requests and exposures, latency percentiles of the served answers
(``latency_ms``), the share answered by a fallback (a kill switch or the latency budget; the ``fallback``
column), the traffic of each arm and model version, and the shadow share. Errors and dropped log records
never reach the event log, so they come from the server's ``/v1/metrics`` text
(:func:`server_counters`): requests and errors by endpoint and kind, fallbacks by reason, and log records
dropped by reason; :func:`health` turns them into rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from loopline._errors import MonitoringError
from loopline.monitoring._window import WindowSource, _one, _quote

_VIEW = "monitored_window"


@dataclass(frozen=True)
class ServerCounters:
    """Totals read from one scrape of a loopline server's ``/v1/metrics``."""

    requests: float
    errors: dict[str, float]       # by kind (input, auth, internal, unavailable, ...)
    fallbacks: dict[str, float]    # by reason
    dropped: dict[str, float]      # log records dropped, by reason


@dataclass(frozen=True)
class Health:
    requests: int
    exposures: int
    latency_ms: dict[str, float | None]     # p50, p95, p99 of served answers (one value per request)
    fallback_share: float | None            # of requests, None when the log has no fallback column
    traffic: dict[str, int]                 # requests per arm
    versions: dict[str, int]                # requests per model version
    shadow_share: float | None              # shadow exposures per served exposure
    error_rate: float | None = None         # from the server's counters, when given
    dropped_share: float | None = None      # log records dropped per exposure written, when given
    notes: list[str] = field(default_factory=list)

    def values(self) -> dict[str, float | None]:
        """Flat ``health.*`` values for alert rules."""
        out: dict[str, float | None] = {f"health.latency_{k}_ms": v for k, v in self.latency_ms.items()}
        out.update({"health.requests": float(self.requests), "health.fallback_share": self.fallback_share,
                    "health.shadow_share": self.shadow_share, "health.error_rate": self.error_rate,
                    "health.dropped_share": self.dropped_share})
        return out


def health(source: WindowSource, *, counters: ServerCounters | None = None) -> Health:
    """The health of the window's traffic (``source`` over all exposures, served and shadow)."""
    types = source.types
    needed = [c for c in ("request_id", "served", "latency_ms", "arm", "model_version") if c not in types]
    if needed:
        raise MonitoringError(f"{source.description} lacks {needed}: health needs served exposures from a loopline "
                              "server's event log (loopline serve).")
    con = source.con
    fallback = "fallback" in types
    row = _one(con,
        f"""WITH requests AS (
              SELECT request_id, any_value(latency_ms) AS latency_ms, any_value(arm) AS arm,
                     any_value(model_version) AS version
                     {', bool_or(fallback IS NOT NULL) AS fell_back' if fallback else ''}
              FROM {_VIEW} WHERE served GROUP BY request_id)
            SELECT count(*), quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95),
                   quantile_cont(latency_ms, 0.99) {', avg(CAST(fell_back AS DOUBLE))' if fallback else ''}
            FROM requests""")
    requests = int(row[0])
    exposures, shadows = _one(con, f"SELECT count(*) FILTER (WHERE served), count(*) FILTER (WHERE NOT served) "
                                   f"FROM {_VIEW}")
    traffic = _counts(source, "arm")
    versions = _counts(source, "model_version")
    notes: list[str] = []
    if requests == 0:
        notes.append("no served request in the window")
    error_rate = dropped_share = None
    if counters is not None:
        total = counters.requests
        error_rate = sum(v for k, v in counters.errors.items() if k != "input") / total if total else None
        written = float(exposures) + float(shadows)
        lost = sum(counters.dropped.values())
        dropped_share = lost / (written + lost) if written + lost else None
        notes.append("error and dropped-log rates are the server's totals since it started, not the window's")
    return Health(
        requests=requests, exposures=int(exposures),
        latency_ms={"p50": _num(row[1]), "p95": _num(row[2]), "p99": _num(row[3])},
        fallback_share=_num(row[4]) if fallback else None, traffic=traffic, versions=versions,
        shadow_share=float(shadows) / float(exposures) if exposures else None,
        error_rate=error_rate, dropped_share=dropped_share, notes=notes)


def server_counters(text: str) -> ServerCounters:
    """The totals in a ``/v1/metrics`` scrape (Prometheus text format)."""
    requests = 0.0
    errors: dict[str, float] = {}
    fallbacks: dict[str, float] = {}
    dropped: dict[str, float] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise MonitoringError(f"the server metrics are not Prometheus text: {exc}") from None
    for family in families:
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            if sample.name == "loopline_requests_total":
                requests += sample.value
            elif sample.name == "loopline_errors_total":
                _add(errors, sample.labels.get("kind", "other"), sample.value)
            elif sample.name == "loopline_fallbacks_total":
                _add(fallbacks, sample.labels.get("reason", "other"), sample.value)
            elif sample.name == "loopline_log_dropped_total":
                _add(dropped, sample.labels.get("reason", "other"), sample.value)
    return ServerCounters(requests=requests, errors=errors, fallbacks=fallbacks, dropped=dropped)


def _add(into: dict[str, float], key: str, value: float) -> None:
    into[key] = into.get(key, 0.0) + value


def _counts(source: WindowSource, column: str) -> dict[str, int]:
    found = source.con.sql(f"SELECT CAST({_quote(column)} AS VARCHAR), count(DISTINCT request_id) FROM {_VIEW} "
                           f"WHERE served GROUP BY 1 ORDER BY 2 DESC").fetchall()
    return {("none" if k is None else str(k)): int(n) for k, n in found}


def _num(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _values(counts: Mapping[str, float]) -> float:
    return float(sum(counts.values()))
