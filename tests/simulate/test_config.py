"""``SimConfig`` refuses settings the simulator cannot honour, naming the field and the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from loopline.simulate import Drift, FeedSimulator, SimConfig, SimulationError


@pytest.mark.parametrize(("settings", "message"), [
    ({"n_users": 0}, r"SimConfig.n_users must be positive, got 0"),
    ({"days": 2.5}, r"SimConfig.days must be an integer, got 2.5"),
    ({"seed": -1}, r"SimConfig.seed must be >= 0"),
    ({"n_topics": 1}, r"SimConfig.n_topics must be at least 2"),
    ({"base_ctr": 1.0}, r"SimConfig.base_ctr must be strictly between 0 and 1"),
    ({"late_click_share": 0.6}, r"SimConfig.late_click_share must be below 0.5"),
    ({"click_delay_median_s": 1800.0}, r"click_delay_median_s must be below 1800"),
    ({"position_bias": -0.1}, r"SimConfig.position_bias must be >= 0"),
    ({"start": datetime(2026, 1, 1)}, r"SimConfig.start=2026-01-01T00:00:00 has no time zone"),
    ({"drift": (Drift(day=9, kind="new_topic", strength=0.2),)}, r"SimConfig.drift\[0\].day=9 is outside"),
    ({"drift": (Drift(day=1, kind="new_topic", strength=0.0),)}, r"drift\[0\].strength must be in \(0, 1\]"),
    ({"drift": (Drift(day=1, kind="interest_shift", strength=0.5, topic=12),)}, r"drift\[0\].topic must be in 0..11"),
    ({"drift": (Drift(day=1, kind="flood", strength=0.5),)},  # type: ignore[arg-type]
     r"drift\[0\].kind must be 'interest_shift' or 'new_topic'"),
])
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        SimConfig(**{"days": 5, **settings})


def test_an_unreachable_base_ctr_is_refused_not_silently_missed() -> None:
    # With position_bias=3 the mean examination probability of a 10-post feed is about 0.15.
    config = SimConfig(n_users=200, n_posts_per_day=50, n_authors=30, days=1, position_bias=3.0, base_ctr=0.5)
    with pytest.raises(SimulationError, match=r"base_ctr=0.5 cannot be reached: .* at most 0.1\d+ of impressions"):
        FeedSimulator(config).run_frames()


def test_a_start_in_another_zone_is_kept_as_the_same_instant_in_utc() -> None:
    config = SimConfig(start=datetime(2026, 1, 1, 19, tzinfo=timezone(timedelta(hours=-5))))
    assert config.start == datetime(2026, 1, 2, 0, tzinfo=UTC) and config.start.tzinfo is UTC
    assert config.n_topic_slots == 12
    assert SimConfig(drift=(Drift(day=1, kind="new_topic", strength=0.2),)).n_topic_slots == 13
