"""Ranking metrics: items grouped into queries by ``groups``, relevance labels (binary or graded).

Computed per query, then averaged over the queries that carry information about the ranking. Every
metric is tie-aware (the expectation over the random orders of tied items), so it does not depend on
row order, and a constant scorer gets exactly the expectation over all orders (the random baseline):

- ``ndcg`` is NDCG@k with gain ``2**rel - 1`` (``gain="exponential"``, LightGBM's lambdarank and the
  learning-to-rank literature) or ``rel`` (``gain="linear"``), discount ``1/log2(position + 1)``, the
  ideal DCG with the same gain, tied scores sharing the average gain of their block: per query exactly
  ``sklearn.metrics.ndcg_score([gain], [score], k=k)``. With several cut-offs ``ks`` the first is the
  primary one (``ndcg``) and each other adds ``ndcg@<k>``.
- ``map``: per query the mean over the relevant items (``rel >= relevant_at``) of the precision at
  their rank. A relevant item in a tied block of ``m`` items holding ``r`` relevant ones, after ``a``
  items and ``h`` hits, sits at each offset ``u = 1..m`` with equal chance and has on average
  ``(u - 1)(r - 1)/(m - 1)`` relevant block-mates before it, so its expected precision is the mean over
  ``u`` of ``(h + 1 + (u - 1)(r - 1)/(m - 1)) / (a + u)``. Without ties, this is
  ``sklearn.metrics.average_precision_score``.
- ``mrr``: 1/rank of the first relevant item, in expectation over the orders of tied items.

``relevant_at`` defaults to the top grade present in the labels (1 for 0/1 labels, where it means
``rel > 0``). Queries with one item, or whose items all have the same relevance, carry no ranking
information and are left out of all three (and counted); a query with no item at or above
``relevant_at`` is left out of ``map`` and ``mrr`` (and counted). With 0/1 labels the item-level
``roc_auc`` and (when scores lie in [0, 1]) ``log_loss`` are added. A bootstrap resample draws whole
queries.

>>> import numpy as np
>>> rel, score = np.array([3, 2, 0, 1]), np.array([0.9, 0.2, 0.5, 0.1])
>>> s = RankingScorer(rel, score, np.zeros(4), k=[10, 1], gain="exponential")
>>> {name: round(v, 4) for name, v in s.compute().items()}
{'ndcg': 0.9508, 'map': 1.0, 'mrr': 1.0, 'ndcg@1': 1.0}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln

from loopline.evaluation._binary import BinaryScorer
from loopline.evaluation._sums import dot
from loopline.spec import METRICS, Gain

QUERY_METRICS = ("ndcg", "map", "mrr")
SINGLE, EQUAL, NOTHING = "single item", "all equal relevance", "nothing relevant"
REASONS = (SINGLE, EQUAL, NOTHING)
"""Why a query is left out: the first two for every ranking metric, the last for map and mrr."""


def query_ids(groups: np.ndarray) -> np.ndarray:
    """Each row's query as 0..n_queries-1."""
    codes, _ = pd.factorize(pd.Series(groups, copy=False), use_na_sentinel=False)
    return np.asarray(codes, dtype=np.intp)


def ndcg_name(k: int, primary: int) -> str:
    """The metric key of NDCG at ``k``: ``ndcg`` at the primary cut-off, else ``ndcg@<k>``."""
    return "ndcg" if k == primary else f"ndcg@{k}"


def as_ks(k: int | Sequence[int]) -> tuple[int, ...]:
    """The cut-offs as a tuple, the primary first."""
    return (int(k),) if isinstance(k, int | np.integer) else tuple(int(v) for v in k)


def default_relevant_at(relevance: np.ndarray) -> float:
    """The top grade present (1 for 0/1 labels, so ``rel >= 1`` is ``rel > 0``)."""
    return float(relevance.max())


def gains(relevance: np.ndarray, gain: Gain) -> np.ndarray:
    """``2**rel - 1`` (exponential) or ``rel`` (linear)."""
    return np.expm1(relevance * np.log(2.0)) if gain == "exponential" else relevance.astype(np.float64)


@dataclass(frozen=True)
class QueryMetrics:
    """Per query: NDCG at each cut-off (key as in :func:`ndcg_name`), AP and RR, whether each query counts for
    NDCG (``ranked``) and for MAP/MRR (``judged``), its size and why it was left out ("" when it counts)."""

    ndcg: dict[str, np.ndarray]
    ap: np.ndarray
    rr: np.ndarray
    ranked: np.ndarray
    judged: np.ndarray
    size: np.ndarray
    reason: np.ndarray

    def values(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(values, counts)`` of a query metric: NaN where a query does not count."""
        if name == "map":
            return self.ap, self.judged
        if name == "mrr":
            return self.rr, self.judged
        return self.ndcg[name], self.ranked

    def excluded(self) -> dict[str, int]:
        """How many queries were left out, by reason (every reason, zero included)."""
        return {reason: int((self.reason == reason).sum()) for reason in REASONS}


def per_query(relevance: np.ndarray, score: np.ndarray, query: np.ndarray, *, ks: Sequence[int],
              gain: Gain = "exponential", relevant_at: float | None = None) -> QueryMetrics:
    """Every query metric of every query (``query`` holds ids 0..n_queries-1)."""
    relevance = np.asarray(relevance, dtype=np.float64)
    n_queries = int(query.max()) + 1
    threshold = default_relevant_at(relevance) if relevant_at is None else float(relevant_at)
    order = np.lexsort((-score, query))
    q, rel, sc = query[order], relevance[order], score[order]
    start = np.searchsorted(q, np.arange(n_queries))
    position = np.arange(len(q)) - start[q]
    size = np.bincount(query, minlength=n_queries)
    equal = np.maximum.reduceat(rel, start) == np.minimum.reduceat(rel, start)
    is_relevant = rel >= threshold
    relevant = np.bincount(q, weights=is_relevant.astype(np.float64), minlength=n_queries)
    ranked = (size > 1) & ~equal
    judged = ranked & (relevant > 0)
    reason = np.full(n_queries, "", dtype=object)
    reason[~judged] = NOTHING
    reason[(size > 1) & equal] = EQUAL
    reason[size == 1] = SINGLE

    new_block = np.ones(len(q), dtype=bool)
    new_block[1:] = (q[1:] != q[:-1]) | (sc[1:] != sc[:-1])
    block = np.cumsum(new_block) - 1
    block_size = np.bincount(block).astype(np.float64)
    g = gains(rel, gain)
    ideal_g = gains(relevance[np.lexsort((-relevance, query))], gain)
    ndcg: dict[str, np.ndarray] = {}
    for k in ks:
        discount = np.where(position < k, 1.0 / np.log2(position + 2.0), 0.0)
        mean_discount = np.bincount(block, weights=discount) / block_size
        dcg = np.bincount(q, weights=g * mean_discount[block], minlength=n_queries)
        ideal = np.bincount(q, weights=ideal_g * discount, minlength=n_queries)
        values = np.full(n_queries, np.nan)
        values[ranked] = dcg[ranked] / ideal[ranked]
        ndcg[ndcg_name(k, ks[0])] = values

    hits = np.bincount(block, weights=is_relevant.astype(np.float64))
    block_query = q[new_block]
    block_start = position[new_block].astype(np.float64)
    ap = _average_precision(hits, block_size, block, block_query, block_start, position, relevant, judged)
    rr = _reciprocal_rank(hits, block_size, block_query, block_start, n_queries)
    rr[~judged] = np.nan
    return QueryMetrics(ndcg, ap, rr, ranked, judged, size, reason)


def _average_precision(hits: np.ndarray, size: np.ndarray, block: np.ndarray, block_query: np.ndarray,
                       block_start: np.ndarray, position: np.ndarray, relevant: np.ndarray,
                       judged: np.ndarray) -> np.ndarray:
    """E[average precision] over the orders of tied items (see the module docstring), exactly, in O(rows)."""
    first = np.searchsorted(block_query, block_query)  # index of the query's first block
    cum_hits = np.cumsum(hits)
    before = cum_hits - hits - (cum_hits[first] - hits[first])  # hits in the query's earlier blocks
    r, m, h = hits[block], size[block], before[block]
    u = position - block_start[block] + 1.0  # each row's offset in its block, 1..m
    others = np.where(m > 1, (u - 1.0) * (r - 1.0) / np.maximum(m - 1.0, 1.0), 0.0)
    precision = np.bincount(block, weights=(h + 1.0 + others) / (position + 1.0)) / size
    ap = np.bincount(block_query, weights=hits * precision, minlength=len(relevant))
    return np.where(judged, ap / np.where(relevant > 0, relevant, 1.0), np.nan)


def _reciprocal_rank(hits: np.ndarray, size: np.ndarray, block_query: np.ndarray,
                     block_start: np.ndarray, n_queries: int) -> np.ndarray:
    """E[1 / rank of the first relevant item] when ties are ordered at random.

    In the first block holding relevant items (``m`` items, ``r`` relevant, after ``a`` items),
    the first relevant item sits at offset ``j`` with probability C(m-1-j, r-1) / C(m, r).
    """
    rr = np.full(n_queries, np.nan)
    with_hits = np.flatnonzero(hits > 0)
    if len(with_hits) == 0:
        return rr
    queries, first = np.unique(block_query[with_hits], return_index=True)
    chosen = with_hits[first]
    m, r, a = size[chosen], hits[chosen], block_start[chosen]
    spans = (m - r + 1).astype(np.intp)
    owner = np.repeat(np.arange(len(chosen)), spans)
    offset = np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans, spans)
    mo, ro = m[owner], r[owner]
    log_prob = (gammaln(mo - offset) - gammaln(ro) - gammaln(mo - offset - ro + 1)
                - (gammaln(mo + 1) - gammaln(ro + 1) - gammaln(mo - ro + 1)))
    expected = np.bincount(owner, weights=np.exp(log_prob) / (a[owner] + 1 + offset), minlength=len(chosen))
    rr[queries] = expected
    return rr


class RankingScorer:
    """Ranking metrics under query weights (``units`` is the number of queries).

    ``k`` is one cut-off or several (the first is the primary: ``ndcg``; the others add ``ndcg@<k>``).
    ``relevant_at`` is the resolved relevance threshold of map and mrr; ``excluded`` counts the queries left
    out by reason, of ``units`` queries.
    """

    def __init__(self, relevance: np.ndarray, score: np.ndarray, groups: np.ndarray, *,
                 k: int | Sequence[int] = 10, gain: Gain = "exponential", relevant_at: float | None = None,
                 names: Sequence[str] | None = None) -> None:
        relevance = np.asarray(relevance, dtype=np.float64)
        self.ks = as_ks(k)
        extra = tuple(ndcg_name(v, self.ks[0]) for v in self.ks[1:])
        wanted = tuple(names) if names is not None else (*METRICS["ranking"], *extra)
        self._query = query_ids(groups)
        self.units = int(self._query.max()) + 1
        self.gain: Gain = gain
        self.relevant_at = default_relevant_at(relevance) if relevant_at is None else float(relevant_at)
        self.queries = per_query(relevance, score, self._query, ks=self.ks, gain=gain, relevant_at=self.relevant_at)
        self.excluded = self.queries.excluded()
        binary = bool(np.isin(relevance, (0.0, 1.0)).all())
        item: list[str] = []
        if binary and 0 < relevance.sum() < len(relevance) and "roc_auc" in wanted:
            item.append("roc_auc")
        if binary and score.min() >= 0.0 and score.max() <= 1.0 and "log_loss" in wanted:
            item.append("log_loss")
        self._items = BinaryScorer(relevance, score, names=item) if item else None
        per = {"map", "mrr", *self.queries.ndcg}
        self.names = tuple(n for n in wanted if n in per or n in item)

    def compute(self, weights: np.ndarray | None = None) -> dict[str, float]:
        wq = np.ones(self.units) if weights is None else weights
        out: dict[str, float] = {}
        for name in self.names:
            if name in ("roc_auc", "log_loss"):
                continue
            values, counts = self.queries.values(name)
            counted = wq * counts
            total = float(counted.sum())
            out[name] = dot(counted, np.nan_to_num(values)) / total if total > 0 else float("nan")
        if self._items is not None:
            out.update(self._items.compute(wq[self._query]))
        return {name: out[name] for name in self.names}
