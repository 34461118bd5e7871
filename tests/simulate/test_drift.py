"""Drift on a schedule: an interest shift lifts its topic after its day; a new topic starts on its day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.simulate.conftest import Frames


def _two_proportion_z(clicks_a: int, n_a: int, clicks_b: int, n_b: int) -> float:
    pooled = (clicks_a + clicks_b) / (n_a + n_b)
    return float((clicks_b / n_b - clicks_a / n_a) / np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b)))


def test_an_interest_shift_raises_the_ctr_and_click_share_of_its_topic(shifted: Frames) -> None:
    assert shifted.drift_topics == ("t02",)
    imp = shifted.impressions()
    after = imp["day"] >= 3
    on_topic = imp["topic"] == "t02"
    before_t, after_t = imp[~after & on_topic], imp[after & on_topic]
    z = _two_proportion_z(int(before_t["clicked"].sum()), len(before_t), int(after_t["clicked"].sum()), len(after_t))
    assert z > 4, f"CTR of t02 before {before_t['clicked'].mean():.4f}, after {after_t['clicked'].mean():.4f}"
    share_before = imp.loc[~after & imp["clicked"], "topic"].eq("t02").mean()
    share_after = imp.loc[after & imp["clicked"], "topic"].eq("t02").mean()
    assert share_after > 1.5 * share_before
    # The truth moves only for that topic: engagement with other topics does not rise.
    other = imp[~on_topic]
    assert other.loc[other["day"] >= 3, "p_engage"].mean() <= other.loc[other["day"] < 3, "p_engage"].mean() * 1.05
    # The declared top topic is observable and goes stale: it does not follow the shift.
    top = imp.groupby("unit_id")["user_top_topic"].nunique()
    assert (top == 1).all()


def test_a_new_topic_appears_only_from_its_day(new_topic: Frames) -> None:
    name = new_topic.drift_topics[0]
    assert name == f"t{new_topic.config.n_topics:02d}"
    imp = new_topic.impressions()
    shown = imp[imp["topic"] == name]
    first_day = pd.Timestamp(new_topic.config.start) + pd.Timedelta(days=2)
    assert len(shown) > 1000
    assert (shown["ts"] >= first_day).all()
    # Every post about it was created on or after its day (its age at exposure fits inside that span).
    created = shown["ts"] - pd.to_timedelta(shown["post_age_hours"], unit="h")
    assert (created >= first_day - pd.Timedelta(seconds=1)).all()
    # Some users like it: it is clicked at a rate comparable to the rest of the feed.
    ctr_new = shown["clicked"].mean()
    ctr_rest = imp.loc[(imp["ts"] >= first_day) & (imp["topic"] != name), "clicked"].mean()
    assert ctr_new > 0.5 * ctr_rest
