"""The spec's monitoring block and rules files: parsing, defaults, exact errors, the webhook, the spec hash."""

from __future__ import annotations

import doctest
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from loopline import SpecError
from loopline.spec import AlertRule, AlertRules, DriftSpec, MonitoringSpec, ProblemSpec, load_rules
from loopline.spec import _monitoring as monitoring_module
from loopline.spec._monitoring import redact_url

DOCUMENTED = """
monitoring:
  window: 1d
  drift: {alpha: 0.05, min_effect: 0.05, min_new_share: 0.005, dataset_share: 0.5}
  alerts:
    - {metric: drift.share, op: ">=", threshold: 0.5, severity: critical}
    - {metric: feature.past_ctr.wasserstein_norm, op: ">", threshold: 0.1, severity: warning}
    - {metric: performance.roc_auc, op: "<", threshold: 0.70, window: 7d, severity: critical}
    - {metric: health.latency_p99_ms, op: ">", threshold: 50}
  cooldown: 6h
  webhook: null
"""


def _base(**over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "feed", "task": "binary", "data": {"source": "impressions.parquet"},
                            "event_time": "ts", "label": {"column": "clicked"}}
    spec.update(over)
    return spec


def _monitoring(**block: Any) -> MonitoringSpec:
    return ProblemSpec.from_dict(_base(monitoring=block)).monitoring


def _error(**block: Any) -> str:
    with pytest.raises(SpecError) as info:
        _monitoring(**block)
    return str(info.value)


def _rule(**over: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"metric": "drift.share", "op": ">=", "threshold": 0.5}
    rule.update(over)
    return rule


def test_a_spec_without_the_block_gets_the_documented_defaults() -> None:
    monitoring = ProblemSpec.from_dict(_base()).monitoring
    assert monitoring == MonitoringSpec()
    assert (monitoring.window, monitoring.cooldown, monitoring.alerts, monitoring.webhook) == (
        timedelta(days=1), timedelta(hours=6), [], None)
    assert monitoring.drift == DriftSpec(alpha=0.05, min_effect=0.05, min_new_share=0.005, min_rows=30,
                                         dataset_share=0.5)
    assert monitoring.webhook_url() is None


def test_the_documented_block_parses_and_survives_the_round_trip_through_the_stored_spec() -> None:
    spec = ProblemSpec.from_dict(_base(**yaml.safe_load(DOCUMENTED)))
    rules = spec.monitoring.alerts
    assert [(r.metric, r.op, r.threshold, r.window, r.severity) for r in rules] == [
        ("drift.share", ">=", 0.5, None, "critical"),
        ("feature.past_ctr.wasserstein_norm", ">", 0.1, None, "warning"),
        ("performance.roc_auc", "<", 0.70, timedelta(days=7), "critical"),
        ("health.latency_p99_ms", ">", 50.0, None, "warning"),
    ]
    assert spec.monitoring.rules_by_window() == {timedelta(days=1): [rules[0], rules[1], rules[3]],
                                                 timedelta(days=7): [rules[2]]}
    assert [spec.monitoring.window_of(r) for r in rules] == [timedelta(days=1)] * 2 + [timedelta(days=7),
                                                                                       timedelta(days=1)]
    dumped = spec.model_dump(mode="json")
    assert dumped["monitoring"] == {
        "window": "1d", "drift": {"alpha": 0.05, "min_effect": 0.05, "min_new_share": 0.005, "min_rows": 30,
                                  "dataset_share": 0.5},
        "alerts": [{"metric": "drift.share", "op": ">=", "threshold": 0.5, "window": None, "severity": "critical"},
                   {"metric": "feature.past_ctr.wasserstein_norm", "op": ">", "threshold": 0.1, "window": None,
                    "severity": "warning"},
                   {"metric": "performance.roc_auc", "op": "<", "threshold": 0.7, "window": "1w",
                    "severity": "critical"},
                   {"metric": "health.latency_p99_ms", "op": ">", "threshold": 50.0, "window": None,
                    "severity": "warning"}],
        "cooldown": "6h", "webhook": None}
    assert ProblemSpec.from_dict(dumped).model_dump(mode="json") == dumped


# -- the spec hash ----------------------------------------------------------------------------------------------

# Hashes computed before the monitoring block existed: adding it must not change the hash of any existing spec
# (models registered under them would otherwise all warn that their spec changed).
HASH_BEFORE_MONITORING = {
    "minimal": "79b73ff4856993c1be75a35f03cf13289060df61f0137aac211f84b5058f8c10",
    "richer": "8d488433135f816d10a4f6d429847f8e87fd08d97ffbef53029e15a1d7baa5d5",
}


def _richer(**over: Any) -> dict[str, Any]:
    return _base(label={"from_events": {"feedback": "fb.parquet", "window": "30m"}},
                 serving={"first_stage": {"model": "feed-cheap"}, "first_stage_k": 40}, split={"gap": "1h"}, seed=3,
                 **over)


def test_existing_specs_keep_their_hash() -> None:
    assert ProblemSpec.from_dict(_base()).spec_hash() == HASH_BEFORE_MONITORING["minimal"]
    assert ProblemSpec.from_dict(_richer()).spec_hash() == HASH_BEFORE_MONITORING["richer"]


def test_adding_or_changing_a_monitoring_block_leaves_the_hash_unchanged() -> None:
    block = yaml.safe_load(DOCUMENTED)["monitoring"]
    with_block = ProblemSpec.from_dict(_richer(monitoring=block))
    assert with_block.spec_hash() == HASH_BEFORE_MONITORING["richer"]
    other = ProblemSpec.from_dict(_richer(monitoring={**block, "cooldown": "1h", "alerts": []}))
    assert other.spec_hash() == HASH_BEFORE_MONITORING["richer"]
    # ... while a key that changes the model still changes it
    assert ProblemSpec.from_dict(_richer(monitoring=block, features={"exclude": ["x"]})).spec_hash() != (
        HASH_BEFORE_MONITORING["richer"])


# -- rules ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("op", "below", "at", "above"), [
    (">", False, False, True), (">=", False, True, True), ("<", True, False, False), ("<=", True, True, False),
    ("==", False, True, False), ("!=", True, False, True)])
def test_each_operator_compares_the_value_with_the_threshold(op: str, below: bool, at: bool, above: bool) -> None:
    rule = AlertRule(metric="m", op=op, threshold=0.5)  # type: ignore[arg-type]
    assert (rule.fires(0.4999), rule.fires(0.5), rule.fires(0.5001)) == (below, at, above)
    assert rule.fires(math.nan) is False


def test_a_rule_describes_itself_and_its_key_changes_with_any_field() -> None:
    rule = AlertRule(metric="performance.roc_auc", op="<", threshold=0.7, window=timedelta(days=7))
    assert rule.describe() == "performance.roc_auc < 0.7 over 1w"
    assert rule.key == AlertRule.model_validate(rule.model_dump(mode="json")).key
    keys = {rule.key, rule.model_copy(update={"threshold": 0.71}).key, rule.model_copy(update={"op": "<="}).key,
            rule.model_copy(update={"severity": "critical"}).key, rule.model_copy(update={"window": None}).key}
    assert len(keys) == 5


@pytest.mark.parametrize(("block", "expected"), [
    ({"alerts": [_rule(op="=>")]},
     "loopline.yaml, monitoring.alerts[0].op: unknown operator '=>'; expected one of >, >=, <, <=, ==, !=. Did you "
     "mean '>='? Quote it in YAML, e.g. op: \">=\"."),
    ({"alerts": [_rule(), _rule(metric="x", op="~")]},
     "loopline.yaml, monitoring.alerts[1].op: unknown operator '~'; expected one of >, >=, <, <=, ==, !=. Quote it "
     "in YAML, e.g. op: \">=\"."),
    ({"alerts": [_rule(threshold="high")]},
     "loopline.yaml, monitoring.alerts[0].threshold: expected a number like 0.5, got 'high'. Write the threshold as "
     "a plain number, without quotes or units."),
    ({"alerts": [_rule(threshold="0.5")]},
     "loopline.yaml, monitoring.alerts[0].threshold: expected a number like 0.5, got '0.5'. Write the threshold as "
     "a plain number, without quotes or units."),
    ({"alerts": [_rule(threshold=True)]},
     "loopline.yaml, monitoring.alerts[0].threshold: expected a number like 0.5, got True. Write the threshold as a "
     "plain number, without quotes or units."),
    ({"alerts": [_rule(threshold=math.inf)]},
     "loopline.yaml, monitoring.alerts[0].threshold: expected a finite number, got inf. Give the threshold as a "
     "plain number."),
    ({"alerts": [_rule(metric="drift share ")]},
     "loopline.yaml, monitoring.alerts[0].metric: expected a metric name like 'drift.share' or "
     "'performance.roc_auc', got 'drift share '. Use a name from the monitoring report's values, without "
     "surrounding spaces."),
    ({"alerts": [_rule(window="a week")]},
     "loopline.yaml, monitoring.alerts[0].window: expected a duration like '30m', '12h' or '7d', got 'a week'."),
    ({"alerts": [_rule(window="0h")]},
     "loopline.yaml, monitoring.alerts[0].window: a window must be longer than 0, got '0s'. Give e.g. '1d', or "
     "leave window out to use monitoring.window."),
    ({"alerts": [_rule(severity="urgent")]},
     "loopline.yaml, monitoring.alerts[0].severity: unknown severity 'urgent'; expected one of info, warning, "
     "critical."),
    ({"alerts": [{"metric": "drift.share", "op": ">", "treshold": 0.5}]},
     "loopline.yaml, monitoring.alerts[0].threshold: required key is missing. Add 'threshold:' to the spec.\n"
     "loopline.yaml, monitoring.alerts[0].treshold: unknown key 'treshold'; did you mean 'threshold'?"),
    ({"alerts": [_rule(), _rule(severity="critical"), _rule()]},
     "loopline.yaml, monitoring.alerts: rule [2] repeats rule [0] (drift.share >= 0.5); one incident would alert "
     "twice. Remove one of them."),
    ({"cooldown": "6 hours"},
     "loopline.yaml, monitoring.cooldown: expected a duration like '30m', '12h' or '7d', got '6 hours'."),
    ({"window": "0d"},
     "loopline.yaml, monitoring.window: a window must be longer than 0, got '0s'. Give e.g. '1d'."),
    ({"windw": "1d"},
     "loopline.yaml, monitoring.windw: unknown key 'windw'; did you mean 'window'?"),
    ({"drift": {"alpha": 1.5}},
     "loopline.yaml, monitoring.drift.alpha: Input should be less than 1, got 1.5."),
    ({"drift": {"alfa": 0.1}},
     "loopline.yaml, monitoring.drift.alfa: unknown key 'alfa'; did you mean 'alpha'?"),
    ({"webhook": "ftp://hooks.example.com/x"},
     "loopline.yaml, monitoring.webhook: expected an http(s) URL such as 'https://hooks.example.com/alerts', or "
     "'env:NAME' to read it from an environment variable, got 'ftp://hooks.example.com/x'. Give the receiver's full "
     "URL, including https://."),
    ({"webhook": "hooks.example.com/alerts?token=s3cret"},
     "loopline.yaml, monitoring.webhook: expected an http(s) URL such as 'https://hooks.example.com/alerts', or "
     "'env:NAME' to read it from an environment variable, got 'hooks.example.com/alerts?***'. Give the receiver's "
     "full URL, including https://."),
    ({"webhook": "env:1WEBHOOK"},
     "loopline.yaml, monitoring.webhook: 'env:1WEBHOOK' does not name an environment variable: expected 'env:NAME' "
     "with NAME made of letters, digits and '_', e.g. 'env:LOOPLINE_ALERT_WEBHOOK'."),
    ({"webhook": 42},
     "loopline.yaml, monitoring.webhook: expected an http(s) URL or 'env:NAME', got 42."),
])
def test_errors_name_the_key_path_the_value_and_the_fix(block: dict[str, Any], expected: str) -> None:
    assert _error(**block) == expected


def test_a_webhook_url_with_a_token_is_kept_but_never_shown() -> None:
    url = "https://bot:pw@hooks.example.com/alerts?token=s3cret"
    monitoring = _monitoring(webhook=url)
    assert monitoring.webhook_url() == url
    assert "s3cret" not in repr(monitoring) and "s3cret" not in str(monitoring)
    assert redact_url(url) == "https://***@hooks.example.com/alerts?***"
    assert redact_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"


def test_an_env_webhook_is_read_when_used_and_an_unset_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monitoring = _monitoring(webhook="env:LOOPLINE_TEST_HOOK")  # loading never needs the variable
    monkeypatch.delenv("LOOPLINE_TEST_HOOK", raising=False)
    with pytest.raises(SpecError) as unset:
        monitoring.webhook_url()
    assert str(unset.value) == (
        "monitoring.webhook (env:LOOPLINE_TEST_HOOK): the environment variable LOOPLINE_TEST_HOOK is not set. Set it "
        "to the webhook's URL (export LOOPLINE_TEST_HOOK=https://...), or remove monitoring.webhook.")
    with pytest.raises(SpecError, match="the environment variable LOOPLINE_TEST_HOOK is not set"):
        monitoring.webhook_url(env={"OTHER": "https://x.example.com"})
    with pytest.raises(SpecError) as bad:
        monitoring.webhook_url(env={"LOOPLINE_TEST_HOOK": "hooks.example.com/x?token=s3cret"})
    assert str(bad.value) == (
        "monitoring.webhook (env:LOOPLINE_TEST_HOOK): the environment variable LOOPLINE_TEST_HOOK holds "
        "'hooks.example.com/x?***', not an http(s) URL such as 'https://hooks.example.com/alerts'. Set "
        "LOOPLINE_TEST_HOOK to the receiver's full URL.")
    monkeypatch.setenv("LOOPLINE_TEST_HOOK", " https://hooks.example.com/x \n")
    assert monitoring.webhook_url() == "https://hooks.example.com/x"
    assert monitoring.webhook_url(env={"LOOPLINE_TEST_HOOK": "http://127.0.0.1:9/h"}) == "http://127.0.0.1:9/h"


# -- rules files ------------------------------------------------------------------------------------------------

def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_rules_file_is_read_and_replaces_the_blocks_rules(tmp_path: Path) -> None:
    path = _write(tmp_path, 'alerts:\n  - {metric: health.error_rate, op: ">", threshold: 0.01, severity: critical}\n'
                            "cooldown: 30m\n")
    rules = load_rules(path)
    assert rules == AlertRules(alerts=[AlertRule(metric="health.error_rate", op=">", threshold=0.01,
                                                 severity="critical")], cooldown=timedelta(minutes=30))
    block = _monitoring(alerts=[_rule()], cooldown="2h", webhook="env:HOOK", window="12h")
    merged = block.with_rules(rules)
    assert (merged.alerts, merged.cooldown, merged.webhook, merged.window) == (
        rules.alerts, timedelta(minutes=30), "env:HOOK", timedelta(hours=12))
    only_alerts = block.with_rules(load_rules(_write(tmp_path, "alerts: []\n")))
    assert (only_alerts.alerts, only_alerts.cooldown, only_alerts.webhook) == ([], timedelta(hours=2), "env:HOOK")
    assert load_rules(_write(tmp_path, "alerts: []\nwebhook: env:HOOK2\n")).webhook_url(
        env={"HOOK2": "https://h.example.com/"}) == "https://h.example.com/"


@pytest.mark.parametrize(("text", "expected"), [
    ('alerts:\n  - {metric: drift.share, op: "=>", threshold: 0.5}\n',
     "{path}, alerts[0].op: unknown operator '=>'; expected one of >, >=, <, <=, ==, !=. Did you mean '>='? Quote "
     "it in YAML, e.g. op: \">=\"."),
    ('alerts:\n  - {metric: drift.share, op: ">"}\n',
     "{path}, alerts[0].threshold: required key is missing. Add 'threshold:' to the rules file."),
    ("alerts: []\nwindow: 1d\n",
     "{path}, window: unknown key 'window'; allowed keys here: alerts, cooldown, webhook."),
    ('alerts: []\nwebhook: "env:"\n',
     "{path}, webhook: 'env:' does not name an environment variable: expected 'env:NAME' with NAME made of "
     "letters, digits and '_', e.g. 'env:LOOPLINE_ALERT_WEBHOOK'."),
    ("cooldown: 1h\n",
     "{path}: expected a mapping with an 'alerts:' list of rules, e.g. alerts: [{metric: drift.share, op: \">=\", "
     "threshold: 0.5}], got a mapping without 'alerts'."),
    ("- {metric: drift.share}\n",
     "{path}: expected a mapping with an 'alerts:' list of rules, e.g. alerts: [{metric: drift.share, op: \">=\", "
     "threshold: 0.5}], got list."),
])
def test_rules_file_errors_name_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_rules(path)
    assert str(info.value) == expected.replace("{path}", str(path))


def test_a_missing_rules_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_rules(tmp_path / "nope.yaml")
    assert str(info.value) == (f"{tmp_path / 'nope.yaml'}: no such rules file. Check the path, or write one with an "
                               "'alerts:' list of {metric, op, threshold} rules.")


def test_module_doctest() -> None:
    assert doctest.testmod(monitoring_module).failed == 0
