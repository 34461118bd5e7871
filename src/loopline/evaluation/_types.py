"""The evaluation result: plain data, no plotting. ``reports`` renders it; ``to_dict`` is its JSON twin."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from loopline._json import to_plain


@dataclass(frozen=True)
class MetricValue:
    """A metric with its bootstrap 95% interval (``low``/``high`` are None when not bootstrapped)."""

    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ModelScores:
    """The metrics of one scorer on the evaluated split.

    ``role`` is ``model`` (the evaluated model), ``baseline``, ``candidate`` (another candidate) or
    ``reference`` (scores from outside, such as the simulator's true probabilities).
    """

    name: str
    role: str
    metrics: dict[str, MetricValue]


@dataclass(frozen=True)
class Curve:
    """Points of a curve: ROC (fpr, tpr), PR (recall, precision), reliability (mean predicted,
    observed rate, with ``counts``), cost (threshold, expected cost per row)."""

    x: list[float]
    y: list[float]
    thresholds: list[float] | None = None
    counts: list[int] | None = None


@dataclass(frozen=True)
class SliceRow:
    """A metric on one slice (``column == value``); ``gap`` is how much worse than overall it is
    (positive means worse, in the primary metric's units)."""

    column: str
    value: str
    rows: int
    label_rate: float | None
    metrics: dict[str, float]
    gap: float


@dataclass(frozen=True)
class GroupFairness:
    group: str
    rows: int
    selection_rate: float
    true_positive_rate: float | None
    false_positive_rate: float | None
    calibration_ratio: float | None


@dataclass(frozen=True)
class FairnessSummary:
    """Fairness across the groups of one sensitive attribute, at the model's decision threshold."""

    attribute: str
    demographic_parity_difference: float
    equalized_odds_difference: float | None
    groups: list[GroupFairness]


@dataclass(frozen=True)
class RowExplanation:
    """Why the model scored one row as it did: the largest contributions, signed."""

    row: int
    prediction: float
    label: float | None
    contributions: list[tuple[str, float]]


@dataclass(frozen=True)
class Mistake:
    """A confident mistake: a handful of its column values, never the whole row."""

    row: int
    prediction: float
    label: float
    values: dict[str, str]


@dataclass(frozen=True)
class TimePoint:
    """The primary metric on one period of the evaluated window, to see staleness."""

    start: str
    rows: int
    value: float


@dataclass(frozen=True)
class Evaluation:
    """Everything computed about one model on one split."""

    model: str
    split: str
    task: str
    rows: int
    primary_metric: str
    scores: list[ModelScores]
    lift: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per baseline, the relative lift (a fraction, positive is better) on the metrics where it means something."""
    improvement: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per baseline, the improvement in each metric's units (positive is better); see ``evaluation._lift``."""
    threshold: float | None = None
    confusion: dict[str, int] | None = None
    curves: dict[str, Curve] = field(default_factory=dict)
    slices: list[SliceRow] = field(default_factory=list)
    worst_slices: list[SliceRow] = field(default_factory=list)
    fairness: list[FairnessSummary] = field(default_factory=list)
    importance: list[tuple[str, float]] = field(default_factory=list)
    explanations: list[RowExplanation] = field(default_factory=list)
    mistakes: list[Mistake] = field(default_factory=list)
    over_time: list[TimePoint] = field(default_factory=list)

    def scores_of(self, name: str) -> ModelScores:
        for s in self.scores:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def metrics(self) -> dict[str, float]:
        """The evaluated model's point estimates."""
        return {k: v.value for k, v in self.scores_of(self.model).metrics.items()}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN and infinities become None)."""
        cleaned: dict[str, Any] = to_plain(asdict(self))
        return cleaned
