"""Ranking tables at ``validate`` time: null query ids, fractional relevance, queries cut by the time split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopline import DataError
from loopline.data import prepare
from loopline.spec import ProblemSpec


def _table(n_queries: int = 120, *, seed: int = 0, one_time_per_query: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 9, n_queries)
    qid = np.repeat(np.arange(n_queries), sizes)
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(qid, unit="h")
    jitter = pd.to_timedelta(0 if one_time_per_query else rng.integers(0, 600, len(qid)), unit="min")
    quality = rng.normal(size=len(qid))
    return pd.DataFrame({"qid": qid, "ts": (start + jitter).strftime("%Y-%m-%dT%H:%M:%SZ"), "quality": quality,
                         "price": rng.normal(size=len(qid)),
                         "rel": np.clip(np.round(quality + rng.normal(0, 0.7, len(qid))), 0, 3)})


def _prepare(tmp_path: Path, frame: pd.DataFrame) -> object:
    frame.to_csv(tmp_path / "rank.csv", index=False)
    spec = ProblemSpec.from_dict({"name": "rank", "task": "ranking", "data": {"source": "rank.csv"},
                                  "event_time": "ts", "group": "qid", "label": {"column": "rel"}},
                                 base_dir=tmp_path)
    return prepare(spec)


def _issues(prepared: object, check: str) -> list[str]:
    return [i.message for i in prepared.validation.issues if i.check == check]  # type: ignore[attr-defined]


def test_a_clean_ranking_table_has_no_ranking_issue_and_counts_queries(tmp_path: Path) -> None:
    prepared = _prepare(tmp_path, _table())
    assert _issues(prepared, "fractional_relevance") == _issues(prepared, "query_straddles_splits") == []
    summaries = prepared.splits.summaries  # type: ignore[attr-defined]
    assert sum(s.queries for s in summaries) == 120
    assert [s.queries for s in summaries] == [prepared.splits.train["qid"].nunique(),  # type: ignore[attr-defined]
                                              prepared.splits.valid["qid"].nunique(),  # type: ignore[attr-defined]
                                              prepared.splits.test["qid"].nunique()]  # type: ignore[attr-defined]


def test_null_query_ids_are_refused_with_the_count_and_the_fix(tmp_path: Path) -> None:
    frame = _table().astype({"qid": "float"})
    frame.loc[[3, 10, 40], "qid"] = np.nan
    with pytest.raises(DataError) as caught:
        _prepare(tmp_path, frame)
    rows = len(frame)
    assert str(caught.value) == (
        f"group 'qid' is null in 3 of {rows:,} rows of the data of loopline.yaml; every ranked row needs its query "
        "id: drop those rows (e.g. data.sql with WHERE qid IS NOT NULL) or fill the query id")


def test_fractional_relevance_is_flagged(tmp_path: Path) -> None:
    frame = _table()
    frame.loc[[1, 2], "rel"] = [0.5, 2.25]
    [message] = _issues(_prepare(tmp_path, frame), "fractional_relevance")
    assert message == (
        "label 'rel' has fractional relevance in 2 rows (e.g. 0.5, 2.25); ranking reads relevance as grades 0, 1, "
        "2, ... (NDCG's gain is 2^rel - 1 and LightGBM's lambdarank bins other values into levels). Round 'rel' to "
        "the grades it stands for, e.g. with data.sql: ROUND(rel).")


def test_queries_cut_by_the_time_split_are_flagged(tmp_path: Path) -> None:
    prepared = _prepare(tmp_path, _table(one_time_per_query=False))
    splits = prepared.splits  # type: ignore[attr-defined]
    parts = [set(splits.train["qid"]), set(splits.valid["qid"]), set(splits.test["qid"])]
    cut = sorted((parts[0] & parts[1]) | (parts[1] & parts[2]) | (parts[0] & parts[2]))
    assert cut  # the jitter of up to 10 hours makes queries straddle the cuts
    rows = sum(int(p["qid"].isin(cut).sum()) for p in (splits.train, splits.valid, splits.test))
    [message] = _issues(prepared, "query_straddles_splits")
    shown = ", ".join(sorted(map(str, cut))[:3])
    assert message == (
        f"{len(cut)} queries of group 'qid' ({rows} rows, e.g. {shown}) have rows in more than one split: the time "
        "split cut them because their rows carry different 'ts' times, so each part is ranked as a query of its own "
        "and part of it is trained on. Give every row of a query the query's time (the request time) as 'ts'.")
