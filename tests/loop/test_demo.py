"""The demo end to end on a small simulated feed: a calibrated champion that beats its baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopline.loop import TRUTH, open_demo_workspace, run_demo
from loopline.registry import Registry
from loopline.simulate import SimConfig
from loopline.spec import ProblemSpec


@pytest.mark.slow
def test_demo_trains_registers_and_promotes_a_calibrated_champion(tmp_path: Path) -> None:
    ws = open_demo_workspace(tmp_path / "demo")
    config = SimConfig(seed=3, n_users=1500, n_posts_per_day=150, n_authors=200, days=8)
    outcome = run_demo(ws, config=config, n_boot=30)
    training = outcome.training

    assert training.promoted and training.beats_baselines
    champion = Registry(ws).get_version("feed-engagement", "champion")
    assert champion.version == training.version.version
    test = {m.name: m.test for m in training.models}
    assert test[training.best]["log_loss"] < 0.97 * test["constant"]["log_loss"]
    assert test[training.best]["ece"] <= 0.02
    truth = training.evaluation.scores_of(TRUTH).metrics["roc_auc"].value
    assert 0.5 < training.evaluation.metrics["roc_auc"] < truth + 0.01
    html = training.report.html.read_text(encoding="utf-8")
    assert TRUTH in html and "<script src" not in html  # plotly.js is inlined: works offline
    # The written spec is a valid spec a user can edit and rerun; its hint names the demo's workspace, so it works
    # when pasted anywhere.
    assert ProblemSpec.load(outcome.spec_path).name == "feed-engagement"
    first = outcome.spec_path.read_text(encoding="utf-8").splitlines()[0]
    assert first.endswith(f"loopline train --spec {outcome.spec_path} --workspace {ws.root}")
    if outcome.experiment is not None:
        hint = outcome.experiment.spec_path.read_text(encoding="utf-8").splitlines()[0]
        assert hint.endswith(f"loopline experiment analyze ranker-ab --workspace {ws.root}")
