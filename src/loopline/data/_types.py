"""Values the data stage hands to later stages: the inferred schema and the three splits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd


class Kind(StrEnum):
    """How a column is treated as a feature."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    TEXT = "text"


@dataclass(frozen=True)
class Column:
    """One column as inferred from data (or overridden by ``features.types`` in the spec)."""

    name: str
    kind: Kind
    dtype: str
    n_unique: int
    missing_share: float


@dataclass(frozen=True)
class Schema:
    """The columns of a table in order, each with its kind."""

    columns: tuple[Column, ...]

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.columns)

    def __getitem__(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def names(self, kind: Kind | None = None) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if kind is None or c.kind == kind)

    def subset(self, names: tuple[str, ...] | list[str]) -> Schema:
        wanted = set(names)
        return Schema(tuple(c for c in self.columns if c.name in wanted))

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls(tuple(Column(**{**c, "kind": Kind(c["kind"])}) for c in data["columns"]))


@dataclass(frozen=True)
class SplitSummary:
    """What one split holds: its time range, size and label rate (mean label for regression)."""

    name: str
    rows: int
    start: str
    end: str
    label_rate: float | None
    entities: int | None = None
    queries: int | None = None
    """Ranking: how many queries (distinct group ids) the split holds."""


@dataclass(frozen=True, eq=False)
class Splits:
    """Train, validation and test frames, disjoint in time, with what later stages need to know.

    Binary labels are normalised to 0/1 integers in ``label``. ``features`` lists the columns that
    may be used as model inputs (never the label, the event time, ids or ``known_after`` columns).
    ``negative_rate`` is set when negatives in ``train`` were downsampled, so models can correct
    their probabilities.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    label: str
    time: str
    features: tuple[str, ...]
    schema: Schema
    group: str | None = None
    entity: str | None = None
    negative_rate: float | None = None
    summaries: tuple[SplitSummary, ...] = field(default=())

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "valid": self.valid, "test": self.test}
