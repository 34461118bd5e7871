"""Turning a simulated day into event-log tables: exposures, feedback and the ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from loopline.events import EXPOSURE, FEEDBACK, TS
from loopline.simulate._day import Day
from loopline.simulate._world import AGE_BUCKETS, COUNTRIES, DEVICES, World, topic_name

DEPLOYMENT = "sim"
ARM = "control"
MODEL_VERSION = "sim-policy"
SHADOW_LOG_TOP = 50
"""A shadow logs at most its own best this many candidates per session (serving's default ``log_top``)."""

FEATURES = pa.schema([
    ("country", pa.string()),
    ("device", pa.string()),
    ("age_bucket", pa.string()),
    ("user_top_topic", pa.string()),
    ("user_activity", pa.int64()),
    ("topic", pa.string()),
    ("author_id", pa.string()),
    ("author_followers", pa.int64()),
    ("post_age_hours", pa.float64()),
    ("post_quality_score", pa.float64()),
])
"""The observable feature columns written inline with each exposure."""

TRUTH = pa.schema([
    ("request_id", pa.string()),
    ("item_id", pa.string()),
    ("true_p", pa.float64()),
    ("p_engage", pa.float64()),
])


@dataclass(frozen=True)
class ArmLabels:
    """An experiment's view of a day: each impression's arm (and team when interleaving), and which
    impressions are logged (a unit lost to a logging bug is not)."""

    arm: np.ndarray  # (impressions,) index into names
    names: tuple[str, ...]
    versions: tuple[str, ...]
    logged: np.ndarray  # (impressions,) bool
    team: np.ndarray | None = None


@dataclass(frozen=True)
class Candidates:
    """One day's sessions and their candidates as the ranking step saw them (what shadows score)."""

    users: np.ndarray  # (sessions,)
    ts_us: np.ndarray
    cand: np.ndarray  # (sessions, k) post index
    age_h: np.ndarray  # (sessions, k)
    activity: np.ndarray  # (sessions,) user_activity when serving
    usable: np.ndarray  # (sessions, k) False for duplicates and sessions without posts


class Names:
    """String ids, made once per run and picked by integer index (no per-row Python)."""

    def __init__(self, world: World, *, seed: int) -> None:
        self.seed = seed
        n_users, n_authors = len(world.activity), len(world.author_followers)
        self.users = pa.array([f"u{i:06d}" for i in range(n_users)], pa.string())
        self.authors = pa.array([f"a{i:05d}" for i in range(n_authors)], pa.string())
        self.topics = pa.array([topic_name(k) for k in range(world.interest.shape[1])], pa.string())
        self.countries = pa.array(COUNTRIES, pa.string())
        self.devices = pa.array(DEVICES, pa.string())
        self.ages = pa.array(AGE_BUCKETS, pa.string())
        self.posts = pa.array([], pa.string())

    def extend_posts(self, n_posts: int) -> None:
        have = len(self.posts)
        if n_posts > have:
            more = pa.array([f"p{i:07d}" for i in range(have, n_posts)], pa.string())
            self.posts = pa.concat_arrays([self.posts, more])

    def requests(self, day: int, n_sessions: int) -> pa.Array:
        return pa.array([f"r{self.seed}-{day:03d}-{i:06d}" for i in range(n_sessions)], pa.string())


def _take(values: pa.Array, index: np.ndarray) -> pa.Array:
    return values.take(pa.array(index, pa.int64()))


def _ts(micros: np.ndarray) -> pa.Array:
    return pa.array(micros.astype(np.int64), pa.int64()).cast(TS)


def _const(value: object, n: int, type_: pa.DataType) -> pa.Array:
    return pa.repeat(pa.scalar(value, type_), n)


def build_tables(world: World, day: Day, names: Names, day_index: int, arms: ArmLabels | None = None, *,
                 deployment: str = DEPLOYMENT) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The day's exposures, feedback (clicks and likes, sorted by time) and truth tables.

    With ``arms`` (an experiment's or a plan's day) each exposure carries its arm and model version,
    interleaved ones a ``team`` column, and the rows of units lost to the logging bug are left out of
    exposures and feedback (the truth keeps every impression).
    """
    names.extend_posts(len(world.post_created_us))
    n = len(day.imp_post)
    requests = names.requests(day_index, len(day.session_user))
    imp_user = day.session_user[day.imp_session]
    post_author = world.post_author[day.imp_post]
    request_id = _take(requests, day.imp_session)
    item_id = _take(names.posts, day.imp_post)
    unit_id = _take(names.users, imp_user)
    contract = {
        "ts": _ts(day.session_ts_us[day.imp_session]),
        "deployment": _const(deployment, n, pa.string()),
        "request_id": request_id,
        "unit_id": unit_id,
        "item_id": item_id,
        "arm": _const(ARM, n, pa.string()) if arms is None else _take(pa.array(
            ["interleaved"] * len(arms.names) if arms.team is not None else list(arms.names), pa.string()), arms.arm),
        "model_version": _const(MODEL_VERSION, n, pa.string()) if arms is None else _take(
            pa.array(list(arms.versions), pa.string()), arms.arm if arms.team is None else arms.team),
        "score": pa.array(day.imp_score, pa.float64()),
        "served": _const(True, n, pa.bool_()),
        "position": pa.array(day.imp_position.astype(np.int32), pa.int32()),
        "latency_ms": pa.array(day.latency_ms[day.imp_session], pa.float64()),
    }
    features = {
        "country": _take(names.countries, world.country[imp_user]),
        "device": _take(names.devices, world.device[imp_user]),
        "age_bucket": _take(names.ages, world.age_bucket[imp_user]),
        "user_top_topic": _take(names.topics, world.top_topic[imp_user]),
        "user_activity": pa.array(day.imp_activity, pa.int64()),
        "topic": _take(names.topics, world.post_topic[day.imp_post]),
        "author_id": _take(names.authors, post_author),
        "author_followers": pa.array(world.author_followers[post_author], pa.int64()),
        "post_age_hours": pa.array(np.round(day.imp_age_h, 4), pa.float64()),
        "post_quality_score": pa.array(world.post_quality_score[day.imp_post], pa.float64()),
    }
    schema = pa.schema([*EXPOSURE, *FEATURES])
    if arms is not None and arms.team is not None:
        features["team"] = _take(pa.array(list(arms.names[:2]), pa.string()), arms.team)
        schema = schema.append(pa.field("team", pa.string()))
    exposures = pa.table({**contract, **features}, schema=schema)
    truth = pa.table({"request_id": request_id, "item_id": item_id,
                      "true_p": pa.array(day.true_p, pa.float64()),
                      "p_engage": pa.array(day.p_engage, pa.float64())}, schema=TRUTH)
    imp = np.concatenate([day.click_imp, day.like_imp])
    ts = np.concatenate([day.click_ts_us, day.like_ts_us])
    event = np.concatenate([np.zeros(len(day.click_imp), np.int64), np.ones(len(day.like_imp), np.int64)])
    if arms is not None and not arms.logged.all():
        kept = arms.logged[imp]
        imp, ts, event = imp[kept], ts[kept], event[kept]
        exposures = exposures.filter(pa.array(arms.logged))
    order = np.lexsort((event, ts))
    imp, ts, event = imp[order], ts[order], event[order]
    feedback = pa.table({
        "ts": _ts(ts),
        "deployment": _const(deployment, len(imp), pa.string()),
        "request_id": _take(request_id, imp),
        "unit_id": _take(unit_id, imp),
        "item_id": _take(item_id, imp),
        "event": _take(pa.array(["click", "like"], pa.string()), event),
        "value": _const(1.0, len(imp), pa.float64()),
    }, schema=FEEDBACK)
    return exposures, feedback, truth


def shadow_exposures(world: World, names: Names, day_index: int, seen: Candidates, scores: np.ndarray, *,
                     sessions: np.ndarray, arm: pa.Array, version: str, latency_ms: np.ndarray,
                     deployment: str) -> pa.Table:
    """A shadow's exposures (``served=false``) for the chosen ``sessions`` (bool, per session), as serving logs
    them: per session the candidates it scored, best first, at most ``SHADOW_LOG_TOP``, each with its score
    and its ``position`` in the shadow's own ranking, the unit's ``arm`` (one per session) and the shadow's
    ``version``. Unusable candidates and those it gave no finite score are left out.
    """
    names.extend_posts(len(world.post_created_us))
    ranked = np.where(seen.usable & np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :SHADOW_LOG_TOP]
    keep = np.isfinite(np.take_along_axis(ranked, order, axis=1)) & sessions[:, None]
    session, position = np.nonzero(keep)
    column = order[session, position]
    post = seen.cand[session, column]
    user = seen.users[session]
    author = world.post_author[post]
    n = len(post)
    contract = {
        "ts": _ts(seen.ts_us[session]),
        "deployment": _const(deployment, n, pa.string()),
        "request_id": _take(names.requests(day_index, len(seen.users)), session),
        "unit_id": _take(names.users, user),
        "item_id": _take(names.posts, post),
        "arm": _take(arm, session),
        "model_version": _const(version, n, pa.string()),
        "score": pa.array(scores[session, column], pa.float64()),
        "served": _const(False, n, pa.bool_()),
        "position": pa.array(position.astype(np.int32), pa.int32()),
        "latency_ms": pa.array(latency_ms[session], pa.float64()),
    }
    features = {
        "country": _take(names.countries, world.country[user]),
        "device": _take(names.devices, world.device[user]),
        "age_bucket": _take(names.ages, world.age_bucket[user]),
        "user_top_topic": _take(names.topics, world.top_topic[user]),
        "user_activity": pa.array(seen.activity[session], pa.int64()),
        "topic": _take(names.topics, world.post_topic[post]),
        "author_id": _take(names.authors, author),
        "author_followers": pa.array(world.author_followers[author], pa.int64()),
        "post_age_hours": pa.array(np.round(seen.age_h[session, column], 4), pa.float64()),
        "post_quality_score": pa.array(world.post_quality_score[post], pa.float64()),
    }
    return pa.table({**contract, **features}, schema=pa.schema([*EXPOSURE, *FEATURES]))
