"""``FeedSimulator``: runs the world day by day and writes exposures, feedback and the truth."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
from loopline.simulate._config import SimConfig, SimulationError
from loopline.simulate._day import US_PER_DAY, US_PER_HOUR, Day, Rerank, simulate_day
from loopline.simulate._experiment import ArmRanking, ExperimentState, first_exposures, make_rerank
from loopline.simulate._plan import DayPlan, DaySummary, PlanState, arm_days
from loopline.simulate._tables import ARM, DEPLOYMENT, TRUTH, ArmLabels, Names, build_tables
from loopline.simulate._truth import ExperimentTruth, TrueEffect
from loopline.simulate._world import add_posts, apply_drift, make_world, record_sessions, topic_name

TRUTH_FOLDER = "_simulation"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Plan = Callable[[int], DayPlan | None]
"""Day index -> how that day is served (None: the built-in ranking)."""
AfterDay = Callable[[int, DaySummary], None]
"""Called with the day index and its summary once the day's records are in the log."""


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
    clicks (sums of the true click probability) over the experiment's days; ``population_effects[arm][metric]``
    and ``realised_effects[arm][metric]`` (``absolute``, ``relative``, ``control``, ``treatment``) as in
    :attr:`true_effects`; and ``effects[arm]`` (``ctr_relative``, ``ctr_absolute``, ``clicks_per_unit_relative``),
    the realised effects of the units drawn into each arm, kept for earlier readers."""
    true_effects: tuple[TrueEffect, ...] = ()
    """With ``config.experiment`` (not interleaved): each treatment arm's true effect on ``ctr``,
    ``clicks_per_user`` and ``engagement``, both the population effect the experiment's interval estimates
    and the realised effect of the units drawn into each arm (see :class:`~loopline.simulate.TrueEffect`)."""

    def true_effect(self, arm: str, metric: str = "ctr") -> TrueEffect:
        """The true effect of treatment ``arm`` on ``metric`` (see :attr:`true_effects`)."""
        for found in self.true_effects:
            if found.arm == arm and found.metric == metric:
                return found
        known = ", ".join(f"{e.arm}/{e.metric}" for e in self.true_effects) or "none (no A/B experiment was run)"
        raise SimulationError(f"no true effect of arm '{arm}' on metric '{metric}'; known: {known}.")


@dataclass(frozen=True)
class _SimDay:
    index: int
    exposures: pa.Table  # the served exposures, then the shadows' (served=false)
    feedback: pa.Table
    truth: pa.Table
    sessions: int
    summary: DaySummary
    assignments: pa.Table | None = None


class FeedSimulator:
    """A social feed with known ground truth. See :mod:`loopline.simulate` for the model.

    >>> sim = FeedSimulator(SimConfig(seed=1, n_users=200, n_posts_per_day=60, n_authors=40, days=2))
    >>> exposures, feedback, truth = sim.run_frames()
    >>> len(exposures) == len(truth), sorted(feedback["event"].unique())
    (True, ['click', 'like'])

    After a run (:meth:`run` or :meth:`run_frames`), :attr:`drift_topics`, :attr:`experiment_truth` and
    :attr:`true_effects` hold what :class:`SimulationResult` reports under the same names.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.drift_topics: tuple[str, ...] = ()
        self.experiment_truth: dict[str, Any] | None = None
        self.true_effects: tuple[TrueEffect, ...] = ()

    def _days(self, plan: Plan | None = None) -> Iterator[_SimDay]:
        config = self.config
        self.experiment_truth, self.true_effects = None, ()
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
        truth = None if experiment is None else ExperimentTruth(experiment, config.n_users)
        planner = None if plan is None else PlanState(names)
        for d in range(config.days):
            day_start = start_us + d * US_PER_DAY
            for i, drift in enumerate(config.drift):
                if drift.day == d:
                    drift_topics[i] = topic_name(apply_drift(world, config, drift, rng))
            day_plan = None if plan is None else _plan_of_day(plan, d)
            add_posts(world, config, rng, start_us=day_start, hours=24.0)
            running = state is not None and d >= state.experiment.start_day
            planned = None if day_plan is None or planner is None else planner.open(day_plan, world, names, config, d)
            rerank: Rerank | None = None
            if planned is not None:
                rerank = planned.ranking
            elif running and state is not None:
                rerank = make_rerank(state, world, names, config, d)
            lift = state.lift_of_day(d) if running and state is not None and not state.experiment.interleave else None

            day, counts, solved = simulate_day(world, config, rng, day_start, intercept, rerank, lift)
            if len(day.imp_post):
                intercept = solved
            record_sessions(world, counts)
            labels: ArmLabels | None = None
            assignments = shadows = None
            deployment = DEPLOYMENT
            if planned is not None and planner is not None:
                labels, assignments, shadows = planner.close(planned, day, world, names)
                deployment = planned.plan.deployment
            elif running and state is not None and truth is not None:
                arm = state.arm_index[day.session_user[day.imp_session]] if day.imp_team is None else day.imp_team
                truth.add_day(day, arm, world=world, config=config, intercept=solved, state=state, day_index=d,
                              ranking=rerank if isinstance(rerank, ArmRanking) else None)
                labels, assignments = _experiment_day(state, day, names, d)
            exposures, feedback, truth_table = build_tables(world, day, names, d, labels, deployment=deployment)
            summary = _summary(config, d, day, labels, served=exposures.num_rows, feedback=feedback)
            if shadows is not None and shadows.num_rows:
                exposures = pa.concat_tables([exposures, shadows])
            yield _SimDay(d, exposures, feedback, truth_table, len(day.session_user), summary, assignments)
        self.drift_topics = tuple(drift_topics)
        if truth is not None and state is not None:
            self.experiment_truth = truth.summary(state.arm_index)
            self.true_effects = truth.effects(state.arm_index)

    def run_frames(self, *, plan: Plan | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(exposures, feedback, truth) as DataFrames, without writing anything (``plan`` as for :meth:`run`)."""
        self._refuse_plan_with_experiment(plan)
        days = list(self._days(plan))
        frames = []
        for part in ("exposures", "feedback", "truth"):
            tables = [getattr(day, part) for day in days]
            frame: pd.DataFrame = pa.concat_tables(tables, promote_options="default").to_pandas()
            frames.append(frame)
        return frames[0], frames[1], frames[2]

    def run(self, log: EventLog, *, progress: Progress = SILENT, plan: Plan | None = None,
            after_day: AfterDay | None = None) -> SimulationResult:
        """Simulate every day, append exposures and feedback to ``log``, and write the truth.

        The truth (``request_id``, ``item_id``, ``true_p``, ``p_engage``) goes to
        ``<log root>/_simulation/truth.parquet``, replacing the truth of an earlier run.

        ``plan(d)`` is asked at the start of day ``d`` (after that day's drift) how the day is served: a
        :class:`~loopline.simulate.DayPlan`, or None for the built-in ranking (see
        :mod:`loopline.simulate._plan`). ``after_day(d, summary)`` is called once day ``d``'s exposures,
        feedback and assignments are in ``log``, before ``plan(d + 1)`` is asked, so it can read the log,
        retrain and change the next day's plan. A plan cannot be combined with ``config.experiment``.
        """
        self._refuse_plan_with_experiment(plan)
        config = self.config
        paths: list[Path] = []
        truths: list[pa.Table] = []
        impressions = clicks = likes = n_sessions = 0
        progress.start("simulating days", total=config.days)
        try:
            for day in self._days(plan):
                paths.extend(log.write("exposures", day.exposures))
                paths.extend(log.write("feedback", day.feedback))
                if day.assignments is not None and day.assignments.num_rows:
                    paths.extend(log.write("assignments", day.assignments))
                truths.append(day.truth)
                impressions += day.summary.impressions
                events = day.feedback.column("event").to_numpy(zero_copy_only=False)
                clicks += int(np.sum(events == "click"))
                likes += int(np.sum(events == "like"))
                n_sessions += day.sessions
                if after_day is not None:
                    after_day(day.index, day.summary)
                progress.advance()
        finally:
            progress.finish()
        all_truth = pa.concat_tables(truths) if truths else TRUTH.empty_table()
        truth_path = _write_truth(log.root / TRUTH_FOLDER, all_truth)
        return SimulationResult(
            impressions=impressions, clicks=clicks, likes=likes, sessions=n_sessions,
            ctr=clicks / impressions if impressions else 0.0,
            paths=tuple(paths), truth_path=truth_path,
            start=config.start, end=config.start + timedelta(days=config.days),
            drift_topics=self.drift_topics, experiment_truth=self.experiment_truth, true_effects=self.true_effects,
        )

    def _refuse_plan_with_experiment(self, plan: Plan | None) -> None:
        if plan is not None and self.config.experiment is not None:
            raise SimulationError(
                f"FeedSimulator: a plan and SimConfig.experiment ('{self.config.experiment.name}') cannot be used "
                "together; both decide how each day is served. Drop SimConfig.experiment and put the experiment in "
                "the plan (DayPlan.arms, DayPlan.assign and DayPlan.experiment), or run without a plan."
            )


def _plan_of_day(plan: Plan, day_index: int) -> DayPlan | None:
    found = plan(day_index)
    if found is not None and not isinstance(found, DayPlan):
        raise SimulationError(f"plan({day_index}) returned {type(found).__name__}; return a DayPlan, or None for "
                              "the built-in ranking.")
    return found


def _summary(config: SimConfig, day_index: int, day: Day, labels: ArmLabels | None, *, served: int,
             feedback: pa.Table) -> DaySummary:
    start = config.start + timedelta(days=day_index)
    clicked = np.zeros(len(day.true_p), dtype=bool)
    clicked[day.click_imp] = True
    if labels is None:
        arms = arm_days((ARM,), np.zeros(len(day.true_p), dtype=np.int64), day.true_p, clicked)
    else:
        arms = arm_days(labels.names, labels.arm, day.true_p, clicked)
    events = feedback.column("event").to_numpy(zero_copy_only=False)
    return DaySummary(day=day_index, start=start, end=start + timedelta(days=1), impressions=served,
                      clicks=int(np.sum(events == "click")),
                      true_p=float(day.true_p.mean()) if len(day.true_p) else float("nan"), arms=arms)


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
    users, first_ts = first_exposures(imp_user, day.session_ts_us[day.imp_session])
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


def _write_truth(folder: Path, table: pa.Table) -> Path:
    final = folder / "truth.parquet"
    with atomic.writing(final) as handle:
        pq.write_table(table, handle)
    return final
