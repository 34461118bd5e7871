"""``FeedSimulator``: runs the world day by day and writes exposures, feedback and the truth."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopline._progress import SILENT, Progress
from loopline.events import EventLog
from loopline.simulate._config import SimConfig
from loopline.simulate._day import US_PER_DAY, US_PER_HOUR, simulate_day
from loopline.simulate._tables import TRUTH, Names, build_tables
from loopline.simulate._world import add_posts, apply_drift, make_world, record_sessions, topic_name

TRUTH_FOLDER = "_simulation"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SimulationResult:
    """What a run produced: counts, the segments written and where the ground truth is."""

    impressions: int
    clicks: int
    likes: int
    sessions: int
    ctr: float
    paths: tuple[Path, ...]
    truth_path: Path
    start: datetime
    end: datetime
    drift_topics: tuple[str, ...]
    """For each entry of ``config.drift``, the topic it concerned (e.g. ``'t12'`` for a new topic)."""


@dataclass(frozen=True)
class _SimDay:
    index: int
    exposures: pa.Table
    feedback: pa.Table
    truth: pa.Table
    sessions: int


class FeedSimulator:
    """A social feed with known ground truth. See :mod:`loopline.simulate` for the model.

    >>> sim = FeedSimulator(SimConfig(seed=1, n_users=200, n_posts_per_day=60, n_authors=40, days=2))
    >>> exposures, feedback, truth = sim.run_frames()
    >>> len(exposures) == len(truth), sorted(feedback["event"].unique())
    (True, ['click', 'like'])
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.drift_topics: tuple[str, ...] = ()

    def _days(self) -> Iterator[_SimDay]:
        config = self.config
        rng = np.random.default_rng(config.seed)
        world = make_world(config, rng)
        names = Names(world, seed=config.seed)
        start_us = (config.start - _EPOCH) // timedelta(microseconds=1)
        warmup_h = config.freshness_window_h
        add_posts(world, config, rng, start_us=start_us - int(warmup_h * US_PER_HOUR), hours=warmup_h)
        drift_topics: list[str] = [""] * len(config.drift)
        intercept: float | None = None
        for d in range(config.days):
            day_start = start_us + d * US_PER_DAY
            for i, drift in enumerate(config.drift):
                if drift.day == d:
                    drift_topics[i] = topic_name(apply_drift(world, config, drift, rng))
            add_posts(world, config, rng, start_us=day_start, hours=24.0)
            day, counts, solved = simulate_day(world, config, rng, day_start, intercept)
            if len(day.imp_post):
                intercept = solved
            record_sessions(world, counts)
            exposures, feedback, truth = build_tables(world, day, names, d)
            yield _SimDay(d, exposures, feedback, truth, len(day.session_user))
        self.drift_topics = tuple(drift_topics)

    def run_frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(exposures, feedback, truth) as DataFrames, without writing anything."""
        days = list(self._days())
        frames = []
        for part in ("exposures", "feedback", "truth"):
            tables = [getattr(day, part) for day in days]
            frame: pd.DataFrame = pa.concat_tables(tables).to_pandas()
            frames.append(frame)
        return frames[0], frames[1], frames[2]

    def run(self, log: EventLog, *, progress: Progress = SILENT) -> SimulationResult:
        """Simulate every day, append exposures and feedback to ``log``, and write the truth.

        The truth (``request_id``, ``item_id``, ``true_p``, ``p_engage``) goes to
        ``<log root>/_simulation/truth.parquet``, replacing the truth of an earlier run.
        """
        config = self.config
        paths: list[Path] = []
        truths: list[pa.Table] = []
        impressions = clicks = likes = n_sessions = 0
        progress.start("simulating days", total=config.days)
        try:
            for day in self._days():
                paths.extend(log.write("exposures", day.exposures))
                paths.extend(log.write("feedback", day.feedback))
                truths.append(day.truth)
                impressions += day.exposures.num_rows
                events = day.feedback.column("event").to_numpy(zero_copy_only=False)
                clicks += int(np.sum(events == "click"))
                likes += int(np.sum(events == "like"))
                n_sessions += day.sessions
                progress.advance()
        finally:
            progress.finish()
        truth_path = _write_truth(log.root / TRUTH_FOLDER, pa.concat_tables(truths) if truths
                                  else TRUTH.empty_table())
        return SimulationResult(
            impressions=impressions, clicks=clicks, likes=likes, sessions=n_sessions,
            ctr=clicks / impressions if impressions else 0.0,
            paths=tuple(paths), truth_path=truth_path,
            start=config.start, end=config.start + timedelta(days=config.days),
            drift_topics=self.drift_topics,
        )


def _write_truth(folder: Path, table: pa.Table) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / "truth.parquet"
    temporary = folder / f".truth-{uuid.uuid4().hex}.parquet.tmp"
    try:
        with open(temporary, "wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return final
