"""The Markdown model card written next to every registered model.

Rendering only: every number comes from the :class:`ModelVersion` and the caller's ``card_context``
(keys used: ``intended_use``, ``splits``, ``threshold``, ``calibration``, ``caveats``, ``metric_labels``
(what each metric key means, e.g. ``ndcg`` -> ``ndcg@10 (exp gain)``); any other key is listed under
"Other notes").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from loopline.registry._types import ModelVersion

_KNOWN = {"intended_use", "splits", "threshold", "calibration", "caveats", "metric_labels"}


def fmt(value: Any) -> str:
    """A table cell: floats with 4 decimals, missing or non-finite values as ``n/a``.

    >>> fmt(0.123456), fmt(float("nan")), fmt(None), fmt(3)
    ('0.1235', 'n/a', 'n/a', '3')
    """
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else "n/a"
    return _cell(str(value))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _metrics_table(metrics: Mapping[str, Mapping[str, float]], labels: Any = None) -> list[str]:
    if not metrics:
        return ["No metrics were recorded."]
    shown = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}
    splits = list(metrics)
    names: list[str] = []
    for split in splits:
        names += [m for m in metrics[split] if m not in names]
    rows = [[_cell(shown.get(name, name)), *(fmt(metrics[s].get(name)) for s in splits)] for name in names]
    return _table(["metric", *(_cell(s) for s in splits)], rows)


def _splits_table(splits: Any) -> list[str]:
    if not isinstance(splits, Sequence) or isinstance(splits, str) or not splits:
        return ["No split summaries were recorded."]
    rows = []
    for raw in splits:
        s = raw if isinstance(raw, Mapping) else getattr(raw, "__dict__", {})
        rows.append([fmt(s.get("name")), fmt(s.get("rows")), fmt(s.get("start")), fmt(s.get("end")),
                     fmt(s.get("label_rate")), fmt(s.get("entities"))])
    return _table(["split", "rows", "from", "to", "label rate", "entities"], rows)


def _bullets(items: Sequence[str], empty: str) -> list[str]:
    return [f"- {_cell(str(item))}" for item in items] if items else [empty]


def render_card(version: ModelVersion, context: Mapping[str, Any] | None = None) -> str:
    """The model card of ``version`` as Markdown."""
    ctx = dict(context or {})
    caveats = ctx.get("caveats") or []
    if isinstance(caveats, str):
        caveats = [caveats]
    lines = [
        f"# Model card: {version.name} v{version.version}",
        "",
        *_table(["field", "value"], [
            ["model", _cell(version.name)],
            ["version", str(version.version)],
            ["task", _cell(version.task)],
            ["family", _cell(version.family)],
            ["run", _cell(version.run_id)],
            ["created at (UTC)", version.created_at.isoformat()],
            ["artifact sha256", f"`{version.sha256}`"],
            ["spec hash", f"`{version.spec_hash}`"],
            ["data fingerprint", f"`{version.data_fingerprint}`"],
            ["code version", _cell(version.code_version)],
        ]),
        "",
        "## Intended use",
        "",
        _cell(str(ctx.get("intended_use") or "Not stated. Describe the intended use in loopline.yaml.")),
        "",
        "## Data",
        "",
        f"Data fingerprint `{version.data_fingerprint}`.",
        "",
        *_splits_table(ctx.get("splits")),
        "",
        "## Metrics",
        "",
        *_metrics_table(version.metrics, ctx.get("metric_labels")),
        "",
        "## Baselines beaten",
        "",
        *_bullets(list(version.baselines_beaten), "None: this version did not beat any baseline."),
        "",
        "## Decision threshold and calibration",
        "",
        f"- decision threshold: {fmt(ctx.get('threshold'))}",
        f"- calibration: {fmt(ctx.get('calibration') or 'none')}",
        "",
        f"## Features ({len(version.features)})",
        "",
        *_bullets([f"`{f}`" for f in version.features], "No features recorded."),
        "",
        "## Caveats",
        "",
        *_bullets([str(c) for c in caveats], "None recorded."),
    ]
    extra = {k: v for k, v in ctx.items() if k not in _KNOWN}
    if extra:
        lines += ["", "## Other notes", "", *_bullets([f"{k}: {v}" for k, v in extra.items()], "")]
    return "\n".join(lines) + "\n"
