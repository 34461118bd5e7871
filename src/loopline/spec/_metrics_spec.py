"""``metrics:`` in loopline.yaml: which metric decides, which are reported, and how rankings are measured."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Gain = Literal["exponential", "linear"]
"""NDCG's gain: ``2**rel - 1`` (exponential) or ``rel`` (linear)."""


class MetricsSpec(BaseModel):
    """Which metric decides, which are reported, and how ranking is measured.

    ``k`` is the cut-off of the @k metrics; for ranking it may be a list (``[10, 5, 1]``): the first is the primary
    cut-off (what ``ndcg`` means and what LightGBM early-stops on), each other adds ``ndcg@<k>``. In code
    ``k`` is always the primary cut-off and ``ks`` all of them (the others are kept in ``other_k``). ``gain`` is
    NDCG's gain: ``exponential`` (2^rel - 1, as lambdarank and the literature) or ``linear`` (rel).
    ``relevant_at`` is the relevance from which an item counts as relevant for map and mrr (default: the top grade
    present in the evaluated labels, which is rel > 0 for 0/1 labels).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    primary: str | None = None
    report: list[str] = Field(default_factory=list)
    k: int = Field(default=10, ge=1)
    other_k: tuple[int, ...] = ()
    gain: Gain = "exponential"
    relevant_at: float | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _list_of_k(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("k"), list | tuple):
            return data
        given = list(data["k"])
        if "other_k" in data:
            raise ValueError("give the cut-offs once, as k: [10, 5, 1] (the first is the primary one); remove other_k")
        if not given or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in given):
            raise ValueError(f"k: expected a positive whole number of items or a list of them like [10, 5, 1], "
                             f"got {given}")
        repeated = sorted({v for v in given if given.count(v) > 1})
        if repeated:
            raise ValueError(f"k lists {', '.join(map(str, repeated))} more than once; give each cut-off once")
        return {**data, "k": given[0], "other_k": tuple(given[1:])}

    @model_validator(mode="after")
    def _distinct_k(self) -> MetricsSpec:
        if self.k in self.other_k or len(set(self.other_k)) < len(self.other_k) or min(self.other_k, default=1) < 1:
            raise ValueError(f"k: cut-offs must be distinct positive numbers, got {list(self.ks)}")
        return self

    @property
    def ks(self) -> tuple[int, ...]:
        """Every cut-off, the primary first."""
        return (self.k, *self.other_k)

    @property
    def scoring(self) -> dict[str, Any]:
        """The options every metric computation from this spec passes on: ``k`` (all cut-offs), ``gain``,
        ``relevant_at`` (as ``make_scorer``, ``compute_metrics``, ``bootstrap`` and ``compare`` take them)."""
        return {"k": self.ks, "gain": self.gain, "relevant_at": self.relevant_at}


def metric_labels(task: str, metrics: MetricsSpec, *, relevant_at: float | None = None) -> dict[str, str]:
    """What each ranking metric key means, for display: ``ndcg@10 (exp gain)``, ``map (relevant >= 2)``.

    ``relevant_at`` is the threshold actually used (the spec's, else the top grade of the evaluated labels); when
    neither is known the label says "top grade". Other tasks' keys need no label (an empty dict).

    >>> metric_labels("ranking", MetricsSpec(k=[10, 5], relevant_at=2))
    {'ndcg': 'ndcg@10 (exp gain)', 'ndcg@5': 'ndcg@5 (exp gain)', 'map': 'map (relevant >= 2)', \
'mrr': 'mrr (relevant >= 2)'}
    """
    if task != "ranking":
        return {}
    gain = "exp gain" if metrics.gain == "exponential" else "linear gain"
    labels = {("ndcg" if i == 0 else f"ndcg@{k}"): f"ndcg@{k} ({gain})" for i, k in enumerate(metrics.ks)}
    threshold = metrics.relevant_at if metrics.relevant_at is not None else relevant_at
    relevant = "relevant = top grade" if threshold is None else f"relevant >= {threshold:g}"
    return {**labels, "map": f"map ({relevant})", "mrr": f"mrr ({relevant})"}
