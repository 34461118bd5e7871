"""Ranking metrics: items grouped into queries by ``groups``, relevance labels (binary or graded).

Per query, then averaged over the queries that have at least one relevant item (relevance > 0);
queries with nothing relevant carry no information about the ranking and are left out (scikit-learn's
``ndcg_score`` would count them as 0). Every metric is tie-aware, so it does not depend on row order:

- ``ndcg`` is NDCG@k with linear gain (the relevance itself) and ``1/log2(position + 1)`` discount,
  tied scores sharing the average gain of their block: exactly ``sklearn.metrics.ndcg_score`` of
  the query alone (its default ``ignore_ties=False``);
- ``map`` averages per query ``sklearn.metrics.average_precision_score(relevance > 0, score)``,
  which for untied scores is the mean of precision@rank over the relevant items;
- ``mrr`` averages 1/rank of the first relevant item, in expectation over the random orders of
  tied items (for untied scores, plainly 1/rank).

With binary labels the item-level ``roc_auc`` and (when scores lie in [0, 1]) ``log_loss`` are
added. A bootstrap resample draws whole queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import gammaln

from loopline.evaluation._binary import BinaryScorer
from loopline.evaluation._sums import dot
from loopline.spec import METRICS

_QUERY_METRICS = ("ndcg", "map", "mrr")


def query_ids(groups: np.ndarray) -> np.ndarray:
    """Each row's query as 0..n_queries-1."""
    codes, _ = pd.factorize(pd.Series(groups, copy=False), use_na_sentinel=False)
    return np.asarray(codes, dtype=np.intp)


def per_query(relevance: np.ndarray, score: np.ndarray, query: np.ndarray, *, k: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ndcg, ap, rr, has_relevant)`` for each query (NaN where nothing is relevant)."""
    n_queries = int(query.max()) + 1
    order = np.lexsort((-score, query))
    q, rel, sc = query[order], relevance[order], score[order]
    start = np.searchsorted(q, np.arange(n_queries))
    position = np.arange(len(q)) - start[q]
    discount = np.where(position < k, 1.0 / np.log2(position + 2.0), 0.0)

    new_block = np.ones(len(q), dtype=bool)
    new_block[1:] = (q[1:] != q[:-1]) | (sc[1:] != sc[:-1])
    block = np.cumsum(new_block) - 1
    size = np.bincount(block).astype(np.float64)
    mean_discount = np.bincount(block, weights=discount) / size
    dcg = np.bincount(q, weights=rel * mean_discount[block], minlength=n_queries)

    ideal_order = np.lexsort((-relevance, query))
    ideal = np.bincount(query[ideal_order], weights=relevance[ideal_order] * discount, minlength=n_queries)
    has_relevant = np.bincount(query, weights=(relevance > 0).astype(np.float64), minlength=n_queries) > 0
    ndcg = np.full(n_queries, np.nan)
    ndcg[has_relevant] = dcg[has_relevant] / ideal[has_relevant]

    hits = np.bincount(block, weights=(rel > 0).astype(np.float64))
    block_query = q[new_block]
    block_start = position[new_block]
    ap = _average_precision(hits, size, block_query, has_relevant, n_queries)
    rr = _reciprocal_rank(hits, size, block_query, block_start, n_queries)
    return ndcg, ap, rr, has_relevant


def _average_precision(hits: np.ndarray, size: np.ndarray, block_query: np.ndarray,
                       has_relevant: np.ndarray, n_queries: int) -> np.ndarray:
    first = np.searchsorted(block_query, block_query)  # index of the query's first block
    cum_hits = np.cumsum(hits)
    cum_size = np.cumsum(size)
    tp = cum_hits - (cum_hits[first] - hits[first])
    seen = cum_size - (cum_size[first] - size[first])
    relevant = np.bincount(block_query, weights=hits, minlength=n_queries)
    ap = np.bincount(block_query, weights=hits * tp / seen, minlength=n_queries)
    return np.where(has_relevant, ap / np.where(relevant > 0, relevant, 1.0), np.nan)


def _reciprocal_rank(hits: np.ndarray, size: np.ndarray, block_query: np.ndarray,
                     block_start: np.ndarray, n_queries: int) -> np.ndarray:
    """E[1 / rank of the first relevant item] when ties are ordered at random.

    In the first block holding relevant items (``m`` items, ``r`` relevant, after ``a`` items),
    the first relevant item sits at offset ``j`` with probability C(m-1-j, r-1) / C(m, r).
    """
    with_hits = np.flatnonzero(hits > 0)
    queries, first = np.unique(block_query[with_hits], return_index=True)
    chosen = with_hits[first]
    m, r, a = size[chosen], hits[chosen], block_start[chosen].astype(np.float64)
    spans = (m - r + 1).astype(np.intp)
    owner = np.repeat(np.arange(len(chosen)), spans)
    offset = np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans, spans)
    mo, ro = m[owner], r[owner]
    log_prob = (gammaln(mo - offset) - gammaln(ro) - gammaln(mo - offset - ro + 1)
                - (gammaln(mo + 1) - gammaln(ro + 1) - gammaln(mo - ro + 1)))
    expected = np.bincount(owner, weights=np.exp(log_prob) / (a[owner] + 1 + offset), minlength=len(chosen))
    rr = np.full(n_queries, np.nan)
    rr[queries] = expected
    return rr


class RankingScorer:
    """Ranking metrics under query weights (``units`` is the number of queries)."""

    def __init__(self, relevance: np.ndarray, score: np.ndarray, groups: np.ndarray, *, k: int = 10,
                 names: Sequence[str] | None = None) -> None:
        wanted = tuple(names) if names is not None else METRICS["ranking"]
        self._query = query_ids(groups)
        self.units = int(self._query.max()) + 1
        ndcg, ap, rr, has_relevant = per_query(relevance, score, self._query, k=k)
        self._values = {"ndcg": ndcg, "map": ap, "mrr": rr}
        self._has = has_relevant.astype(np.float64)
        binary = bool(np.isin(relevance, (0.0, 1.0)).all())
        item: list[str] = []
        if binary and 0 < relevance.sum() < len(relevance) and "roc_auc" in wanted:
            item.append("roc_auc")
        if binary and score.min() >= 0.0 and score.max() <= 1.0 and "log_loss" in wanted:
            item.append("log_loss")
        self._items = BinaryScorer(relevance, score, names=item) if item else None
        self.names = tuple(n for n in wanted if n in _QUERY_METRICS or n in item)

    def compute(self, weights: np.ndarray | None = None) -> dict[str, float]:
        wq = np.ones(self.units) if weights is None else weights
        counted = wq * self._has
        total = float(counted.sum())
        out: dict[str, float] = {}
        for name in _QUERY_METRICS:
            if name in self.names:
                values = np.nan_to_num(self._values[name])
                out[name] = dot(counted, values) / total if total > 0 else float("nan")
        if self._items is not None:
            out.update(self._items.compute(wq[self._query]))
        return {name: out[name] for name in self.names}
