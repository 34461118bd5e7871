"""Leakage checks name planted leaks and stay quiet on honest features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopline.data import infer_schema, recorded_after_event, single_feature_scores, suspicious


def _frame(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    plan = rng.choice(["a", "b", "c"], n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * x1 + 0.5 * x2 + (plan == "a"))))).astype(int)
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="min")
    return pd.DataFrame({"ts": ts, "x1": x1, "x2": x2, "plan": plan, "y": y})


def _scores(frame: pd.DataFrame, features: tuple[str, ...]) -> dict[str, float]:
    schema = infer_schema(frame)
    return single_feature_scores(frame.iloc[:4000], frame.iloc[4000:], features, schema, "y", binary=True)


def test_honest_features_raise_no_warning() -> None:
    frame = _frame()
    scores = _scores(frame, ("x1", "x2", "plan"))
    assert 0.6 < scores["x1"] < 0.8
    assert suspicious(scores, binary=True) == []


def test_the_label_plus_noise_is_named() -> None:
    frame = _frame()
    rng = np.random.default_rng(1)
    frame["refund_amount"] = frame["y"] * 20 + rng.normal(0, 3, len(frame))
    findings = suspicious(_scores(frame, ("x1", "x2", "plan", "refund_amount")), binary=True)
    assert [f.column for f in findings] == ["refund_amount"]
    assert "refund_amount" in findings[0].message and "known_after" in findings[0].message


def test_a_category_filled_after_the_outcome_is_named_relative_to_the_others() -> None:
    frame = _frame()
    rng = np.random.default_rng(2)
    # A status that mostly, not always, reflects the outcome: not perfect, but far above the rest.
    flip = rng.random(len(frame)) < 0.12
    frame["status"] = np.where((frame["y"] == 1) ^ flip, "closed", "open")
    findings = suspicious(_scores(frame, ("x1", "x2", "plan", "status")), binary=True)
    assert [f.column for f in findings] == ["status"]


def test_regression_leak_uses_r2() -> None:
    frame = _frame()
    # two honest features of comparable strength (one alone, far above the rest, would look like a leak too)
    frame["y"] = frame["x1"] * 2 + frame["x2"].fillna(0) * 1.5 + np.random.default_rng(3).normal(size=len(frame))
    frame["copy"] = frame["y"] + np.random.default_rng(4).normal(0, 0.1, len(frame))
    schema = infer_schema(frame)
    scores = single_feature_scores(frame.iloc[:4000], frame.iloc[4000:], ("x1", "x2", "copy"), schema, "y",
                                   binary=False)
    assert [f.column for f in suspicious(scores, binary=False)] == ["copy"]


def test_a_timestamp_recorded_after_the_event_is_named() -> None:
    frame = _frame()
    frame["closed_at"] = frame["ts"] + pd.Timedelta("3D")
    frame["opened_at"] = frame["ts"] - pd.Timedelta("3D")
    found = recorded_after_event(frame, ("x1", "closed_at", "opened_at"), infer_schema(frame), event_time="ts")
    assert [f.column for f in found] == ["closed_at"]
