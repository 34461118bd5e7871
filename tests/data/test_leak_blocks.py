"""Leaks: a masked leak is still found, same-period label aggregates are found, honest lagged rates are not, and
a standing leak warning blocks --promote until the column is known_after or reviewed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from loopline.data import infer_schema, prepare
from loopline.data._leakage import period_aggregates, suspicious
from loopline.data._types import Schema
from loopline.spec import ProblemSpec


def test_a_leak_below_two_label_copies_is_still_reported() -> None:
    scores = {"copy_a": 1.0, "copy_b": 1.0, "after": 0.89, "tenure": 0.62, "plan": 0.58, "noise": 0.51}
    flagged = [f.column for f in suspicious(scores, binary=True)]
    assert flagged == ["copy_a", "copy_b", "after"]
    # an honest strong feature is not flagged when its lead over the next is small
    assert suspicious({"a": 0.86, "b": 0.8, "c": 0.6}, binary=True) == []


def feed(n_days: int = 40, seed: int = 0, per_day: int = 250, wobble: float = 0.01) -> pd.DataFrame:
    """Impressions of items in 8 categories, each with a lasting click rate that wobbles from day to day; a leaky
    same-day category rate, an honest one from the day before, and the category's lasting rate (honest too)."""
    rng = np.random.default_rng(seed)
    cats = np.array([f"c{i}" for i in range(8)])
    level = rng.uniform(0.05, 0.4, len(cats))
    day_rate = np.clip(level[None, :] + rng.normal(0, wobble, (n_days, len(cats))), 0.01, 0.9)
    day = rng.integers(0, n_days, n_days * len(cats) * per_day)
    cat = rng.integers(0, len(cats), len(day))
    frame = pd.DataFrame({
        "ts": pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(day, unit="D")
        + pd.to_timedelta(rng.uniform(0, 86_399, len(day)), unit="s"),
        "category": cats[cat], "tenure": rng.gamma(2, 10, len(day)),
        "cat_level": level[cat],
        "click": (rng.random(len(day)) < day_rate[day, cat]).astype(int),
    }).sort_values("ts", ignore_index=True)
    days = frame["ts"].dt.floor("D")
    frame["cat_ctr_today"] = frame.groupby(["category", days])["click"].transform("mean")  # the leak
    daily = frame.groupby(["category", days])["click"].mean()
    before = {(c, d + pd.Timedelta(days=1)): v for (c, d), v in daily.items()}  # known the next day: honest
    frame["cat_ctr_yesterday"] = [before.get(k, np.nan) for k in zip(frame["category"], days, strict=True)]
    return frame


def test_a_same_day_category_rate_is_flagged_and_honest_category_rates_are_not() -> None:
    frame = feed()
    features = ("category", "tenure", "cat_level", "cat_ctr_today", "cat_ctr_yesterday")
    schema: Schema = infer_schema(frame[list(features)])
    found = period_aggregates(frame, features, schema, "click", event_time="ts")
    assert [f.column for f in found] == ["cat_ctr_today"]
    message = found[0].message
    assert "follows the mean label of its 'category' in the same day" in message and "correlation" in message
    same_day = frame.groupby(["category", frame["ts"].dt.floor("D")])["click"].transform("mean")
    # The lasting rate follows the same-day rate across categories as closely as the leak does: only the check
    # across days within a category tells them apart.
    assert np.corrcoef(frame["cat_level"], same_day)[0, 1] > 0.95


def write_project(root: Path, frame: pd.DataFrame, **over: Any) -> Path:
    frame.to_parquet(root / "feed.parquet")
    body: dict[str, Any] = {"name": "feed", "task": "binary", "data": {"source": "feed.parquet"}, "event_time": "ts",
                            "label": {"column": "click"}, "models": {"candidates": ["lightgbm"],
                                                                     "lightgbm": {"num_boost_round": 30}}}
    body.update(over)
    (root / "loopline.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")
    return root / "loopline.yaml"


@pytest.mark.slow
def test_promote_is_refused_while_a_leak_stands_and_allowed_once_reviewed(tmp_path: Path) -> None:
    from loopline.loop import train
    from loopline.workspace import Workspace

    frame = feed(seed=1)
    spec = ProblemSpec.load(write_project(tmp_path, frame))
    findings = [f for f in prepare(spec).findings if f.blocks_promotion]
    assert [f.column for f in findings] == ["cat_ctr_today"]
    assert "Alone it reaches validation ROC AUC" in findings[0].message

    ws = Workspace.open(tmp_path / "ws", env={})
    refused = train(spec, ws, promote=True, n_boot=10)
    assert refused.beats_baselines and not refused.promoted
    assert refused.refused is not None and "'cat_ctr_today'" in refused.refused
    assert "features.known_after" in refused.refused and "features.reviewed: [cat_ctr_today]" in refused.refused
    report = refused.report.html.read_text(encoding="utf-8")
    assert "not promoted: a leak warning stands on" in report

    reviewed = ProblemSpec.load(write_project(tmp_path, frame, features={"reviewed": ["cat_ctr_today"]}))
    accepted = train(reviewed, ws, promote=True, n_boot=10)
    assert accepted.promoted and accepted.refused is None
    assert any("reviewed: listed in features.reviewed" in w for w in accepted.warnings)

    known_after = ProblemSpec.load(write_project(tmp_path, frame, features={"known_after": ["cat_ctr_today"]}))
    assert not [f for f in prepare(known_after).findings if f.blocks_promotion]
