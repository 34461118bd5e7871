"""Small contract-shaped tables for the event-log tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def exposures(n: int = 3, *, start: datetime = T0, prefix: str = "r", **extra: list[object]) -> pd.DataFrame:
    """``n`` exposures one minute apart, with optional extra (feature) columns."""
    frame = pd.DataFrame({
        "ts": [start + timedelta(minutes=i) for i in range(n)],
        "deployment": ["api"] * n,
        "request_id": [f"{prefix}{i}" for i in range(n)],
        "unit_id": [f"u{i % 2}" for i in range(n)],
        "item_id": [f"p{i}" for i in range(n)],
        "arm": ["control"] * n,
        "model_version": ["v1"] * n,
        "score": [0.5 + i / 100 for i in range(n)],
        "served": [True] * n,
        "position": list(range(n)),
        "latency_ms": [12.5] * n,
    })
    for name, values in extra.items():
        frame[name] = values
    return frame


def feedback_rows(n: int = 2) -> pd.DataFrame:
    return pd.DataFrame({
        "ts": [T0 + timedelta(minutes=5 + i) for i in range(n)],
        "deployment": ["api"] * n,
        "request_id": [f"r{i}" for i in range(n)],
        "unit_id": [f"u{i % 2}" for i in range(n)],
        "item_id": [f"p{i}" for i in range(n)],
        "event": ["click"] * n,
        "value": [1.0] * n,
    })


def assignment_row(i: int, *, ts: datetime = T0) -> dict[str, object]:
    return {"ts": ts, "deployment": "api", "experiment": "e1", "unit_id": f"u{i}", "arm": "treatment"}
