"""The demo's served experiment: the simulator's sessions ranked by a real server, clicks posted back, the
experiment analysed from the server's own log."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from loopline import ServingError
from loopline.events import EventLog, assign
from loopline.loop import DemoOutcome, ServedDemo, open_demo_workspace, run_demo, run_served_demo
from loopline.loop._serve_demo import SERVED_EVENTS, SERVED_SIMULATION, _Replay
from loopline.registry import Registry
from loopline.serving._app import ChampionRoute
from loopline.simulate import SimConfig
from loopline.workspace import Workspace
from tests.serving.conftest import customer_rows, served_ws, trained_workspace
from tests.serving.test_app import FixedRouter, running, scorers

__all__ = ["served_ws", "trained_workspace"]  # fixtures shared with tests/serving

SMALL = SimConfig(seed=3, n_users=1500, n_posts_per_day=150, n_authors=200, days=8)


# -- the replay, against a stand-in server ---------------------------------------------------------------------

def candidates(sessions: list[tuple[str, str, list[str]]]) -> pd.DataFrame:
    """The simulator's candidate frame: one row per (session, candidate), sessions one after another."""
    rows = []
    for request, unit, items in sessions:
        for i, item in enumerate(items):
            rows.append({"ts": pd.Timestamp("2026-01-09 10:00", tz="UTC"), "request_id": request, "unit_id": unit,
                         "item_id": item, "country": "us", "device": "ios", "topic": f"t{i:02d}",
                         "post_quality_score": 0.1 * i})
    return pd.DataFrame(rows)


def stand_in(arm_of: dict[str, str], sent: list[dict[str, Any]]) -> httpx.Client:
    """A server that ranks the items in reverse of the order sent and serves each unit the arm in ``arm_of``."""
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        items = [{"item_id": item["item_id"], "score": 1.0, "position": p}
                 for p, item in enumerate(reversed(body["items"]))]
        return httpx.Response(200, json={"request_id": f"srv-{len(sent)}", "arm": arm_of[body["unit_id"]],
                                         "experiment": "ranker-served", "items": items})

    return httpx.Client(transport=httpx.MockTransport(answer), base_url="http://stand-in")


def test_the_replay_shows_the_servers_order_and_sends_each_candidate_once() -> None:
    sent: list[dict[str, Any]] = []
    client = stand_in({"u1": "control", "u2": "control"}, sent)
    replay = _Replay(client, experiment="ranker-served", features=("item_id", "country", "topic", "device",
                                                                    "post_quality_score"), share=1.0)
    frame = candidates([("r1", "u1", ["p1", "p2", "p2", "p3"]), ("r2", "u2", ["p4", "p5", "p6", "p7"])])
    scores = replay.policy("control")(frame)

    assert sent[0] == {"unit_id": "u1", "context": {"country": "us", "device": "ios"},
                       "items": [{"item_id": "p1", "topic": "t00", "post_quality_score": 0.0},
                                 {"item_id": "p2", "topic": "t01", "post_quality_score": 0.1},
                                 {"item_id": "p3", "topic": "t03", "post_quality_score": pytest.approx(0.3)}]}
    # The simulator shows the candidates by descending score: exactly the server's order; the repeat never.
    first = scores[:4]
    assert [frame["item_id"][i] for i in np.argsort(-first, kind="stable")[:3]] == ["p3", "p2", "p1"]
    assert first[2] == -np.inf
    assert [frame["item_id"][4 + i] for i in np.argsort(-scores[4:], kind="stable")] == ["p7", "p6", "p5", "p4"]
    assert replay.request_of == {"r1": "srv-1", "r2": "srv-2"} and len(replay.latency_ms) == 2
    replay.check()


def test_the_replay_refuses_a_unit_the_server_put_in_another_arm() -> None:
    client = stand_in({"u1": "control", "u2": "treatment"}, [])
    replay = _Replay(client, experiment="ranker-served", features=("item_id", "country"), share=1.0)
    replay.policy("control")(candidates([("r1", "u1", ["p1", "p2"]), ("r2", "u2", ["p3", "p4"])]))
    with pytest.raises(ServingError, match=r"disagree on 1 session.*unit u2: the simulator ranked it for arm "
                                           r"'control' of 'ranker-served', the server served arm 'treatment'"):
        replay.check()


def test_only_the_sampled_users_go_through_the_server() -> None:
    sent: list[dict[str, Any]] = []
    units = [f"u{i:04d}" for i in range(400)]
    client = stand_in(dict.fromkeys(units, "control"), sent)
    replay = _Replay(client, experiment="ranker-served", features=("item_id",), share=0.25)
    scores = replay.policy("control")(candidates([(f"r{u}", u, ["p1", "p2"]) for u in units]))

    expected = assign("ranker-served:replay", units, {"served": 0.25, "simulated": 0.75}) == "served"
    assert [body["unit_id"] for body in sent] == [u for u, yes in zip(units, expected, strict=True) if yes]
    assert 60 < len(sent) < 140
    skipped = np.repeat(~expected, 2)
    assert (scores[skipped] == 0).all()  # the simulator's own candidate order


def test_feedback_goes_to_the_servers_request_ids_in_batches_of_sessions() -> None:
    posted: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posted.append(body)
        return httpx.Response(200, json={"request_id": "f", "stored": len(body["events"])})

    replay = _Replay(httpx.Client(transport=httpx.MockTransport(answer), base_url="http://stand-in"),
                     experiment="ranker-served", features=(), share=1.0)
    replay.request_of = {f"r{i}": f"srv-{i}" for i in range(120)}
    feedback = pd.DataFrame({"request_id": [f"r{i}" for i in range(120)] + ["r0", "elsewhere"],
                             "unit_id": "u", "item_id": "p", "event": ["click"] * 121 + ["click"]})
    events, requests = replay.post_feedback(feedback)

    assert (events, requests) == (121, 3)  # 50 sessions a request; a session not replayed is not posted
    assert [len(p["events"]) for p in posted] == [51, 50, 20]
    assert posted[0]["events"][:2] == [{"request_id": "srv-0", "unit_id": "u", "item_id": "p", "event": "click"},
                                       {"request_id": "srv-0", "unit_id": "u", "item_id": "p", "event": "click"}]


# -- the server logs a first exposure and its assignment at one time -----------------------------------------------

@pytest.mark.parametrize("endpoint", ["/v1/predict", "/v1/rank"])
def test_a_units_assignment_carries_its_first_exposures_time(served_ws: Workspace, endpoint: str) -> None:
    # The analysis counts a unit's exposures from its assignment on: an assignment stamped after the exposure that
    # caused it would drop every unit's first request from the experiment.
    champion, _ = scorers(served_ws)
    route = ChampionRoute(arm="treatment", scorer=champion, experiment="exp-1", first_exposure=True)
    rows = customer_rows(2)
    body: dict[str, Any] = {"rows": rows, "unit_id": "u5"} if endpoint == "/v1/predict" else {
        "items": [{**row, "item_id": f"i{i}"} for i, row in enumerate(rows)], "unit_id": "u5"}
    with running(served_ws, router=FixedRouter(route)) as client:
        assert client.post(endpoint, json=body).status_code == 200
    log = EventLog.for_workspace(served_ws)
    exposures, assignments = log.read("exposures"), log.read("assignments")
    assert len(assignments) == 1 and assignments["ts"].iloc[0] == exposures["ts"].min()


# -- the demo end to end -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served_outcome(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, DemoOutcome]:
    ws = open_demo_workspace(tmp_path_factory.mktemp("served") / "demo")
    return ws, run_demo(ws, config=SMALL, n_boot=20, experiment_days=0, served_days=1, served_users=400)


@pytest.fixture(scope="module")
def served_demo(served_outcome: tuple[Workspace, DemoOutcome]) -> tuple[Workspace, ServedDemo]:
    ws, outcome = served_outcome
    assert outcome.served is not None
    return ws, outcome.served


@pytest.mark.slow
def test_the_demo_monitors_the_served_control_arm_from_the_servers_log(
        served_outcome: tuple[Workspace, DemoOutcome], capsys: pytest.CaptureFixture[str]) -> None:
    from loopline.cli._show import show_demo_monitoring

    ws, outcome = served_outcome
    run, served = outcome.monitoring, outcome.served
    assert run is not None and served is not None
    exposures = EventLog(served.events_root).read("exposures")
    control = exposures[exposures["served"] & (exposures["model_version"] == str(served.versions["control"]))]
    assert run.findings.rows == len(control) and run.findings.version == served.versions["control"]
    assert {c.name for c in run.findings.drift.features} | set(run.findings.drift.skipped) == set(
        outcome.training.version.features)
    measured, labels = run.findings.performance, run.findings.labels
    assert measured is not None and labels is not None and labels.exposures == len(control)
    assert measured.overall.realised["roc_auc"] is not None
    assert run.report is not None and run.report.html.is_file() and run.report.html.parent == (
        ws.root / "reports" / "monitoring")
    show_demo_monitoring(run)
    text = " ".join(capsys.readouterr().out.split())
    assert f"monitoring of the control arm's {len(control):,} served exposures" in text
    assert "estimated from the scores alone" in text


@pytest.mark.slow
def test_the_served_log_holds_both_arms_the_shadow_unserved_assignments_and_feedback(
        served_demo: tuple[Workspace, ServedDemo]) -> None:
    ws, served = served_demo
    log = EventLog(ws.root / SERVED_EVENTS)
    exposures = log.read("exposures", columns=["ts", "deployment", "request_id", "unit_id", "item_id", "arm",
                                               "model_version", "served", "position", "experiment"])
    versions = {arm: str(v) for arm, v in served.versions.items()}
    shown = exposures[exposures["served"]]
    shadow = exposures[~exposures["served"]]
    assert dict(shown.groupby("arm")["model_version"].unique().map(list)) == {a: [v] for a, v in versions.items()}
    assert set(shadow["model_version"]) == {str(served.shadow)} and set(shadow["arm"]) == set(versions)
    assert str(served.shadow) not in set(shown["model_version"])  # the shadow is never served
    assert set(exposures["deployment"]) == {"feed"} and set(exposures["experiment"]) == {"ranker-served"}
    # Each request shows the feed's length, at positions 0..9, and its shadow's own top ten beside it.
    per_request = shown.groupby("request_id")["position"].agg(["count", "min", "max"])
    assert (per_request["count"] == SMALL.feed_length).all() and (per_request["max"] == SMALL.feed_length - 1).all()
    assert shown["request_id"].nunique() == served.requests == shadow["request_id"].nunique()

    # Assignments: one per unit, the arm events.assign gives it (what the simulator used), at its first exposure.
    assignments = log.read("assignments")
    assert len(assignments) == assignments["unit_id"].nunique() == served.units == shown["unit_id"].nunique()
    expected = assign("ranker-served", assignments["unit_id"].to_numpy(), {"control": 0.5, "treatment": 0.5})
    assert (assignments["arm"].to_numpy() == expected).all()
    first = shown.groupby("unit_id")["ts"].min()
    assert (assignments.set_index("unit_id")["ts"] == first.reindex(assignments["unit_id"])).all()

    # Feedback: every click and like the simulator drew for a replayed session, under the server's request ids.
    feedback = log.read("feedback")
    assert len(feedback) == served.feedback_events > 0 and set(feedback["event"]) <= {"click", "like"}
    assert set(feedback["request_id"]) <= set(shown["request_id"])
    assert set(zip(feedback["request_id"], feedback["item_id"], strict=True)) <= set(
        zip(shown["request_id"], shown["item_id"], strict=True))
    simulation = EventLog(ws.root / SERVED_SIMULATION)
    served_day = SMALL.start + timedelta(days=SMALL.days)
    sessions = set(simulation.read("exposures", start=served_day, columns=["request_id"])["request_id"])
    simulated = simulation.read("feedback", start=served_day)
    replayed = simulated[simulated["request_id"].isin(sessions)
                         & simulated["unit_id"].isin(set(assignments["unit_id"]))]
    assert len(replayed) == len(feedback)
    assert replayed["event"].value_counts().to_dict() == feedback["event"].value_counts().to_dict()

    # The simulated log is the simulator's alone.
    assert "feed" not in set(EventLog.for_workspace(ws).read("exposures", columns=["deployment"])["deployment"])


@pytest.mark.slow
def test_the_experiment_is_analysed_from_the_served_log_with_each_arms_version(
        served_demo: tuple[Workspace, ServedDemo]) -> None:
    ws, served = served_demo
    analysis = served.outcome.analysis
    assert analysis.experiment == "ranker-served" and analysis.spec.deployment == "feed"
    by_arm = {a.arm: a for a in analysis.offline_online}
    assert {arm: a.model_version for arm, a in by_arm.items()} == {a: str(v) for a, v in served.versions.items()}
    # Every served exposure of the experiment is counted, the first request of each unit included.
    shown = EventLog(ws.root / SERVED_EVENTS).read("exposures", columns=["arm", "served"])
    counts = shown[shown["served"]].groupby("arm").size().to_dict()
    assert {arm: sum(n for _, n in a.served) for arm, a in by_arm.items()} == counts
    assert served.outcome.decision.recommendation in {"ship", "do not ship", "keep running"}
    assert served.outcome.report.html.is_file()
    registry = Registry(ws)
    record = registry.experiment("ranker-served")
    assert {arm: a.version for arm, a in record.arms.items()} == served.versions
    assert registry.get_version("feed-engagement", "shadow").version == served.shadow
    # The client's numbers are plausible: p50 below p99, each under a second on loopback.
    assert 0 < served.latency_p50_ms <= served.latency_p99_ms < 1000
    assert served.truth["arms"].keys() == {"control", "treatment"} and "treatment" in served.truth["effects"]
    text = served.spec_path.read_text(encoding="utf-8")
    assert f"LOOPLINE_EVENTS_ROOT={ws.root / SERVED_EVENTS}" in text and (ws.root / "served-server.log").is_file()


@pytest.mark.slow
def test_a_rerun_replaces_the_served_log(served_demo: tuple[Workspace, ServedDemo]) -> None:
    ws, first = served_demo
    again = run_served_demo(ws, config=SMALL, model_name="feed-engagement", arms=first.versions,
                            shadow=first.shadow, users=400)
    assignments = EventLog(ws.root / SERVED_EVENTS).read("assignments")
    assert len(assignments) == again.units == first.units  # the same simulated users, not twice
    assert again.requests == first.requests
    assert Registry(ws).deployment("feed").revision == 2


def test_served_days_must_be_positive(tmp_path: Path) -> None:
    ws = open_demo_workspace(tmp_path / "demo")
    with pytest.raises(ServingError, match="served days must be at least 1, got 0; pass served_days=0"):
        run_served_demo(ws, config=SMALL, model_name="feed-engagement", arms={"control": 1, "treatment": 2},
                        shadow=3, days=0)


@pytest.mark.slow
def test_loopline_demo_prints_and_reports_the_served_experiment(served_demo: tuple[Workspace, ServedDemo],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from loopline._json import dumps
    from loopline.cli._show import served_json, show_served_demo

    _, served = served_demo
    show_served_demo(served)
    text = " ".join(capsys.readouterr().out.split())
    assert "served A/B test ranker-served through a real server on 127.0.0.1" in text
    assert f"{served.requests:,} /v1/rank requests from {served.units:,} users" in text
    assert f"p50 {served.latency_p50_ms:.1f} ms, p99 {served.latency_p99_ms:.1f} ms" in text
    assert f"decision: {served.outcome.decision.recommendation}" in text
    body = json.loads(dumps(served_json(served)))
    assert body["requests"] == served.requests and body["latency_ms"]["p99"] == served.latency_p99_ms
    assert body["versions"] == served.versions and body["decision"]["recommendation"] in text
