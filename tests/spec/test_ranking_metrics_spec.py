"""``metrics:`` for ranking: several cut-offs, the gain, the relevance threshold, and hashes that do not move."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from loopline import SpecError
from loopline.spec import MetricsSpec, ProblemSpec, metric_direction, metric_labels
from loopline.spec._spec import UNHASHED_AT_DEFAULT


def _ranking(**metrics: Any) -> dict[str, Any]:
    return {"name": "search", "task": "ranking", "data": {"source": "q.parquet"}, "event_time": "ts",
            "group": "qid", "label": {"column": "rel"}, **({"metrics": metrics} if metrics else {})}


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as info:
        ProblemSpec.from_dict(data, source="loopline.yaml")
    return str(info.value)


def test_a_list_of_k_keeps_k_the_primary_cut_off() -> None:
    spec = ProblemSpec.from_dict(_ranking(k=[10, 5, 1], primary="ndcg@5", report=["ndcg@1"]))
    assert spec.metrics.k == 10 and spec.metrics.ks == (10, 5, 1) and spec.primary_metric == "ndcg@5"
    assert spec.metrics.scoring == {"k": (10, 5, 1), "gain": "exponential", "relevant_at": None}
    assert metric_direction("ndcg@5") == "higher"
    again = ProblemSpec.from_dict(_ranking(k=10, other_k=[5, 1], primary="ndcg@5", report=["ndcg@1"]))
    assert again.spec_hash() == spec.spec_hash()  # what model_dump writes back reads the same


@pytest.mark.parametrize(("k", "expected"), [
    ([10, 5, 10], "k lists 10 more than once; give each cut-off once"),
    ([], "k: expected a positive whole number of items or a list of them like [10, 5, 1], got []"),
    ([10, 0], "k: expected a positive whole number of items or a list of them like [10, 5, 1], got [10, 0]"),
])
def test_bad_lists_of_k_are_refused(k: list[int], expected: str) -> None:
    assert expected in _error(_ranking(k=k))


def test_ndcg_at_a_cut_off_must_be_one_of_k() -> None:
    assert ("metrics.primary: 'ndcg@3' is not a ranking metric; choose one of ndcg, map, mrr, roc_auc, log_loss, "
            "ndcg@5 (ndcg@<k> needs k in metrics.k)") in _error(_ranking(k=[10, 5], primary="ndcg@3"))
    assert "'ndcg@10' is not a ranking metric (NDCG at the primary k is 'ndcg')" in _error(
        _ranking(k=[10, 5], primary="ndcg@10"))


def test_ranking_settings_are_refused_on_other_tasks() -> None:
    binary = {**_ranking(gain="linear"), "task": "binary"}
    assert "metrics.gain applies to ranking, but the task is binary; remove it" in _error(binary)
    listed = {**_ranking(k=[3, 1]), "task": "multiclass"}
    assert "metrics.k (a list) applies to ranking, but the task is multiclass; remove it or give one k" in _error(
        listed)
    assert "relevant_at" in _error(_ranking(relevant_at=0))


def test_specs_that_do_not_set_the_new_settings_keep_their_hash() -> None:
    """The hash of a spec written before gain, relevant_at and lists of k existed (pinned)."""
    plain = ProblemSpec.from_dict(_ranking(k=10))
    assert plain.spec_hash() == ProblemSpec.from_dict(_ranking()).spec_hash()
    data = plain.model_dump(mode="json", exclude={"monitoring", "retrain"})
    for block, key, _ in UNHASHED_AT_DEFAULT:  # every setting added since specs were first hashed
        del (data[block] if block else data)[key]
    assert {("metrics", "other_k"), ("metrics", "gain"), ("metrics", "relevant_at")} <= {
        (block, key) for block, key, _ in UNHASHED_AT_DEFAULT}
    old = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert plain.spec_hash() == old
    for changed in (_ranking(gain="linear"), _ranking(relevant_at=2), _ranking(k=[10, 5])):
        assert ProblemSpec.from_dict(changed).spec_hash() != old


def test_labels_say_the_cut_off_the_gain_and_the_threshold() -> None:
    assert metric_labels("ranking", MetricsSpec(k=[10, 5], gain="linear"), relevant_at=1) == {
        "ndcg": "ndcg@10 (linear gain)", "ndcg@5": "ndcg@5 (linear gain)", "map": "map (relevant >= 1)",
        "mrr": "mrr (relevant >= 1)"}
    assert metric_labels("ranking", MetricsSpec())["map"] == "map (relevant = top grade)"
    assert metric_labels("binary", MetricsSpec()) == {}


def test_module_examples() -> None:
    import doctest

    from loopline.spec import _metrics_spec

    assert doctest.testmod(_metrics_spec).failed == 0
