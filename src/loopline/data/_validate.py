"""The validation report: what the table looks like and what in it needs a decision.

Per column: kind, dtype, missing share, cardinality, range. Issues: constant columns, duplicate
columns (identical values under another name), mostly missing columns, identifier-like columns,
timestamps in the future, duplicate rows. Warnings never stop training; the caller turns the
``error`` ones into a :class:`DataError`. The table checked is the labelled one: rows without a
label never reach it (``prepare`` refuses them, or drops and counts them with ``label.drop_missing``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from loopline.data._types import Kind, Schema

Severity = Literal["info", "warning", "error"]
MOSTLY_MISSING = 0.5
ID_LIKE_UNIQUE_SHARE = 0.9


@dataclass(frozen=True)
class Issue:
    severity: Severity
    check: str
    column: str | None
    message: str


@dataclass(frozen=True)
class ColumnStats:
    name: str
    kind: str
    dtype: str
    missing_share: float
    n_unique: int
    min: float | str | None = None
    max: float | str | None = None


@dataclass
class ValidationReport:
    """Column statistics and issues found in a table."""

    rows: int
    columns: list[ColumnStats] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def add(self, severity: Severity, check: str, column: str | None, message: str) -> None:
        self.issues.append(Issue(severity, check, column, message))

    def flagged(self, check: str) -> list[str]:
        """The columns an issue of ``check`` names."""
        return [i.column for i in self.issues if i.check == check and i.column is not None]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": [asdict(c) for c in self.columns],
                "issues": [asdict(i) for i in self.issues]}


def validate(frame: pd.DataFrame, schema: Schema, *, event_time: str, label: str | None,
             ids: tuple[str, ...] = (), now: datetime | None = None) -> ValidationReport:
    """Check ``frame`` (already labelled, event time parsed) and describe each column."""
    report = ValidationReport(rows=len(frame))
    now_ts = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
    exempt = {event_time, label, *ids}
    for col in schema.columns:
        values = frame[col.name]
        report.columns.append(_stats(values, col.name, col.kind.value, col.missing_share, col.n_unique))
        if col.name in exempt:
            continue
        if col.n_unique <= 1:
            report.add("warning", "constant", col.name,
                       f"column '{col.name}' has {'one value' if col.n_unique else 'no values'} in every row; "
                       "it carries no signal and is not used as a feature.")
        elif col.missing_share >= MOSTLY_MISSING:
            report.add("warning", "mostly_missing", col.name,
                       f"column '{col.name}' is missing in {col.missing_share:.0%} of rows.")
        if col.kind == Kind.CATEGORICAL and len(frame) >= 50 and col.n_unique >= ID_LIKE_UNIQUE_SHARE * len(frame):
            report.add("warning", "id_like", col.name,
                       f"column '{col.name}' has a distinct value in {col.n_unique / len(frame):.0%} of rows, like "
                       "an identifier; it is not used as a feature (declare it as entity, unit or group, or "
                       "list it in features.include to use it anyway).")
    _duplicate_columns(frame, schema, exempt, report)
    times = frame[event_time]
    future = int((times > now_ts).sum())
    if future:
        report.add("warning", "future_time", event_time,
                   f"{future} rows have event time '{event_time}' after now ({now_ts.isoformat()}); check the "
                   "clock or time zone of the source.")
    # Rows compared by a 64-bit hash of all their values: several times faster than comparing the values,
    # and a false match needs a hash collision (about n^2 / 2^65: negligible below billions of rows).
    duplicates = int(pd.Series(pd.util.hash_pandas_object(frame, index=False).to_numpy()).duplicated().sum())
    if duplicates:
        report.add("warning", "duplicate_rows", None, f"{duplicates} rows are exact duplicates of another row.")
    return report


def _stats(values: pd.Series, name: str, kind: str, missing: float, n_unique: int) -> ColumnStats:
    low: float | str | None = None
    high: float | str | None = None
    present = values.dropna()
    if len(present) and pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        low, high = float(np.min(present)), float(np.max(present))
    elif len(present) and pd.api.types.is_datetime64_any_dtype(values.dtype):
        low, high = present.min().isoformat(), present.max().isoformat()
    return ColumnStats(name=name, kind=kind, dtype=str(values.dtype), missing_share=missing, n_unique=n_unique,
                       min=low, max=high)


def _duplicate_columns(frame: pd.DataFrame, schema: Schema, exempt: set[str | None], report: ValidationReport) -> None:
    seen: dict[tuple[int, str], str] = {}
    for col in schema.columns:
        if col.name in exempt or col.n_unique <= 1:
            continue
        key = (int(pd.util.hash_pandas_object(frame[col.name], index=False).sum()), str(frame[col.name].dtype))
        if key in seen and frame[col.name].equals(frame[seen[key]]):
            report.add("warning", "duplicate_column", col.name,
                       f"column '{col.name}' holds the same values as '{seen[key]}'; only '{seen[key]}' is used.")
        else:
            seen.setdefault(key, col.name)
