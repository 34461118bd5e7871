"""Keeping routing in step with the registry: canary rollback on errors and latency, kill switches within a
second, and promotions swapped in while requests run, none of them failing."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from typing import Any

import pytest

from loopline import ServingError
from loopline.registry import ModelVersion, Registry
from loopline.serving._control import Controls
from loopline.serving._deployment import DeploymentSpec, deploy
from loopline.serving._router import Router
from loopline.workspace import Workspace
from tests.registry.conftest import workspace  # noqa: F401 - the sqlite/postgres workspace fixture
from tests.serving.test_router import ROWS, UNITS, feed, populate, train_small, version


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> ModelVersion:
    return train_small(tmp_path_factory)


@pytest.fixture
def models(workspace: Workspace, trained: ModelVersion) -> Registry:  # noqa: F811 - the imported fixture
    return populate(Registry(workspace), trained)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def with_canary(**limits: Any) -> DeploymentSpec:
    return feed(canary={"version": 3, "share": 0.3, "window_s": 60, **limits})


def canary_units(router: Router, n: int) -> list[str]:
    found = [u for u in UNITS if router.route(u).arm == "canary"][:n]
    assert len(found) == n
    return found


# canary -------------------------------------------------------------------------------------------

def test_a_canary_failing_too_often_is_rolled_back_here_and_in_the_registry(models: Registry) -> None:
    deploy(models, with_canary(max_error_rate=0.05, min_requests=40))
    router, other_worker = Router(models, "feed", clock=Clock()), Router(models, "feed")
    units = canary_units(router, 40)
    for i, unit in enumerate(units[:39]):
        router.record(router.route(unit), latency_ms=5.0, error=i % 5 == 0)  # 20% errors, but only 39 requests
    assert router.route(units[0]).arm == "canary" and router.revision == 1
    router.record(router.route(units[39]), latency_ms=5.0, error=False)

    assert {router.route(u).arm for u in units} <= {"control", "treatment"}
    stored = models.deployment("feed")
    assert (stored.revision, stored.spec["canary"], stored.actor) == (2, None, "router")
    assert stored.reason == ("canary churn v3 rolled back: error rate 0.2 > max_error_rate 0.05 over the last 60 s "
                             "(8 of 40 requests failed)")
    assert other_worker.route(units[0]).arm == "canary"
    assert other_worker.refresh() and other_worker.route(units[0]).arm != "canary"
    assert router.refresh() and router.revision == 2


def test_a_healthy_canary_stays_and_other_routes_do_not_count(models: Registry) -> None:
    deploy(models, with_canary(max_error_rate=0.05, min_requests=40))
    router = Router(models, "feed", clock=Clock())
    units = canary_units(router, 200)
    for i, unit in enumerate(units):
        router.record(router.route(unit), latency_ms=5.0, error=i % 40 == 0)  # 2.5% errors
    for route in map(router.route, UNITS[:300]):  # failures outside the canary are not the canary's
        if route.arm != "canary":
            router.record(route, latency_ms=5.0, error=True)
    assert router.route(units[0]).arm == "canary" and models.deployment("feed").revision == 1


def test_errors_older_than_the_window_are_forgotten(models: Registry) -> None:
    deploy(models, with_canary(max_error_rate=0.05, min_requests=40))
    clock = Clock()
    router = Router(models, "feed", clock=clock)
    units = canary_units(router, 70)
    for unit in units[:30]:
        router.record(router.route(unit), latency_ms=5.0, error=True)
    clock.now += 61
    for unit in units[30:]:
        router.record(router.route(unit), latency_ms=5.0, error=False)
    assert router.route(units[0]).arm == "canary"  # 30 of 70 would have been 43%: rolled back without the window


@pytest.mark.parametrize(("slow", "rolled_back"), [(1, False), (2, True)])
def test_a_canary_slower_than_its_p99_limit_is_rolled_back(models: Registry, slow: int, rolled_back: bool) -> None:
    deploy(models, with_canary(max_p99_ms=100, min_requests=100))
    router = Router(models, "feed", clock=Clock())
    units = canary_units(router, 100)
    for i, unit in enumerate(units):  # the p99 (nearest rank) of 100 requests is the second slowest
        router.record(router.route(unit), latency_ms=250.0 if i >= 100 - slow else 10.0, error=False)
    assert (router.route(units[0]).arm != "canary") is rolled_back
    reasons = [d.reason for d in models.deployment_history("feed")]
    expected = ["deployed", "canary churn v3 rolled back: p99 latency 250 ms > max_p99_ms 100 over the last 60 s "
                            "(100 requests)"]
    assert reasons == (expected if rolled_back else expected[:1])


def test_a_rollback_the_registry_could_not_store_is_retried(models: Registry, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    deploy(models, with_canary(max_error_rate=0.05, min_requests=10))
    router = Router(models, "feed", clock=Clock())
    units = canary_units(router, 10)

    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise OSError("database unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(models, "end_canary", unreachable)
        for unit in units:
            router.record(router.route(unit), latency_ms=5.0, error=True)  # never raises into the request
        assert router.route(units[0]).arm != "canary" and models.deployment("feed").revision == 1
        assert "storing that in the registry failed (database unreachable)" in caplog.text
        assert not router.refresh()  # still out of routing while the registry shows the canary
        assert router.route(units[0]).arm != "canary"
    assert router.refresh() and models.deployment("feed").spec["canary"] is None


def test_a_new_deploy_of_the_canary_brings_it_back(models: Registry) -> None:
    deploy(models, with_canary(max_error_rate=0.05, min_requests=10))
    router = Router(models, "feed", clock=Clock())
    units = canary_units(router, 10)
    for unit in units:
        router.record(router.route(unit), latency_ms=5.0, error=True)
    deploy(models, with_canary(max_error_rate=0.05, min_requests=10), reason="fixed the feature join")
    assert router.refresh() and router.route(units[0]).arm == "canary" and router.revision == 3


# the poller ---------------------------------------------------------------------------------------

def test_a_kill_switch_reaches_every_worker_within_a_second(models: Registry) -> None:
    deploy(models, feed())
    workers = [Router(models, "feed"), Router(models, "feed")]
    with Controls(workers) as controls:
        assert controls.running and controls.poll_s == 0.5
        models.set_killed("model", "churn", True, "incident")
        thrown = time.perf_counter()
        while any(w.route("u1").scorer is not None for w in workers) and time.perf_counter() - thrown < 5:
            time.sleep(0.01)
        took_s = time.perf_counter() - thrown
        assert took_s < 1.0, took_s
        models.set_killed("model", "churn", False, "over")
        undone = time.perf_counter()
        while any(w.route("u1").scorer is None for w in workers) and time.perf_counter() - undone < 5:
            time.sleep(0.01)
        assert time.perf_counter() - undone < 1.0
    assert not controls.running


def test_a_promotion_is_swapped_in_while_requests_run_and_none_fails(models: Registry) -> None:
    deploy(models, feed(arms={"control": {"version": "champion", "weight": 1.0}}, experiment=None))
    router = Router(models, "feed")
    first = weakref.ref(next(s for s in router.scorers() if s.version == 1))
    errors: list[BaseException] = []
    served: list[list[int]] = [[] for _ in range(3)]
    stop = threading.Event()

    def serve(seen: list[int]) -> None:
        i = 0
        while not stop.is_set():
            try:
                route = router.route(UNITS[i % len(UNITS)])
                scores = route.scorer.score(ROWS) if route.scorer is not None else None
                assert scores is not None and scores.shape == (len(ROWS),)
                seen.append(version(route) or 0)
                router.record(route, latency_ms=1.0, error=False)
            except BaseException as exc:  # every failure is a test failure
                errors.append(exc)
                return
            i += 1

    threads = [threading.Thread(target=serve, args=(seen,)) for seen in served]
    with Controls(router, poll_s=0.1):
        for thread in threads:
            thread.start()
        for new in (3, 4):
            time.sleep(0.3)
            models.promote("churn", new, reason="better")
            promoted = time.perf_counter()
            while not all(seen and seen[-1] == new for seen in served) and time.perf_counter() - promoted < 10:
                time.sleep(0.01)
        time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    for seen in served:
        assert seen[0] == 1 and seen[-1] == 4 and 3 in seen
        assert seen == sorted(seen)  # once a thread is served the new version it never gets the old one again
    assert [s.version for s in router.scorers()] == [4]  # only what the plan serves stays loaded
    gc.collect()
    assert first() is None  # the old scorer was dropped once nothing used it


def test_a_failing_refresh_is_counted_and_the_poller_goes_on(models: Registry, monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    router = Router(models, "churn")
    calls = {"n": 0}
    real = router.refresh

    def flaky() -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ServingError("database unreachable")
        return real()

    monkeypatch.setattr(router, "refresh", flaky)
    controls = Controls(router, poll_s=0.05)
    controls.poll()
    assert (controls.failures, controls.last_error) == (1, "churn: database unreachable")
    assert "refreshing routing of 'churn' failed (database unreachable)" in caplog.text
    with controls:
        deadline = time.perf_counter() + 5
        while controls.polls < 3 and time.perf_counter() < deadline:
            time.sleep(0.01)
    assert controls.polls >= 3 and controls.failures == 1 and version(router.route("u1")) == 1


@pytest.mark.parametrize("poll_s", [0, -1, float("nan"), True])
def test_the_poll_interval_must_be_a_positive_number(poll_s: Any) -> None:
    with pytest.raises(ServingError, match=r"poll_s: expected a positive number of seconds, e\.g\. 0\.5, got"):
        Controls([], poll_s=poll_s)
