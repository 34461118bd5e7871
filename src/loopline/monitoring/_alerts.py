"""Alert rules evaluated on a window's values, stored with a cool-down, and sent to a webhook.

:func:`evaluate` looks each rule's metric up in a flat mapping of values (what monitoring's results give with
``values()``: ``drift.share``, ``feature.NAME.psi``, ``health.latency_p99_ms``, ...) and fires the rule when
its comparison holds. A rule whose metric is absent, None or NaN does not fire and is reported as not
evaluated, with the reason (and a close name when it looks misspelt), never passed over in silence.

:class:`AlertLog` keeps the alerts in the registry, one transaction each, and applies the cool-down: a rule
that fired for a model version does not fire again for it within ``cooldown`` (one incident, one alert).
:func:`post_webhook` POSTs the new alerts as JSON.

>>> from datetime import UTC, datetime
>>> from loopline.spec import AlertRule
>>> rules = [AlertRule(metric="drift.share", op=">=", threshold=0.5, severity="critical"),
...          AlertRule(metric="health.latency_p99_ms", op=">", threshold=50)]
>>> fired, skipped = evaluate(rules, {"drift.share": 0.62}, now=datetime(2026, 1, 5, tzinfo=UTC), model="churn",
...                           version=3)
>>> fired[0].message
'[critical] churn v3: drift.share is 0.62, which is >= 0.5'
>>> skipped[0].reason
"no value named 'health.latency_p99_ms' in this window"
"""

from __future__ import annotations

import difflib
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from loopline._errors import MonitoringError
from loopline._json import dumps
from loopline.registry import Registry, StoredAlert
from loopline.spec import AlertRule, format_duration
from loopline.spec._monitoring import is_webhook_url, redact_url

logger = logging.getLogger(__name__)
BACKOFF_S = 0.2
"""The pause before the first retry of a webhook; it doubles for each further one (within the time bound)."""


@dataclass(frozen=True)
class Alert:
    """A rule that fired: the ``value`` that met it, for ``model`` (and ``version``), at ``fired_at`` (UTC)."""

    rule: AlertRule
    value: float
    fired_at: datetime
    model: str
    version: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The alert as plain JSON values (what the webhook receives)."""
        return {"model": self.model, "version": self.version, "rule": self.rule.model_dump(mode="json"),
                "metric": self.rule.metric, "value": self.value, "severity": self.rule.severity,
                "fired_at": self.fired_at.isoformat(), "message": self.message}


@dataclass(frozen=True)
class NotEvaluated:
    """A rule that could not be evaluated on the values given, and why."""

    rule: AlertRule
    reason: str


def evaluate(rules: Iterable[AlertRule], values: Mapping[str, float | None], *, now: datetime, model: str,
             version: int | None = None) -> tuple[list[Alert], list[NotEvaluated]]:
    """The alerts that fire on ``values`` (metric name -> number) for ``model`` (``version``) at ``now``, and
    the rules not evaluated because their metric is absent, None or NaN (those never fire). ``now`` must be
    timezone-aware; the alerts carry it in UTC. Each rule is evaluated on the values given, whatever its
    ``window``: the caller hands each window's values to the rules of that window
    (:meth:`MonitoringSpec.rules_by_window <loopline.spec.MonitoringSpec.rules_by_window>`)."""
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise MonitoringError(f"now must be a timezone-aware datetime, e.g. datetime.now(UTC); got {now!r}.")
    if not isinstance(model, str) or not model:
        raise MonitoringError(f"evaluate needs the name of the model the values are about, got model={model!r}.")
    now = now.astimezone(UTC)
    fired: list[Alert] = []
    skipped: list[NotEvaluated] = []
    for rule in rules:
        if not isinstance(rule, AlertRule):
            raise MonitoringError(f"rules must be AlertRule objects (loopline.spec.AlertRule), got "
                                  f"{type(rule).__name__}.")
        value = _number(values, rule.metric)
        if value is None:
            skipped.append(NotEvaluated(rule, _why_missing(values, rule.metric)))
        elif rule.fires(value):
            fired.append(Alert(rule=rule, value=value, fired_at=now, model=model, version=version,
                               message=_message(rule, value, model, version)))
    return fired, skipped


class AlertLog:
    """The alerts of a workspace, kept in its registry with the cool-down applied.

    >>> log = AlertLog(registry)                                      # doctest: +SKIP
    >>> new = log.record(fired, cooldown=spec.monitoring.cooldown)    # doctest: +SKIP
    >>> post_webhook(spec.monitoring.webhook_url(), new)              # doctest: +SKIP
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __repr__(self) -> str:
        return f"AlertLog({self.registry!r})"

    def record(self, alerts: Iterable[Alert], *, cooldown: timedelta) -> list[Alert]:
        """Store each alert (one transaction each, in order) unless the same rule fired for the same model and
        version within ``cooldown`` of it, before or after; the alerts that are new, in order."""
        if not isinstance(cooldown, timedelta) or cooldown < timedelta(0):
            raise MonitoringError(f"cooldown must be a non-negative timedelta such as timedelta(hours=6), got "
                                  f"{cooldown!r}. Give the spec's monitoring.cooldown.")
        new: list[Alert] = []
        for alert in alerts:
            stored = self.registry.record_alert(
                model=alert.model, version=alert.version, rule=alert.rule.model_dump(mode="json"), value=alert.value,
                message=alert.message, fired_at=alert.fired_at, cooldown=cooldown)
            if stored is not None:
                new.append(alert)
        return new

    def history(self, model: str, *, since: datetime | None = None) -> list[Alert]:
        """The alerts stored for ``model`` (fired at or after ``since``), oldest first."""
        return [_from_stored(stored) for stored in self.registry.alerts(model, since=since)]


def webhook_payload(alerts: Sequence[Alert]) -> dict[str, Any]:
    """The JSON body :func:`post_webhook` sends: ``alerts`` (each :meth:`Alert.to_dict`) and ``text``, one line
    per alert (what chat tools such as Slack show)."""
    count = f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
    return {"source": "loopline", "text": "\n".join([f"loopline: {count}", *(a.message for a in alerts)]),
            "alerts": [alert.to_dict() for alert in alerts]}


def post_webhook(url: str, alerts: Sequence[Alert], *, timeout_s: float = 5.0, retries: int = 2) -> None:
    """POST ``alerts`` as JSON (:func:`webhook_payload`) to ``url``; nothing is sent when there are none.

    A connection error, a timeout, a 5xx answer, 408 or 429 is retried up to ``retries`` times, after a pause
    of 0.2 s that doubles each time, while time is left; any other answer outside 2xx (a 4xx, a redirect) is
    final. Each attempt waits at most ``timeout_s``, and the whole call returns within ``timeout_s`` times the
    number of attempts, pauses included, whatever the receiver does (a trickled answer too). A
    failure is logged and raised as a :class:`~loopline.MonitoringError` naming the URL with its query string
    and password masked. Delivery is at least once: an attempt that timed out may still arrive.
    """
    if not isinstance(url, str) or not is_webhook_url(url):
        shown = redact_url(url) if isinstance(url, str) else repr(url)
        raise MonitoringError(f"the webhook must be an http(s) URL such as 'https://hooks.example.com/alerts', got "
                              f"{shown!r}. Check monitoring.webhook in the spec.")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not 0 < timeout_s < math.inf:
        raise MonitoringError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}.")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise MonitoringError(f"retries must be a whole number >= 0, got {retries!r}.")
    alerts = list(alerts)
    if not alerts:
        return
    body = dumps(webhook_payload(alerts)).encode()
    attempts = retries + 1
    bound_s = timeout_s * attempts
    shown = redact_url(url)
    delivery = _Delivery(url, body, timeout_s=timeout_s, attempts=attempts,
                         deadline=time.monotonic() + bound_s, shown=shown)
    worker = threading.Thread(target=delivery.run, name="loopline-webhook", daemon=True)
    worker.start()
    worker.join(bound_s)
    if delivery.done.is_set() and delivery.failure is None:
        return
    what = delivery.failure or f"no answer within {bound_s:g} s"
    tried = f"{delivery.tried} attempt{'s' if delivery.tried != 1 else ''}"
    message = (f"could not deliver {len(alerts)} alert{'s' if len(alerts) != 1 else ''} to the webhook {shown}: "
               f"{what} ({tried} within {bound_s:g} s). Check that the receiver is up and the URL is right "
               "(monitoring.webhook); the alerts are stored in the registry (AlertLog.history).")
    logger.error(message)
    raise MonitoringError(message)


class _Delivery:
    """The attempts of one :func:`post_webhook`, run on a daemon thread so the caller's wait is bounded even
    when a receiver trickles its answer (httpx's timeouts bound each read, not the whole request)."""

    def __init__(self, url: str, body: bytes, *, timeout_s: float, attempts: int, deadline: float,
                 shown: str) -> None:
        self.url, self.body, self.shown = url, body, shown
        self.timeout_s, self.attempts, self.deadline = timeout_s, attempts, deadline
        self.failure: str | None = None
        self.tried = 0
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.failure = self._attempts()
        except Exception as exc:  # a thread must not die with an unreported error
            self.failure = f"unexpected {type(exc).__name__}: {str(exc).replace(self.url, self.shown)}"
        finally:
            self.done.set()

    def _attempts(self) -> str | None:
        failure: str | None = f"no attempt fitted in {self.timeout_s * self.attempts:g} s"
        headers = {"content-type": "application/json", "user-agent": "loopline-alerts"}
        with httpx.Client(follow_redirects=False, headers=headers) as client:
            for attempt in range(1, self.attempts + 1):
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    break
                timeout = min(self.timeout_s, remaining)
                self.tried = attempt
                failure, retry = self._post(client, timeout)
                if failure is None:
                    return None
                logger.warning("webhook %s, attempt %d of %d: %s", self.shown, attempt, self.attempts, failure)
                pause = BACKOFF_S * 2 ** (attempt - 1)
                if not retry or self.deadline - time.monotonic() <= pause:  # no time left for another try
                    break
                time.sleep(pause)
        return failure

    def _post(self, client: httpx.Client, timeout: float) -> tuple[str | None, bool]:
        """(None, _) on a 2xx answer, else (what went wrong, whether another attempt may help)."""
        try:
            response = client.post(self.url, content=self.body, timeout=httpx.Timeout(timeout))
        except httpx.TimeoutException:
            return f"no answer within {timeout:.3g} s", True
        except httpx.TransportError as exc:
            return f"{type(exc).__name__} ({str(exc).replace(self.url, self.shown)})", True
        status = response.status_code
        if 200 <= status < 300:
            return None, False
        answer = f"HTTP {status} {response.reason_phrase}".rstrip()
        if 300 <= status < 400:
            return f"{answer}, a redirect: give the final URL", False
        return answer, status >= 500 or status in (408, 429)


def _number(values: Mapping[str, float | None], metric: str) -> float | None:
    if metric not in values:
        return None
    value = values[metric]
    if value is None:
        return None
    if isinstance(value, bool) or (not isinstance(value, int | float) and not hasattr(value, "__float__")):
        raise MonitoringError(f"values[{metric!r}] must be a number or None, got {value!r}.")
    number = float(value)
    return None if math.isnan(number) else number


def _why_missing(values: Mapping[str, float | None], metric: str) -> str:
    if metric in values:
        return f"{metric} has no value in this window (not computable, e.g. too few rows or labels)"
    close = difflib.get_close_matches(metric, [str(k) for k in values], n=1, cutoff=0.8)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"no value named {metric!r} in this window{hint}"


def _message(rule: AlertRule, value: float, model: str, version: int | None) -> str:
    subject = model if version is None else f"{model} v{version}"
    window = "" if rule.window is None else f" over {format_duration(rule.window)}"
    return f"[{rule.severity}] {subject}: {rule.metric}{window} is {value:.4g}, which is {rule.op} {rule.threshold:g}"


def _from_stored(stored: StoredAlert) -> Alert:
    try:
        rule = AlertRule.model_validate(stored.rule)
    except ValueError as exc:
        raise MonitoringError(f"alert {stored.id} of {stored.model} holds a rule this loopline cannot read "
                              f"({stored.rule!r}): {exc}. Upgrade loopline.") from None
    return Alert(rule=rule, value=stored.value, fired_at=stored.fired_at, model=stored.model,
                 version=stored.version, message=stored.message)
