"""The simulator's feed served by a deployment's :class:`~loopline.serving.Router`, re-read every simulated day.

The continual-learning demo runs many simulated days in a few minutes, too many to replay each session through an
HTTP server as the served A/B demo does. Instead each day asks the real router of the registry's deployment (the
same routing code the server runs: holdout, canary and experiment carved by ``events.assign`` with their own
salts) which arm serves each unit, and ranks each arm's sessions with the arm's compiled
:class:`~loopline.serving.Scorer`; versions in the deployment's ``shadows`` are scored beside it and logged
``served=false``. So when the loop moves a challenger into the shadow, the canary or an A/B test, or promotes it,
the next simulated day is served accordingly. The holdout is shown the simulator's own (baseline) order. The
exploration share is shown each session's candidates in a random order (seeded by the day); the server logs the
control model's scores for those rows, the simulator the random ones, so they carry the version ``explore``
rather than the control's, and never count as its predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline.registry import Registry
from loopline.serving import CANARY_ARM, EXPLORE_ARM, HOLDOUT_ARM, DeploymentSpec, Router, Scorer
from loopline.simulate import DayPlan


class RoutedPlan:
    """``plan(day)`` for :meth:`loopline.simulate.FeedSimulator.run`: the deployment as stored that day."""

    def __init__(self, registry: Registry, deployment: str, *, first_day: int = 0) -> None:
        self.registry = registry
        self.deployment = deployment
        self.first_day = first_day
        self._router: Router | None = None

    def __call__(self, day: int) -> DayPlan | None:
        if day < self.first_day:
            return None
        if self._router is None:
            self._router = Router(self.registry, self.deployment, trees="lightgbm")
        else:
            self._router.refresh()
        router = self._router
        spec = router.spec
        scorers = {s.version: s for s in router.scorers()}
        arms: dict[str, Any] = {}
        versions: dict[str, str] = {}
        for arm, settings in spec.arms.items():
            number = self.registry.get_version(spec.model, settings.version).version
            arms[arm], versions[arm] = _policy(scorers[number]), str(number)
        if spec.canary is not None:
            number = self.registry.get_version(spec.model, spec.canary.version).version
            if number in scorers:
                arms[CANARY_ARM], versions[CANARY_ARM] = _policy(scorers[number]), str(number)
        if spec.holdout > 0:
            arms[HOLDOUT_ARM], versions[HOLDOUT_ARM] = None, "baseline"
        if spec.explore > 0:
            arms[EXPLORE_ARM], versions[EXPLORE_ARM] = _shuffled(day), EXPLORE_ARM
        experiment = {arm: spec.experiment for arm in spec.arms if spec.experiment is not None}
        if spec.holdout > 0:
            experiment[HOLDOUT_ARM] = spec.holdout_experiment
        shadows = {str(number): _policy(scorers[number]) for number in _shadow_versions(self.registry, spec)
                   if number in scorers}

        def assign(units: np.ndarray) -> np.ndarray:
            found = [router.route(str(unit)).arm for unit in units]
            return np.array([arm if arm in arms else spec.control for arm in found], dtype=object)

        return DayPlan(arms=arms, assign=assign, versions=versions, experiment=experiment, shadows=shadows,
                       deployment=spec.name)


def _shadow_versions(registry: Registry, spec: DeploymentSpec) -> list[int]:
    return [registry.get_version(spec.model, ref).version for ref in spec.shadows]


def _shuffled(day: int) -> Any:
    rng = np.random.default_rng([day, 104_729])

    def score(candidates: pd.DataFrame) -> np.ndarray:
        return rng.random(len(candidates))

    return score


def _policy(scorer: Scorer) -> Any:
    def score(candidates: pd.DataFrame) -> np.ndarray:
        found = np.asarray(scorer.score(candidates), dtype=float)
        return found[:, -1] if found.ndim == 2 else found

    return score
