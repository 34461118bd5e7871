"""``FeedSimulator``: runs the world day by day and writes exposures, feedback and the truth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopline import _atomic as atomic
from loopline._progress import SILENT, Progress
from loopline.events import TS, EventLog
from loopline.simulate._config import SimConfig
from loopline.simulate._day import US_PER_DAY, US_PER_HOUR, Day, simulate_day
from loopline.simulate._experiment import ExperimentState, SimExperiment, make_rerank
from loopline.simulate._tables import DEPLOYMENT, TRUTH, ArmLabels, Names, build_tables
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
    experiment_truth: dict[str, Any] | None = None
    """With ``config.experiment``: per arm (per team when interleaving) the units, impressions and expected
    clicks (sums of the true click probability) over the experiment's days, and each treatment's true
    effect against control (``effects[arm]``: ``ctr_relative``, ``ctr_absolute``, ``clicks_per_unit_relative``)."""


@dataclass(frozen=True)
class _SimDay:
    index: int
    exposures: pa.Table
    feedback: pa.Table
    truth: pa.Table
    sessions: int
    assignments: pa.Table | None = None
    arms: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (arm index, user, true_p) per impression


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
        experiment = config.experiment
        state = None if experiment is None else ExperimentState(
            experiment, names.users.to_pylist(), seed=config.seed)
        for d in range(config.days):
            day_start = start_us + d * US_PER_DAY
            for i, drift in enumerate(config.drift):
                if drift.day == d:
                    drift_topics[i] = topic_name(apply_drift(world, config, drift, rng))
            add_posts(world, config, rng, start_us=day_start, hours=24.0)
            running = state is not None and d >= state.experiment.start_day
            rerank = make_rerank(state, world, names, config, d) if running and state is not None else None
            lift = state.lift_of_day(d) if running and state is not None and not state.experiment.interleave else None

            day, counts, solved = simulate_day(world, config, rng, day_start, intercept, rerank, lift)
            if len(day.imp_post):
                intercept = solved
            record_sessions(world, counts)
            labels, assignments = (None, None) if not running or state is None else _experiment_day(
                state, day, names, d)
            exposures, feedback, truth = build_tables(world, day, names, d, labels)
            arms = None if labels is None else (labels.arm, day.session_user[day.imp_session], day.true_p)
            yield _SimDay(d, exposures, feedback, truth, len(day.session_user), assignments, arms)
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
        arm_days: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        impressions = clicks = likes = n_sessions = 0
        progress.start("simulating days", total=config.days)
        try:
            for day in self._days():
                paths.extend(log.write("exposures", day.exposures))
                paths.extend(log.write("feedback", day.feedback))
                if day.assignments is not None and day.assignments.num_rows:
                    paths.extend(log.write("assignments", day.assignments))
                truths.append(day.truth)
                if day.arms is not None:
                    arm_days.append(day.arms)
                impressions += day.exposures.num_rows
                events = day.feedback.column("event").to_numpy(zero_copy_only=False)
                clicks += int(np.sum(events == "click"))
                likes += int(np.sum(events == "like"))
                n_sessions += day.sessions
                progress.advance()
        finally:
            progress.finish()
        all_truth = pa.concat_tables(truths) if truths else TRUTH.empty_table()
        truth_path = _write_truth(log.root / TRUTH_FOLDER, all_truth)
        experiment_truth = None if config.experiment is None else _experiment_truth(config.experiment, arm_days)
        return SimulationResult(
            impressions=impressions, clicks=clicks, likes=likes, sessions=n_sessions,
            ctr=clicks / impressions if impressions else 0.0,
            paths=tuple(paths), truth_path=truth_path,
            start=config.start, end=config.start + timedelta(days=config.days),
            drift_topics=self.drift_topics, experiment_truth=experiment_truth,
        )


def _experiment_day(state: ExperimentState, day: Day, names: Names, day_index: int
                    ) -> tuple[ArmLabels, pa.Table]:
    """The day's arm labels per impression and the assignment records of units first exposed today."""
    experiment = state.experiment
    imp_user = day.session_user[day.imp_session]
    team = day.imp_team
    arm = state.arm_index[imp_user] if team is None else team
    labels = ArmLabels(arm=arm, names=experiment.arm_names,
                       versions=tuple(experiment.version(a) for a in experiment.arm_names),
                       logged=~state.lost[imp_user], team=team)
    imp_ts = day.session_ts_us[day.imp_session]
    order = np.lexsort((imp_ts, imp_user))
    users_sorted = imp_user[order]
    first_rows = order[np.r_[True, users_sorted[1:] != users_sorted[:-1]]] if len(order) else order
    users, first_ts = imp_user[first_rows], imp_ts[first_rows]
    new = state.first_day[users] < 0
    state.first_day[users[new]] = day_index
    keep = new & ~state.lost[users]
    users, first_ts = users[keep], first_ts[keep]
    arm_names = pa.array(["interleaved"] * len(experiment.arm_names) if experiment.interleave
                         else list(experiment.arm_names), pa.string())
    assignments = pa.table({
        "ts": pa.array(first_ts.astype(np.int64), pa.int64()).cast(TS),
        "deployment": pa.repeat(pa.scalar(DEPLOYMENT, pa.string()), len(users)),
        "experiment": pa.repeat(pa.scalar(experiment.name, pa.string()), len(users)),
        "unit_id": names.users.take(pa.array(users, pa.int64())),
        "arm": arm_names.take(pa.array(state.arm_index[users], pa.int64())),
    })
    return labels, assignments


def _experiment_truth(experiment: SimExperiment, days: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                      ) -> dict[str, Any]:
    """Expected clicks per arm (per team when interleaving) from the true click probabilities."""
    arm = np.concatenate([d[0] for d in days]) if days else np.zeros(0, dtype=np.int64)
    user = np.concatenate([d[1] for d in days]) if days else np.zeros(0, dtype=np.int64)
    true_p = np.concatenate([d[2] for d in days]) if days else np.zeros(0)
    arms: dict[str, dict[str, float]] = {}
    for i, name in enumerate(experiment.arm_names):
        rows = arm == i
        if not rows.any():
            continue
        units = len(np.unique(user[rows]))
        expected = float(true_p[rows].sum())
        arms[name] = {"units": units, "impressions": int(rows.sum()), "expected_clicks": expected,
                      "expected_clicks_per_unit": expected / units, "expected_ctr": expected / int(rows.sum())}
    control = arms.get(experiment.arm_names[0])
    effects: dict[str, dict[str, float]] = {}
    if control is not None and not experiment.interleave:
        for name in experiment.arm_names[1:]:
            found = arms.get(name)
            if found is None or not control["expected_ctr"]:
                continue
            effects[name] = {
                "ctr_absolute": found["expected_ctr"] - control["expected_ctr"],
                "ctr_relative": found["expected_ctr"] / control["expected_ctr"] - 1.0,
                "clicks_per_unit_relative": found["expected_clicks_per_unit"] / control["expected_clicks_per_unit"]
                - 1.0,
            }
    out: dict[str, Any] = {"experiment": experiment.name, "arms": arms, "effects": effects}
    if experiment.interleave:
        total = sum(a["expected_clicks"] for a in arms.values()) or 1.0
        out["expected_click_share"] = {k: v["expected_clicks"] / total for k, v in arms.items()}
    return out


def _write_truth(folder: Path, table: pa.Table) -> Path:
    final = folder / "truth.parquet"
    with atomic.writing(final) as handle:
        pq.write_table(table, handle)
    return final
