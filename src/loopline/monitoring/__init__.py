"""Monitoring: how a deployed model's inputs, outputs and results compare with what it was trained on.

Reads the world only through the event log and the registry: a window of exposures (or any table) is
aggregated in chunks against the reference profile stored with the model version
(:mod:`~loopline.monitoring._window`), then tested for drift per feature, per prediction and per label
(:mod:`~loopline.monitoring._drift`, statistics in :mod:`~loopline.monitoring._stats`), checked for data
quality (:mod:`~loopline.monitoring._quality`) and system health (:mod:`~loopline.monitoring._health`), and,
once labels arrive from the feedback log, scored with an estimate from the scores beside the realised metric
(:mod:`~loopline.monitoring._performance`). :func:`check` runs one pass and returns :class:`Findings`;
:func:`evaluate` fires alert rules on its values (:mod:`~loopline.monitoring._alerts`).
"""

from __future__ import annotations

from loopline.monitoring._alerts import Alert, AlertLog, NotEvaluated, evaluate, post_webhook, webhook_payload
from loopline.monitoring._check import Findings, ServedPerformance, check, parse_window, timeline
from loopline.monitoring._domain import DomainCheck, domain_check
from loopline.monitoring._drift import ColumnDrift, Drift, DriftThresholds, drift, label_drift
from loopline.monitoring._estimate import estimate_binary, estimate_ranking
from loopline.monitoring._health import Health, ServerCounters, health, server_counters
from loopline.monitoring._performance import (
    Interval,
    Performance,
    PeriodPerformance,
    SlicePerformance,
    labelled_exposures,
    performance,
)
from loopline.monitoring._quality import Quality, QualityIssue, QualityThresholds, quality
from loopline.monitoring._window import CategoricalWindow, NumericWindow, WindowSource, WindowStats, aggregate

__all__ = [
    "Alert",
    "AlertLog",
    "CategoricalWindow",
    "ColumnDrift",
    "DomainCheck",
    "Drift",
    "DriftThresholds",
    "Findings",
    "Health",
    "Interval",
    "NotEvaluated",
    "NumericWindow",
    "Performance",
    "PeriodPerformance",
    "Quality",
    "QualityIssue",
    "QualityThresholds",
    "ServedPerformance",
    "ServerCounters",
    "SlicePerformance",
    "WindowSource",
    "WindowStats",
    "aggregate",
    "check",
    "domain_check",
    "drift",
    "estimate_binary",
    "estimate_ranking",
    "evaluate",
    "health",
    "label_drift",
    "labelled_exposures",
    "parse_window",
    "performance",
    "post_webhook",
    "quality",
    "server_counters",
    "timeline",
    "webhook_payload",
]
