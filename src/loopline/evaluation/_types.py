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

    ``role`` is ``model`` (the evaluated model), ``baseline``, ``candidate`` (another candidate),
    ``champion`` (the registry's current champion, scored on the same rows) or ``reference`` (scores from
    outside, such as the simulator's true probabilities).
    """

    name: str
    role: str
    metrics: dict[str, MetricValue]


@dataclass(frozen=True)
class Curve:
    """Points of a curve: ROC (fpr, tpr), PR (recall, precision), reliability (mean predicted,
    observed rate, with ``counts`` and ``low``/``high``), cost (threshold, expected cost per row),
    ``predicted_actual`` (regression: prediction, actual value). ``Evaluation.curves`` holds the model's
    under these names and the other scorers' ROC and PR curves under ``roc:<name>`` and ``pr:<name>``."""

    x: list[float]
    y: list[float]
    thresholds: list[float] | None = None
    counts: list[int] | None = None
    low: list[float] | None = None
    """Per point, the low end of a 95% interval of ``y`` (reliability: the Jeffreys interval of the observed rate)."""
    high: list[float] | None = None


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
    gap_low: float | None = None
    """The 95% bootstrap interval of ``gap`` (resampling the slice's rows); None when not judged."""
    gap_high: float | None = None
    judged: bool = True
    """False for a slice too small to judge (fewer rows than ``evaluation._slices.MIN_ROWS``)."""


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
    entity: str | None = None
    """The row's entity id (the spec's ``entity`` column), when the spec names one."""


@dataclass(frozen=True)
class QueryDifference:
    """The evaluated model against another scorer query by query on the primary ranking metric: the mean per-query
    difference (model minus other, positive is better) with a 95% bootstrap interval over queries, and the shares
    of the ``queries`` counted where the model won, tied or lost."""

    other: str
    role: str
    metric: str
    queries: int
    mean: float
    low: float | None
    high: float | None
    won: float
    tied: float
    lost: float


@dataclass(frozen=True)
class RankingSummary:
    """What a ranking evaluation rests on: the queries counted and left out (``excluded`` by reason, of ``queries``),
    NDCG at each cut-off of ``ks`` per scorer (``ndcg_at_k``, aligned with ``ks``), the model's per-query NDCG at
    the primary cut-off (``query_ndcg``, at most ``evaluation._ranking_summary.MAX_STORED`` values, an even sample
    of the ``query_ndcg_total``), the query sizes (``(items, queries)`` pairs) and the paired per-query
    differences against each baseline, candidate and the champion (when evaluated beside it)."""

    queries: int
    excluded: dict[str, int]
    evaluated: dict[str, int]
    gain: str
    relevant_at: float
    ks: list[int]
    ndcg_at_k: dict[str, list[float]]
    query_ndcg: list[float]
    query_ndcg_total: int
    query_sizes: list[tuple[int, int]]
    differences: list[QueryDifference] = field(default_factory=list)


@dataclass(frozen=True)
class TimePoint:
    """The primary metric on one period of the evaluated window, to see staleness."""

    start: str
    rows: int
    value: float
    end: str = ""
    """The first day of the last period merged into this point (equal to ``start`` when none was merged)."""
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class PairedDifference:
    """The evaluated model's improvement over another scorer on the same rows (positive is better, in the
    metric's units), with the 95% interval of the paired bootstrap (both resampled the same way)."""

    other: str
    metric: str
    model_value: float
    other_value: float
    improvement: float
    low: float | None = None
    high: float | None = None


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
    coefficients: list[tuple[str, float]] = field(default_factory=list)
    """Linear models: signed coefficients per model input on the standardized scale it was fitted on."""
    champion: PairedDifference | None = None
    """The comparison with the current champion (the score with role ``champion``), when there is one."""
    metric_labels: dict[str, str] = field(default_factory=dict)
    """What each metric key means where the key alone does not say it, e.g. ``ndcg`` -> ``ndcg@10 (exp gain)``."""
    ranking: RankingSummary | None = None
    """Ranking tasks: the queries counted and left out, NDCG at each k, per-query distributions, paired differences."""

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
