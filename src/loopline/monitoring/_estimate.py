"""Performance expected from calibrated scores alone, before labels arrive (confidence-based estimation).

With each label drawn ``y_i ~ Bernoulli(p_i)`` independently, where ``p_i`` is the row's calibrated
probability, :func:`estimate_binary` gives the expectation of the binary metrics (ROC AUC in O(n log n)
with one sort and cumulative sums) and :func:`estimate_ranking` the expected NDCG@k of ranked requests.
:mod:`loopline.monitoring._performance` shows them beside the realised metrics.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pandas as pd

from loopline._errors import MonitoringError

_EPS = float(np.finfo(np.float64).eps)


def estimate_binary(scores: np.ndarray, *, probabilities: np.ndarray | None = None,
                    threshold: float = 0.5) -> dict[str, float]:
    """Binary metrics of ``scores`` expected when each label is drawn ``y_i ~ Bernoulli(p_i)``, independently.

    ``p_i`` is the calibrated probability of row i: the score itself (the default), or ``probabilities`` (the
    scores mapped through a calibration curve fitted where labels are known). The metrics are those of the
    scores, as the realised ones are: ranked by ``s_i``, decided at ``s_i >= threshold``, with log loss and
    Brier of ``s_i``. Then:

    - ``roc_auc`` = E[concordant pairs] / E[positive-negative pairs]
      = sum_{i != j} p_i (1 - p_j) ([s_i > s_j] + [s_i = s_j] / 2) / sum_{i != j} p_i (1 - p_j).
      Sorted by score and grouped by equal score (group g: ``m_g`` = sum of p, ``q_g`` = sum of 1 - p,
      ``v_g`` = sum of p (1 - p)), the numerator is sum_g m_g Q_below(g) + (m_g q_g - v_g) / 2 and the
      denominator is M Q - V over all rows: one sort and cumulative sums, O(n log n), never O(n^2).
    - ``pr_auc`` (average precision, tied scores one threshold as in scikit-learn):
      E[sum_g Y_g TP_g / N_g] / E[P], with TP_g the positives scored at or above g and N_g the rows there;
      E[Y_g TP_g] = v_g + m_g^2 + m_g A_g (A_g: the sum of p strictly above g).
    - ``log_loss`` = mean of -(p log s' + (1 - p) log(1 - s')) with s' clipped to [eps, 1 - eps];
      ``brier`` = mean of p (1 - s)^2 + (1 - p) s^2; ``normalized_entropy`` = expected log loss / entropy(mean p).
    - with C the rows where s >= threshold: ``accuracy`` = mean of p on C and 1 - p elsewhere;
      ``precision`` = sum_C p / |C| (0 when C is empty); ``recall`` = sum_C p / sum p;
      ``f1`` = 2 sum_C p / (|C| + sum p).

    Log loss, Brier, accuracy and precision are exact expectations; ROC AUC, average precision, recall, F1
    and normalized entropy are ratios of expectations, which approach the expected ratio as rows grow.
    Undefined values are NaN (ROC AUC of fewer than two rows, recall without any expected positive).

    Three rows: the pairs (0.5 over 0.2), (0.8 over 0.2), (0.8 over 0.5) weigh 0.4 + 0.64 + 0.4 = 1.44 of
    1.5 * 1.5 - (0.16 + 0.25 + 0.16) = 1.68, so the expected AUC is 6/7:

    >>> e = estimate_binary(np.array([0.2, 0.5, 0.8]))
    >>> round(e["roc_auc"], 6), round(1.44 / 1.68, 6), round(e["brier"], 4), round(e["accuracy"], 4)
    (0.857143, 0.857143, 0.19, 0.7)
    """
    s = _probabilities(scores, "scores")
    p = s if probabilities is None else _probabilities(probabilities, "probabilities")
    if p.shape != s.shape:
        raise MonitoringError(f"estimate_binary: {len(p)} probabilities for {len(s)} scores; give one per score")
    n = len(s)
    nan = float("nan")
    if n == 0:
        return dict.fromkeys(("roc_auc", "pr_auc", "log_loss", "brier", "normalized_entropy", "accuracy",
                              "precision", "recall", "f1"), nan)
    order = np.argsort(s, kind="stable")
    ordered, prob = s[order], p[order]
    new = np.ones(n, dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(new)
    m = np.add.reduceat(prob, starts)                          # expected positives per tie group
    count = np.diff(np.append(starts, n)).astype(np.float64)
    q = np.add.reduceat(1.0 - prob, starts)                    # expected negatives per tie group
    v = np.add.reduceat(prob * (1.0 - prob), starts)           # variance of the group's positives
    total_m, total_q, total_v = float(m.sum()), float(q.sum()), float(v.sum())
    below = np.concatenate([[0.0], np.cumsum(q)[:-1]])         # expected negatives strictly below each group
    pairs = total_m * total_q - total_v
    auc = float((m * below).sum() + 0.5 * (m * q - v).sum()) / pairs if pairs > 0 else nan
    above = np.concatenate([np.cumsum(m[::-1])[::-1][1:], [0.0]])  # expected positives strictly above each group
    at_or_above = n - (np.cumsum(count) - count)
    ap = float(((v + m * m + m * above) / at_or_above).sum()) / total_m if total_m > 0 else nan
    clipped = np.clip(s, _EPS, 1.0 - _EPS)
    log_loss = float(np.mean(-(p * np.log(clipped) + (1.0 - p) * np.log(1.0 - clipped))))
    rate = total_m / n
    entropy = -(rate * math.log(rate) + (1.0 - rate) * math.log(1.0 - rate)) if 0.0 < rate < 1.0 else nan
    chosen = s >= threshold
    n_chosen = int(chosen.sum())
    tp = float(p[chosen].sum())
    return {
        "roc_auc": auc,
        "pr_auc": ap,
        "log_loss": log_loss,
        "brier": float(np.mean(p * (1.0 - s) ** 2 + (1.0 - p) * s**2)),
        "normalized_entropy": log_loss / entropy,
        "accuracy": float(np.where(chosen, p, 1.0 - p).mean()),
        "precision": tp / n_chosen if n_chosen else 0.0,
        "recall": tp / total_m if total_m > 0 else nan,
        "f1": 2.0 * tp / (n_chosen + total_m) if n_chosen + total_m > 0 else 0.0,
    }


def _probabilities(values: np.ndarray, what: str) -> np.ndarray:
    p = np.asarray(values, dtype=np.float64)
    if p.ndim != 1 or not np.isfinite(p).all() or (p.size and (p.min() < 0.0 or p.max() > 1.0)):
        shown = f", from {np.nanmin(p):.4g} to {np.nanmax(p):.4g}" if p.size and not np.isnan(p).all() else ""
        raise MonitoringError(f"the {what} must be a 1-d array of probabilities in [0, 1] without NaN; got shape "
                              f"{p.shape}{shown}")
    return p


def estimate_ranking(scores: np.ndarray, groups: np.ndarray, *, probabilities: np.ndarray | None = None,
                     k: int = 10) -> float:
    """Expected NDCG@k of ``scores`` when each item is relevant (gain 1) with probability ``p_i``, independently.

    ``p_i`` is the score itself (scores in [0, 1] taken as expected gains), or ``probabilities`` (the scores
    mapped through a calibration curve fitted where relevance is known). Within a query,
    items are ranked by score, tied items sharing the average discount of their block (``d_i``, 0 beyond
    the top k), as ``loopline.evaluation`` does. With binary gains the ideal DCG depends only on the number
    ``R`` of relevant items: IDCG(R) = sum_{r < min(R, k)} 1 / log2(r + 2). So, exactly,

        E[NDCG 1{R >= 1}] = sum_i d_i p_i E[1 / IDCG(1 + R_-i)],

    where ``R_-i`` counts the relevant items other than i: a Poisson-binomial whose distribution (capped at
    k, beyond which IDCG stops growing) comes from the items before i and after i by dynamic programming,
    O(n k^2) in all. The realised NDCG averages over the queries with a relevant item, so the estimate is
    sum_q E[NDCG_q 1{R_q >= 1}] / sum_q P(R_q >= 1) (a ratio of expectations over queries). NaN when no item
    can be relevant.

    One query of two items, relevant with probabilities 0.5 (ranked first) and 0.2: relevance (1, 0) has
    probability 0.4 and NDCG 1, (0, 1) 0.1 and NDCG 1/log2(3), (1, 1) 0.1 and NDCG 1, so given a relevant
    item the expected NDCG is (0.4 + 0.1 / log2(3) + 0.1) / 0.6:

    >>> round(estimate_ranking(np.array([0.5, 0.2]), np.array(["q", "q"])), 6)
    0.938488
    >>> round(float((0.4 + 0.1 / np.log2(3) + 0.1) / 0.6), 6)
    0.938488
    """
    s = np.asarray(scores, dtype=np.float64)
    p = _probabilities(s if probabilities is None else probabilities,
                       "scores" if probabilities is None else "probabilities")
    if s.shape != p.shape or not np.isfinite(s).all():
        raise MonitoringError(f"estimate_ranking: give {len(p)} finite scores, one per probability; got shape "
                              f"{s.shape}")
    if k < 1:
        raise MonitoringError(f"k must be a positive number of items, got {k}")
    if len(p) == 0:
        return float("nan")
    query = np.asarray(pd.factorize(pd.Series(np.asarray(groups), copy=False), use_na_sentinel=False)[0],
                       dtype=np.intp)
    order = np.lexsort((-s, query))
    qs, ss, ps = query[order], s[order], p[order]
    cuts = np.flatnonzero(np.r_[True, qs[1:] != qs[:-1]])     # where each query starts
    numerator = relevant = 0.0
    chunks = len(qs) // _RANKING_CHUNK + 1                     # whole queries per pass, about equal in items
    bounds = [*cuts[::max(1, math.ceil(len(cuts) / chunks))], len(qs)]
    for lo, hi in pairwise(bounds):
        part_numerator, part_relevant = _ranking_chunk(qs[lo:hi] - qs[lo], ss[lo:hi], ps[lo:hi], k)
        numerator += part_numerator
        relevant += part_relevant
    return numerator / relevant if relevant > 0 else float("nan")


_RANKING_CHUNK = 100_000  # items per pass of estimate_ranking (memory: a few arrays of items x (k + 1))


def _ranking_chunk(query: np.ndarray, s: np.ndarray, p: np.ndarray, k: int) -> tuple[float, float]:
    """sum_q E[NDCG_q 1{R_q >= 1}] and sum_q P(R_q >= 1) for whole queries, sorted by query then score ``s``."""
    n_queries = int(query[-1]) + 1
    first = np.searchsorted(query, np.arange(n_queries))
    size = np.diff(np.append(first, len(query)))
    position = np.arange(len(query)) - first[query]
    discount = np.where(position < k, 1.0 / np.log2(position + 2.0), 0.0)
    new_block = np.ones(len(query), dtype=bool)
    new_block[1:] = (query[1:] != query[:-1]) | (s[1:] != s[:-1])
    block = np.cumsum(new_block) - 1
    d = (np.bincount(block, weights=discount) / np.bincount(block))[block]
    before = _relevant_counts(query, p, position, n_queries, k)            # items ranked above each item
    after = _relevant_counts(query, p, size[query] - 1 - position, n_queries, k)  # and below it
    others = np.zeros_like(before)                                       # the other items: both, capped at k
    for a in range(k + 1):
        for b in range(k + 1 - a):
            others[:, min(a + b, k)] += before[:, a] * after[:, b]
        others[:, k] += before[:, a] * after[:, k + 1 - a:].sum(axis=1)
    ideal = np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))                  # IDCG(1), ..., IDCG(k)
    inverse = 1.0 / ideal[np.minimum(np.arange(k + 1), k - 1)]           # 1 / IDCG(1 + r) for r = 0..k
    numerator = float((d * p * (others @ inverse)).sum())
    none = np.exp(np.bincount(query, weights=np.log1p(-np.minimum(p, 1.0 - _EPS)), minlength=n_queries))
    certain = np.bincount(query, weights=(p >= 1.0).astype(np.float64), minlength=n_queries) > 0
    relevant = float(np.where(certain, 1.0, 1.0 - none).sum())
    return numerator, relevant


def _relevant_counts(query: np.ndarray, p: np.ndarray, step: np.ndarray, n_queries: int, k: int) -> np.ndarray:
    """For each item, the distribution (0..k, the last cell "k or more") of relevant items among the items of its
    query with a smaller ``step``: one pass over steps, updating every query at once."""
    out = np.zeros((len(p), k + 1))
    state = np.zeros((n_queries, k + 1))
    state[:, 0] = 1.0
    for j in range(int(step.max()) + 1):
        at = np.flatnonzero(step == j)
        rows, pj = query[at], p[at][:, None]
        current = state[rows]
        out[at] = current
        moved = current * (1.0 - pj)
        moved[:, 1:] += current[:, :-1] * pj
        moved[:, k] += current[:, k] * pj[:, 0]
        state[rows] = moved
    return out
