"""A serving plan per simulated day: which policy serves which unit, who is in an experiment, what runs in
the shadow; and the summary of each day that code between two days reads.

``FeedSimulator.run(log, plan=..., after_day=...)`` asks ``plan(d)`` for day ``d``'s :class:`DayPlan` (None:
the built-in ranking) and calls ``after_day(d, summary)`` once the day is in the log, so a continual-learning
loop can monitor, retrain and change the next day's plan in between, as a deployment changes in the
registry: the champion alone, a challenger in the shadow, a canary share, an A/B test, a new champion.

A plan's day is logged as serving logs it: each exposure with the unit's ``arm`` and the arm's
``model_version``; a unit's first exposure in an experiment writes one assignment record (once per unit
and experiment over the whole run, whatever its arm later); each shadow scores every session's candidates
and, like the server, logs its own best ones (at most ``SHADOW_LOG_TOP``, 50) ``served=false`` with its
version, its scores and its own ranking positions, under the unit's arm, the session's request id, time
and latency, and the same feature columns as served rows (not for units whose arm serves that same
version: the router leaves a shadow out when it is the served model). Shadow rows have no feedback and
no truth rows, but share ``request_id``/``item_id`` with served rows: readers keep ``served`` rows.

Nothing here draws random numbers, so a day served by one arm with the built-in ranking
(``DayPlan.single(None)``) is the day without a plan.

>>> import numpy as np
>>> plan = DayPlan(arms={"champion": None, "canary": None},
...                assign=lambda units: np.where(np.arange(len(units)) % 10 == 0, "canary", "champion"),
...                versions={"champion": "v1", "canary": "v2"})
>>> plan.version("canary"), plan.version("champion"), plan.deployment
('v2', 'v1', 'sim')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from loopline._names import is_name
from loopline.events import TS
from loopline.simulate._config import SimulationError
from loopline.simulate._day import Day
from loopline.simulate._experiment import ArmRanking, Policy, first_exposures
from loopline.simulate._tables import ARM, DEPLOYMENT, MODEL_VERSION, ArmLabels, Names, shadow_exposures

Assign = Callable[[np.ndarray], Any]
"""Unit ids (an object array of str) -> the arm name of each unit (array-like of str, same length)."""


@dataclass(frozen=True)
class DayPlan:
    """How one day is served (see the module docstring).

    ``arms`` maps each arm to its policy (None: the simulator's built-in ranking); ``assign`` gives each
    unit's arm; ``versions`` the ``model_version`` each arm logs (default ``'sim-policy'``); ``experiment``
    the experiment of the arms that are in one; ``shadows`` maps a model version to a policy scored in the
    shadow; ``deployment`` names the deployment every record of the day carries (default ``'sim'``, the
    simulator's own).
    """

    arms: Mapping[str, Policy | Callable[[Any], Any] | None]
    assign: Assign
    versions: Mapping[str, str] = field(default_factory=dict)
    experiment: Mapping[str, str] = field(default_factory=dict)
    shadows: Mapping[str, Policy | Callable[[Any], Any]] = field(default_factory=dict)
    deployment: str = DEPLOYMENT

    def __post_init__(self) -> None:
        for name in ("arms", "versions", "experiment", "shadows"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise SimulationError(f"DayPlan.{name}: expected a mapping, got {type(value).__name__}.")
            object.__setattr__(self, name, dict(value))  # a snapshot: later edits by the caller change nothing
        arms = list(self.arms)
        if not arms:
            raise SimulationError("DayPlan.arms is empty; give at least one arm, e.g. {'champion': policy}.")
        for arm in arms:
            if not is_name(arm):
                raise SimulationError(f"DayPlan.arms: arm name {arm!r} is not usable: expected 1-100 letters, digits, "
                                      "'_', '.' or '-', starting with a letter or digit (e.g. 'champion').")
        for arm, policy in self.arms.items():
            if policy is not None and not callable(policy):
                raise SimulationError(f"DayPlan.arms['{arm}']: expected a policy (a callable scoring a candidates "
                                      f"frame) or None for the built-in ranking, got {type(policy).__name__}.")
        if not callable(self.assign):
            raise SimulationError(f"DayPlan.assign: expected a callable (unit ids -> arm names), got "
                                  f"{type(self.assign).__name__}.")
        for label, mapping in (("versions", self.versions), ("experiment", self.experiment)):
            unknown = sorted(set(mapping) - set(arms))
            if unknown:
                raise SimulationError(f"DayPlan.{label} names arms {unknown} that are not in arms {arms}.")
            for arm, value in mapping.items():
                if not isinstance(value, str) or not value:
                    raise SimulationError(f"DayPlan.{label}['{arm}']: expected a non-empty string, got {value!r}.")
        for name in self.experiment.values():
            if not is_name(name):
                raise SimulationError(f"DayPlan.experiment: experiment name {name!r} is not usable: expected 1-100 "
                                      "letters, digits, '_', '.' or '-', starting with a letter or digit.")
        for version, policy in self.shadows.items():
            if not isinstance(version, str) or not version:
                raise SimulationError(f"DayPlan.shadows: keys are the model versions the shadows log, expected a "
                                      f"non-empty string, got {version!r}.")
            if not callable(policy):
                raise SimulationError(f"DayPlan.shadows['{version}']: expected a policy (a callable scoring a "
                                      f"candidates frame), got {type(policy).__name__}.")
        if not is_name(self.deployment):
            raise SimulationError(f"DayPlan.deployment: name {self.deployment!r} is not usable: expected 1-100 "
                                  "letters, digits, '_', '.' or '-', starting with a letter or digit (e.g. 'feed').")

    @classmethod
    def single(cls, policy: Policy | Callable[[Any], Any] | None, *, arm: str = ARM,
               version: str = MODEL_VERSION, shadows: Mapping[str, Policy | Callable[[Any], Any]] | None = None,
               deployment: str = DEPLOYMENT) -> DayPlan:
        """Every unit served by ``policy`` under one ``arm`` (a champion alone, maybe with shadows).

        >>> DayPlan.single(None, arm="champion", version="v1").versions
        {'champion': 'v1'}
        """
        return cls(arms={arm: policy}, assign=lambda units: np.full(len(units), arm, dtype=object),
                   versions={arm: version}, shadows=dict(shadows or {}), deployment=deployment)

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(self.arms)

    def version(self, arm: str) -> str:
        """The ``model_version`` ``arm`` logs."""
        return self.versions.get(arm, MODEL_VERSION)


@dataclass(frozen=True)
class ArmDay:
    """One arm's impressions on one day (every shown impression, logged or not), its clicks, and the mean
    true click probability of its impressions (NaN without impressions)."""

    impressions: int
    clicks: int
    true_p: float


@dataclass(frozen=True)
class DaySummary:
    """What one simulated day did, for code run between days (``after_day``).

    ``impressions`` and ``clicks`` are the served exposures and clicks written to the log; ``true_p`` is
    the mean true click probability of the day's impressions; ``arms`` is the same per arm (per team when
    interleaving), keyed by the name the exposures log (``'control'`` on a day without plan or experiment).
    """

    day: int
    start: datetime
    end: datetime
    impressions: int
    clicks: int
    true_p: float
    arms: Mapping[str, ArmDay]


def arm_days(names: tuple[str, ...], arm: np.ndarray, true_p: np.ndarray, clicked: np.ndarray) -> dict[str, ArmDay]:
    """Per arm (``arm`` indexes ``names``, one per impression; ``clicked`` is a bool per impression)."""
    out: dict[str, ArmDay] = {}
    for i, name in enumerate(names):
        rows = arm == i
        n = int(rows.sum())
        out[name] = ArmDay(impressions=n, clicks=int(clicked[rows].sum()),
                           true_p=float(true_p[rows].mean()) if n else float("nan"))
    return out


@dataclass(frozen=True)
class PlannedDay:
    """A plan applied to one day: each user's arm and the ranking step that serves it."""

    plan: DayPlan
    index: int
    arm_of_user: np.ndarray  # (users,) index into plan.arm_names
    ranking: ArmRanking


class PlanState:
    """Across a run's days: the unit ids and which units already have an assignment in each experiment."""

    def __init__(self, names: Names) -> None:
        self.units = np.asarray(names.users.to_pylist(), dtype=object)
        self.assigned: dict[str, np.ndarray] = {}

    def open(self, plan: DayPlan, world: Any, names: Names, config: Any, day_index: int) -> PlannedDay:
        """Each user's arm from ``plan.assign`` (checked) and the day's ranking step."""
        arms = plan.arm_names
        where = f"DayPlan of day {day_index}"
        try:
            found = np.asarray(plan.assign(self.units.copy()), dtype=object).reshape(-1)
        except SimulationError:
            raise
        except Exception as exc:
            raise SimulationError(f"{where}: assign failed on the {len(self.units)} unit ids: {exc}") from exc
        if len(found) != len(self.units):
            raise SimulationError(f"{where}: assign returned {len(found)} arms for {len(self.units)} units; return "
                                  "one arm name per unit id, in the order given.")
        index = {arm: i for i, arm in enumerate(arms)}
        arm_of_user = np.fromiter((index.get(a, -1) if isinstance(a, str) else -1 for a in found.tolist()),
                                  dtype=np.int64, count=len(found))
        bad = np.flatnonzero(arm_of_user < 0)
        if len(bad):
            shown = sorted({repr(a) for a in found[bad].tolist()})[:5]
            raise SimulationError(f"{where}: assign gave unit {self.units[bad[0]]!r} the arm {found[bad[0]]!r} "
                                  f"({len(bad)} units in all, arms {', '.join(shown)}), which is not in arms "
                                  f"{list(arms)}; return one of the plan's arm names for every unit.")
        ranking = ArmRanking(arm_of_user, [plan.arms[a] for a in arms], world, names, config, day_index,
                             shadows=tuple(plan.shadows.values()))
        return PlannedDay(plan, day_index, arm_of_user, ranking)

    def close(self, planned: PlannedDay, day: Day, world: Any, names: Names
              ) -> tuple[ArmLabels, pa.Table | None, pa.Table | None]:
        """The day's arm labels per impression, its new assignment records and its shadow exposures."""
        plan = planned.plan
        arms = plan.arm_names
        imp_user = day.session_user[day.imp_session]
        arm = planned.arm_of_user[imp_user]
        labels = ArmLabels(arm=arm, names=arms, versions=tuple(plan.version(a) for a in arms),
                           logged=np.ones(len(arm), dtype=bool))
        return labels, self._assignments(planned, day, names), _shadows(planned, day, world, names)

    def _assignments(self, planned: PlannedDay, day: Day, names: Names) -> pa.Table | None:
        plan = planned.plan
        imp_user = day.session_user[day.imp_session]
        imp_ts = day.session_ts_us[day.imp_session]
        imp_arm = planned.arm_of_user[imp_user]
        tables = []
        for experiment in dict.fromkeys(plan.experiment.values()):
            inside = [i for i, a in enumerate(plan.arm_names) if plan.experiment.get(a) == experiment]
            rows = np.isin(imp_arm, inside)
            users, first_ts = first_exposures(imp_user[rows], imp_ts[rows])
            seen = self.assigned.setdefault(experiment, np.zeros(len(self.units), dtype=bool))
            new = ~seen[users]
            users, first_ts = users[new], first_ts[new]
            seen[users] = True
            n = len(users)
            tables.append(pa.table({
                "ts": pa.array(first_ts.astype(np.int64), pa.int64()).cast(TS),
                "deployment": pa.repeat(pa.scalar(plan.deployment, pa.string()), n),
                "experiment": pa.repeat(pa.scalar(experiment, pa.string()), n),
                "unit_id": names.users.take(pa.array(users, pa.int64())),
                "arm": pa.array(list(plan.arm_names), pa.string()).take(
                    pa.array(planned.arm_of_user[users], pa.int64())),
            }))
        return pa.concat_tables(tables) if tables else None


def _shadows(planned: PlannedDay, day: Day, world: Any, names: Names) -> pa.Table | None:
    """Every shadow's exposures of the day (None without shadows)."""
    plan, ranking = planned.plan, planned.ranking
    seen = ranking.candidates
    if not plan.shadows or seen is None:
        return None
    session_arm = planned.arm_of_user[seen.users]
    arm_names = pa.array(list(plan.arm_names), pa.string())
    arm = arm_names.take(pa.array(session_arm, pa.int64()))
    arm_versions = np.array([plan.version(a) for a in plan.arm_names], dtype=object)
    tables = [shadow_exposures(world, names, planned.index, seen, scores,
                               sessions=arm_versions[session_arm] != version, arm=arm, version=version,
                               latency_ms=day.latency_ms, deployment=plan.deployment)
              for version, scores in zip(plan.shadows, ranking.shadow_scores, strict=True)]
    return pa.concat_tables(tables)
