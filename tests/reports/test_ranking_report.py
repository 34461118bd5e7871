"""The ranking section of the evaluation report: queries left out, per split, NDCG at each k, paired differences."""

from __future__ import annotations

import html as html_module
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopline.data import SplitSummary
from loopline.evaluation import Evaluation, evaluate
from loopline.reports import render_evaluation
from loopline.reports._ranking import excluded_sentence
from tests.evaluation.fakes import FakeModel, make_spec, sigmoid


def ranking_evaluation(n_queries: int = 101, seed: int = 0) -> tuple[Evaluation, pd.DataFrame]:
    """A ranker, a weaker candidate and the constant baseline on graded relevance 0..3, k = [10, 5, 1]."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 14, n_queries)
    query = np.repeat(np.arange(n_queries), sizes)
    quality = rng.normal(size=len(query))
    rel = np.clip(np.round(quality + rng.normal(0, 0.8, len(query))), 0, 3)
    frame = pd.DataFrame({"query": query, "quality": quality, "label": rel,
                          "ts": pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(query, unit="h")})
    model = FakeModel("lightgbm", lambda f: sigmoid(f["quality"].to_numpy()), task="ranking", coef={"quality": 1.0})
    linear = FakeModel("linear", lambda f: f["quality"].to_numpy() + np.random.default_rng(1).normal(0, 1.5, len(f)),
                       task="ranking")
    constant = FakeModel("constant", lambda f: np.full(len(f), 0.5), task="ranking", is_baseline=True)
    spec = make_spec("ranking", metrics={"k": [10, 5, 1]})
    return evaluate(model, frame, spec, label="label", time="ts", others=[linear, constant], n_boot=50), frame


SPLITS = (SplitSummary("train", 4210, "2024-03-01T00:00:00+00:00", "2024-04-20T00:00:00+00:00", 1.1, queries=480),
          SplitSummary("valid", 880, "2024-04-20T01:00:00+00:00", "2024-04-30T23:00:00+00:00", 1.2, queries=99),
          SplitSummary("test", 712, "2024-05-01T00:00:00+00:00", "2024-05-05T04:00:00+00:00", 1.2, queries=101))


def _text(html: str) -> str:
    return html_module.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_the_ranking_sections_say_what_the_metrics_rest_on(tmp_path: Path) -> None:
    evaluation, _ = ranking_evaluation()
    summary = evaluation.ranking
    assert summary is not None
    paths = render_evaluation(evaluation, tmp_path, title="search: lightgbm", splits=SPLITS)
    text = _text(paths.html.read_text(encoding="utf-8"))
    left_out = summary.excluded["single item"] + summary.excluded["all equal relevance"]
    assert summary.excluded["single item"] > 0 and summary.excluded["all equal relevance"] > 0
    sentence = excluded_sentence(summary, "test")
    assert sentence.startswith(f"{left_out} of 101 test queries excluded: single item "
                               f"({summary.excluded['single item']}), all equal relevance "
                               f"({summary.excluded['all equal relevance']}).")
    assert sentence in text
    for label in ("ndcg@10 (exp gain)", "ndcg@5 (exp gain)", "ndcg@1 (exp gain)", "map (relevant >= 3)"):
        assert label in text
    assert "Queries per split" in text and "480" in text and "items per query" in text
    assert "Paired differences by query" in text and "against" in text
    assert 'id="fig-query-ndcg"' in paths.html.read_text(encoding="utf-8")
    assert 'id="fig-query-sizes"' in paths.html.read_text(encoding="utf-8")
    twin = json.loads(paths.json.read_text(encoding="utf-8"))
    assert twin["ranking"]["excluded"] == summary.excluded and twin["ranking"]["queries"] == 101
    assert [s["queries"] for s in twin["splits"]] == [480, 99, 101]


def test_the_sentence_for_one_reason_and_for_none() -> None:
    evaluation, _ = ranking_evaluation()
    assert evaluation.ranking is not None
    only = {"single item": 12, "all equal relevance": 0, "nothing relevant": 0}
    assert excluded_sentence(evaluation.ranking.__class__(**{**evaluation.ranking.__dict__, "excluded": only}),
                             "test") == "12 of 101 test queries excluded: single item."
    none = {"single item": 0, "all equal relevance": 0, "nothing relevant": 4}
    found = excluded_sentence(evaluation.ranking.__class__(**{**evaluation.ranking.__dict__, "excluded": none}),
                              "test")
    assert found == ("All 101 test queries count for NDCG. map and mrr also leave out 4 with nothing relevant "
                     "(relevance >= 3).")


@pytest.mark.parametrize("task", ["binary"])
def test_other_tasks_have_no_ranking_section(task: str, tmp_path: Path) -> None:
    from tests.reports.samples import binary_evaluation

    paths = render_evaluation(binary_evaluation(), tmp_path, title="churn")
    assert 'id="ranking"' not in paths.html.read_text(encoding="utf-8")
