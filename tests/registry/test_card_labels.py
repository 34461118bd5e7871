"""The model card names each ranking metric as exactly what it is."""

from __future__ import annotations

from loopline.registry._card import render_card
from loopline.spec import MetricsSpec, metric_labels
from tests.registry.test_card import _version


def test_ranking_metrics_carry_their_labels_in_the_card() -> None:
    labels = metric_labels("ranking", MetricsSpec(k=[10, 5]), relevant_at=3)
    version = _version(task="ranking", metrics={"valid": {"ndcg": 0.81, "ndcg@5": 0.78, "map": 0.6},
                                                "test": {"ndcg": 0.768, "ndcg@5": 0.74, "map": 0.55}})
    card = render_card(version, {"metric_labels": labels})
    assert "| ndcg@10 (exp gain) | 0.8100 | 0.7680 |" in card
    assert "| ndcg@5 (exp gain) | 0.7800 | 0.7400 |" in card
    assert "| map (relevant >= 3) | 0.6000 | 0.5500 |" in card
    assert "metric_labels" not in card  # a known key, not an "other note"
