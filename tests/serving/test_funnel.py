"""The funnel: a first stage cuts N candidates to K for the ranker, and the latency budget falls back to its order."""

from __future__ import annotations

import asyncio
import doctest
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopline import InputError, ServingError
from loopline.events import EventLog
from loopline.registry import Registry
from loopline.serving import _funnel
from loopline.serving._app import ChampionRoute, create_app
from loopline.serving._funnel import LATENCY_BUDGET, Funnel, Funneled, load_funnel, spread
from loopline.serving._http import Problem
from loopline.serving._scorer import Scorer
from loopline.serving._server import ServeSettings
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.serving.conftest import FEATURES, customer_rows

with warnings.catch_warnings():  # starlette asks for httpx2, which loopline does not depend on
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient


# -- the funnel on its own: rows with a cheap and a fine score -------------------------------------------

@dataclass
class Cheap:
    """A first stage that scores each row by its 'cheap' value."""

    task: str = "binary"
    name: str = "cheap"
    version: int | None = 1

    def score(self, rows: Any) -> np.ndarray:
        return np.array([row["cheap"] for row in rows], dtype=np.float64)


@dataclass(frozen=True)
class Order:
    order: np.ndarray


class Ranker:
    """Orders the rows it is given by their 'fine' value, remembering what it saw and on which thread; sleeps
    ``delay_s`` first."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.seen: list[list[str]] = []
        self.threads: list[str] = []

    def __call__(self, rows: list[dict[str, Any]]) -> Order:
        self.seen.append([row["item_id"] for row in rows])
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay_s)
        return Order(np.argsort([-row["fine"] for row in rows], kind="stable"))


def candidates(n: int = 12, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    cheap = rng.integers(0, 5, n).astype(float)  # ties, so that their order is tested too
    return [{"item_id": f"i{j}", "cheap": cheap[j], "fine": float(rng.random())} for j in range(n)]


def run(funnel: Funnel, rows: list[dict[str, Any]], ranker: Callable[[list[dict[str, Any]]], Order], *,
        started: float | None = None) -> Funneled[Order]:
    return asyncio.run(funnel.rank(rows, ranker, started=time.perf_counter() if started is None else started))


def ids(rows: list[dict[str, Any]], order: np.ndarray) -> list[str]:
    return [rows[i]["item_id"] for i in order.tolist()]


@pytest.fixture
def funnels() -> Iterator[Callable[..., Funnel]]:
    made: list[Funnel] = []

    def make(*args: Any, **kwargs: Any) -> Funnel:
        made.append(Funnel(*args, **kwargs))
        return made[-1]

    yield make
    for funnel in made:
        funnel.close()


def test_the_ranker_sees_the_first_stages_top_k_and_the_rest_follow_in_its_order(
        funnels: Callable[..., Funnel]) -> None:
    rows = candidates(12)
    ranker = Ranker()
    done = run(funnels(Cheap(), k=5), rows, ranker)  # type: ignore[arg-type]
    # The oracle: Python's stable sort by the cheap score, then the fine score within the top 5.
    by_cheap = sorted(rows, key=lambda r: -r["cheap"])
    top = [r["item_id"] for r in by_cheap[:5]]
    assert ranker.seen == [top]
    expected = [r["item_id"] for r in sorted(by_cheap[:5], key=lambda r: -r["fine"])] + \
               [r["item_id"] for r in by_cheap[5:]]
    assert ids(rows, done.order) == expected
    assert ids(rows, done.shortlist) == top and done.fallback is None and done.ranked is not None


def test_without_a_first_stage_the_ranker_sees_every_candidate_in_the_requests_order(
        funnels: Callable[..., Funnel]) -> None:
    rows = candidates(7)
    ranker = Ranker()
    done = run(funnels(None, k=3), rows, ranker)
    assert ranker.seen == [[r["item_id"] for r in rows]]
    assert ids(rows, done.order) == [r["item_id"] for r in sorted(rows, key=lambda r: -r["fine"])]


def test_fewer_candidates_than_k_are_all_ranked(funnels: Callable[..., Funnel]) -> None:
    rows = candidates(3)
    done = run(funnels(Cheap(), k=10), rows, Ranker())  # type: ignore[arg-type]
    assert ids(rows, done.order) == [r["item_id"] for r in sorted(rows, key=lambda r: -r["fine"])]


def test_a_late_ranker_gives_the_first_stages_order_at_the_budget_and_is_counted(
        funnels: Callable[..., Funnel]) -> None:
    rows = candidates(12)
    counted: list[str] = []
    funnel = funnels(Cheap(), k=5, budget_ms=50.0, probe_s=3600.0, on_fallback=counted.append)
    slow = Ranker(delay_s=0.5)
    started = time.perf_counter()
    done = run(funnel, rows, slow, started=started)
    waited = time.perf_counter() - started
    assert done.fallback == LATENCY_BUDGET and done.ranked is None and counted == [LATENCY_BUDGET]
    assert ids(rows, done.order) == [r["item_id"] for r in sorted(rows, key=lambda r: -r["cheap"])]
    assert waited < 0.4  # the answer did not wait for the ranker's 0.5 s

    # The late ranking finishes in the background and teaches the estimate (0.5 s for 5 items) ...
    deadline = time.monotonic() + 5
    while funnel.expected_ms(None, 5) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert funnel.expected_ms(None, 5) == pytest.approx(500.0, rel=0.5)
    # ... so the next request does not run it at all (no probe due for an hour) and answers at once.
    again = time.perf_counter()
    second = run(funnel, rows, slow, started=again)
    assert second.fallback == LATENCY_BUDGET and len(slow.seen) == 1 and counted == [LATENCY_BUDGET] * 2
    assert time.perf_counter() - again < 0.25  # far from the ranker's 0.5 s: it was not waited for


def test_a_probe_runs_a_ranker_the_estimate_rules_out_once_probe_s_has_passed(funnels: Callable[..., Funnel]) -> None:
    rows = candidates(6)
    funnel = funnels(None, budget_ms=200.0, probe_s=0.0)
    run(funnel, rows, Ranker(delay_s=0.3))  # late: its 0.3 s becomes the estimate once it finishes
    deadline = time.monotonic() + 5
    while funnel.expected_ms(None, 6) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    fast = Ranker()
    done = run(funnel, rows, fast)  # the estimate says 300 ms > 200 ms, but a probe is due at once
    assert fast.seen and done.fallback is None
    assert funnel.expected_ms(None, 6) < 300.0  # the probe's quick answer pulls the estimate down


def test_a_fast_ranker_is_never_a_fallback(funnels: Callable[..., Funnel]) -> None:
    counted: list[str] = []
    funnel = funnels(Cheap(), k=4, budget_ms=1_000.0, on_fallback=counted.append)
    rows = candidates(10)
    for _ in range(20):
        assert run(funnel, rows, Ranker()).fallback is None
    assert counted == []


def test_a_ranker_well_within_the_budget_runs_inline_and_one_close_to_it_under_the_timeout(
        funnels: Callable[..., Funnel]) -> None:
    rows = candidates(6)
    fast, close = Ranker(), Ranker(delay_s=0.06)
    funnel = funnels(None, budget_ms=150.0)
    for _ in range(3):
        assert run(funnel, rows, fast).fallback is None
    # Its first call has no estimate yet, so it runs on the worker thread; then, at a few microseconds against
    # 150 ms, on the caller's thread (no hop).
    assert [name.startswith("loopline-ranker") for name in fast.threads] == [True, False, False]
    closer = funnels(None, budget_ms=150.0)
    for _ in range(3):
        assert run(closer, rows, close).fallback is None
    # 60 ms is more than a quarter of the 150 ms left: always under the timeout.
    assert all(name.startswith("loopline-ranker") for name in close.threads) and len(close.threads) == 3


def test_a_budget_spent_before_the_ranker_falls_back_without_running_it(funnels: Callable[..., Funnel]) -> None:
    rows = candidates(5)
    ranker = Ranker()
    done = run(funnels(None, budget_ms=100.0), rows, ranker, started=time.perf_counter() - 0.2)
    # Without a first stage the fallback is the request's own order.
    assert done.fallback == LATENCY_BUDGET and ranker.seen == [] and done.order.tolist() == list(range(5))


def test_the_rankers_errors_reach_the_caller(funnels: Callable[..., Funnel]) -> None:
    def refuse(rows: list[dict[str, Any]]) -> Order:
        raise InputError("feature 'fine' is missing", field="fine")

    with pytest.raises(InputError, match="'fine' is missing"):
        run(funnels(None), candidates(3), refuse)


def test_more_candidates_than_the_spec_allows_are_refused_with_413(funnels: Callable[..., Funnel]) -> None:
    funnel = funnels(None, candidates=3)
    funnel.limit(3)
    with pytest.raises(Problem) as refused:
        funnel.limit(4)
    assert refused.value.status == 413 and refused.value.field == "items"
    assert str(refused.value) == ("items: 4 candidates in one request, more than the 3 the served model's spec allows "
                                  "(serving.candidates). Send at most 3, or raise serving.candidates in the spec and "
                                  "retrain.")


def test_a_multiclass_first_stage_is_refused() -> None:
    with pytest.raises(ServingError, match=r"serving.first_stage: model 'cheap' v1 is multiclass"):
        Funnel(Cheap(task="multiclass"))  # type: ignore[arg-type]


def test_spread_places_values_back_among_all_candidates() -> None:
    at = np.array([3, 0])
    assert spread(np.array([1.0, 2.0]), at, 4).tolist()[::3] == [2.0, 1.0]
    assert np.isnan(spread(np.array([1.0, 2.0]), at, 4)[1:3]).all()
    times = spread(np.array(["2024-01-02", "2024-01-01"], dtype="datetime64[us]"), at, 4)
    assert times.dtype == np.dtype("datetime64[us]") and np.isnat(times[1:3]).all()
    assert spread(np.array([True, False]), at, 4).tolist() == [False, None, None, True]
    kept = spread(np.array([1, 2, 3]), np.array([2, 0, 1]), 3)  # a permutation keeps the dtype
    assert kept.dtype == np.dtype(int) and kept.tolist() == [2, 3, 1]


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_funnel)
    assert result.failed == 0 and result.attempted > 0


def test_load_funnel_reads_the_serving_block_and_names_what_it_cannot_use(tmp_path: Any) -> None:
    registry = Registry(Workspace.open(tmp_path / "ws", env={}))
    funnel = load_funnel(registry, {"latency_budget_ms": 20, "candidates": 40})
    assert (funnel.first_stage, funnel.budget_ms, funnel.candidates) == (None, 20.0, 40)
    funnel.close()
    with pytest.raises(ServingError) as missing:
        load_funnel(registry, {"first_stage": {"model": "feed-cheap", "version": "champion"}})
    assert str(missing.value).startswith("serving.first_stage: cannot load model 'feed-cheap' version 'champion' (")
    assert str(missing.value).endswith("Register that model, or name another first stage in the spec and retrain.")
    with pytest.raises(ServingError, match=r"^serving.latency_budget_ms: Input should be greater than 0 in the spec"):
        load_funnel(registry, {"latency_budget_ms": -1})


# -- through the app --------------------------------------------------------------------------------------

@dataclass
class OneRoute:
    """Routes every request to one scorer."""

    scorer: Scorer

    def route(self, unit_id: str | None) -> Any:
        return ChampionRoute(arm="champion", scorer=self.scorer)

    def record(self, route: Any, *, latency_ms: float, error: bool) -> None:
        return None

    def scorers(self) -> list[Scorer]:
        return [self.scorer]


class Reversed(Scorer):
    """The champion's model with its order reversed (1 - score)."""

    def score_checked(self, columns: Any, n: int) -> np.ndarray:
        return 1.0 - super().score_checked(columns, n)


class Slow(Scorer):
    """The champion's model, taking ``delay_s`` longer for every call."""

    delay_s = 0.3

    def score_checked(self, columns: Any, n: int) -> np.ndarray:
        time.sleep(self.delay_s)
        return super().score_checked(columns, n)


def retrained_with(ws: Workspace, serving: dict[str, Any]) -> Registry:
    """Register churn v2: v1's model, from a run whose spec has ``serving`` as its serving block."""
    registry = Registry(ws)
    v1 = registry.get_version("churn", 1)
    trained = registry.get_run(v1.run_id).params["spec"]
    spec = ProblemSpec.from_dict({**trained, "serving": serving}).model_dump(mode="json")
    run = registry.start_run(spec_name="churn", spec_hash="with-serving", data_fingerprint=v1.data_fingerprint,
                             params={"spec": spec}, code_version="test")
    registry.register_model(name="churn", run_id=run.run_id, artifact_dir=v1.artifact_path, sha256=v1.sha256,
                            family=v1.family, task=v1.task, features=list(v1.features), metrics=v1.metrics,
                            baselines_beaten=list(v1.baselines_beaten), spec_hash="with-serving",
                            data_fingerprint=v1.data_fingerprint, code_version="test", profile=None)
    return registry


@contextmanager
def serving(ws: Workspace, scorer: Scorer) -> Iterator[TestClient]:
    app = create_app(ws, model="churn", settings=ServeSettings(), router=OneRoute(scorer))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def rank_items(n: int, seed: int = 4) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = customer_rows(n, seed=seed)
    return rows, [{"item_id": f"i{j}", **{k: r[k] for k in FEATURES}} for j, r in enumerate(rows)]


def first_stage_scores(ws: Workspace, rows: list[dict[str, Any]]) -> np.ndarray:
    return np.asarray(Registry(ws).load("churn", 1).predict(pd.DataFrame(rows)[list(FEATURES)]))


def test_rank_serves_the_ranked_top_k_then_the_first_stages_order_and_logs_them(served_ws: Workspace) -> None:
    registry = retrained_with(served_ws, {"first_stage": {"model": "churn", "version": 1}, "first_stage_k": 3,
                                          "candidates": 10, "latency_budget_ms": 5_000})
    rows, items = rank_items(8)
    cheap = first_stage_scores(served_ws, rows)
    first = np.argsort(-cheap, kind="stable")
    # The ranker (v2, reversed) puts the first stage's best 3 in the opposite order; the other 5 keep its order.
    expected = [*first[:3][::-1], *first[3:]]
    with serving(served_ws, Reversed(registry.load("churn", 2), name="churn", version=2)) as client:
        answer = client.post("/v1/rank", json={"unit_id": "u1", "items": items})
        metrics = client.get("/v1/metrics").text
    assert answer.status_code == 200
    body = answer.json()
    assert body["fallback"] is None and body["model_version"] == 2
    assert [i["item_id"] for i in body["items"]] == [f"i{j}" for j in expected]
    np.testing.assert_allclose([i["score"] for i in body["items"][:3]], 1 - cheap[first[:3][::-1]], atol=1e-9)
    assert [i["score"] for i in body["items"][3:]] == [None] * 5
    assert "latency_budget" not in metrics

    logged = EventLog.for_workspace(served_ws).read("exposures").sort_values("position")
    assert logged["item_id"].tolist() == [f"i{j}" for j in expected] and logged["position"].tolist() == list(range(8))
    assert logged["score"].isna().tolist() == [False] * 3 + [True] * 5
    # The ranker's checked features are logged for the items it ranked, missing for the others.
    assert logged["tenure_months"].isna().tolist() == [False] * 3 + [True] * 5
    assert logged["tenure_months"].iloc[:3].tolist() == pytest.approx([rows[j]["tenure_months"] for j in expected[:3]])


def test_a_slow_ranker_falls_back_to_the_first_stages_order_says_so_and_is_counted(served_ws: Workspace) -> None:
    registry = retrained_with(served_ws, {"first_stage": {"model": "churn", "version": 1}, "first_stage_k": 3,
                                          "latency_budget_ms": 100})
    rows, items = rank_items(8)
    first = np.argsort(-first_stage_scores(served_ws, rows), kind="stable")
    with serving(served_ws, Slow(registry.load("churn", 2), name="churn", version=2)) as client:
        answers = [client.post("/v1/rank", json={"unit_id": "u1", "items": items}) for _ in range(2)]
        metrics = client.get("/v1/metrics").text
    for answer in answers:
        assert answer.status_code == 200
        body = answer.json()
        assert body["fallback"] == "latency_budget" and body["model_version"] == 2
        assert [i["item_id"] for i in body["items"]] == [f"i{j}" for j in first]
        assert [i["score"] for i in body["items"]] == [None] * 8
    assert 'loopline_fallbacks_total{reason="latency_budget"} 2.0' in metrics
    logged = EventLog.for_workspace(served_ws).read("exposures")
    assert set(logged["fallback"]) == {"latency_budget"} and logged["score"].isna().all()


def test_a_slow_ranker_without_a_first_stage_serves_the_requests_order(served_ws: Workspace) -> None:
    _, items = rank_items(5)  # v1's spec has the default serving block: a 100 ms budget and no first stage
    with serving(served_ws, Slow(Registry(served_ws).load("churn", 1), name="churn", version=1)) as client:
        body = client.post("/v1/rank", json={"items": items}).json()
    assert body["fallback"] == "latency_budget"
    assert [i["item_id"] for i in body["items"]] == [f"i{j}" for j in range(5)]


def test_more_candidates_than_serving_candidates_is_413(served_ws: Workspace) -> None:
    registry = retrained_with(served_ws, {"candidates": 4})
    _, items = rank_items(5)
    with serving(served_ws, Scorer.load(registry, "churn", 2)) as client:
        refused = client.post("/v1/rank", json={"items": items})
        accepted = client.post("/v1/rank", json={"items": items[:4]})
    assert refused.status_code == 413 and refused.json()["field"] == "items"
    assert "more than the 4 the served model's spec allows (serving.candidates)" in refused.json()["error"]
    assert accepted.status_code == 200
