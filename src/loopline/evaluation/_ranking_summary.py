"""``summarize_ranking``: what a ranking evaluation rests on, from the prepared scorers of every scorer.

The paired comparison is per query: on the queries that count for the metric (the same for every scorer,
since which queries count depends on the labels only), the model's value minus the other's. Its mean has a
95% bootstrap interval over queries; with ~100 queries only such a paired comparison separates close rankers,
because the spread between queries is far larger than the difference between the rankers on one query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from loopline.evaluation._bootstrap import bootstrap_scorer
from loopline.evaluation._ranking import QUERY_METRICS, RankingScorer, default_relevant_at, ndcg_name
from loopline.evaluation._types import QueryDifference, RankingSummary
from loopline.spec import ProblemSpec

MAX_STORED = 2000
"""At most this many per-query NDCG values are stored (an even sample of them beyond)."""
TIE = 1e-12


class _MeanDifference:
    """The mean of per-query differences under query weights (a scorer for :func:`bootstrap_scorer`)."""

    def __init__(self, metric: str, differences: np.ndarray) -> None:
        self.names: tuple[str, ...] = (metric,)
        self.units = len(differences)
        self._d = differences

    def compute(self, weights: np.ndarray | None = None) -> dict[str, float]:
        w = np.ones(self.units) if weights is None else weights
        total = float(w.sum())
        return {self.names[0]: float(w @ self._d) / total if total > 0 else float("nan")}


def compared_metric(primary: str) -> str:
    """The per-query metric the paired differences use: the primary one when it is a query metric, else ``ndcg``."""
    return primary if primary in QUERY_METRICS or primary.startswith("ndcg@") else "ndcg"


def summarize_ranking(scorers: Mapping[str, tuple[str, RankingScorer]], *, model: str, primary: str,
                      n_boot: int = 200, seed: int = 0) -> RankingSummary:
    """The summary of a ranking evaluation; ``scorers`` maps each scorer's name to its role and prepared scorer
    (all on the same rows), ``model`` names the evaluated one."""
    own = scorers[model][1]
    q = own.queries
    metric = compared_metric(primary)
    mine, counts = q.values(metric)
    keys = [ndcg_name(k, own.ks[0]) for k in own.ks]
    ndcg_at_k = {name: [_mean(*s.queries.values(key)) for key in keys] for name, (_, s) in scorers.items()}
    ranked = q.ndcg["ndcg"][q.ranked]
    stored = ranked if len(ranked) <= MAX_STORED else np.sort(ranked)[np.linspace(0, len(ranked) - 1, MAX_STORED)
                                                                       .round().astype(np.intp)]
    sizes, queries = np.unique(q.size, return_counts=True)
    differences = []
    for name, (other_role, other) in scorers.items():
        if name == model or other_role not in ("baseline", "candidate", "champion"):
            continue
        theirs, _ = other.queries.values(metric)
        d = (mine - theirs)[counts]
        differences.append(_difference(name, other_role, metric, d, n_boot=n_boot, seed=seed))
    return RankingSummary(
        queries=own.units, excluded=own.excluded,
        evaluated={name: int(q.values(name)[1].sum()) for name in QUERY_METRICS},
        gain=own.gain, relevant_at=own.relevant_at, ks=list(own.ks), ndcg_at_k=ndcg_at_k,
        query_ndcg=[float(v) for v in stored], query_ndcg_total=len(ranked),
        query_sizes=[(int(s), int(c)) for s, c in zip(sizes, queries, strict=True)], differences=differences,
    )


def _mean(values: np.ndarray, counts: np.ndarray) -> float:
    return float(values[counts].mean()) if counts.any() else float("nan")


def _difference(name: str, role: str, metric: str, d: np.ndarray, *, n_boot: int, seed: int) -> QueryDifference:
    if len(d) == 0:
        nan = float("nan")
        return QueryDifference(name, role, metric, 0, nan, None, None, nan, nan, nan)
    found = bootstrap_scorer(_MeanDifference(metric, d), n_boot=n_boot, seed=seed)[metric]
    n = len(d)
    return QueryDifference(name, role, metric, n, found.value, found.low, found.high,
                           won=float((d > TIE).sum() / n), tied=float((np.abs(d) <= TIE).sum() / n),
                           lost=float((d < -TIE).sum() / n))


def scoring_options(spec: ProblemSpec, labels: np.ndarray) -> dict[str, Any]:
    """The ranking options of ``spec`` with the relevance threshold resolved once on the evaluated ``labels`` (the
    spec's ``relevant_at``, else their top grade), so slices, periods and every scorer use the same one; other
    tasks need none (an empty dict)."""
    if spec.task != "ranking":
        return {}
    relevant_at = spec.metrics.relevant_at
    if relevant_at is None:
        try:
            values = np.asarray(labels, dtype=np.float64)
        except (TypeError, ValueError):  # make_scorer says what is wrong with the labels
            values = np.empty(0)
        finite = values[np.isfinite(values)]
        relevant_at = default_relevant_at(finite) if len(finite) and finite.max() > 0 else None
    return {"gain": spec.metrics.gain, "relevant_at": relevant_at}
