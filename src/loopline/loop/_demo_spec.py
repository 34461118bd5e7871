"""The feed problem as the demo frames it: the spec ``loopline demo`` writes over the simulator's event log."""

from __future__ import annotations

from typing import Any

from loopline.events import EventLog


def demo_spec(log: EventLog, *, name: str = "feed-engagement") -> dict[str, Any]:
    """The feed problem framed as a spec over the simulator's event log."""
    return {
        "name": name,
        "task": "binary",
        "description": "Probability that a user clicks a post within 30 minutes of seeing it in the feed.",
        "data": {"source": log.glob("exposures")},
        "event_time": "ts",
        "entity": "unit_id",
        "unit": "unit_id",
        "group": "request_id",
        "label": {
            "name": "clicked",
            "from_events": {"feedback": log.glob("feedback"), "event": "click", "window": "30m",
                            "on": ["request_id", "item_id"]},
        },
        "monitoring": {"window": "1d", "alerts": [
            {"metric": "drift.share", "op": ">=", "threshold": 0.5, "severity": "critical"},
            {"metric": "performance.roc_auc", "op": "<", "threshold": 0.6, "severity": "warning"},
            {"metric": "health.latency_p99_ms", "op": ">", "threshold": 100, "severity": "warning"}]},
        "features": {
            # What the serving policy logged about itself is not known before ranking, and the
            # position is a consequence of the ranking, so neither may become a feature.
            "exclude": ["deployment", "arm", "model_version", "score", "served", "position", "latency_ms"],
            "types": {"author_id": "categorical", "user_top_topic": "categorical", "topic": "categorical"},
        },
        "split": {"fractions": [0.7, 0.15, 0.15], "gap": "30m"},
        "metrics": {"primary": "log_loss", "report": ["roc_auc", "pr_auc", "ece", "calibration_ratio"]},
        "decision": {"false_positive_cost": 1.0, "false_negative_cost": 10.0},
        "slices": ["device", "country", "topic"],
        "sensitive": ["age_bucket"],
        "baseline": {"rule": "ln(1 + author_followers) + post_quality_score"},
        "serving": {"latency_budget_ms": 50, "candidates": 500},
        "seed": 0,
    }
