"""Ranking metrics per query against scikit-learn and naive loops, including tied scores."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn import metrics as skm

from loopline._errors import EvaluationError
from loopline.evaluation import compute_metrics
from loopline.evaluation._ranking import RankingScorer


def _queries(seed: int, n_queries: int = 60, graded: bool = False, ties: bool = False, max_items: int = 9
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_items, n_queries)
    groups = np.repeat([f"q{i}" for i in range(n_queries)], sizes)
    score = rng.random(len(groups))
    if ties:
        score = np.round(score * 3) / 3
    relevance = rng.integers(0, 4, len(groups)) * (rng.random(len(groups)) < 0.4)
    if not graded:
        relevance = (relevance > 0).astype(int)
    order = rng.permutation(len(groups))  # rows of a query need not be contiguous
    return relevance[order], score[order], groups[order]


def _by_query(relevance: np.ndarray, score: np.ndarray, groups: np.ndarray):  # type: ignore[no-untyped-def]
    for g in dict.fromkeys(groups):
        rows = groups == g
        yield relevance[rows], score[rows]


@pytest.mark.parametrize("graded", [False, True])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("k", [3, 10])
def test_ndcg_is_the_mean_of_sklearn_ndcg_per_query(graded: bool, ties: bool, k: int) -> None:
    rel, score, groups = _queries(0, graded=graded, ties=ties)
    expected = [skm.ndcg_score([r], [s], k=k) if len(r) > 1 else 1.0
                for r, s in _by_query(rel, score, groups) if r.sum() > 0]
    m = compute_metrics("ranking", rel, score, groups=groups, k=k)
    assert m["ndcg"] == pytest.approx(np.mean(expected), abs=1e-9)


@pytest.mark.parametrize("ties", [False, True])
def test_map_is_the_mean_of_sklearn_average_precision_per_query(ties: bool) -> None:
    rel, score, groups = _queries(1, graded=True, ties=ties)
    expected = [skm.average_precision_score(r > 0, s) for r, s in _by_query(rel, score, groups) if r.sum() > 0]
    assert compute_metrics("ranking", rel, score, groups=groups)["map"] == pytest.approx(np.mean(expected), abs=1e-9)


def test_map_and_mrr_equal_plain_loops_without_ties() -> None:
    rel, score, groups = _queries(2)
    aps, rrs = [], []
    for r, s in _by_query(rel, score, groups):
        if r.sum() == 0:
            continue
        ranked = r[np.argsort(-s)]
        hits = np.flatnonzero(ranked > 0)
        aps.append(np.mean([(ranked[: i + 1] > 0).sum() / (i + 1) for i in hits]))
        rrs.append(1.0 / (hits[0] + 1))
    m = compute_metrics("ranking", rel, score, groups=groups)
    assert m["map"] == pytest.approx(np.mean(aps), abs=1e-12)
    assert m["mrr"] == pytest.approx(np.mean(rrs), abs=1e-12)


def test_mrr_with_ties_is_the_expectation_over_tie_orders() -> None:
    """Oracle: average 1/rank over every order of the items consistent with the scores."""
    rel, score, groups = _queries(3, n_queries=40, ties=True, max_items=7)
    expected = []
    for r, s in _by_query(rel, score, groups):
        if r.sum() == 0:
            continue
        reciprocal = []
        for perm in itertools.permutations(range(len(r))):
            if all(s[perm[i]] >= s[perm[i + 1]] for i in range(len(perm) - 1)):
                first = next(i for i, item in enumerate(perm) if r[item] > 0)
                reciprocal.append(1.0 / (first + 1))
        expected.append(np.mean(reciprocal))
    assert compute_metrics("ranking", rel, score, groups=groups)["mrr"] == pytest.approx(np.mean(expected), abs=1e-9)


def test_large_tied_blocks_stay_exact() -> None:
    """A constant scorer over 500 items with 3 relevant: E[1/rank] from the closed form."""
    rel = np.zeros(500)
    rel[[7, 100, 300]] = 1
    m = compute_metrics("ranking", rel, np.zeros(500), groups=np.zeros(500))
    ranks = np.arange(1, 499)
    prob = (500 - ranks) * (499 - ranks) / (500 * 499 * 498 / 3)  # P(first relevant at rank j)
    assert prob.sum() == pytest.approx(1.0)
    assert m["mrr"] == pytest.approx(float((prob / ranks).sum()), abs=1e-9)
    assert m["map"] == pytest.approx(3 / 500)


def test_queries_without_relevant_items_are_left_out() -> None:
    rel, score, groups = _queries(4)
    extra = np.array(["empty"] * 4)
    with_empty = compute_metrics("ranking", np.r_[rel, np.zeros(4)], np.r_[score, np.ones(4)],
                                 groups=np.r_[groups, extra], names=["ndcg", "map", "mrr"])
    assert with_empty == pytest.approx(compute_metrics("ranking", rel, score, groups=groups,
                                                       names=["ndcg", "map", "mrr"]), abs=1e-12)


def test_binary_labels_add_item_level_auc_and_log_loss() -> None:
    rel, score, groups = _queries(5)
    m = compute_metrics("ranking", rel, score, groups=groups)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(rel, score), abs=1e-9)
    assert m["log_loss"] == pytest.approx(skm.log_loss(rel, score), abs=1e-9)
    graded = compute_metrics("ranking", rel * 2, score, groups=groups)
    assert set(graded) == {"ndcg", "map", "mrr"}
    unbounded = compute_metrics("ranking", rel, score * 10, groups=groups)
    assert "log_loss" not in unbounded and "roc_auc" in unbounded


@pytest.mark.parametrize("ties", [False, True])
def test_row_order_and_query_names_do_not_matter(ties: bool) -> None:
    rel, score, groups = _queries(6, graded=True, ties=ties)
    order = np.random.default_rng(0).permutation(len(rel))
    renamed = np.array([g.upper() + "x" for g in groups])
    a = compute_metrics("ranking", rel, score, groups=groups)
    assert compute_metrics("ranking", rel[order], score[order], groups=renamed[order]) == pytest.approx(a, abs=1e-12)


def test_query_weights_equal_repeated_queries() -> None:
    rel, score, groups = _queries(7, n_queries=30)
    scorer = RankingScorer(rel.astype(float), score, groups)
    weights = np.random.default_rng(1).poisson(1.0, scorer.units).astype(float)
    names = list(dict.fromkeys(groups))  # query i is the i-th distinct group in row order
    rows = np.concatenate([np.flatnonzero(groups == g) for g, w in zip(names, weights, strict=True)
                           for _ in range(int(w))])
    copies = np.concatenate([[f"{g}#{c}"] * int((groups == g).sum()) for g, w in zip(names, weights, strict=True)
                             for c in range(int(w))])
    repeated = compute_metrics("ranking", rel[rows], score[rows], groups=copies)
    assert scorer.compute(weights) == pytest.approx(repeated, abs=1e-12)


def test_ranking_needs_groups_and_a_relevant_item() -> None:
    with pytest.raises(EvaluationError, match="need groups: the query"):
        compute_metrics("ranking", np.array([0, 1]), np.array([0.2, 0.4]))
    with pytest.raises(EvaluationError, match="no query of the data has a relevant item"):
        compute_metrics("ranking", np.array([0, 0]), np.array([0.2, 0.4]), groups=np.array([1, 1]))
    with pytest.raises(EvaluationError, match="must be >= 0"):
        compute_metrics("ranking", np.array([-1, 1]), np.array([0.2, 0.4]), groups=np.array([1, 1]))
