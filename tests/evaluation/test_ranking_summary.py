"""``evaluate`` on a ranking task: the metric labels, the queries left out, NDCG at each k, paired differences."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from loopline.evaluation import compute_metrics, evaluate
from loopline.evaluation._ranking import RankingScorer
from loopline.evaluation._ranking_summary import MAX_STORED, summarize_ranking
from tests.evaluation.fakes import FakeModel, make_spec, sigmoid


def _frame(n_queries: int = 101, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 10, n_queries)
    query = np.repeat(np.arange(n_queries), sizes)
    quality = rng.normal(size=len(query))
    rel = np.clip(np.round(quality + rng.normal(0, 0.8, len(query))), 0, 3)
    rel[query < 4] = 1  # four queries whose items all have the same relevance
    return pd.DataFrame({"query": query, "quality": quality, "device": rng.choice(["ios", "web"], len(query)),
                         "ts": pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(query, unit="h"), "label": rel})


def _by_query(frame: pd.DataFrame, score: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(frame["label"].to_numpy()[rows], score[rows]) for rows in frame.groupby("query").indices.values()]


def test_ranking_evaluation_labels_counts_and_pairs() -> None:
    frame = _frame()
    model = FakeModel("rank", lambda f: sigmoid(f["quality"].to_numpy()), task="ranking", coef={"quality": 1.0})
    noisy = FakeModel("noisy", lambda f: f["quality"].to_numpy() + np.random.default_rng(3).normal(0, 2, len(f)),
                      task="ranking")
    constant = FakeModel("constant", lambda f: np.full(len(f), 0.5), task="ranking", is_baseline=True)
    spec = make_spec("ranking", metrics={"k": [10, 5, 1]})
    found = evaluate(model, frame, spec, label="label", time="ts", others=[noisy, constant], n_boot=60)

    assert found.metric_labels == {"ndcg": "ndcg@10 (exp gain)", "ndcg@5": "ndcg@5 (exp gain)",
                                   "ndcg@1": "ndcg@1 (exp gain)", "map": "map (relevant >= 3)",
                                   "mrr": "mrr (relevant >= 3)"}
    summary = found.ranking
    assert summary is not None and summary.queries == 101
    pairs = _by_query(frame, model.predict(frame))
    singles = sum(len(r) == 1 for r, _ in pairs)
    equal = sum(len(r) > 1 and r.min() == r.max() for r, _ in pairs)
    nothing = sum(len(r) > 1 and r.min() < r.max() and r.max() < 3 for r, _ in pairs)
    assert summary.excluded == {"single item": singles, "all equal relevance": equal, "nothing relevant": nothing}
    assert singles > 0 and equal >= 4 and nothing > 0
    assert summary.evaluated == {"ndcg": 101 - singles - equal, "map": 101 - singles - equal - nothing,
                                 "mrr": 101 - singles - equal - nothing}

    counted = [(r, s) for r, s in pairs if len(r) > 1 and r.min() < r.max()]
    expected = [np.mean([skm.ndcg_score([2.0 ** r - 1], [s], k=k) for r, s in counted]) for k in (10, 5, 1)]
    assert summary.ndcg_at_k["rank"] == pytest.approx(expected, abs=1e-12)
    assert [found.metrics[key] for key in ("ndcg", "ndcg@5", "ndcg@1")] == pytest.approx(expected, abs=1e-12)
    assert sorted(summary.query_ndcg) == pytest.approx(sorted(skm.ndcg_score([2.0 ** r - 1], [s], k=10)
                                                              for r, s in counted))
    sizes = frame.groupby("query").size().value_counts()
    assert summary.query_sizes == sorted((int(s), int(c)) for s, c in sizes.items())

    by_name = {d.other: d for d in summary.differences}
    assert set(by_name) == {"noisy", "constant"}
    constant_ndcg = [skm.ndcg_score([2.0 ** r - 1], [np.full(len(r), 0.5)], k=10) for r, _ in counted]
    pair = by_name["constant"]
    assert pair.mean == pytest.approx(expected[0] - np.mean(constant_ndcg), abs=1e-12)
    assert pair.queries == summary.evaluated["ndcg"] and pair.role == "baseline" and pair.metric == "ndcg"
    assert pair.low is not None and pair.high is not None and pair.low < pair.mean < pair.high
    assert pair.won + pair.tied + pair.lost == pytest.approx(1.0)

    twin = json.loads(json.dumps(found.to_dict()))
    assert twin["ranking"]["excluded"] == summary.excluded and twin["ranking"]["queries"] == 101
    assert twin["metric_labels"]["ndcg"] == "ndcg@10 (exp gain)"


def test_the_relevance_threshold_and_gain_come_from_the_spec() -> None:
    frame = _frame(seed=1)
    model = FakeModel("rank", lambda f: sigmoid(f["quality"].to_numpy()), task="ranking")
    spec = make_spec("ranking", metrics={"gain": "linear", "relevant_at": 2, "primary": "map"})
    found = evaluate(model, frame, spec, label="label", time="ts", n_boot=0)
    assert found.metric_labels["ndcg"] == "ndcg@10 (linear gain)"
    assert found.metric_labels["map"] == "map (relevant >= 2)"
    expected = compute_metrics("ranking", frame["label"].to_numpy(), model.predict(frame),
                               groups=frame["query"].to_numpy(), gain="linear", relevant_at=2)
    assert found.metrics == pytest.approx(expected, abs=1e-12)
    assert found.ranking is not None and found.ranking.relevant_at == 2.0 and found.ranking.differences == []


def test_stored_per_query_ndcg_is_capped() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(3000), 3)
    rel = rng.integers(0, 3, len(groups))
    scorer = RankingScorer(rel, rng.random(len(groups)), groups)
    summary = summarize_ranking({"m": ("model", scorer)}, model="m", primary="ndcg", n_boot=0)
    assert len(summary.query_ndcg) == MAX_STORED and summary.query_ndcg_total == int(scorer.queries.ranked.sum())
    full = np.sort(scorer.queries.ndcg["ndcg"][scorer.queries.ranked])
    assert summary.query_ndcg[0] == full[0] and summary.query_ndcg[-1] == full[-1]
