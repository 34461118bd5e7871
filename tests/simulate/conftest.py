from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from loopline.simulate import Drift, FeedSimulator, SimConfig

SMALL = SimConfig(seed=3, n_users=3000, n_posts_per_day=150, n_authors=150, days=4)


@dataclass(frozen=True)
class Frames:
    config: SimConfig
    exposures: pd.DataFrame
    feedback: pd.DataFrame
    truth: pd.DataFrame
    drift_topics: tuple[str, ...]

    def impressions(self) -> pd.DataFrame:
        """Exposures with their truth, the day index, and whether (and when) they were clicked."""
        clicks = self.feedback[self.feedback["event"] == "click"][["request_id", "item_id", "ts"]]
        out = (self.exposures.merge(self.truth, on=["request_id", "item_id"], how="left", validate="1:1")
               .merge(clicks.rename(columns={"ts": "click_ts"}), on=["request_id", "item_id"], how="left",
                      validate="1:1"))
        out["clicked"] = out["click_ts"].notna()
        out["day"] = (out["ts"] - self.config.start) // pd.Timedelta(days=1)
        return out


def simulate(config: SimConfig) -> Frames:
    sim = FeedSimulator(config)
    exposures, feedback, truth = sim.run_frames()
    return Frames(config, exposures, feedback, truth, sim.drift_topics)


@pytest.fixture(scope="session")
def small() -> Frames:
    return simulate(SMALL)


@pytest.fixture(scope="session")
def shifted() -> Frames:
    """Half the users move most of their interest to topic t02 from day 3 on."""
    config = SimConfig(seed=5, n_users=3000, n_posts_per_day=150, n_authors=150, days=6,
                       drift=(Drift(day=3, kind="interest_shift", strength=0.5, topic=2),))
    return simulate(config)


@pytest.fixture(scope="session")
def new_topic() -> Frames:
    config = SimConfig(seed=6, n_users=2000, n_posts_per_day=150, n_authors=150, days=5,
                       drift=(Drift(day=2, kind="new_topic", strength=0.3),))
    return simulate(config)
