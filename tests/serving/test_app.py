"""The HTTP API in process (FastAPI's TestClient): answers, refusals, logging, auth and metrics."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from loopline import ServingError
from loopline.events import EventLog
from loopline.registry import Registry
from loopline.serving._app import ChampionRoute, create_app
from loopline.serving._auth import ApiKeys
from loopline.serving._scorer import Scorer
from loopline.serving._server import ServeSettings
from loopline.workspace import Workspace
from tests.serving.conftest import FEATURES, customer_rows

with warnings.catch_warnings():  # starlette asks for httpx2, which loopline does not depend on
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

LOOPBACK = ServeSettings()


@contextmanager
def running(ws: Workspace, settings: ServeSettings = LOOPBACK, router: Any = None) -> Iterator[TestClient]:
    """A client of the app; leaving the block runs the app's shutdown (which writes the buffered exposures)."""
    app: FastAPI = create_app(ws, model="churn", settings=settings, router=router)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def reference(ws: Workspace, rows: list[dict[str, Any]]) -> np.ndarray:
    model = Registry(ws).load("churn", "champion")
    return np.asarray(model.predict(pd.DataFrame(rows)[list(FEATURES)]))


@dataclass
class FixedRouter:
    """Routes every request the same way (what S3's router decides, fixed for a test)."""

    fixed: Any

    def route(self, unit_id: str | None) -> Any:
        if isinstance(self.fixed, BaseException):
            raise self.fixed
        return self.fixed

    def record(self, route: Any, *, latency_ms: float, error: bool) -> None:
        return None

    def scorers(self) -> list[Scorer]:
        found = [] if isinstance(self.fixed, BaseException) else [self.fixed.scorer, *self.fixed.shadows]
        return [s for s in found if s is not None]


class Reversed(Scorer):
    """The champion's model with its order reversed (1 - score), registered as another version."""

    def score_checked(self, columns: Any, n: int) -> np.ndarray:
        return 1.0 - super().score_checked(columns, n)


class Broken(Scorer):
    def score_checked(self, columns: Any, n: int) -> np.ndarray:
        raise RuntimeError("the shadow's disk is gone")


def scorers(ws: Workspace) -> tuple[Scorer, Scorer]:
    registry = Registry(ws)
    return Scorer.load(registry, "churn", 1), Reversed(registry.load("churn", 1), name="churn", version=2)


# -- /v1/predict ------------------------------------------------------------------------------------------


def test_predict_answers_the_models_scores_and_decisions_and_logs_each_row(served_ws: Workspace) -> None:
    rows = customer_rows(6)
    expected = reference(served_ws, rows)
    threshold = Registry(served_ws).load("churn", "champion").threshold
    with running(served_ws) as client:
        answer = client.post("/v1/predict", json={"rows": rows, "unit_id": "user-7"})
    assert answer.status_code == 200
    body = answer.json()
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"]) and answer.headers["x-request-id"] == body["request_id"]
    assert (body["model"], body["model_version"], body["arm"], body["experiment"]) == ("churn", 1, "champion", None)
    scores = np.array([p["score"] for p in body["predictions"]])
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-9)
    assert [p["decision"] for p in body["predictions"]] == (expected >= threshold).tolist()

    logged = EventLog.for_workspace(served_ws).read("exposures")  # the shutdown wrote the buffer
    assert len(logged) == 6
    assert set(logged["request_id"]) == {body["request_id"]} and set(logged["unit_id"]) == {"user-7"}
    np.testing.assert_allclose(logged["score"], expected, atol=1e-12)
    assert logged["served"].all() and logged["item_id"].isna().all() and logged["position"].isna().all()
    assert set(logged["arm"]) == {"champion"} and set(logged["model_version"]) == {"1"}
    assert logged["decision"].tolist() == (expected >= threshold).tolist()
    assert logged["tenure_months"].tolist() == pytest.approx([r["tenure_months"] for r in rows])
    # 'country' is sensitive in the spec: logged only as its sha256.
    assert logged["country"].tolist() == [hashlib.sha256(r["country"].encode()).hexdigest() for r in rows]
    assert (logged["latency_ms"] > 0).all()


def test_without_a_unit_each_row_is_logged_under_the_specs_entity_else_the_request(served_ws: Workspace) -> None:
    rows = customer_rows(3)
    bare = [{k: v for k, v in r.items() if k != "customer_id"} for r in rows]
    with running(served_ws) as client:
        with_entity = client.post("/v1/predict", json={"rows": rows}).json()["request_id"]
        without = client.post("/v1/predict", json={"rows": bare}).json()["request_id"]
    logged = EventLog.for_workspace(served_ws).read("exposures")
    by_request = logged.groupby("request_id")["unit_id"].apply(list).to_dict()
    assert by_request[with_entity] == [r["customer_id"] for r in rows]
    assert by_request[without] == [without] * 3


# -- /v1/rank --------------------------------------------------------------------------------------------


def test_rank_orders_items_by_score_and_logs_the_top_items_with_positions(served_ws: Workspace) -> None:
    rows = customer_rows(8, seed=3)
    items = [{"item_id": f"i{j}", **{k: r[k] for k in FEATURES if k != "country"}} for j, r in enumerate(rows)]
    expected = reference(served_ws, [{**r, "country": "fr"} for r in rows])
    order = np.argsort(-expected, kind="stable")
    settings = replace(LOOPBACK, log_top=3)
    with running(served_ws, settings) as client:
        answer = client.post("/v1/rank", json={"unit_id": 42, "items": items, "context": {"country": "fr"}})
    assert answer.status_code == 200
    body = answer.json()
    assert [i["item_id"] for i in body["items"]] == [f"i{j}" for j in order]
    assert [i["position"] for i in body["items"]] == list(range(8))
    np.testing.assert_allclose([i["score"] for i in body["items"]], expected[order], atol=1e-9)
    assert body["fallback"] is None and body["arm"] == "champion"

    logged = EventLog.for_workspace(served_ws).read("exposures")
    assert logged["item_id"].tolist() == [f"i{j}" for j in order[:3]]
    assert logged["position"].tolist() == [0, 1, 2] and set(logged["unit_id"]) == {"42"}
    assert set(logged["country"]) == {hashlib.sha256(b"fr").hexdigest()}


def test_an_items_own_value_wins_over_the_context(served_ws: Workspace) -> None:
    row = customer_rows(1)[0]
    features = {k: row[k] for k in FEATURES}
    with running(served_ws) as client:
        body = client.post("/v1/rank", json={"items": [{"item_id": "a", **features}],
                                             "context": {**features, "tenure_months": 999.0}}).json()
    assert body["items"][0]["score"] == pytest.approx(float(reference(served_ws, [row])[0]), abs=1e-9)


@pytest.mark.parametrize(("items", "field", "words"), [
    ([{"item_id": "a"}, {"item_id": "a"}], "items[1].item_id", "'a' appears more than once"),
    ([{"tenure_months": 1}], "items[0].item_id", "every item needs an 'item_id'"),
    ([{"item_id": True}], "items[0].item_id", "every item needs an 'item_id'"),
])
def test_rank_refuses_items_it_cannot_tell_apart(served_ws: Workspace, items: list[dict[str, Any]], field: str,
                                                 words: str) -> None:
    with running(served_ws) as client:
        answer = client.post("/v1/rank", json={"items": items})
    assert answer.status_code == 422
    assert answer.json()["field"] == field and words in answer.json()["error"]


# -- routes from a router: shadows, interleaving, kill switches, assignments ------------------------------


def test_shadows_are_logged_unserved_and_never_change_the_answer(served_ws: Workspace) -> None:
    champion, shadow = scorers(served_ws)
    rows = customer_rows(4)
    items = [{"item_id": f"i{j}", **{k: r[k] for k in FEATURES}} for j, r in enumerate(rows)]
    route = ChampionRoute(arm="champion", scorer=champion, shadows=(shadow,))
    with running(served_ws) as plain:
        alone = plain.post("/v1/rank", json={"unit_id": "u1", "items": items}).json()
    with running(served_ws, router=FixedRouter(route)) as client:
        shadowed = client.post("/v1/rank", json={"unit_id": "u1", "items": items}).json()
        predicted = client.post("/v1/predict", json={"rows": rows, "unit_id": "u1"}).json()
    assert shadowed["items"] == alone["items"]
    assert all(p["score"] == pytest.approx(s) for p, s in zip(predicted["predictions"],
                                                             reference(served_ws, rows), strict=True))

    logged = EventLog.for_workspace(served_ws).read("exposures")
    ranked = logged[logged["request_id"] == shadowed["request_id"]]
    unserved = ranked[~ranked["served"]]
    assert set(unserved["model_version"]) == {"2"} and len(unserved) == 4
    # The shadow logs what it would have shown: its own order (the reverse), with its positions.
    assert unserved.sort_values("position")["item_id"].tolist() == [i["item_id"] for i in alone["items"]][::-1]
    assert set(ranked[ranked["served"]]["model_version"]) == {"1"}
    shadow_rows = logged[(logged["request_id"] == predicted["request_id"]) & ~logged["served"]]
    np.testing.assert_allclose(shadow_rows["score"], 1 - reference(served_ws, rows), atol=1e-9)


def test_a_failing_shadow_is_counted_and_the_request_still_succeeds(served_ws: Workspace) -> None:
    champion, _ = scorers(served_ws)
    broken = Broken(Registry(served_ws).load("churn", 1), name="churn", version=9)
    route = ChampionRoute(arm="champion", scorer=champion, shadows=(broken,))
    with running(served_ws, router=FixedRouter(route)) as client:
        answer = client.post("/v1/predict", json={"rows": customer_rows(2)})
        client.app.state.service.shadows.wait(10)  # type: ignore[attr-defined]
        metrics = client.get("/v1/metrics").text
    assert answer.status_code == 200
    assert 'loopline_shadow_errors_total{model="churn:9"} 1.0' in metrics


def test_interleaving_merges_two_rankers_and_logs_each_items_team(served_ws: Workspace) -> None:
    a, b = scorers(served_ws)
    rows = customer_rows(6, seed=5)
    items = [{"item_id": f"i{j}", **{k: r[k] for k in FEATURES}} for j, r in enumerate(rows)]
    scores = reference(served_ws, rows)
    route = ChampionRoute(arm="interleaved", scorer=a, interleave_with=b, experiment="rank-test")
    with running(served_ws, router=FixedRouter(route)) as client:
        body = client.post("/v1/rank", json={"unit_id": "u9", "items": items}).json()
    teams = [i["team"] for i in body["items"]]
    assert sorted(i["item_id"] for i in body["items"]) == sorted(f"i{j}" for j in range(6))
    assert set(teams) == {"A", "B"}
    for item in body["items"]:  # each item carries the score of the ranker that placed it
        own = scores[int(item["item_id"][1:])]
        assert item["score"] == pytest.approx(own if item["team"] == "A" else 1 - own, abs=1e-9)
    logged = EventLog.for_workspace(served_ws).read("exposures").sort_values("position")
    assert logged["team"].tolist() == teams and set(logged["arm"]) == {"interleaved"}
    assert logged["model_version"].tolist() == ["1" if t == "A" else "2" for t in teams]
    assert set(logged["experiment"]) == {"rank-test"}


def test_a_killed_route_ranks_in_the_baseline_order_and_predict_says_why(served_ws: Workspace) -> None:
    route = ChampionRoute(arm="baseline", scorer=None, fallback="model churn v1 killed")
    items = [{"item_id": f"i{j}"} for j in range(4)]
    with running(served_ws, router=FixedRouter(route)) as client:
        ranked = client.post("/v1/rank", json={"unit_id": "u1", "items": items})
        predicted = client.post("/v1/predict", json={"rows": customer_rows(1)})
        metrics = client.get("/v1/metrics").text
        ready = client.get("/v1/ready")
    assert ranked.status_code == 200
    assert [i["item_id"] for i in ranked.json()["items"]] == ["i0", "i1", "i2", "i3"]
    assert ranked.json()["fallback"] == "model churn v1 killed"
    assert all(i["score"] is None for i in ranked.json()["items"])
    assert predicted.status_code == 503 and "model churn v1 killed" in predicted.json()["error"]
    assert 'loopline_fallbacks_total{reason="kill_switch"} 2.0' in metrics
    assert ready.status_code == 503 and "no model is loaded" in ready.json()["error"]
    logged = EventLog.for_workspace(served_ws).read("exposures")
    assert logged["item_id"].tolist() == ["i0", "i1", "i2", "i3"] and logged["score"].isna().all()


def test_an_exploring_unit_is_shown_a_random_order_with_the_models_scores_logged_as_explored(
        served_ws: Workspace) -> None:
    champion, _ = scorers(served_ws)
    route = ChampionRoute(arm="explore", scorer=champion, explore=True)
    rows = customer_rows(12, seed=5)
    items = [{"item_id": f"i{j}", **{k: r[k] for k in FEATURES}} for j, r in enumerate(rows)]
    by_item = dict(zip([i["item_id"] for i in items], reference(served_ws, rows), strict=True))
    answers = []
    app = create_app(served_ws, model="churn", settings=LOOPBACK, router=FixedRouter(route))
    app.state.service.funnel.budget_ms = 60_000.0  # about exploration, not the latency budget (a loaded CI machine)
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(40):
            answer = client.post("/v1/rank", json={"unit_id": "u9", "items": items})
            assert answer.status_code == 200
            answers.append(answer.json())
    orders = [[i["item_id"] for i in a["items"]] for a in answers]
    for body, order in zip(answers, orders, strict=True):
        assert sorted(order) == sorted(by_item) and body["arm"] == "explore" and body["fallback"] is None
        np.testing.assert_allclose([i["score"] for i in body["items"]], [by_item[i] for i in order], atol=1e-9)
    by_score = sorted(by_item, key=lambda i: -by_item[i])
    assert sum(order == by_score for order in orders) <= 1 and len({tuple(o) for o in orders}) > 30
    top = [Counter(order[0] for order in orders)[i] for i in by_item]  # each item on top about 1/12 of the time
    assert stats.chisquare(top).pvalue > 0.001
    logged = EventLog.for_workspace(served_ws).read("exposures")
    first = logged[logged["request_id"] == answers[0]["request_id"]].sort_values("position")
    assert first["item_id"].tolist() == orders[0][:len(first)] and first["explore"].all()


def test_a_units_first_exposure_in_an_experiment_writes_its_assignment(served_ws: Workspace) -> None:
    champion, _ = scorers(served_ws)
    route = ChampionRoute(arm="treatment", scorer=champion, experiment="exp-1", first_exposure=True)
    with running(served_ws, router=FixedRouter(route)) as client:
        client.post("/v1/predict", json={"rows": customer_rows(1), "unit_id": "u5"})
    assignments = EventLog.for_workspace(served_ws).read("assignments")
    assert assignments[["deployment", "experiment", "unit_id", "arm"]].to_dict("records") == [
        {"deployment": "churn", "experiment": "exp-1", "unit_id": "u5", "arm": "treatment"}]


def test_an_unexpected_failure_answers_500_with_a_request_id_and_no_details(
    served_ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    with running(served_ws, router=FixedRouter(RuntimeError("password=hunter2"))) as client:
        with caplog.at_level(logging.ERROR, logger="loopline.serving"):
            answer = client.post("/v1/predict", json={"rows": customer_rows(1)})
        metrics = client.get("/v1/metrics").text
    assert answer.status_code == 500
    body = answer.json()
    assert set(body) == {"error", "field", "request_id"} and "hunter2" not in answer.text
    assert "Traceback" not in answer.text and body["request_id"] in body["error"]
    assert any(body["request_id"] in r.getMessage() and r.exc_info for r in caplog.records)
    assert 'loopline_errors_total{endpoint="/v1/predict",kind="internal"} 1.0' in metrics


# -- refusals: 413 and 422 ------------------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "field", "words"), [
    ({"rows": [{"tenure_months": "many", "support_tickets": 1, "plan": "pro", "country": "de"}]}, "tenure_months",
     "feature 'tenure_months' is numeric but row 0 holds 'many'"),
    ({"rows": [{"tenure_months": 1, "plan": "pro", "country": "de"}]}, "support_tickets",
     "row 0 lacks the feature 'support_tickets'"),
    ({"rows": [{"tenure_months": 1, "support_tickets": 1, "plan": ["pro"], "country": "de"}]}, "plan",
     "feature 'plan' is categorical"),
    ({"rows": []}, "rows", "rows: List should have at least 1 item"),
    ({"rows": "all of them"}, "rows", "rows: Input should be a valid array"),
    ({"rows": [{}], "unit": "u1"}, "unit", "unit: Extra inputs are not permitted"),
    ({"rows": [{}], "unit_id": {"id": 1}}, "unit_id", "unit_id: Input should be a valid string"),
])
def test_input_that_does_not_fit_is_422_naming_the_field(served_ws: Workspace, payload: dict[str, Any], field: str,
                                                          words: str) -> None:
    with running(served_ws) as client:
        answer = client.post("/v1/predict", json=payload)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == field and words in body["error"], body
    assert set(body) == {"error", "field", "request_id"}


def test_infinity_and_broken_json_are_422(served_ws: Workspace) -> None:
    infinite = b'{"rows": [{"tenure_months": Infinity, "support_tickets": 1, "plan": "pro", "country": "de"}]}'
    with running(served_ws) as client:
        inf = client.post("/v1/predict", content=infinite, headers={"content-type": "application/json"})
        broken = client.post("/v1/predict", content=b'{"rows": [', headers={"content-type": "application/json"})
    assert inf.status_code == 422 and inf.json()["field"] == "tenure_months" and "infinity" in inf.json()["error"]
    assert broken.status_code == 422 and "not valid JSON" in broken.json()["error"]


def test_a_body_that_is_not_a_json_object_says_how_to_send_one(served_ws: Workspace) -> None:
    with running(served_ws) as client:
        as_text = client.post("/v1/predict", content=b'{"rows": []}', headers={"content-type": "text/plain"})
        empty = client.post("/v1/predict")
        listed = client.post("/v1/predict", json=[1, 2])
    for answer in (as_text, empty):
        assert answer.status_code == 422 and "Content-Type: application/json" in answer.json()["error"]
    assert listed.status_code == 422 and "body: Input should be an object" in listed.json()["error"]


def test_bodies_and_batches_over_the_limits_are_413(served_ws: Workspace) -> None:
    settings = replace(LOOPBACK, max_body_bytes=2_000, max_rows=3)
    rows = customer_rows(30)
    with running(served_ws, settings) as client:
        declared = client.post("/v1/predict", json={"rows": rows})
        chunked = client.post("/v1/predict", content=iter([b'{"rows": [', b" " * 3_000, b"]}"]),
                              headers={"content-type": "application/json"})
        many = client.post("/v1/predict", json={"rows": rows[:4]})
        many_items = client.post("/v1/rank", json={"items": [{"item_id": i} for i in range(4)]})
        fine = client.post("/v1/predict", json={"rows": rows[:3]})
    for answer in (declared, chunked):
        assert answer.status_code == 413
        assert "larger than the server's limit of 2000 bytes" in answer.json()["error"]
    assert many.status_code == 413 and many.json()["field"] == "rows"
    assert "rows: 4 in one request, more than the server's limit of 3" in many.json()["error"]
    assert many_items.status_code == 413 and many_items.json()["field"] == "items"
    assert fine.status_code == 200


# -- /v1/feedback ---------------------------------------------------------------------------------------


def test_feedback_is_in_the_log_when_the_answer_arrives(served_ws: Workspace) -> None:
    log = EventLog.for_workspace(served_ws)
    with running(served_ws) as client:
        answer = client.post("/v1/feedback", json={"events": [
            {"request_id": "r1", "event": "click"},
            {"unit_id": "u1", "item_id": 17, "event": "revenue", "value": 12.5, "ts": "2026-03-01T10:00:00+01:00"},
        ]})
        stored = log.read("feedback").sort_values("event", ignore_index=True)  # read while the server runs
    assert answer.status_code == 200 and answer.json()["stored"] == 2
    assert stored["request_id"].tolist()[0] == "r1" and stored["item_id"].tolist()[1] == "17"
    assert stored["event"].tolist() == ["click", "revenue"] and stored["value"].tolist() == [1.0, 12.5]
    assert stored["ts"].iloc[1] == pd.Timestamp("2026-03-01T09:00:00Z")
    assert set(stored["deployment"]) == {"churn"}
    assert set(stored["received_request_id"]) == {answer.json()["request_id"]}


@pytest.mark.parametrize(("event", "field", "words"), [
    ({"unit_id": "u1", "event": "click"}, "events[0]", "give 'request_id'"),
    ({"request_id": "r1", "event": "click", "ts": "2026-03-01T10:00:00"}, "events[0].ts", "timezone"),
    ({"request_id": "r1", "event": "a click"}, "events[0].event", "should match pattern"),
    ({"request_id": "r1", "event": "click", "value": "lots"}, "events[0].value", "valid number"),
])
def test_feedback_that_names_no_exposure_or_is_malformed_is_refused_and_not_stored(
    served_ws: Workspace, event: dict[str, Any], field: str, words: str
) -> None:
    with running(served_ws) as client:
        answer = client.post("/v1/feedback", json={"events": [{"request_id": "ok", "event": "click"}, event]})
    assert answer.status_code == 422
    assert answer.json()["field"] == field.replace("[0]", "[1]") and words in answer.json()["error"]
    assert EventLog.for_workspace(served_ws).read("feedback").empty


def test_feedback_that_cannot_be_written_is_503_and_not_acknowledged(served_ws: Workspace) -> None:
    blocked = EventLog.for_workspace(served_ws).root / "feedback"
    blocked.write_text("a file where the folder should be", encoding="utf-8")
    with running(served_ws) as client:
        answer = client.post("/v1/feedback", json={"events": [{"request_id": "r1", "event": "click"}]})
        blocked.unlink()
    assert answer.status_code == 503
    assert "could not be stored" in answer.json()["error"] and "Send the events again" in answer.json()["error"]


# -- /v1/explain, /v1/models, health, readiness, OpenAPI -------------------------------------------------


def test_explain_returns_the_models_contributions(served_ws: Workspace) -> None:
    rows = customer_rows(3)
    model = Registry(served_ws).load("churn", "champion")
    expected = model.explain(pd.DataFrame(rows)[list(FEATURES)])
    assert expected is not None
    with running(served_ws) as client:
        body = client.post("/v1/explain", json={"rows": rows}).json()
    assert body["features"] == list(expected.features)
    got = np.array([[e["contributions"][f] for f in body["features"]] for e in body["explanations"]])
    np.testing.assert_allclose(got, expected.contributions, atol=1e-9)
    np.testing.assert_allclose([e["base"] for e in body["explanations"]], expected.base, atol=1e-9)


def test_models_health_ready_and_the_openapi_document(served_ws: Workspace) -> None:
    with running(served_ws) as client:
        models = client.get("/v1/models").json()
        health, ready = client.get("/v1/health"), client.get("/v1/ready")
        spec = client.get("/openapi.json").json()
        missing = client.get("/v1/nowhere")
    assert models == [{"name": "churn", "version": 1, "task": "binary", "family": models[0]["family"],
                       "backend": models[0]["backend"], "features": list(FEATURES),
                       "threshold": pytest.approx(Registry(served_ws).load("churn", 1).threshold), "classes": [0, 1]}]
    assert health.json() == {"status": "alive"}
    assert ready.status_code == 200 and ready.json()["models"] == [{"name": "churn", "version": 1}]
    assert {"/v1/predict", "/v1/rank", "/v1/feedback", "/v1/explain", "/v1/models", "/v1/metrics", "/v1/health",
            "/v1/ready"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert missing.status_code == 404 and "See /docs" in missing.json()["error"]


# -- auth ------------------------------------------------------------------------------------------------


def test_keys_are_required_when_asked_and_scopes_are_enforced(served_ws: Workspace) -> None:
    keys = ApiKeys.for_workspace(served_ws)
    predict = {"Authorization": f"Bearer {keys.create('app', scopes=['predict'])[1].reveal()}"}
    admin = {"Authorization": f"Bearer {keys.create('ops', scopes=['admin'])[1].reveal()}"}
    rows = {"rows": customer_rows(1)}
    with running(served_ws, replace(LOOPBACK, require_auth=True)) as client:
        anonymous = client.post("/v1/predict", json=rows)
        wrong = client.post("/v1/predict", json=rows, headers={"Authorization": "Bearer loopline-guess"})
        basic = client.post("/v1/predict", json=rows, headers={"Authorization": "Basic YWxpY2U6cHc="})
        allowed = client.post("/v1/predict", json=rows, headers=predict)
        forbidden = client.get("/v1/metrics", headers=predict)
        metrics = client.get("/v1/metrics", headers=admin)
        admin_predicts = client.post("/v1/predict", json=rows, headers=admin)
        open_doors = [client.get(p).status_code for p in ("/v1/health", "/v1/ready", "/openapi.json")]
        keys.revoke("app")
        revoked = client.post("/v1/predict", json=rows, headers=predict)
    for answer in (anonymous, wrong, basic, revoked):
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert "needs an API key" in anonymous.json()["error"] and "not valid" in wrong.json()["error"]
    assert allowed.status_code == 200 and admin_predicts.status_code == 200
    assert forbidden.status_code == 403 and "lacks the 'admin' scope" in forbidden.json()["error"]
    assert metrics.status_code == 200 and open_doors == [200, 200, 200]
    assert 'loopline_errors_total{endpoint="/v1/predict",kind="auth"} 4.0' not in metrics.text  # counted before
    assert 'loopline_errors_total{endpoint="/v1/predict",kind="auth"} 3.0' in metrics.text


def test_an_app_that_needs_keys_refuses_to_start_without_any(served_ws: Workspace) -> None:
    with pytest.raises(ServingError, match=r"API keys are required.*api_keys.json holds none.*loopline keys create"):
        create_app(served_ws, model="churn", settings=ServeSettings(host="0.0.0.0"))


def test_an_unknown_model_or_alias_fails_when_the_app_is_built(served_ws: Workspace) -> None:
    with pytest.raises(Exception, match="nope"):
        create_app(served_ws, model="nope", settings=LOOPBACK)
    with pytest.raises(Exception, match="challenger"):
        create_app(served_ws, model="churn", settings=replace(LOOPBACK, alias="challenger"))


# -- metrics ---------------------------------------------------------------------------------------------


class _SlowDisk:
    """Stands in for the exposure writer: the first append waits until released."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def append(self, kind: str, table: Any) -> None:
        self.entered.set()
        self.release.wait(10)

    def flush(self) -> list[Any]:
        return []

    def close(self) -> None:
        return None


def test_metrics_count_requests_errors_latency_per_model_and_arm_and_dropped_records(served_ws: Workspace) -> None:
    rows = {"rows": customer_rows(2)}
    with running(served_ws, replace(LOOPBACK, log_queue=1)) as client:
        logger = client.app.state.service.exposures  # type: ignore[attr-defined]
        logger.writer.close()
        logger.writer = disk = _SlowDisk()
        client.post("/v1/predict", json=rows)  # taken by the logging thread, which then waits on the disk
        assert disk.entered.wait(10)
        client.post("/v1/predict", json=rows)  # fills the queue's one place
        late = client.post("/v1/predict", json=rows)  # answered, but its 2 records are dropped
        client.post("/v1/predict", json={"rows": [{}]})
        text = client.get("/v1/metrics").text
        disk.release.set()
    assert late.status_code == 200
    assert 'loopline_requests_total{endpoint="/v1/predict",status="200"} 3.0' in text
    assert 'loopline_requests_total{endpoint="/v1/predict",status="422"} 1.0' in text
    assert 'loopline_errors_total{endpoint="/v1/predict",kind="input"} 1.0' in text
    assert ('loopline_request_latency_seconds_count{arm="champion",endpoint="/v1/predict",model="churn",version="1"} '
            "3.0") in text
    assert 'loopline_log_dropped_total{kind="exposures",reason="queue_full"} 2.0' in text
    assert "loopline_log_queue_depth 1.0" in text


# -- no input gives a 5xx ---------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_VALUE = _JSON | st.sampled_from([10**40, -(10**40), 1e308, "NaN", "inf", "2024-01-01", "", "basic"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(["/v1/predict", "/v1/rank", "/v1/explain", "/v1/feedback"]),
       body=st.one_of(_JSON, st.fixed_dictionaries({
           "rows": st.lists(st.fixed_dictionaries({f: _VALUE for f in FEATURES}), min_size=1, max_size=3),
           "items": st.lists(st.fixed_dictionaries({"item_id": _VALUE, **{f: _VALUE for f in FEATURES}}),
                             min_size=1, max_size=3),
           "unit_id": _VALUE,
           "events": st.lists(st.dictionaries(st.sampled_from(["request_id", "unit_id", "item_id", "event",
                                                                "value", "ts"]), _VALUE), max_size=2),
       })))
def test_no_body_makes_the_server_fail(app_client: TestClient, endpoint: str, body: Any) -> None:
    if isinstance(body, dict) and "rows" in body:  # keep only the keys the endpoint knows, sometimes
        body = {k: v for k, v in body.items() if k in {"/v1/predict": {"rows", "unit_id"}, "/v1/explain": {"rows"},
                                                       "/v1/rank": {"items", "unit_id"},
                                                       "/v1/feedback": {"events"}}[endpoint]}
    answer = app_client.post(endpoint, json=body)
    assert answer.status_code < 500, answer.text
    assert set(answer.json()) >= ({"request_id"} if answer.status_code == 200 else {"error", "field", "request_id"})


@pytest.fixture
def app_client(served_ws: Workspace) -> Iterator[TestClient]:
    with running(served_ws) as client:
        yield client


def test_the_api_docs_load_swagger_ui_from_the_server_not_a_cdn(served_ws: Workspace) -> None:
    with running(served_ws) as client:
        page = client.get("/docs")
        scripts = re.findall(r'<script src="([^"]+)"', page.text) + re.findall(r'href="([^"]+\.css)"', page.text)
        assets = [client.get(src) for src in scripts]
    assert page.status_code == 200 and scripts
    assert all(src.startswith("/") for src in scripts), scripts  # same origin: works with no internet
    assert all(a.status_code == 200 and len(a.content) > 1000 for a in assets)
