"""The simulator's settings: one frozen ``SimConfig`` with a schedule of ``Drift`` events."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any, Literal

from loopline._errors import LooplineError

DriftKind = Literal["interest_shift", "new_topic"]


class SimulationError(LooplineError, ValueError):
    """The simulator's settings are inconsistent."""


@dataclass(frozen=True)
class Drift:
    """A change of the world from ``day`` (0-based) on.

    - ``interest_shift``: a share ``strength`` of users (drawn at random) move three quarters of their
      interest to one topic (``topic``, or one drawn from the seed among the less liked topics). Their
      declared ``user_top_topic`` does not change: the observable feature goes stale.
    - ``new_topic``: a topic that did not exist appears. A share ``strength`` of new posts are about it
      and a share ``strength`` of users like it (60% of their interest). ``topic`` is ignored.
    """

    day: int
    kind: DriftKind
    strength: float
    topic: int | None = None


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. Every default gives a 14-day feed of about 700,000 impressions at ~5% CTR.

    ``base_ctr`` is the click-through rate of day 0: the intercept of the engagement model is solved
    so that the mean click probability of day 0's impressions equals it; later days move with drift
    and user activity. ``position_bias`` is the exponent of the examination probability
    ``1 / (1 + position) ** position_bias``. Click delays are lognormal with median
    ``click_delay_median_s`` and a share ``late_click_share`` later than 30 minutes.
    """

    seed: int = 0
    n_users: int = 5000
    n_posts_per_day: int = 400
    n_topics: int = 12
    n_authors: int = 600
    days: int = 14
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    sessions_per_user_day: float = 1.0
    feed_length: int = 10
    position_bias: float = 0.7
    base_ctr: float = 0.05
    drift: tuple[Drift, ...] = field(default_factory=tuple)
    click_delay_median_s: float = 60.0
    late_click_share: float = 0.05
    like_share: float = 0.25
    candidates_per_session: int = 40
    freshness_window_h: float = 48.0
    experiment: Any = None
    """A :class:`~loopline.simulate.SimExperiment` to run from its ``start_day``, or None."""

    def __post_init__(self) -> None:
        counts = {"seed": self.seed, "n_users": self.n_users, "n_posts_per_day": self.n_posts_per_day,
                  "n_topics": self.n_topics, "n_authors": self.n_authors, "days": self.days,
                  "feed_length": self.feed_length, "candidates_per_session": self.candidates_per_session}
        for name, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, numbers.Integral):
                raise SimulationError(f"SimConfig.{name} must be an integer, got {count!r}.")
        if self.seed < 0:
            raise SimulationError(f"SimConfig.seed must be >= 0, got {self.seed}.")
        positive = {"n_users": self.n_users, "n_posts_per_day": self.n_posts_per_day, "n_topics": self.n_topics,
                    "n_authors": self.n_authors, "days": self.days, "feed_length": self.feed_length,
                    "candidates_per_session": self.candidates_per_session,
                    "sessions_per_user_day": self.sessions_per_user_day,
                    "click_delay_median_s": self.click_delay_median_s,
                    "freshness_window_h": self.freshness_window_h}
        for name, value in positive.items():
            if not value > 0:
                raise SimulationError(f"SimConfig.{name} must be positive, got {value}.")
        if self.n_topics < 2:
            raise SimulationError(f"SimConfig.n_topics must be at least 2, got {self.n_topics}.")
        shares = {"base_ctr": self.base_ctr, "late_click_share": self.late_click_share,
                  "like_share": self.like_share}
        for name, value in shares.items():
            if not 0 < value < 1:
                raise SimulationError(f"SimConfig.{name} must be strictly between 0 and 1, got {value}.")
        if self.late_click_share >= 0.5:
            raise SimulationError(
                f"SimConfig.late_click_share must be below 0.5, got {self.late_click_share}: the median click delay "
                "is under 30 minutes, so fewer than half the clicks can come later than that."
            )
        if self.click_delay_median_s >= 1800:
            raise SimulationError(
                f"SimConfig.click_delay_median_s must be below 1800 (30 minutes), got {self.click_delay_median_s}."
            )
        if self.position_bias < 0:
            raise SimulationError(f"SimConfig.position_bias must be >= 0 (0: no bias), got {self.position_bias}.")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise SimulationError(
                f"SimConfig.start={self.start.isoformat()} has no time zone; pass e.g. "
                "datetime(2026, 1, 1, tzinfo=timezone.utc)."
            )
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "drift", tuple(self.drift))
        if self.experiment is not None and not self.experiment.start_day < self.days:
            raise SimulationError(f"SimConfig.experiment starts on day {self.experiment.start_day}, but only days "
                                  f"0..{self.days - 1} are simulated; simulate more days.")
        for i, d in enumerate(self.drift):
            where = f"SimConfig.drift[{i}]"
            if d.kind not in ("interest_shift", "new_topic"):
                raise SimulationError(f"{where}.kind must be 'interest_shift' or 'new_topic', got {d.kind!r}.")
            if not 0 <= d.day < self.days:
                raise SimulationError(
                    f"{where}.day={d.day} is outside the simulated days 0..{self.days - 1}; pick a day in "
                    "that range or simulate more days."
                )
            if not 0 < d.strength <= 1:
                raise SimulationError(f"{where}.strength must be in (0, 1], got {d.strength}.")
            if d.topic is not None and not 0 <= d.topic < self.n_topics:
                raise SimulationError(f"{where}.topic must be in 0..{self.n_topics - 1}, got {d.topic}.")

    @property
    def click_delay_sigma(self) -> float:
        """The lognormal sigma that puts ``late_click_share`` of click delays beyond 30 minutes."""
        z = NormalDist().inv_cdf(1 - self.late_click_share)
        return max(math.log(1800.0 / self.click_delay_median_s) / z, 1e-6)

    @property
    def n_topic_slots(self) -> int:
        """The topics that exist at some point: the initial ones plus one per ``new_topic`` drift."""
        return self.n_topics + sum(d.kind == "new_topic" for d in self.drift)

