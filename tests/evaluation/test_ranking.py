"""Ranking metrics per query against scikit-learn and brute force over tie orders, and the queries left out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest
from sklearn import metrics as skm

from loopline._errors import EvaluationError
from loopline.evaluation import compute_metrics
from loopline.evaluation._ranking import RankingScorer, per_query, query_ids


def _queries(seed: int, n_queries: int = 60, graded: bool = False, ties: bool = False, max_items: int = 9
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_items, n_queries)
    groups = np.repeat([f"q{i}" for i in range(n_queries)], sizes)
    score = rng.random(len(groups))
    if ties:
        score = np.round(score * 3) / 3
    relevance = rng.integers(0, 5, len(groups)) * (rng.random(len(groups)) < 0.5)
    if not graded:
        relevance = (relevance > 0).astype(int)
    order = rng.permutation(len(groups))  # rows of a query need not be contiguous
    return relevance[order], score[order], groups[order]


def _by_query(relevance: np.ndarray, score: np.ndarray, groups: np.ndarray
              ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for g in dict.fromkeys(groups):
        rows = groups == g
        yield relevance[rows], score[rows]


def _counts(r: np.ndarray) -> bool:
    """Whether a query carries ranking information: more than one item, not all of the same relevance."""
    return len(r) > 1 and r.max() > r.min()


def _tie_orders(s: np.ndarray) -> Iterator[tuple[int, ...]]:
    """Every order of the items consistent with the scores (ties in any order)."""
    for perm in itertools.permutations(range(len(s))):
        if all(s[perm[i]] >= s[perm[i + 1]] for i in range(len(perm) - 1)):
            yield perm


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gain", ["exponential", "linear"])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_per_query_equals_sklearn_on_the_gain_with_ties(seed: int, gain: str, k: int) -> None:
    """The acceptance test: per query, sklearn's ndcg_score on 2**rel - 1 (or rel) within 1e-12, ties included."""
    rel, score, groups = _queries(seed, n_queries=80, graded=True, ties=seed % 2 == 0)
    query = query_ids(groups)
    found = per_query(rel, score, query, ks=[k], gain=gain)  # type: ignore[arg-type]
    compared = 0
    for q in range(int(query.max()) + 1):
        r, s = rel[query == q], score[query == q]
        if not _counts(r):
            assert np.isnan(found.ndcg["ndcg"][q]) and not found.ranked[q]
            continue
        g = 2.0 ** r - 1 if gain == "exponential" else r.astype(float)
        assert found.ndcg["ndcg"][q] == pytest.approx(skm.ndcg_score([g], [s], k=k), abs=1e-12, rel=0)
        compared += 1
    assert compared > 30


def test_the_mean_is_over_the_queries_that_count_and_other_k_add_keys() -> None:
    rel, score, groups = _queries(11, graded=True, ties=True)
    m = compute_metrics("ranking", rel, score, groups=groups, k=[10, 3, 1])
    for k, key in [(10, "ndcg"), (3, "ndcg@3"), (1, "ndcg@1")]:
        expected = [skm.ndcg_score([2.0 ** r - 1], [s], k=k) for r, s in _by_query(rel, score, groups) if _counts(r)]
        assert m[key] == pytest.approx(np.mean(expected), abs=1e-12)
    assert list(m) == ["ndcg", "map", "mrr", "ndcg@3", "ndcg@1"]


def test_exponential_and_linear_gain_differ_on_graded_labels() -> None:
    """The issue's example in small: the linear gain flatters a ranker that puts grade 1 over grade 3."""
    rel, score, groups = np.array([3, 1, 0]), np.array([0.1, 0.9, 0.5]), np.zeros(3)
    exp = compute_metrics("ranking", rel, score, groups=groups)["ndcg"]
    lin = compute_metrics("ranking", rel, score, groups=groups, gain="linear")["ndcg"]
    assert exp == pytest.approx(skm.ndcg_score([[7, 1, 0]], [score]), abs=1e-12)
    assert lin == pytest.approx(skm.ndcg_score([rel], [score]), abs=1e-12)
    assert exp < lin


@pytest.mark.parametrize("relevant_at", [None, 1.0, 3.0])
def test_map_with_ties_is_the_expectation_over_tie_orders(relevant_at: float | None) -> None:
    """Brute force: the mean of precision@rank over relevant items, averaged over every order of tied items."""
    rel, score, groups = _queries(3, n_queries=40, graded=True, ties=True, max_items=7)
    threshold = rel.max() if relevant_at is None else relevant_at
    expected_ap, expected_rr = [], []
    for r, s in _by_query(rel, score, groups):
        relevant = r >= threshold
        if not _counts(r) or not relevant.any():
            continue
        aps, rrs = [], []
        for perm in _tie_orders(s):
            ranked = relevant[list(perm)]
            hits = np.flatnonzero(ranked)
            aps.append(np.mean([ranked[: i + 1].sum() / (i + 1) for i in hits]))
            rrs.append(1.0 / (hits[0] + 1))
        expected_ap.append(np.mean(aps))
        expected_rr.append(np.mean(rrs))
    m = compute_metrics("ranking", rel, score, groups=groups, relevant_at=relevant_at)
    assert m["map"] == pytest.approx(np.mean(expected_ap), abs=1e-12)
    assert m["mrr"] == pytest.approx(np.mean(expected_rr), abs=1e-12)


@pytest.mark.parametrize("relevant_at", [None, 2.0])
def test_map_without_ties_is_sklearn_average_precision(relevant_at: float | None) -> None:
    rel, score, groups = _queries(1, graded=True)
    threshold = rel.max() if relevant_at is None else relevant_at
    expected = [skm.average_precision_score(r >= threshold, s) for r, s in _by_query(rel, score, groups)
                if _counts(r) and (r >= threshold).any()]
    m = compute_metrics("ranking", rel, score, groups=groups, relevant_at=relevant_at)
    assert m["map"] == pytest.approx(np.mean(expected), abs=1e-12)


def test_large_tied_blocks_stay_exact() -> None:
    """A constant scorer over 500 items with 3 relevant: E[1/rank] from the closed form, E[AP] by simulation."""
    rel = np.zeros(500)
    rel[[7, 100, 300]] = 1
    m = compute_metrics("ranking", rel, np.zeros(500), groups=np.zeros(500))
    ranks = np.arange(1, 499)
    prob = (500 - ranks) * (499 - ranks) / (500 * 499 * 498 / 3)  # P(first relevant at rank j)
    assert prob.sum() == pytest.approx(1.0)
    assert m["mrr"] == pytest.approx(float((prob / ranks).sum()), abs=1e-12)
    rng = np.random.default_rng(0)
    aps = []
    for _ in range(4000):
        hits = np.sort(rng.choice(500, 3, replace=False)) + 1
        aps.append(np.mean(np.arange(1, 4) / hits))
    assert m["map"] == pytest.approx(np.mean(aps), abs=4 * np.std(aps) / np.sqrt(len(aps)))


def test_relevance_threshold_defaults_to_the_top_grade() -> None:
    """Graded 0..4: only grade-4 items are relevant by default, so a query without one is left out of map/mrr."""
    rel = np.array([4, 1, 0, 2, 1, 0])
    score = np.array([0.1, 0.9, 0.5, 0.9, 0.2, 0.1])
    groups = np.array([1, 1, 1, 2, 2, 2])
    scorer = RankingScorer(rel, score, groups)
    assert scorer.relevant_at == 4.0
    m = scorer.compute()
    assert m["map"] == pytest.approx(1 / 3) and m["mrr"] == pytest.approx(1 / 3)
    assert scorer.excluded == {"single item": 0, "all equal relevance": 0, "nothing relevant": 1}
    at_one = RankingScorer(rel, score, groups, relevant_at=1).compute()
    assert at_one["mrr"] == pytest.approx(1.0)
    assert at_one["map"] == pytest.approx(np.mean([(1 + 2 / 3) / 2, 1.0]))


def test_queries_without_ranking_information_are_left_out_and_counted() -> None:
    rel, score, groups = _queries(4, graded=True)
    base = RankingScorer(rel, score, groups)
    extra_rel = np.r_[rel, [2], [1, 1, 1], [0, 0], [1, 2, 0]]
    extra_score = np.r_[score, [0.3], [0.1, 0.2, 0.3], [0.4, 0.5], [0.9, 0.1, 0.2]]
    extra_groups = np.r_[groups, ["one"], ["same"] * 3, ["zero"] * 2, ["low"] * 3]
    scorer = RankingScorer(extra_rel, extra_score, extra_groups, relevant_at=base.relevant_at)
    before = base.excluded
    assert scorer.excluded == {"single item": before["single item"] + 1,
                               "all equal relevance": before["all equal relevance"] + 2,
                               "nothing relevant": before["nothing relevant"] + 1}
    assert scorer.units == base.units + 4
    assert scorer.compute()["ndcg"] != pytest.approx(base.compute()["ndcg"])  # "low" counts for ndcg ...
    low = [2 ** 1 - 1 + 0.0, 2 ** 2 - 1, 0]
    assert scorer.queries.ndcg["ndcg"][-1] == pytest.approx(skm.ndcg_score([low], [[0.9, 0.1, 0.2]]))
    assert scorer.compute()["map"] == pytest.approx(base.compute()["map"], abs=1e-12)  # ... not for map (4 > 2)
    singles = sum(1 for r, _ in _by_query(rel, score, groups) if len(r) == 1)
    assert before["single item"] == singles > 0


def test_a_constant_scorer_gets_the_mean_over_all_orders() -> None:
    """What the random baseline relies on: ties make every metric the expectation over all orders."""
    rel = np.array([3, 0, 1, 0, 2, 0])
    groups = np.zeros(6)
    m = compute_metrics("ranking", rel, np.full(6, 0.5), groups=groups, k=[3, 6], relevant_at=1)
    by_order: dict[str, list[float]] = {"ndcg": [], "ndcg@6": [], "map": [], "mrr": []}
    for perm in itertools.permutations(range(6)):
        score = np.empty(6)
        score[list(perm)] = -np.arange(6.0)  # item perm[i] at rank i
        one = compute_metrics("ranking", rel, score, groups=groups, k=[3, 6], relevant_at=1)
        for key, values in by_order.items():
            values.append(one[key])
    for key, values in by_order.items():
        assert m[key] == pytest.approx(np.mean(values), abs=1e-12)


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
    a = compute_metrics("ranking", rel, score, groups=groups, k=[5, 2])
    b = compute_metrics("ranking", rel[order], score[order], groups=renamed[order], k=[5, 2])
    assert b == pytest.approx(a, abs=1e-12)


def test_query_weights_equal_repeated_queries() -> None:
    rel, score, groups = _queries(7, n_queries=30, graded=True, ties=True)
    scorer = RankingScorer(rel.astype(float), score, groups, relevant_at=2)
    weights = np.random.default_rng(1).poisson(1.0, scorer.units).astype(float)
    names = list(dict.fromkeys(groups))  # query i is the i-th distinct group in row order
    rows = np.concatenate([np.flatnonzero(groups == g) for g, w in zip(names, weights, strict=True)
                           for _ in range(int(w))])
    copies = np.concatenate([[f"{g}#{c}"] * int((groups == g).sum()) for g, w in zip(names, weights, strict=True)
                             for c in range(int(w))])
    repeated = compute_metrics("ranking", rel[rows], score[rows], groups=copies, relevant_at=2)
    assert scorer.compute(weights) == pytest.approx(repeated, abs=1e-12)


def test_ranking_inputs_are_checked() -> None:
    with pytest.raises(EvaluationError, match="need groups: the query"):
        compute_metrics("ranking", np.array([0, 1]), np.array([0.2, 0.4]))
    with pytest.raises(EvaluationError, match="no query of the data has a relevant item"):
        compute_metrics("ranking", np.array([0, 0]), np.array([0.2, 0.4]), groups=np.array([1, 1]))
    with pytest.raises(EvaluationError, match="must be >= 0"):
        compute_metrics("ranking", np.array([-1, 1]), np.array([0.2, 0.4]), groups=np.array([1, 1]))
    with pytest.raises(EvaluationError, match="k must be a positive number of items, got 5, 0"):
        compute_metrics("ranking", np.array([0, 1]), np.array([0.2, 0.4]), groups=np.array([1, 1]), k=[5, 0])
    with pytest.raises(EvaluationError, match="relevant_at must be above 0"):
        compute_metrics("ranking", np.array([0, 1]), np.array([0.2, 0.4]), groups=np.array([1, 1]), relevant_at=0)
    with pytest.raises(EvaluationError, match="gain must be 'exponential' or 'linear', got 'log'"):
        compute_metrics("ranking", np.array([0, 1]), np.array([0.2, 0.4]), groups=np.array([1, 1]),
                        gain="log")  # type: ignore[arg-type]


def test_module_examples() -> None:
    import doctest

    from loopline.evaluation import _ranking

    assert doctest.testmod(_ranking).failed == 0
