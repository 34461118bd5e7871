"""The event-log contract: the columns of exposure, feedback and assignment records.

Every record carries ``ts`` (UTC) and ``deployment``. Writers may add columns (inline feature
values, for instance) but never drop or retype these. Every contract column must be present; the ones
in :data:`REQUIRED` must also have a value in every row, and a feedback row must name the exposure it
answers: a ``request_id``, or both ``unit_id`` and ``item_id``.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

EXPOSURE = pa.schema([
    ("ts", TS),
    ("deployment", pa.string()),
    ("request_id", pa.string()),
    ("unit_id", pa.string()),
    ("item_id", pa.string()),
    ("arm", pa.string()),
    ("model_version", pa.string()),
    ("score", pa.float64()),
    ("served", pa.bool_()),
    ("position", pa.int32()),
    ("latency_ms", pa.float64()),
])

FEEDBACK = pa.schema([
    ("ts", TS),
    ("deployment", pa.string()),
    ("request_id", pa.string()),
    ("unit_id", pa.string()),
    ("item_id", pa.string()),
    ("event", pa.string()),
    ("value", pa.float64()),
])

ASSIGNMENT = pa.schema([
    ("ts", TS),
    ("deployment", pa.string()),
    ("experiment", pa.string()),
    ("unit_id", pa.string()),
    ("arm", pa.string()),
])

SCHEMAS: dict[str, pa.Schema] = {"exposures": EXPOSURE, "feedback": FEEDBACK, "assignments": ASSIGNMENT}

REQUIRED: dict[str, tuple[str, ...]] = {
    "exposures": ("ts", "deployment", "request_id", "unit_id"),
    "feedback": ("ts", "deployment", "event"),
    "assignments": ("ts", "deployment", "experiment", "unit_id", "arm"),
}
"""The contract columns of each kind that may not hold nulls (the others may, where they do not apply)."""
