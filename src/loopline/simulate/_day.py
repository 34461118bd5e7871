"""One simulated day, vectorised: sessions, the serving policy's feeds, engagement and clicks.

Returns integer-coded arrays; :mod:`loopline.simulate._tables` turns them into event-log tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from loopline.simulate._config import SimConfig, SimulationError
from loopline.simulate._world import AGE_EFFECT, COUNTRY_EFFECT, DEVICE_EFFECT, World, user_activity

US_PER_S = 1_000_000
US_PER_HOUR = 3600 * US_PER_S
US_PER_DAY = 24 * US_PER_HOUR

# When people open the app (UTC hour weights): quiet at night, busiest in the evening.
HOUR_WEIGHTS = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 0.8, 0.8, 0.8, 0.9,
                         1.0, 0.9, 0.8, 0.8, 0.9, 1.0, 1.2, 1.4, 1.5, 1.3, 0.9, 0.5])

# The ground truth of engagement, on the logit scale.
W_INTEREST = 3.0  # times interest[user, topic], a share in [0, 1]
W_QUALITY = 0.5  # times the latent post quality (about N(0, 1))
W_FOLLOWERS = 0.15  # times log(1 + author followers), centred
W_AGE_PER_HOUR = 0.02  # freshness: minus this per hour of post age
POLICY_NOISE = 0.5  # scale of the Gumbel exploration noise in the serving policy's ranking
LIKE_GIVEN_CLICK_QUALITY = 0.8  # likes follow clicks more often on better posts


@dataclass(frozen=True)
class Day:
    """Impressions (one row per shown post) and the clicks and likes they caused."""

    session_ts_us: np.ndarray  # (sessions,)
    session_user: np.ndarray
    imp_session: np.ndarray  # (impressions,) index into the session arrays
    imp_post: np.ndarray
    imp_position: np.ndarray
    imp_score: np.ndarray  # the policy's score
    imp_age_h: np.ndarray
    imp_activity: np.ndarray  # sessions over the previous days, as known at serving time
    true_p: np.ndarray  # the click probability
    p_engage: np.ndarray  # the probability of a click if the post is examined
    click_imp: np.ndarray  # (clicks,) index into the impressions
    click_ts_us: np.ndarray
    like_imp: np.ndarray  # (likes,) index into the impressions
    like_ts_us: np.ndarray
    latency_ms: np.ndarray  # (sessions,)
    imp_team: np.ndarray | None = None  # (impressions,) interleaving team (0: A, 1: B)


Rerank = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                  tuple[np.ndarray, np.ndarray, np.ndarray | None]]
"""An experiment's ranking: given (session users, session times, candidates (sessions, k), the built-in policy's scores
with -inf for unusable candidates, candidate ages in hours), return the chosen columns (sessions,
feed_length) best first, the score to log per candidate (sessions, k), and the team per slot or None."""

Lift = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""An experiment's planted effect: (impression users, impression sessions) -> relative lift of p_engage."""


def examination(position: np.ndarray, config: SimConfig) -> np.ndarray:
    """The probability that a user looks at the post shown at ``position`` (0 is the top)."""
    return np.asarray(1.0 / (1.0 + position) ** config.position_bias, dtype=float)


def sessions(world: World, config: SimConfig, rng: np.random.Generator, day_start_us: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-user session counts (Poisson, scaled by activity) and the sessions' users and times."""
    counts = rng.poisson(config.sessions_per_user_day * world.activity)
    user = np.repeat(np.arange(config.n_users), counts)
    hour = rng.choice(24, len(user), p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    ts = day_start_us + hour * US_PER_HOUR + rng.integers(0, US_PER_HOUR, len(user))
    order = np.argsort(ts, kind="stable")
    return counts, user[order], ts[order]


def engagement_logit(world: World, user: np.ndarray, post: np.ndarray, age_h: np.ndarray) -> np.ndarray:
    """The true logit of engagement without the intercept."""
    followers = np.log1p(world.author_followers[world.post_author[post]]) - 6.0
    return np.asarray(
        W_INTEREST * world.interest[user, world.post_topic[post]]
        + W_QUALITY * world.post_quality[post]
        + W_FOLLOWERS * followers
        - W_AGE_PER_HOUR * age_h
        + DEVICE_EFFECT[world.device[user]]
        + AGE_EFFECT[world.age_bucket[user]]
        + COUNTRY_EFFECT[world.country[user]]
        + world.propensity[user],
        dtype=float,
    )


def solve_intercept(logit: np.ndarray, exam: np.ndarray, target: float) -> float:
    """The intercept ``b0`` with ``mean(exam * sigmoid(b0 + logit)) == target`` (bisection).

    Raises :class:`SimulationError` when no intercept reaches ``target``: the click-through rate cannot
    exceed the mean examination probability, whatever the engagement.
    """
    lo, hi = -40.0, 40.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.mean(exam * _sigmoid(mid + logit)) < target:
            lo = mid
        else:
            hi = mid
    b0 = (lo + hi) / 2
    reached = float(np.mean(exam * _sigmoid(b0 + logit)))
    if abs(reached - target) > 1e-3 * target:
        raise SimulationError(
            f"SimConfig.base_ctr={target} cannot be reached: with position_bias and feed_length as set, at most "
            f"{np.mean(exam):.4f} of impressions are examined (the CTR is {reached:.4f} at the closest). Lower "
            "base_ctr or position_bias, or shorten feed_length."
        )
    return b0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=float)


def serve(world: World, config: SimConfig, rng: np.random.Generator, user: np.ndarray, ts_us: np.ndarray,
          rerank: Rerank | None = None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The serving policy: for each session, ``feed_length`` posts from the last ``freshness_window_h``.

    Half the candidates are drawn uniformly from recent posts, half in proportion to the square root
    of the author's followers; they are ranked by a cheap heuristic (author audience, the quality
    score, freshness, the declared top topic) plus exploration noise. Returns, for the shown posts,
    (session index, post, position, policy score, interleaving team or None), in session order then
    position. An experiment's ``rerank`` replaces the ranking step; candidates are drawn the same way.
    """
    created = world.post_created_us
    lo = np.searchsorted(created, ts_us - int(config.freshness_window_h * US_PER_HOUR), side="left")
    hi = np.searchsorted(created, ts_us, side="left")  # strictly before the session
    has = hi > lo
    n_sessions, length = len(user), config.feed_length
    k = max(config.candidates_per_session, 2 * length)
    k_random = k // 2
    span = np.maximum(hi - lo, 1)
    uniform = lo[:, None] + (rng.random((n_sessions, k_random)) * span[:, None]).astype(np.int64)
    weight = np.sqrt(world.author_followers[world.post_author]).astype(float)
    cum = np.concatenate([[0.0], np.cumsum(weight)])
    u = cum[lo][:, None] + rng.random((n_sessions, k - k_random)) * (cum[hi] - cum[lo])[:, None]
    popular = np.clip(np.searchsorted(cum, u, side="right") - 1, lo[:, None], np.maximum(hi - 1, lo)[:, None])
    cand = np.sort(np.concatenate([uniform, popular], axis=1), axis=1)
    cand = np.minimum(cand, max(len(created) - 1, 0))
    age_h = (ts_us[:, None] - created[cand]) / US_PER_HOUR
    topic_match = world.post_topic[cand] == world.top_topic[user][:, None]
    h = (0.3 * np.log1p(world.author_followers[world.post_author[cand]])
         + 2.0 * world.post_quality_score[cand]
         - 0.03 * age_h
         + 0.8 * topic_match
         + POLICY_NOISE * rng.gumbel(size=cand.shape))
    duplicate = np.zeros(cand.shape, dtype=bool)
    duplicate[:, 1:] = cand[:, 1:] == cand[:, :-1]
    h = np.where(duplicate | ~has[:, None], -np.inf, h)
    team: np.ndarray | None = None
    if rerank is None:
        top = np.argsort(-h, axis=1, kind="stable")[:, :length]
        logged = _sigmoid(h - 3.0)
    else:
        top, logged, team = rerank(user, ts_us, cand, h, age_h)
    shown_h = np.take_along_axis(h, np.maximum(top, 0), axis=1)
    shown = np.isfinite(shown_h) & (top >= 0)
    session = np.broadcast_to(np.arange(n_sessions)[:, None], top.shape)[shown]
    position = np.broadcast_to(np.arange(top.shape[1])[None, :], top.shape)[shown]
    post = np.take_along_axis(cand, np.maximum(top, 0), axis=1)[shown]
    score = np.take_along_axis(logged, np.maximum(top, 0), axis=1)[shown]
    return session, post, position, score, None if team is None else team[shown]


def simulate_day(world: World, config: SimConfig, rng: np.random.Generator, day_start_us: int,
                 intercept: float | None, rerank: Rerank | None = None,
                 lift: Lift | None = None) -> tuple[Day, np.ndarray, float]:
    """Simulate one day from ``day_start_us``; return it, the users' session counts and the intercept.

    With ``intercept=None`` the intercept is solved so that this day's CTR matches ``base_ctr``.
    """
    counts, user, ts = sessions(world, config, rng, day_start_us)
    session, post, position, score, team = serve(world, config, rng, user, ts, rerank)
    imp_user, imp_ts = user[session], ts[session]
    age_h = (imp_ts - world.post_created_us[post]) / US_PER_HOUR
    logit = engagement_logit(world, imp_user, post, age_h)
    exam = examination(position, config)
    if intercept is None:
        intercept = solve_intercept(logit, exam, config.base_ctr) if len(logit) else 0.0
    p_engage = _sigmoid(intercept + logit)
    if lift is not None:
        p_engage = np.minimum(p_engage * (1.0 + lift(imp_user, session)), 0.999)
    true_p = exam * p_engage
    clicked = np.flatnonzero(rng.random(len(true_p)) < true_p)
    delay_s = rng.lognormal(np.log(config.click_delay_median_s), config.click_delay_sigma, len(clicked))
    click_ts = imp_ts[clicked] + np.maximum((delay_s * US_PER_S).astype(np.int64), 1)
    like_logit = np.log(config.like_share / (1 - config.like_share)) \
        + LIKE_GIVEN_CLICK_QUALITY * world.post_quality[post[clicked]]
    liked = rng.random(len(clicked)) < _sigmoid(like_logit)
    like_delay_s = rng.lognormal(np.log(20.0), 1.0, int(liked.sum()))
    like_ts = click_ts[liked] + np.maximum((like_delay_s * US_PER_S).astype(np.int64), 1)
    latency = np.round(rng.lognormal(np.log(18.0), 0.35, len(user)), 2)
    activity = user_activity(world)[imp_user]
    day = Day(session_ts_us=ts, session_user=user, imp_session=session, imp_post=post,
              imp_position=position, imp_score=score, imp_age_h=age_h, imp_activity=activity,
              true_p=true_p, p_engage=p_engage, click_imp=clicked, click_ts_us=click_ts,
              like_imp=clicked[liked], like_ts_us=like_ts, latency_ms=latency, imp_team=team)
    return day, counts, intercept
