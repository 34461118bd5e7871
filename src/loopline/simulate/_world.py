"""The simulated world: users, authors and posts, their latent truth and what is observable of it.

Everything here is numpy arrays indexed by integer ids; strings are made only when tables are built.
The world changes in place as days pass: posts are added each day and drift events edit interests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loopline.simulate._config import Drift, SimConfig

COUNTRIES = ("us", "in", "br", "gb", "de")
COUNTRY_P = (0.35, 0.2, 0.15, 0.15, 0.15)
COUNTRY_EFFECT = np.array([0.0, 0.1, 0.1, -0.05, -0.1])
DEVICES = ("ios", "android", "web")
DEVICE_P = (0.4, 0.4, 0.2)
DEVICE_EFFECT = np.array([0.15, 0.0, -0.3])
AGE_BUCKETS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_P = (0.2, 0.3, 0.25, 0.15, 0.1)
AGE_EFFECT = np.array([0.25, 0.1, 0.0, -0.1, -0.25])

INTEREST_ALPHA = 0.3  # Dirichlet concentration: most users care about two or three topics
TOP_TOPIC_ACCURACY = 0.7  # how often the declared top topic is the true strongest interest
PROPENSITY_SD = 0.5  # spread of the users' latent click propensity (logit scale)
QUALITY_SCORE_NOISE = 0.7  # noise of the observable quality score around the latent quality
ACTIVITY_HISTORY_DAYS = 7  # user_activity counts sessions over this many previous days
_US_PER_HOUR = 3_600_000_000


def topic_name(k: int) -> str:
    return f"t{k:02d}"


@dataclass
class World:
    """Latent and observable state. Mutable: ``add_posts`` and ``apply_drift`` change it."""

    interest: np.ndarray  # (users, topic slots), rows sum to 1; latent
    activity: np.ndarray  # (users,) mean 1, scales session rate; latent
    propensity: np.ndarray  # (users,) latent click propensity on the logit scale
    country: np.ndarray  # (users,) codes into COUNTRIES
    device: np.ndarray
    age_bucket: np.ndarray
    top_topic: np.ndarray  # (users,) the declared (noisy) strongest interest; observable
    session_history: np.ndarray  # (ACTIVITY_HISTORY_DAYS, users) sessions per previous day
    author_followers: np.ndarray  # (authors,) observable
    author_quality: np.ndarray  # (authors,) latent
    author_topic: np.ndarray  # (authors,) the topic an author mostly writes about
    active_topics: np.ndarray  # (topic slots,) bool: topics that exist today
    new_topic_share: dict[int, float]  # topic slot -> share of new posts about it
    post_created_us: np.ndarray  # (posts,) sorted by creation time
    post_topic: np.ndarray
    post_author: np.ndarray
    post_quality: np.ndarray  # latent
    post_quality_score: np.ndarray  # observable noisy proxy of post_quality, in (0, 1)
    next_new_slot: int


def make_world(config: SimConfig, rng: np.random.Generator) -> World:
    """Draw users and authors; posts start empty (see :func:`add_posts`)."""
    n, slots = config.n_users, config.n_topic_slots
    interest = np.zeros((n, slots))
    interest[:, : config.n_topics] = rng.dirichlet(np.full(config.n_topics, INTEREST_ALPHA), size=n)
    strongest = interest.argmax(axis=1)
    sampled = _sample_rows(interest, rng)
    top_topic = np.where(rng.random(n) < TOP_TOPIC_ACCURACY, strongest, sampled)
    activity = rng.lognormal(0.0, 0.6, n)
    activity /= activity.mean()
    propensity = 0.3 * np.log(activity) + rng.normal(0.0, PROPENSITY_SD, n)
    history = rng.poisson(np.outer(np.ones(ACTIVITY_HISTORY_DAYS), config.sessions_per_user_day * activity))
    active = np.zeros(slots, dtype=bool)
    active[: config.n_topics] = True
    return World(
        interest=interest,
        activity=activity,
        propensity=propensity,
        country=rng.choice(len(COUNTRIES), n, p=COUNTRY_P),
        device=rng.choice(len(DEVICES), n, p=DEVICE_P),
        age_bucket=rng.choice(len(AGE_BUCKETS), n, p=AGE_P),
        top_topic=top_topic,
        session_history=history,
        author_followers=np.maximum(rng.lognormal(6.0, 1.6, config.n_authors), 1).astype(np.int64),
        author_quality=rng.normal(0.0, 0.6, config.n_authors),
        author_topic=rng.integers(0, config.n_topics, config.n_authors),
        active_topics=active,
        new_topic_share={},
        post_created_us=np.zeros(0, dtype=np.int64),
        post_topic=np.zeros(0, dtype=np.int64),
        post_author=np.zeros(0, dtype=np.int64),
        post_quality=np.zeros(0),
        post_quality_score=np.zeros(0),
        next_new_slot=config.n_topics,
    )


def _sample_rows(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column index per row of ``p``, drawn with the row's probabilities."""
    cum = p.cumsum(axis=1)
    u = rng.random(len(p)) * cum[:, -1]
    return np.asarray(np.minimum((cum < u[:, None]).sum(axis=1), p.shape[1] - 1), dtype=np.int64)


def add_posts(world: World, config: SimConfig, rng: np.random.Generator, *, start_us: int, hours: float) -> None:
    """Create ``n_posts_per_day`` posts per 24 hours, uniformly in ``[start_us, start_us + hours)``."""
    n = round(config.n_posts_per_day * hours / 24)
    created = start_us + np.sort(rng.integers(0, int(hours * _US_PER_HOUR), n))
    author = _draw_authors(world, rng, n)
    active = np.flatnonzero(world.active_topics[: config.n_topics])
    topic = np.where(rng.random(n) < 0.6, world.author_topic[author], rng.choice(active, n))
    for slot, share in world.new_topic_share.items():
        topic = np.where(rng.random(n) < share, slot, topic)
    quality = world.author_quality[author] + rng.normal(0.0, 0.8, n)
    score = np.round(1 / (1 + np.exp(-0.9 * (quality + rng.normal(0.0, QUALITY_SCORE_NOISE, n)))), 3)
    world.post_created_us = np.concatenate([world.post_created_us, created])
    world.post_topic = np.concatenate([world.post_topic, topic])
    world.post_author = np.concatenate([world.post_author, author])
    world.post_quality = np.concatenate([world.post_quality, quality])
    world.post_quality_score = np.concatenate([world.post_quality_score, score])


def _draw_authors(world: World, rng: np.random.Generator, n: int) -> np.ndarray:
    """Authors post at rates growing slowly with their audience."""
    weight = np.log1p(world.author_followers).astype(float)
    return rng.choice(len(weight), n, p=weight / weight.sum())


def apply_drift(world: World, config: SimConfig, drift: Drift, rng: np.random.Generator) -> int:
    """Change the world as ``drift`` says; return the topic slot it concerns."""
    affected = rng.random(config.n_users) < drift.strength
    if drift.kind == "interest_shift":
        if drift.topic is not None:
            target = drift.topic
        else:
            active = np.flatnonzero(world.active_topics)
            liked = world.interest[:, active].mean(axis=0)
            below = active[liked <= np.median(liked)]
            target = int(rng.choice(below))
        mix = 0.75
    else:
        target = world.next_new_slot
        world.next_new_slot += 1
        world.active_topics[target] = True
        world.new_topic_share[target] = drift.strength
        mix = 0.6
    world.interest[affected] *= 1 - mix
    world.interest[affected, target] += mix
    return int(target)


def user_activity(world: World) -> np.ndarray:
    """Sessions of each user over the previous ``ACTIVITY_HISTORY_DAYS`` days (known at the time)."""
    return np.asarray(world.session_history.sum(axis=0), dtype=np.int64)


def record_sessions(world: World, counts: np.ndarray) -> None:
    """Push today's session counts into the rolling history."""
    world.session_history = np.vstack([world.session_history[1:], counts[None, :]])
