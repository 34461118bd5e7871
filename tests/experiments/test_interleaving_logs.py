"""Interleaving read from the event log: credit per session counted by hand, and the two rankers named by the
teams and model versions they were logged with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from loopline.events import EventLog
from loopline.experiments import analyze_interleaving, preference_test

T0 = pd.Timestamp("2026-03-02 12:00", tz="UTC")


def _log(root: Path) -> EventLog:
    """Six sessions of two items each, one per team: clicks give control 1 win, treatment 3 wins and 2 ties."""
    clicked = {  # session -> teams whose item was clicked
        0: ["control"], 1: ["treatment"], 2: ["treatment"], 3: ["treatment"], 4: [], 5: ["control", "treatment"]}
    rows, feedback = [], []
    for s, teams in clicked.items():
        for position, team in enumerate(("control", "treatment")):
            # The treatment team served v4 except once (a stale worker): the most frequent version names it.
            version = ("v3" if team == "control" else "v4-old" if s == 0 else "v4")
            rows.append({"ts": T0 + pd.Timedelta(minutes=s), "deployment": "feed", "request_id": f"r{s}",
                         "unit_id": f"u{s}", "item_id": f"p{s}{team}", "arm": "interleaved", "model_version": version,
                         "score": 0.5, "served": True, "position": position, "latency_ms": 4.0, "team": team})
            if team in teams:
                feedback.append({"ts": T0 + pd.Timedelta(minutes=s, seconds=30), "deployment": "feed",
                                 "request_id": f"r{s}", "unit_id": f"u{s}", "item_id": f"p{s}{team}",
                                 "event": "click", "value": 1.0})
    log = EventLog(root)
    log.write("exposures", pd.DataFrame(rows))
    log.write("feedback", pd.DataFrame(feedback))
    log.write("assignments", pd.DataFrame({"ts": [T0] * 6, "deployment": "feed", "experiment": "ilv",
                                           "unit_id": [f"u{s}" for s in range(6)], "arm": "interleaved"}))
    return log


def test_sessions_are_credited_by_hand_and_the_rankers_are_named_by_model(tmp_path: Path) -> None:
    result = analyze_interleaving(_log(tmp_path), "ilv")
    assert (result.wins_a, result.wins_b, result.ties, result.queries) == (1, 3, 2, 6)
    assert result.p_value == pytest.approx(stats.binomtest(1, 4, 0.5).pvalue, rel=1e-12)
    assert result.teams == ("control", "treatment") and result.models == ("v3", "v4")
    assert (result.name("A"), result.name("B")) == ("v3 (control)", "v4 (treatment)")
    assert result.preferred is None and result.preferred_name is None
    swapped = analyze_interleaving(_log(tmp_path / "again"), "ilv", teams=("treatment", "control"))
    assert (swapped.wins_a, swapped.wins_b) == (3, 1) and swapped.name("A") == "v4 (treatment)"
    assert result.to_dict()["models"] == ["v3", "v4"] and result.to_dict()["teams"] == ["control", "treatment"]


def test_a_result_without_models_is_named_by_its_teams() -> None:
    plain = preference_test(["A"] * 40 + ["B"] * 10)
    assert plain.name("A") == "A" and plain.preferred_name == "A"
    named = preference_test(["A"] * 10 + ["B"] * 40, teams=("champion", "challenger"), models=("v7", None))
    assert named.preferred == "B" and named.preferred_name == "challenger" and named.name("A") == "v7 (champion)"
    assert preference_test(["B"], teams=("x", "y"), models=("y", "y")).name("B") == "y"  # no "y (y)"
