"""A synthetic experiment log: assignments, exposures and clicks with a planted click probability per arm.

Each unit is assigned (and first exposed) at a uniform time over ``days`` days from ``START``. It opens
a session at its assignment and, with probability ``return_p``, once more on each later day of its
age (days since first exposure), within the ``days`` of the experiment. A session shows ``items``
items; each is clicked with probability ``click_p[arm] * propensity`` (``propensity`` a per-unit
gamma draw with mean 1, so behaviour before and during the experiment correlates). With ``decay``
the treatment's lift over control shrinks by that factor per day of age (a novelty effect). Scores
are the true click probability times ``score_scale[arm]``. With ``pre_days`` every unit also has
control-like sessions over the ``pre_days`` days before ``START``. ``noise=True`` adds records the
analysis must ignore or flag: another experiment, shadow exposures, exposures before assignment,
feedback before its exposure or for an unknown request, a ``like`` event, and one unit assigned twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from loopline.events import EventLog

START = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)
DAY_US = 86_400_000_000


@dataclass(frozen=True)
class Plan:
    """Units and planted click probability per arm (control first)."""

    units: dict[str, int]
    click_p: dict[str, float]
    score_scale: dict[str, float] = field(default_factory=dict)
    days: int = 7
    items: int = 4
    return_p: float = 0.7
    decay: float | None = None
    pre_days: int = 0
    experiment: str = "exp1"
    deployment: str = "web"
    seed: int = 0
    noise: bool = False


@dataclass(frozen=True)
class Logs:
    """The frames written (so tests can compute references in pandas)."""

    assignments: pd.DataFrame
    exposures: pd.DataFrame
    feedback: pd.DataFrame
    propensity: pd.Series


def _utc(us: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(us, dtype=np.int64).view("datetime64[us]")).dt.tz_localize("UTC")


def _sessions(rng: np.random.Generator, first_us: np.ndarray, days: int, return_p: float, end_us: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit index, session time, age in days) of every session before ``end_us``."""
    n = first_us.size
    age = np.tile(np.arange(days), n)
    unit = np.repeat(np.arange(n), days)
    active = (age == 0) | (rng.random(unit.size) < return_p)
    jitter = np.where(age == 0, 0, rng.integers(0, DAY_US // 2, unit.size))
    ts = first_us[unit] + age * DAY_US + jitter
    keep = active & (ts < end_us)
    return unit[keep], ts[keep], age[keep]


def build(log: EventLog, plan: Plan) -> Logs:
    """Write the planned experiment to ``log`` and return what was written."""
    rng = np.random.default_rng(plan.seed)
    arms = list(plan.units)
    arm = np.repeat(np.array(arms, dtype=object), [plan.units[a] for a in arms])
    n = arm.size
    units = np.array([f"u{i:06d}" for i in rng.permutation(n)], dtype=object)
    start_us = int(pd.Timestamp(START).value // 1000)
    end_us = start_us + plan.days * DAY_US
    first = start_us + rng.integers(0, plan.days * DAY_US * 3 // 4, n)
    propensity = rng.gamma(2.0, 0.5, n)
    unit_i, ts, age = _sessions(rng, first, plan.days, plan.return_p, end_us)
    base = np.array([plan.click_p[arms[0]] for _ in range(unit_i.size)])
    lift = np.array([plan.click_p[a] for a in arm[unit_i]]) - base
    if plan.decay is not None:
        lift = lift * plan.decay ** age
    p = base + lift
    scale = np.array([plan.score_scale.get(a, 1.0) for a in arm[unit_i]])
    parts = [(unit_i, ts, p, scale, "s")]
    if plan.pre_days:
        pre_unit = np.repeat(np.arange(n), plan.pre_days)
        pre_ts = start_us - (np.tile(np.arange(plan.pre_days), n) + 1) * DAY_US + rng.integers(0, DAY_US // 2,
                                                                                              pre_unit.size)
        keep = rng.random(pre_unit.size) < plan.return_p
        parts.append((pre_unit[keep], pre_ts[keep], np.full(keep.sum(), base[0] if base.size else 0.0),
                      np.ones(keep.sum()), "p"))
    exposures, feedback = [], []
    for u, t, prob, sc, tag in parts:
        k = plan.items
        u_e, t_e = np.repeat(u, k), np.repeat(t, k)
        p_e = np.minimum(np.repeat(prob, k) * propensity[u_e], 0.95)
        request = np.array([f"r{tag}{i}" for i in range(u.size)], dtype=object)
        item = np.array([f"p{i}" for i in rng.integers(0, 5000, u_e.size)], dtype=object)
        frame = pd.DataFrame({
            "ts": _utc(t_e), "deployment": plan.deployment, "request_id": np.repeat(request, k), "unit_id": units[u_e],
            "item_id": item, "arm": arm[u_e], "model_version": np.where(arm[u_e] == arms[0], "v1", "v2"),
            "score": p_e * np.repeat(sc, k), "served": True, "position": np.tile(np.arange(k, dtype=np.int32), u.size),
            "latency_ms": 5.0,
        })
        clicked = rng.random(u_e.size) < p_e
        feedback.append(pd.DataFrame({
            "ts": _utc(t_e[clicked] + rng.integers(1_000_000, 120_000_000, clicked.sum())),
            "deployment": plan.deployment,
            "request_id": frame["request_id"].to_numpy()[clicked], "unit_id": units[u_e[clicked]],
            "item_id": item[clicked], "event": "click", "value": 1.0,
        }))
        exposures.append(frame)
    assignments = pd.DataFrame({"ts": _utc(first), "deployment": plan.deployment, "experiment": plan.experiment,
                                "unit_id": units, "arm": arm})
    expo = pd.concat(exposures, ignore_index=True)
    fb = pd.concat(feedback, ignore_index=True)
    if plan.noise:
        assignments, expo, fb = _noise(rng, plan, assignments, expo, fb)
    log.write("assignments", assignments)
    log.write("exposures", expo)
    log.write("feedback", fb)
    return Logs(assignments, expo, fb, pd.Series(propensity, index=units))


def _noise(rng: np.random.Generator, plan: Plan, assignments: pd.DataFrame, expo: pd.DataFrame, fb: pd.DataFrame
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    a0 = assignments.iloc[0]
    other_arm = next(a for a in plan.units if a != a0["arm"])
    extra_assign = pd.DataFrame([
        {**a0.to_dict(), "experiment": "other", "arm": "x"},
        {**a0.to_dict(), "ts": a0["ts"] + timedelta(hours=3), "arm": other_arm},  # same unit, second arm, later
        {**assignments.iloc[1].to_dict(), "deployment": "elsewhere", "experiment": "exp1"},  # re-logged elsewhere
    ])
    s0 = expo.iloc[0]
    shadow = {**s0.to_dict(), "served": False, "request_id": "shadow-1", "item_id": "p1"}
    early = {**s0.to_dict(), "ts": a0["ts"] - timedelta(hours=1) if a0["ts"] - timedelta(hours=1) > pd.Timestamp(START)
             else pd.Timestamp(START), "request_id": "early-1", "item_id": "p2", "unit_id": s0["unit_id"]}
    null_item = {**s0.to_dict(), "request_id": "pred-1", "item_id": None}
    extra_expo = pd.DataFrame([shadow, early, null_item])
    f0 = {"deployment": plan.deployment, "unit_id": s0["unit_id"], "value": 1.0}
    later = s0["ts"] + timedelta(minutes=5)
    extra_fb = pd.DataFrame([
        {**f0, "ts": later, "request_id": "shadow-1", "item_id": "p1", "event": "click"},
        {**f0, "ts": later, "request_id": "early-1", "item_id": "p2", "event": "click"},
        {**f0, "ts": later, "request_id": "pred-1", "item_id": None, "event": "click"},
        {**f0, "ts": later, "request_id": "nobody", "item_id": "p3", "event": "click"},
        {**f0, "ts": s0["ts"] - timedelta(minutes=5), "request_id": s0["request_id"], "item_id": s0["item_id"],
         "event": "click"},
        {**f0, "ts": later, "request_id": s0["request_id"], "item_id": s0["item_id"], "event": "like", "value": 2.5},
    ])
    return (pd.concat([assignments, extra_assign], ignore_index=True),
            pd.concat([expo, extra_expo], ignore_index=True), pd.concat([fb, extra_fb], ignore_index=True))
