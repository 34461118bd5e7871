"""The continual-learning loop: triggers, retrain, judge, gates, promotion and rollback, the history it records, and
the backtest, on a small simulated feed (trained once, copied fresh for each test)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from loopline import LoopError
from loopline.evaluation import compute_metrics
from loopline.events import EventLog
from loopline.loop import demo_spec, run_backtest, run_loop, train
from loopline.loop._routed_plan import RoutedPlan
from loopline.registry import Registry
from loopline.serving import DeploymentSpec, deploy
from loopline.simulate import Drift, FeedSimulator, SimConfig
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace

CONFIG = SimConfig(seed=3, n_users=1200, n_posts_per_day=150, n_authors=200, days=8)
TRAINED_DAYS = 5
START = CONFIG.start


def _spec(root: Path, log: EventLog, retrain: dict[str, Any], *, name: str = "feed-loop") -> ProblemSpec:
    data = demo_spec(log, name=name)
    data["models"] = {"candidates": ["lightgbm"]}
    data["retrain"] = retrain
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return ProblemSpec.load(path)


OFFLINE = {"triggers": {"schedule": "1d"}, "window": "5d", "judge": {"window": "1d", "valid": "1d", "n_boot": 50},
           "gates": {"shadow": None, "canary": None, "ab": None}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose event log holds CONFIG's days and whose champion v1 trained on the first TRAINED_DAYS."""
    root = tmp_path_factory.mktemp("continual")
    ws = Workspace.open(root / "ws", env={})
    log = EventLog.for_workspace(ws)
    FeedSimulator(CONFIG).run(log)
    spec = _spec(ws.root, log, OFFLINE)
    outcome = train(spec, ws, promote=True, until=START + timedelta(days=TRAINED_DAYS), n_boot=0)
    assert outcome.version.version == 1 and outcome.promoted
    return ws.root


@pytest.fixture
def ws(trained: Path, tmp_path: Path) -> Workspace:
    target = tmp_path / "ws"
    shutil.copytree(trained, target)
    return Workspace.open(target, env={}, create=False)


def _steps(registry: Registry, model: str = "feed-loop") -> list[tuple[str, str, int | None]]:
    return [(s.stage, s.status, s.version) for s in registry.loop_steps(model)]


def test_a_block_without_triggers_is_refused_with_the_fix(ws: Workspace) -> None:
    spec = _spec(ws.root, EventLog.for_workspace(ws), {"gates": {"shadow": None, "canary": None, "ab": None}})
    with pytest.raises(LoopError, match=r"retrain: has no trigger, so the loop would never retrain\. Add one"):
        run_loop(spec, ws, now=START + timedelta(days=6))


@pytest.mark.slow
def test_a_schedule_retrains_on_the_window_judges_on_the_freshest_day_and_records_every_step(ws: Workspace) -> None:
    log = EventLog.for_workspace(ws)
    spec = _spec(ws.root, log, OFFLINE)
    now = START + timedelta(days=7)
    done = run_loop(spec, ws, now=now)
    registry = Registry(ws, create=False)
    steps = registry.loop_steps(spec.name)
    assert [(s.stage, s.status) for s in steps[:2]] == [("trigger", "fired"), ("retrain", "finished")]
    assert "schedule: the champion's data ends" in steps[0].reason
    retrain = steps[1]
    assert retrain.version == 2 and retrain.details["until"] == now.isoformat()
    splits = {s["name"]: s for s in retrain.details["splits"]}
    # the sliding window: train from now - 5d, validation the day before the judged day, test the last day
    assert splits["train"]["start"] >= (now - timedelta(days=5)).isoformat()
    assert splits["valid"]["start"] >= (now - timedelta(days=2)).isoformat() > splits["train"]["end"]
    assert splits["test"]["start"] >= (now - timedelta(days=1)).isoformat() > splits["valid"]["end"]
    assert splits["test"]["end"] < now.isoformat()

    judge = steps[2]
    assert judge.stage == "judge" and judge.version == 2
    details = judge.details
    assert details["improvement"] == pytest.approx(details["champion"] - details["challenger"])  # log-loss: lower
    if judge.status == "passed":
        assert details["low"] > 0 and details["beats_baselines"]
        assert [(s.stage, s.status, s.version) for s in steps[3:]] == [("promote", "done", 2)]
        assert registry.get_version(spec.name, "champion").version == 2
        assert done.champion == 2 and done.note == "v2 promoted on the judge"
        history = registry.alias_history(spec.name, "champion")
        assert history[-1].to_version == 2 and history[-1].reason.startswith("loop: ")
    else:
        assert len(steps) == 3 and registry.get_version(spec.name, "champion").version == 1

    again = run_loop(spec, ws, now=now + timedelta(hours=1))  # within min_interval: nothing happens
    assert again.steps == [] and "min_interval" in again.note
    assert len(registry.loop_steps(spec.name)) == len(steps)


@pytest.mark.slow
def test_a_warm_start_continues_the_champions_trees(ws: Workspace) -> None:
    spec = _spec(ws.root, EventLog.for_workspace(ws), {**OFFLINE, "mode": "warm_start", "warm_start_rounds": 30})
    run_loop(spec, ws, now=START + timedelta(days=7))
    registry = Registry(ws, create=False)
    retrain = next(s for s in registry.loop_steps(spec.name) if s.stage == "retrain")
    assert retrain.details["best"] == "lightgbm-warm" and retrain.details["mode"] == "warm_start"
    warm = registry.load(spec.name, 2).params["warm_start"]
    champion = registry.load(spec.name, 1)
    assert warm["from_trees"] == champion.params["best_iteration"] and 1 <= warm["added_trees"] <= 30


def _gated(ws: Workspace, log: EventLog, schedule: str = "1d", **gates: Any) -> ProblemSpec:
    retrain = {"deployment": "feed-loop", "triggers": {"schedule": schedule}, "window": "5d",
               "judge": {"window": "1d", "valid": "1d", "n_boot": 0, "significant": False, "min_improvement": 0.0},
               "gates": {"shadow": None, "canary": None, "ab": None, **gates}}
    return _spec(ws.root, log, retrain)


def _serve(ws: Workspace, days: int, spec: ProblemSpec, *, first_day: int, loop: bool = True) -> EventLog:
    """Simulate ``days`` days, served from ``first_day`` on by the deployment, the loop run after each served day.
    The world drifts on day 2 (an interest shift and a new topic), so a model retrained on the days after it beats
    the champion, trained on days 0-4 of a world that did not drift."""
    registry = Registry(ws, create=False)
    log = EventLog(ws.root / "served")

    def after(day: int, summary: Any) -> None:
        if loop and day >= first_day:
            run_loop(spec, ws, now=summary.end, log=log)

    config = SimConfig(**{**CONFIG.__dict__, "days": days, "drift": (
        Drift(day=2, kind="interest_shift", strength=0.8), Drift(day=2, kind="new_topic", strength=0.5))})
    FeedSimulator(config).run(log, plan=RoutedPlan(registry, "feed-loop", first_day=first_day), after_day=after)
    return log


@pytest.mark.slow
def test_challengers_go_through_shadow_and_canary_and_the_deployment_follows_each_gate(ws: Workspace) -> None:
    registry = Registry(ws, create=False)
    deploy(registry, DeploymentSpec.from_dict({"name": "feed-loop", "model": "feed-loop", "holdout": 0.05}),
           actor="test", reason="the base deployment")
    base = registry.deployment("feed-loop")
    served = EventLog(ws.root / "served")
    spec = _gated(ws, served, schedule="2d", shadow={"duration": "1d", "min_rows": 200},
                  canary={"share": 0.2, "duration": "1d", "min_requests": 50, "max_p99_ms": 500})
    _serve(ws, 13, spec, first_day=4)  # the loop runs after days 4..12; the schedule retrains every other day
    steps = registry.loop_steps(spec.name)
    revisions = {d.revision: d for d in registry.deployment_history("feed-loop")}
    log = served.read("exposures", columns=["ts", "model_version", "served", "arm"])
    order = ["shadow", "canary"]
    for i, step in enumerate(steps):
        if step.status == "started":  # the gate's revision: the base with exactly the gate's change
            assert revisions[step.details["base_revision"]].spec == base.spec
            reason = f"loop: v{step.version} enters the {step.stage} gate"
            entered = [d for d in revisions.values() if d.reason == reason]
            assert len(entered) == 1  # recorded first, then deployed once
            stored = DeploymentSpec.from_dict(entered[0].spec)
            assert stored.holdout == 0.05
            ended = next(s for s in steps[i + 1:] if s.stage == step.stage)
            during = log[(log["ts"] >= step.at) & (log["ts"] < ended.at)]
            if step.stage == "shadow":
                assert stored.shadows == (step.version,) and stored.canary is None
                assert set(during.loc[~during["served"], "model_version"]) == {str(step.version)}
            else:
                assert stored.shadows == () and stored.canary is not None
                assert (stored.canary.version, stored.canary.share) == (step.version, 0.2)
                canary = during[during["served"] & (during["arm"] == "canary")]
                assert len(canary) and set(canary["model_version"]) == {str(step.version)}
        if step.status == "failed" and step.stage in order:  # a failed gate: rolled back to the base at once
            assert (steps[i + 1].stage, steps[i + 1].status, steps[i + 1].version) == ("rollback", "done",
                                                                                       step.version)
        if step.status == "passed" and step.stage in order:  # the next gate, or the promotion after the last
            follow = steps[i + 1]
            expected = ("canary", "started") if step.stage == "shadow" else ("promote", "done")
            assert ((follow.stage, follow.status), follow.version) == (expected, step.version)
    promoted = [s for s in steps if s.stage == "promote"]
    assert promoted, [(s.stage, s.status, s.version, s.reason) for s in steps]
    assert registry.get_version(spec.name, "champion").version == promoted[-1].version
    history = registry.alias_history(spec.name, "champion")
    assert history[-1].reason == "loop: passed shadow, canary"
    assert registry.deployment("feed-loop").spec == base.spec  # the base again, serving the new champion


@pytest.mark.slow
def test_a_canary_the_server_took_out_is_rolled_back_with_the_servers_reason(ws: Workspace) -> None:
    registry = Registry(ws, create=False)
    served = EventLog(ws.root / "served")
    spec = _gated(ws, served, canary={"share": 0.2, "duration": "1d", "min_requests": 50})
    deploy(registry, DeploymentSpec.from_dict({"name": "feed-loop", "model": "feed-loop"}), actor="test",
           reason="the base deployment")
    _serve(ws, 8, spec, first_day=4, loop=False)
    base = registry.deployment("feed-loop")
    now = START + timedelta(days=8)
    first = run_loop(spec, ws, now=now, log=served)
    assert first.stage == "canary", first.note
    in_canary = registry.deployment("feed-loop")
    registry.end_canary("feed-loop", in_canary.revision, reason="canary v2: error rate 0.05 over 60 s > 0.02")
    with pytest.raises(LoopError, match="--force retrains only when no challenger is in flight"):
        run_loop(spec, ws, now=now + timedelta(hours=1), log=served, force=True)
    done = run_loop(spec, ws, now=now + timedelta(hours=1), log=served)
    assert done.stage == "idle" and done.challenger is None
    assert _steps(registry)[-2:] == [("canary", "failed", 2), ("rollback", "done", 2)]
    failed = registry.loop_steps(spec.name)[-2]
    assert "error rate 0.05 over 60 s" in failed.reason
    assert registry.deployment("feed-loop").spec == base.spec  # back as it was
    assert registry.get_version(spec.name, "champion").version == 1


@pytest.mark.slow
def test_a_backtest_replays_the_policy_without_touching_the_real_registry(ws: Workspace, tmp_path: Path) -> None:
    spec = _spec(ws.root, EventLog.for_workspace(ws), OFFLINE)
    registry = Registry(ws, create=False)
    before = ([v.version for v in registry.list_versions(spec.name)], registry.aliases(spec.name),
              registry.loop_steps(spec.name))
    start, end = START + timedelta(days=6), START + timedelta(days=8)
    result = run_backtest(spec, ws, start=start, end=end, report_dir=tmp_path / "report")
    after = ([v.version for v in registry.list_versions(spec.name)], registry.aliases(spec.name),
             registry.loop_steps(spec.name))
    assert after == before
    assert [p.start for p in result.periods] == [start, start + timedelta(days=1)]
    assert result.retrains >= 1 and result.actions[0]["stage"] == "trigger"
    first = result.periods[0]
    assert first.version == "champion" and first.policy == first.champion  # nothing promoted serves yet
    # the champion's metric over a period equals scikit-learn's log-loss on the same labelled rows
    champion = registry.load(spec.name, 1)
    rows = _labelled(spec, start, start + timedelta(days=1))
    expected = compute_metrics("binary", rows["clicked"].to_numpy(), champion.predict(rows))["log_loss"]
    assert first.champion == pytest.approx(expected, rel=1e-9) and first.rows == len(rows)
    twin = json.loads(result.report.json.read_text()) if result.report else {}
    assert twin["retrains"] == result.retrains and result.report is not None and result.report.html.exists()


def _labelled(spec: ProblemSpec, start: Any, end: Any) -> Any:
    from loopline.loop._backtest import _labelled as labelled

    rows = labelled(spec, start, end)
    times = rows[spec.event_time]
    return rows[(times >= start) & (times < end)].reset_index(drop=True)


def test_compare_is_exported_for_users() -> None:
    from loopline.loop import compare

    y = np.array([0, 1, 0, 1, 1, 0], dtype=float)
    found = compare("binary", y, challenger=np.full(6, 0.5), champion=np.full(6, 0.5), metric="log_loss", n_boot=0)
    assert found.improvement == 0.0


def test_the_cli_refuses_a_clock_without_a_time_zone_and_a_backtest_without_its_span(ws: Workspace) -> None:
    from typer.testing import CliRunner

    from loopline.cli import app

    spec = _spec(ws.root, EventLog.for_workspace(ws), OFFLINE)
    path = ws.root / f"{spec.name}.yaml"
    runner = CliRunner()
    found = runner.invoke(app, ["loop", "--spec", str(path), "-w", str(ws.root), "--now", "2026-01-08T00:00:00"])
    assert found.exit_code == 2 and "--now '2026-01-08T00:00:00' has no time zone; add one" in found.output
    found = runner.invoke(app, ["loop", "--spec", str(path), "-w", str(ws.root), "--backtest"])
    assert found.exit_code == 2 and "--backtest needs --start and --end" in found.output


@pytest.mark.slow
def test_the_cli_runs_a_pass_and_shows_its_history_as_json(ws: Workspace) -> None:
    from typer.testing import CliRunner

    from loopline.cli import app

    spec = _spec(ws.root, EventLog.for_workspace(ws), OFFLINE)
    path = ws.root / f"{spec.name}.yaml"
    runner = CliRunner()
    found = runner.invoke(app, ["loop", "--spec", str(path), "-w", str(ws.root), "--now", "2026-01-08T00:00:00Z",
                                "--json"])
    assert found.exit_code == 0, found.output
    passed = json.loads(found.stdout)
    assert [s["stage"] for s in passed["steps"]][:3] == ["trigger", "retrain", "judge"]
    history = runner.invoke(app, ["loop", "--spec", str(path), "-w", str(ws.root), "--history", "--json"])
    assert history.exit_code == 0, history.output
    assert [(s["stage"], s["status"], s["reason"]) for s in json.loads(history.stdout)] == [
        (s["stage"], s["status"], s["reason"]) for s in passed["steps"]]


def _second_version(registry: Registry, model: str = "feed-loop") -> int:
    """v1's artifact registered again (no alias): a challenger to move through the gates without training one."""
    found = registry.get_version(model, 1)
    version = registry.register_model(
        name=model, run_id=found.run_id, artifact_dir=found.artifact_path, sha256=found.sha256, family=found.family,
        task=found.task, features=list(found.features), metrics=found.metrics,
        baselines_beaten=list(found.baselines_beaten), spec_hash=found.spec_hash,
        data_fingerprint=found.data_fingerprint, code_version=found.code_version,
        profile=registry.profile(model, 1))
    return version.version


def _in_gate(ws: Workspace, gate: str, **gates: Any) -> tuple[Registry, ProblemSpec, int, Any]:
    """A base deployment, a challenger v2 recorded and deployed in ``gate`` as the loop does it."""
    from loopline.loop._gates import with_gate

    registry = Registry(ws, create=False)
    base = deploy(registry, DeploymentSpec.from_dict({"name": "feed-loop", "model": "feed-loop", "holdout": 0.05}),
                  actor="test", reason="the base deployment")
    spec = _gated(ws, EventLog.for_workspace(ws), **gates)
    challenger = _second_version(registry)
    at = START + timedelta(days=6)
    registry.record_step(model=spec.name, stage=gate, status="started", reason="test", at=at, version=challenger,
                         deployment="feed-loop", details={"base_revision": base.revision, "champion": 1})
    changed = with_gate(DeploymentSpec.from_dict(base.spec), gate, challenger=challenger, champion=1,
                        settings=getattr(spec.retrain.gates, gate))
    deploy(registry, changed, actor="test", reason="the gate")
    return registry, spec, challenger, base


def test_a_failed_gate_whose_rollback_was_not_stored_is_rolled_back_by_the_next_pass(ws: Workspace) -> None:
    registry, spec, challenger, base = _in_gate(ws, "shadow", shadow={"duration": "1d"})
    registry.record_step(model=spec.name, stage="shadow", status="failed", reason="worse", version=challenger,
                         at=START + timedelta(days=7), deployment="feed-loop")  # ... and the pass stopped here
    assert registry.deployment("feed-loop").spec != base.spec
    done = run_loop(spec, ws, now=START + timedelta(days=7, hours=1))
    assert _steps(registry)[-1] == ("rollback", "done", challenger)
    assert registry.deployment("feed-loop").spec == base.spec and done.stage == "idle"


def test_a_gate_turned_off_while_a_challenger_is_in_it_passes_and_the_next_gate_runs(ws: Workspace) -> None:
    registry, _, challenger, _ = _in_gate(ws, "shadow", shadow={"duration": "1d"})
    spec = _gated(ws, EventLog.for_workspace(ws), canary={"share": 0.2, "duration": "1d"})  # shadow now off
    done = run_loop(spec, ws, now=START + timedelta(days=7))
    assert _steps(registry)[-2:] == [("shadow", "passed", challenger), ("canary", "started", challenger)]
    canary = DeploymentSpec.from_dict(registry.deployment("feed-loop").spec).canary
    assert canary is not None and canary.version == challenger and done.stage == "canary"
    assert registry.get_version(spec.name, "champion").version == 1  # not promoted past the canary


def test_a_champion_moved_by_hand_during_the_gates_fails_them(ws: Workspace) -> None:
    registry, spec, _, base = _in_gate(ws, "canary", canary={"share": 0.2, "duration": "1d"})
    other = _second_version(registry)
    registry.promote(spec.name, other, reason="by hand")
    run_loop(spec, ws, now=START + timedelta(days=7))
    failed = registry.loop_steps(spec.name)[-2]
    assert (failed.stage, failed.status) == ("canary", "failed")
    assert f"the champion moved from v1 to v{other} during the gates" in failed.reason
    assert registry.deployment("feed-loop").spec == base.spec
    assert registry.get_version(spec.name, "champion").version == other


def test_the_loops_clock_only_moves_forward(ws: Workspace) -> None:
    registry, spec, _, _ = _in_gate(ws, "shadow", shadow={"duration": "1d"})
    with pytest.raises(LoopError, match=r"its clock only moves forward\. Pass a later --now"):
        run_loop(spec, ws, now=START + timedelta(days=5))
    assert len(registry.loop_steps(spec.name)) == 1


def test_an_unreadable_gate_waits_until_its_time_is_up_then_fails(ws: Workspace) -> None:
    registry, spec, challenger, base = _in_gate(ws, "ab", ab={"min_duration": "1d", "max_duration": "2d"})
    early = run_loop(spec, ws, now=START + timedelta(days=7))  # no assignment logged for the experiment yet
    assert early.stage == "ab" and early.note.startswith("the ab gate cannot be read yet:")
    late = run_loop(spec, ws, now=START + timedelta(days=8))
    assert late.stage == "idle" and _steps(registry)[-2:] == [("ab", "failed", challenger),
                                                              ("rollback", "done", challenger)]
    assert "could not be read by its deadline" in registry.loop_steps(spec.name)[-2].reason
    assert registry.deployment("feed-loop").spec == base.spec


def test_the_spec_refuses_windows_the_label_empties(tmp_path: Path) -> None:
    from loopline import SpecError

    log = EventLog(tmp_path / "events")
    with pytest.raises(SpecError, match=r"retrain\.judge\.window \(30m\) leaves no labelled row"):
        _spec(tmp_path, log, {**OFFLINE, "judge": {"window": "30m", "valid": "1d"}})
    data = demo_spec(log, name="feed-loop")
    data["monitoring"] = {"window": "30m"}
    data["retrain"] = {**OFFLINE, "triggers": {"decay": {"metric": "log_loss", "drop": 0.01}}}
    with pytest.raises(SpecError, match=r"reads labels over monitoring\.window \(30m\)"):
        ProblemSpec.from_dict(data, base_dir=tmp_path)
