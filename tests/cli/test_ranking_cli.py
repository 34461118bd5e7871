"""``loopline train`` for a ranker: the table names each metric exactly and says which queries were left out."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from loopline.cli import _show
from loopline.data import SplitSummary
from loopline.evaluation import RankingSummary


def test_the_training_table_labels_ranking_metrics_and_counts_queries(capsys: pytest.CaptureFixture[str]) -> None:
    splits = tuple(SplitSummary(name=n, rows=100, start="2024-01-01T00:00:00", end="2024-02-01T00:00:00",
                                label_rate=1.2, queries=q) for n, q in (("train", 300), ("valid", 90), ("test", 101)))
    summary = RankingSummary(queries=101, excluded={"single item": 12, "all equal relevance": 0, "nothing relevant": 0},
                             evaluated={"ndcg": 89, "map": 89, "mrr": 89}, gain="exponential", relevant_at=2.0,
                             ks=[10], ndcg_at_k={}, query_ndcg=[], query_ndcg_total=0, query_sizes=[])
    metrics = {"ndcg": 0.768, "map": 0.5, "mrr": 0.6}
    labels = {"ndcg": "ndcg@10 (exp gain)", "map": "map (relevant >= 2)", "mrr": "mrr (relevant >= 2)"}
    outcome = SimpleNamespace(
        evaluation=SimpleNamespace(task="ranking", primary_metric="ndcg", metric_labels=labels, ranking=summary,
                                   split="test"),
        splits=splits, models=[SimpleNamespace(name="lightgbm", family="lightgbm", is_baseline=False, test=metrics)],
        best="lightgbm", trained={}, warnings=[], promoted=True, model_name="search",
        version=SimpleNamespace(version=1), report=SimpleNamespace(html=Path("report.html")))
    _show.show_training(outcome)  # type: ignore[arg-type]
    text = capsys.readouterr().out
    flat = " ".join(text.split())
    for label in labels.values():
        assert label in flat
    assert "12 of 101 test queries excluded: single item." in flat
    assert "queries" in flat and "101" in flat
    assert "primary metric ndcg@10 (exp gain) (higher is better)" in flat
