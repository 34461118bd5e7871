"""The demo's continual-learning run, small: the loop's run and the counterfactual share their world until the loop
changes what is served, and the report, the holdout's effect, the position curves and the debiasing comparison are
all there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopline.loop import open_demo_workspace, run_continual_demo
from loopline.loop._continual_demo import HISTORY_DAYS
from loopline.registry import Registry
from loopline.simulate import SimConfig


@pytest.mark.slow
def test_a_short_continual_run_reports_both_runs_and_what_the_guards_measure(tmp_path: Path) -> None:
    ws = open_demo_workspace(tmp_path / "demo")
    config = SimConfig(seed=2, n_users=800, n_posts_per_day=120, n_authors=150)
    demo = run_continual_demo(ws, config=config, days=HISTORY_DAYS + 4)
    assert [d["day"] for d in demo.days] == list(range(HISTORY_DAYS, HISTORY_DAYS + 4))
    assert demo.drift_day == HISTORY_DAYS + 2
    assert [d["drifted"] for d in demo.days] == [False, False, True, True]
    # until the loop first changes the deployment, both runs serve the same world with the same model
    steps = Registry(ws, create=False).loop_steps(demo.model)
    changed = min((s.at for s in steps if s.stage in ("shadow", "canary", "ab", "promote")), default=None)
    for day in demo.days:
        if changed is None or day["end"] <= changed.isoformat():
            assert day["with"]["ctr_true"] == day["without"]["ctr_true"]
            assert day["with"]["log_loss"] == pytest.approx(day["without"]["log_loss"], rel=1e-12)
    twin = json.loads(demo.report.json.read_text())
    assert demo.report.html.exists() and len(twin["periods"]) == 4 and twin["metric"] == "true_ctr"
    assert twin["events"][0]["label"].startswith("drift")
    effect = demo.feedback["total_effect"]
    assert effect["holdout_units"] > 0 and effect["served_units"] > 10 * effect["holdout_units"]
    low, high = effect["measured_ci"]
    assert low <= effect["measured_relative"] <= high and -1 < effect["true_relative"] < 1
    curves = demo.feedback["positions"]
    assert curves["explore_impressions"] > 0 and curves["truth"][0] == 1.0 and curves["served"][0] == 1.0
    assert curves["truth"][4] == pytest.approx(5 ** -config.position_bias)
    debiased = demo.feedback["debiased"]
    assert set(debiased) == {"position-blind", "position held at 0"}
    assert all(-1 <= found["spearman"] <= 1 and found["rows"] > 0 for found in debiased.values())
    assert "total effect of the system on CTR (holdout)" in twin["facts"]
    hint = demo.spec_path.read_text(encoding="utf-8").splitlines()[0]
    assert hint.endswith(f"loopline loop --spec {demo.spec_path} --workspace {ws.root} --history")
