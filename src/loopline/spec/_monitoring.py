"""The spec's ``monitoring:`` block: the window, the drift thresholds, alert rules, the cool-down and the webhook.

```yaml
monitoring:
  window: 1d                 # default window of `loopline monitor`
  drift: {alpha: 0.05, min_effect: 0.05, min_new_share: 0.005, dataset_share: 0.5}
  alerts:
    - {metric: drift.share, op: ">=", threshold: 0.5, severity: critical}
    - {metric: performance.roc_auc, op: "<", threshold: 0.70, window: 7d, severity: critical}
    - {metric: health.latency_p99_ms, op: ">", threshold: 50}
  cooldown: 6h               # one incident, one alert
  webhook: env:LOOPLINE_ALERT_WEBHOOK
```

None of it changes the trained model, so :meth:`ProblemSpec.spec_hash` leaves the block out. Rules may also
live in a file of their own holding only ``alerts:`` (and optionally ``cooldown`` and ``webhook``), read by
:func:`load_rules`.

>>> rules = AlertRules.model_validate({"alerts": [{"metric": "drift.share", "op": ">=", "threshold": 0.5}]})
>>> rule = rules.alerts[0]
>>> rule.describe(), rule.fires(0.5), rule.fires(0.49)
('drift.share >= 0.5', True, False)
>>> rules.cooldown
datetime.timedelta(seconds=21600)
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import os
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from loopline._errors import SpecError
from loopline.spec._duration import Duration, format_duration

Operator = Literal[">", ">=", "<", "<=", "==", "!="]
Severity = Literal["info", "warning", "critical"]
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}
"""Each rule operator and what it does to ``(value, threshold)``; equality is exact (meant for counts and flags)."""
ENV_PREFIX = "env:"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TYPO = {"=>": ">=", "=<": "<=", "=": "==", "<>": "!=", "gt": ">", "ge": ">=", "gte": ">=", "lt": "<", "le": "<=",
         "lte": "<=", "eq": "==", "ne": "!="}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def redact_url(url: str) -> str:
    """``url`` safe to show in errors and logs: the query string and a user or password are masked.

    >>> redact_url("https://bot:pw@hooks.example.com/alerts?token=abc#x")
    'https://***@hooks.example.com/alerts?***'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<an unparsable URL>"
    netloc = ("***@" if parts.username is not None or parts.password is not None else "") + host
    netloc += f":{port}" if port is not None else ""
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def is_webhook_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL with a host (and a numeric port, if any)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class DriftSpec(_Strict):
    """When a feature, and the dataset, count as drifted.

    A feature drifts when its two-sample test is significant (p-value below ``alpha``) *and* its effect is at
    least ``min_effect`` (Wasserstein distance over the reference's spread for numeric features, Jensen-Shannon
    distance for categorical ones) or, for a categorical feature, categories never seen in training make up at
    least ``min_new_share`` of the window's rows. Fewer than ``min_rows`` values in the window are too few to
    judge. The dataset drifts when at least ``dataset_share`` of the tested features drift.
    """

    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_effect: float = Field(default=0.05, ge=0)
    min_new_share: float = Field(default=0.005, ge=0, le=1)
    min_rows: int = Field(default=30, ge=1)
    dataset_share: float = Field(default=0.5, gt=0, le=1)


class AlertRule(_Strict):
    """One alert rule: fire when ``metric`` ``op`` ``threshold`` holds over ``window``.

    ``metric`` is a name from monitoring's flat values (``drift.share``, ``feature.NAME.psi``,
    ``performance.roc_auc``, ``health.latency_p99_ms``, ...). ``op`` is one of ``>``, ``>=``, ``<``, ``<=``,
    ``==``, ``!=`` (quote it in YAML). ``window`` (a duration like ``7d``) overrides the block's ``window`` for
    this rule; None uses it. ``severity`` is ``info``, ``warning`` (the default) or ``critical``.
    """

    metric: str
    op: Operator
    threshold: float
    window: Duration | None = None
    severity: Severity = "warning"

    @field_validator("metric", mode="before")
    @classmethod
    def _metric(cls, value: Any) -> Any:
        if (not isinstance(value, str) or not value.strip() or value != value.strip()
                or any(c in value for c in "\n\r\t")):
            raise ValueError(f"expected a metric name like 'drift.share' or 'performance.roc_auc', got {value!r}. "
                             "Use a name from the monitoring report's values, without surrounding spaces.")
        return value

    @field_validator("op", mode="before")
    @classmethod
    def _op(cls, value: Any) -> Any:
        if isinstance(value, str) and value in OPERATORS:
            return value
        allowed = ", ".join(OPERATORS)
        hint = _TYPO.get(value.strip().lower()) if isinstance(value, str) else None
        fix = f"Did you mean '{hint}'? " if hint else ""
        raise ValueError(f"unknown operator {value!r}; expected one of {allowed}. {fix}Quote it in YAML, e.g. "
                         "op: \">=\".")

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number like 0.5, got {value!r}. Write the threshold as a plain number, "
                             "without quotes or units.")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too large for a float
            finite = False
        if not finite:
            raise ValueError(f"expected a finite number, got {value!r}. Give the threshold as a plain number.")
        return value

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Any:
        allowed = get_args(Severity)
        if value in allowed:
            return value
        raise ValueError(f"unknown severity {value!r}; expected one of {', '.join(allowed)}.")

    @field_validator("window")
    @classmethod
    def _window(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError(f"a window must be longer than 0, got {format_duration(value)!r}. Give e.g. '1d', or "
                             "leave window out to use monitoring.window.")
        return value

    def fires(self, value: float) -> bool:
        """Whether ``value`` meets the rule (NaN never does)."""
        return not math.isnan(value) and OPERATORS[self.op](value, self.threshold)

    def describe(self) -> str:
        """The rule as people write it: ``performance.roc_auc < 0.7 over 2d``."""
        window = "" if self.window is None else f" over {format_duration(self.window)}"
        return f"{self.metric} {self.op} {self.threshold:g}{window}"

    @property
    def key(self) -> str:
        """sha256 of the rule's canonical JSON (sorted keys, no spaces): the rule's identity for the cool-down,
        the same key the registry stores with each alert. Changing any field, the threshold say, makes it another
        rule."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _check_webhook(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an http(s) URL or 'env:NAME', got {value!r}.")
    if value.startswith(ENV_PREFIX):
        if not _ENV_NAME.fullmatch(value.removeprefix(ENV_PREFIX)):
            raise ValueError(f"'{value}' does not name an environment variable: expected 'env:NAME' with NAME made "
                             "of letters, digits and '_', e.g. 'env:LOOPLINE_ALERT_WEBHOOK'.")
        return value
    if not is_webhook_url(value):
        raise ValueError(f"expected an http(s) URL such as 'https://hooks.example.com/alerts', or 'env:NAME' to read "
                         f"it from an environment variable, got {redact_url(value)!r}. Give the receiver's full URL, "
                         "including https://.")
    return value


def _distinct(rules: list[AlertRule]) -> list[AlertRule]:
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        first = seen.setdefault(rule.key, i)
        if first != i:
            raise ValueError(f"rule [{i}] repeats rule [{first}] ({rule.describe()}); one incident would alert "
                             "twice. Remove one of them.")
    return rules


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"a window must be longer than 0, got {format_duration(value)!r}. Give e.g. '1d'.")
    return value


Rules = Annotated[list[AlertRule], AfterValidator(_distinct)]
Webhook = Annotated[str | None, BeforeValidator(_check_webhook)]
Window = Annotated[Duration, AfterValidator(_positive)]


def _webhook_url(webhook: str | None, *, key: str, env: Mapping[str, str] | None) -> str | None:
    if webhook is None:
        return None
    if not webhook.startswith(ENV_PREFIX):
        return webhook
    name = webhook.removeprefix(ENV_PREFIX)
    found = (os.environ if env is None else env).get(name)
    where = f"{key} ({webhook})"
    if not found:
        raise SpecError(f"{where}: the environment variable {name} is not set. Set it to the webhook's URL (export "
                        f"{name}=https://...), or remove {key}.")
    url = found.strip()
    if not is_webhook_url(url):
        raise SpecError(f"{where}: the environment variable {name} holds {redact_url(url)!r}, not an http(s) URL "
                        f"such as 'https://hooks.example.com/alerts'. Set {name} to the receiver's full URL.")
    return url


class AlertRules(_Strict):
    """The contents of a rules file (see :func:`load_rules`): alert rules with their cool-down and webhook, as
    in the spec's ``monitoring:`` block (:class:`MonitoringSpec` documents them)."""

    alerts: Rules = Field(default_factory=list)
    cooldown: Duration = timedelta(hours=6)
    webhook: Webhook = Field(default=None, repr=False)

    def webhook_url(self, *, env: Mapping[str, str] | None = None) -> str | None:
        """The webhook's URL (see :meth:`MonitoringSpec.webhook_url`)."""
        return _webhook_url(self.webhook, key="webhook", env=env)


class MonitoringSpec(_Strict):
    """The spec's ``monitoring:`` block. It does not enter the spec hash.

    - ``window``: the default window of ``loopline monitor``, and of every rule without its own.
    - ``drift``: when features and the dataset count as drifted (:class:`DriftSpec`).
    - ``alerts``: the rules (:class:`AlertRule`); no two alike.
    - ``cooldown``: after a rule fires for a model version, the same rule does not fire again for it within
      this time (one incident, one alert); ``0s`` alerts on every evaluation.
    - ``webhook``: an http(s) URL the alerts are POSTed to as JSON, or ``env:NAME`` to read the URL from the
      environment variable ``NAME`` when alerts are sent. Prefer ``env:``: the spec is stored with every
      training run and model, and a webhook URL often holds a token.
    """

    window: Window = timedelta(days=1)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    alerts: Rules = Field(default_factory=list)
    cooldown: Duration = timedelta(hours=6)
    webhook: Webhook = Field(default=None, repr=False)

    def webhook_url(self, *, env: Mapping[str, str] | None = None) -> str | None:
        """The webhook's URL, read from the environment (``env``, else ``os.environ``) for ``env:NAME``; None
        without a webhook. A :class:`SpecError` names the variable when it is unset or holds no http(s) URL.
        The environment is read here, when alerts are sent, so a spec loads where the variable is not set.
        """
        return _webhook_url(self.webhook, key="monitoring.webhook", env=env)

    def window_of(self, rule: AlertRule) -> timedelta:
        """The window ``rule`` is evaluated over: its own, else the block's."""
        return self.window if rule.window is None else rule.window

    def rules_by_window(self) -> dict[timedelta, list[AlertRule]]:
        """The rules grouped by the window they are evaluated over, shortest window first."""
        grouped: dict[timedelta, list[AlertRule]] = {}
        for rule in self.alerts:
            grouped.setdefault(self.window_of(rule), []).append(rule)
        return dict(sorted(grouped.items()))

    def with_rules(self, rules: AlertRules) -> MonitoringSpec:
        """This block with the rules of a rules file: its ``alerts`` replace the block's, and its ``cooldown``
        and ``webhook`` do too when the file sets them."""
        fields: dict[str, Any] = {"alerts": rules.alerts}
        fields.update({k: getattr(rules, k) for k in ("cooldown", "webhook") if k in rules.model_fields_set})
        return self.model_copy(update=fields)


def load_rules(path: str | Path) -> AlertRules:
    """Read a rules file: a YAML mapping with ``alerts:`` (a list of rules) and optionally ``cooldown`` and
    ``webhook``. Errors name the file, the key path and the fix, like the spec's."""
    from loopline.spec._load import describe_validation, read_yaml  # _load imports the spec, which imports us

    path = Path(path)
    data = read_yaml(path, error=SpecError, missing="no such rules file. Check the path, or write one with an "
                                                    "'alerts:' list of {metric, op, threshold} rules.")
    if not isinstance(data, dict) or "alerts" not in data:
        got = "a mapping without 'alerts'" if isinstance(data, dict) else type(data).__name__
        raise SpecError(f"{path}: expected a mapping with an 'alerts:' list of rules, e.g. alerts: [{{metric: "
                        f"drift.share, op: \">=\", threshold: 0.5}}], got {got}.")
    try:
        return AlertRules.model_validate(data)
    except ValidationError as exc:
        raise SpecError(describe_validation(exc, source=str(path), root=AlertRules, add_to=" to the rules file")) \
            from None
