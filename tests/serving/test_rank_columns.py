"""/v1/rank with the candidates as columns: the same answer and log as items, and errors that name the column."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.events import EventLog
from loopline.registry import Registry
from loopline.serving._candidates import candidate_columns, size, take
from loopline.workspace import Workspace
from tests.serving.conftest import FEATURES, customer_rows
from tests.serving.test_app import running
from tests.serving.test_funnel import Reversed, first_stage_scores, rank_items, retrained_with, serving


def as_columns(items: list[dict[str, Any]], names: Any = None) -> dict[str, list[Any]]:
    names = list(names or items[0])
    return {name: [item[name] for item in items] for name in names}


def test_columns_rank_and_log_exactly_as_items_do(served_ws: Workspace) -> None:
    rows = customer_rows(12, seed=5)
    items = [{"item_id": f"i{j}", **{k: r[k] for k in FEATURES if k != "country"}} for j, r in enumerate(rows)]
    with running(served_ws) as client:
        by_items = client.post("/v1/rank", json={"unit_id": "u1", "items": items, "context": {"country": "de"}})
        by_columns = client.post("/v1/rank", json={"unit_id": "u1", "columns": as_columns(items),
                                                   "context": {"country": "de"}})
    assert by_items.status_code == 200 and by_columns.status_code == 200, by_columns.text
    assert by_columns.json()["items"] == by_items.json()["items"]
    scores = [i["score"] for i in by_columns.json()["items"]]
    assert scores == sorted(scores, reverse=True)

    logged = EventLog.for_workspace(served_ws).read("exposures")
    first = logged[logged["request_id"] == by_items.json()["request_id"]].reset_index(drop=True)
    second = logged[logged["request_id"] == by_columns.json()["request_id"]].reset_index(drop=True)
    compared = ["item_id", "position", "score", *FEATURES]
    assert first[compared].equals(second[compared]) and len(first) == len(items)


def test_a_column_wins_over_the_context_and_the_context_fills_the_rest(served_ws: Workspace) -> None:
    rows = customer_rows(3, seed=2)
    items = [{"item_id": f"i{j}", **{k: r[k] for k in FEATURES}} for j, r in enumerate(rows)]
    with running(served_ws) as client:
        plain = client.post("/v1/rank", json={"columns": as_columns(items)}).json()["items"]
        with_context = client.post("/v1/rank", json={"columns": as_columns(items),
                                                     "context": {"tenure_months": 999.0}}).json()["items"]
    assert with_context == plain


def test_the_funnel_ranks_columns_as_it_ranks_items(served_ws: Workspace) -> None:
    registry = retrained_with(served_ws, {"first_stage": {"model": "churn", "version": 1}, "first_stage_k": 3,
                                          "candidates": 10, "latency_budget_ms": 5_000})
    rows, items = rank_items(8)
    first = np.argsort(-first_stage_scores(served_ws, rows), kind="stable")
    with serving(served_ws, Reversed(registry.load("churn", 2), name="churn", version=2)) as client:
        by_items = client.post("/v1/rank", json={"unit_id": "u1", "items": items}).json()
        by_columns = client.post("/v1/rank", json={"unit_id": "u1", "columns": as_columns(items)}).json()
    assert by_columns["items"] == by_items["items"]
    assert [i["item_id"] for i in by_columns["items"]] == [f"i{j}" for j in [*first[:3][::-1], *first[3:]]]


@pytest.mark.parametrize(("columns", "field", "words"), [
    ({"item_id": ["a", "b"], "tenure_months": [1.0]}, "columns.tenure_months",
     "1 values for 2 candidates (the length of columns.item_id)"),
    ({"tenure_months": [1.0]}, "columns.item_id", "give the candidates' ids as a list under 'item_id'"),
    ({"item_id": ["a", "a"]}, "columns.item_id[1]", "'a' appears more than once"),
    ({"item_id": ["a", None]}, "columns.item_id[1]", "every candidate needs an id"),
    ({"item_id": []}, "columns.item_id", "give at least one candidate"),
])
def test_columns_it_cannot_use_are_refused_naming_the_column(served_ws: Workspace, columns: dict[str, Any],
                                                              field: str, words: str) -> None:
    base = {k: [customer_rows(1)[0][k]] * len(columns.get("item_id", [0])) for k in FEATURES}
    with running(served_ws) as client:
        answer = client.post("/v1/rank", json={"columns": {**base, **columns}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field and words in answer.json()["error"]


def test_a_bad_value_and_a_missing_feature_are_named(served_ws: Workspace) -> None:
    items = [{"item_id": f"i{j}", **{k: r[k] for k in FEATURES}} for j, r in enumerate(customer_rows(3))]
    columns = as_columns(items)
    with running(served_ws) as client:
        bad = client.post("/v1/rank", json={"columns": {**columns, "tenure_months": [1.0, "lots", 2.0]}})
        missing = client.post("/v1/rank", json={"columns": {k: v for k, v in columns.items() if k != "plan"}})
        both = client.post("/v1/rank", json={"columns": columns, "items": items})
        neither = client.post("/v1/rank", json={"unit_id": "u1"})
    assert bad.status_code == 422 and bad.json()["field"] == "tenure_months"
    assert "row 1 holds 'lots'" in bad.json()["error"]
    assert missing.status_code == 422 and missing.json()["field"] == "plan"
    for answer in (both, neither):
        assert answer.status_code == 422
        assert "either 'items' (one object per candidate) or 'columns'" in answer.json()["error"]


def test_more_columns_candidates_than_allowed_is_413(served_ws: Workspace) -> None:
    registry = retrained_with(served_ws, {"candidates": 4})
    _, items = rank_items(5)
    from loopline.serving._scorer import Scorer

    with serving(served_ws, Scorer.load(registry, "churn", 2)) as client:
        refused = client.post("/v1/rank", json={"columns": as_columns(items)})
    assert refused.status_code == 413 and refused.json()["field"] == "columns.item_id"


def test_take_and_size_keep_the_form() -> None:
    batch = candidate_columns({"item_id": ["a", "b", "c"], "x": [[1], 2, 3]}, None)
    assert size(batch) == 3 and take(batch, np.array([2, 1]))["item_id"].tolist() == ["c", "b"]
    assert batch["x"][0] == [1]  # a list value stays one object (refused by the scorer, never broadcast)
    rows = [{"item_id": "a"}, {"item_id": "b"}]
    assert take(rows, np.array([1])) == [{"item_id": "b"}] and size(rows) == 2


_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                   st.floats(allow_nan=False, allow_infinity=False),  # JSON has neither
                   st.text(max_size=5), st.lists(st.integers(), max_size=2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=st.dictionaries(st.sampled_from(["item_id", *FEATURES, "other"]),
                               st.lists(_VALUE, min_size=0, max_size=3), max_size=6),
       context=st.one_of(st.none(), st.dictionaries(st.sampled_from(list(FEATURES)), _VALUE, max_size=2)))
def test_no_columns_body_makes_the_server_fail(served_ws: Workspace, columns: dict[str, Any],
                                                context: dict[str, Any] | None) -> None:
    with running(served_ws) as client:
        answer = client.post("/v1/rank", json={"columns": columns, "context": context})
    assert answer.status_code < 500, answer.text
    assert answer.status_code in (200, 413, 422)


def test_the_champion_is_scored_the_same_from_columns_as_by_the_model(served_ws: Workspace) -> None:
    rows = customer_rows(6, seed=8)
    items = [{"item_id": f"i{j}", **{k: r[k] for k in FEATURES}} for j, r in enumerate(rows)]
    model = Registry(served_ws).load("churn", "champion")
    import pandas as pd

    expected = np.asarray(model.predict(pd.DataFrame(rows)[list(FEATURES)]))
    with running(served_ws) as client:
        body = client.post("/v1/rank", json={"columns": as_columns(items)}).json()
    got = {i["item_id"]: i["score"] for i in body["items"]}
    np.testing.assert_allclose([got[f"i{j}"] for j in range(6)], expected, atol=1e-9, rtol=0)
