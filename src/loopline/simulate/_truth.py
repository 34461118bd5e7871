"""The true effects of an experiment the simulator runs, from its click probabilities.

Two estimands per treatment arm and metric, both computed from ``true_p`` (examination times
``p_engage`` with the arm's lift), never from sampled clicks:

- the **population effect** is what the experiment's interval estimates. Take every unit exposed
  during the experiment, whatever arm it was drawn into, with its sessions, candidates and
  exploration noise as drawn. Serve each of its sessions by each arm's ranking in turn (the
  simulator ranks every session with every arm's policy; the session shows only its own arm's) and
  give each would-be impression the click probability of that arm (examination of the slot times
  ``p_engage`` with the arm's lift and novelty). The effect is the metric over all those units
  under the treatment arm minus the metric over the same units under control. The units' own arm
  plays no part, so the chance of who was drawn where does not move it;
- the **realised effect** is the same metric over the units actually drawn into each arm, each
  under its own arm only: the treatment units' value minus the control units'. It is the expected
  CTR of the impressions that were served (the clicks averaged out, the draw of units kept), and
  differs from the population effect by the chance composition of the arms.

The metrics are those of ``loopline.experiments``' default spec: ``ctr`` (sum of expected clicks
over sum of impressions), ``clicks_per_user`` (mean expected clicks per unit) and ``engagement``
(mean probability that a unit clicks at least once, ``1 - prod(1 - true_p)`` over its impressions).
An unlogged unit (``broken_share``) is still a unit of the population: the truth is about the world,
not the log. Interleaved experiments have no per-arm counterfactual; their truth is the expected
click share of each team.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from loopline.simulate._config import SimConfig
from loopline.simulate._day import Day, engagement_logit, examination
from loopline.simulate._experiment import ArmRanking, ExperimentState, SimExperiment
from loopline.simulate._world import World

METRICS = ("ctr", "clicks_per_user", "engagement")
"""The metrics with a true effect, named as in ``loopline.experiments``' default experiment spec."""


@dataclass(frozen=True)
class TrueEffect:
    """One treatment arm against control on one metric, known from the simulator's click probabilities.

    See :mod:`loopline.simulate._truth` for the two estimands. Absolute effects are treatment minus
    control; relative ones ``treatment / control - 1`` (None when control is 0).
    """

    arm: str
    metric: str
    population: float
    """The population effect: over every unit exposed in the experiment, its expected metric when served by
    the treatment arm minus when served by control (what the experiment's interval estimates)."""
    population_relative: float | None
    population_control: float
    """The metric over every exposed unit, each served by control (treatment: ``population_control + population``)."""
    realised: float
    """The realised effect: the expected metric of the units drawn into the treatment arm minus that of the units
    drawn into control, each under its own arm (the draw of units kept, the clicks averaged out)."""
    realised_relative: float | None
    realised_control: float
    """The expected metric of the units drawn into control."""
    units: int
    """Units in the population (exposed at least once during the experiment)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ExperimentTruth:
    """Accumulates, day by day, each unit's expected outcome under every arm (see the module docstring)."""

    def __init__(self, experiment: SimExperiment, n_users: int) -> None:
        self.experiment = experiment
        arms = len(experiment.arm_names)
        self.clicks = np.zeros((arms, n_users))  # expected clicks of each unit had it been in each arm
        self.impressions = np.zeros((arms, n_users))
        self.log_no_click = np.zeros((arms, n_users))  # log P(no click) of each unit had it been in each arm
        self.exposed = np.zeros(n_users, dtype=bool)  # exposed in its own arm at least once
        self.served: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (arm or team, user, true_p) per day
        self.counterfactual = False  # whether every arm ranked every session (SimExperiment.counterfactual)

    def add_day(self, day: Day, arm: np.ndarray, *, world: World, config: SimConfig, intercept: float,
                ranking: ArmRanking | None, state: ExperimentState, day_index: int) -> None:
        """Add one experiment day: ``arm`` is each served impression's arm (its team when interleaving).

        Call it before the day's first exposures are recorded in ``state`` (novelty counts from them).
        """
        imp_user = day.session_user[day.imp_session]
        self.served.append((arm, imp_user, day.true_p))
        self.exposed[imp_user] = True
        if ranking is None or ranking.seen is None:
            return
        self.counterfactual = True
        seen = ranking.seen
        for a, top in enumerate(ranking.rankings):
            valid = (top >= 0) & np.isfinite(np.take_along_axis(seen.h, np.maximum(top, 0), axis=1))
            session, position = np.nonzero(valid)
            column = top[session, position]
            user, post = seen.users[session], seen.cand[session, column]
            p_engage = 1.0 / (1.0 + np.exp(-(intercept + engagement_logit(world, user, post,
                                                                           seen.age_h[session, column]))))
            lift = state.lift(user, np.full(len(user), a, dtype=np.int64), day_index)
            true_p = examination(position, config) * np.minimum(p_engage * (1.0 + lift), 0.999)  # as simulate_day
            n = self.clicks.shape[1]
            self.clicks[a] += np.bincount(user, weights=true_p, minlength=n)
            self.impressions[a] += np.bincount(user, minlength=n)
            self.log_no_click[a] += np.bincount(user, weights=np.log1p(-true_p), minlength=n)

    def effects(self, arm_index: np.ndarray) -> tuple[TrueEffect, ...]:
        """Each treatment arm against control (the first arm) on each of :data:`METRICS`; ``arm_index`` is each
        unit's arm. Empty for an interleaved experiment or when no unit was exposed."""
        units = np.flatnonzero(self.exposed)
        if self.experiment.interleave or not self.counterfactual or not len(units):
            return ()
        out = []
        for t in range(1, len(self.experiment.arm_names)):
            for metric in METRICS:
                pop_c, pop_t = (self._metric(metric, a, units) for a in (0, t))
                real_c = self._metric(metric, 0, units[arm_index[units] == 0])
                real_t = self._metric(metric, t, units[arm_index[units] == t])
                out.append(TrueEffect(
                    arm=self.experiment.arm_names[t], metric=metric, population=pop_t - pop_c,
                    population_relative=_relative(pop_t, pop_c), population_control=pop_c, realised=real_t - real_c,
                    realised_relative=_relative(real_t, real_c), realised_control=real_c, units=len(units)))
        return tuple(out)

    def _metric(self, metric: str, arm: int, units: np.ndarray) -> float:
        if not len(units):
            return float("nan")
        if metric == "ctr":
            shown = self.impressions[arm, units].sum()
            return float(self.clicks[arm, units].sum() / shown) if shown else float("nan")
        if metric == "clicks_per_user":
            return float(self.clicks[arm, units].mean())
        return float((-np.expm1(self.log_no_click[arm, units])).mean())

    def summary(self, arm_index: np.ndarray) -> dict[str, Any]:
        """The plain-dict truth of :attr:`SimulationResult.experiment_truth`."""
        experiment = self.experiment
        days = self.served
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
                    "clicks_per_unit_relative": found["expected_clicks_per_unit"]
                    / control["expected_clicks_per_unit"] - 1.0,
                }
        out: dict[str, Any] = {"experiment": experiment.name, "arms": arms, "effects": effects}
        true_effects = self.effects(arm_index)
        for kind in ("population", "realised"):
            table: dict[str, dict[str, dict[str, float | None]]] = {}
            for e in true_effects:
                control_value = e.population_control if kind == "population" else e.realised_control
                absolute = e.population if kind == "population" else e.realised
                table.setdefault(e.arm, {})[e.metric] = {
                    "absolute": absolute, "relative": e.population_relative if kind == "population"
                    else e.realised_relative, "control": control_value, "treatment": control_value + absolute}
            out[f"{kind}_effects"] = table
        if experiment.interleave:
            total = sum(a["expected_clicks"] for a in arms.values()) or 1.0
            out["expected_click_share"] = {k: v["expected_clicks"] / total for k, v in arms.items()}
        return out


def _relative(treatment: float, control: float) -> float | None:
    return treatment / control - 1.0 if control else None
