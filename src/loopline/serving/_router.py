"""``Router``: which scorer serves a unit, under a deployment's arms, holdout, canary, shadows and kill switches.

``Router(registry, name)`` follows deployment ``name``, or, when there is none, model ``name``'s
champion serving everyone. It loads a :class:`Scorer` for every version it may serve (the arms, the
shadows, the canary and the champion, so a kill switch never waits for a load) and keeps them in one
immutable plan; :meth:`Router.route` reads that plan through a single reference, so a refresh (an
alias moved, a switch thrown, a new revision deployed) loads the new scorers beside the old ones and
swaps the plan in one assignment. A request already holding the old scorer finishes with it; the
old scorer is dropped once nothing uses it.

Assignment is :func:`loopline.events.assign`'s: a unit's bucket is a hash of a salt and its id. The
holdout (salt ``holdout:<deployment>``), exploration (``explore:<deployment>``), the canary
(``canary:<deployment>``) and the experiment's arms (the experiment's name) each hash with their own
salt, so changing one never moves the units of another. The per-request path hashes one id with
:mod:`hashlib` exactly as ``assign`` does (checked against ``assign`` whenever a plan is built) rather
than building arrays for it.

Kill switches always win: a killed deployment serves everyone the baseline order (``scorer=None``);
a killed version (or the canary's) falls back to the champion, and a killed champion or model to
the baseline; a killed experiment serves every unit its control arm.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from loopline._errors import InputError, ServingError
from loopline.events import N_BUCKETS, assign
from loopline.registry import Deployment, Registry
from loopline.serving._control import CanaryWindow
from loopline.serving._deployment import CANARY_ARM, EXPLORE_ARM, HOLDOUT_ARM, DeploymentSpec, VersionRef
from loopline.serving._scorer import Scorer

log = logging.getLogger("loopline.serving")

BASELINE_ARM = "baseline"
INTERLEAVED_ARM = "interleaved"
MAX_SEEN = 1_000_000
"""(experiment, unit) pairs a worker remembers for ``first_exposure``; beyond it the oldest are forgotten
(a forgotten unit logs its assignment again, and analysis keeps a unit's first assignment)."""


@dataclass(frozen=True)
class Route:
    """What serves one request.

    ``scorer`` None means the baseline order (the holdout, or everything killed). ``shadows`` are
    scored and logged with ``served=false``, never returned. For an interleaved ranker ``scorer`` is
    team A and ``interleave_with`` team B. ``first_exposure`` is True the first time this worker
    routes the unit in ``experiment`` (log its assignment then). ``fallback`` says why the unit is
    not served what its assignment gives it (a kill switch), or is None.
    """

    arm: str
    experiment: str | None
    scorer: Scorer | None
    shadows: tuple[Scorer, ...]
    interleave_with: Scorer | None
    first_exposure: bool
    fallback: str | None = None
    explore: bool = False  # show a ranking in a random order (the deployment's exploration share)


class Served(Protocol):
    """What :meth:`Router.record` reads of a route (any object with these, e.g. a :class:`Route`)."""

    @property
    def arm(self) -> str: ...
    @property
    def scorer(self) -> Scorer | None: ...


_Choice = tuple[Route, Route]
"""A route without and with ``first_exposure``."""


class _Split:
    """One salt's buckets cut by weights: the arm index ``events.assign`` gives a unit, computed for one id."""

    def __init__(self, salt: str, weights: Sequence[float]) -> None:
        encoded = salt.encode("utf-8")
        self._base = hashlib.blake2b(len(encoded).to_bytes(4, "big") + encoded, digest_size=8)
        total = sum(weights)
        running, bounds = 0.0, []
        for weight in weights:
            running += weight
            bounds.append(round(running / total * N_BUCKETS))
        bounds[-1] = N_BUCKETS
        self._bounds = bounds
        labels = [str(i) for i in range(len(weights))]
        probe = [f"probe-{i}" for i in range(256)]
        expected = assign(salt, probe, dict(zip(labels, weights, strict=True))).tolist()
        if [labels[self.index(u)] for u in probe] != expected:  # pragma: no cover - the contract is fixed
            raise ServingError(f"routing for salt {salt!r} disagrees with loopline.events.assign; report this bug.")

    def index(self, unit: str) -> int:
        h = self._base.copy()
        h.update(unit.encode("utf-8"))
        bucket = int.from_bytes(h.digest(), "big") % N_BUCKETS
        return bisect.bisect_right(self._bounds, bucket)


@dataclass(frozen=True)
class _State:
    """What the registry said at one refresh: the spec, its revision, the model's aliases, relevant kills."""

    spec: DeploymentSpec
    revision: int | None
    aliases: tuple[tuple[str, int], ...]
    model_killed: bool
    killed_versions: frozenset[int]
    killed_experiments: frozenset[str]
    deployment_killed: bool


@dataclass(frozen=True)
class _Plan:
    state: _State
    everyone: _Choice | None
    anonymous: _Choice
    holdout: tuple[_Split, _Choice] | None
    explore: tuple[_Split, _Choice] | None
    canary: tuple[_Split, _Choice] | None
    arms: tuple[_Split | None, tuple[_Choice, ...]]
    scorers: tuple[Scorer, ...]
    canary_scorer: Scorer | None
    canary_window: CanaryWindow | None


class Router:
    """Routes units of deployment (or model) ``name``; see the module docstring.

    Raises :class:`~loopline.ServingError` when ``name`` is neither a deployment nor a model, or a
    version it names cannot be resolved; registry errors pass through.
    """

    def __init__(self, registry: Registry, name: str, *, clock: Callable[[], float] = time.monotonic,
                 max_seen: int = MAX_SEEN, trees: str = "auto") -> None:
        self.registry = registry
        self._trees = trees
        self.name = name
        self._clock = clock
        self._max_seen = max_seen
        self._seen: dict[tuple[str, str], None] = {}
        self._seen_lock = threading.Lock()
        self._refresh_lock = threading.RLock()
        self._loaded: dict[int, Scorer] = {}
        self._rolled_back: int | None = None  # the revision whose canary this worker rolled back
        self._pending_rollback: tuple[int, str] | None = None
        self._plan = self._build(self._read_state(), None)

    def __repr__(self) -> str:
        state = self._plan.state
        return f"Router({self.name!r}, model={state.spec.model!r}, revision={state.revision})"

    # reading -------------------------------------------------------------------------------------

    @property
    def spec(self) -> DeploymentSpec:
        """The deployment being served (for a bare model: its champion for everyone)."""
        return self._plan.state.spec

    @property
    def revision(self) -> int | None:
        """The deployment's revision in the registry; None when routing a bare model."""
        return self._plan.state.revision

    def killed(self) -> list[str]:
        """The kill switches that change this router's routing now, e.g. ``['model churn v2', 'experiment ab']``."""
        state = self._plan.state
        found = [f"deployment {state.spec.name}"] if state.deployment_killed else []
        if state.model_killed:
            found.append(f"model {state.spec.model}")
        found += [f"model {state.spec.model} v{v}" for v in sorted(state.killed_versions)]
        experiments = {e for e in (state.spec.experiment, state.spec.holdout_experiment) if e is not None}
        found += [f"experiment {e}" for e in sorted(state.killed_experiments & experiments)]
        return found

    def scorers(self) -> list[Scorer]:
        """Every scorer loaded (arms, shadows, canary, champion), by version."""
        return list(self._plan.scorers)

    def route(self, unit_id: str | int | None) -> Route:
        """The route of ``unit_id`` (None: an anonymous request, served the control arm, in no experiment)."""
        plan = self._plan
        if plan.everyone is not None:
            return plan.everyone[0]
        if unit_id is None:
            return plan.anonymous[0]
        unit = _unit_text(unit_id)
        if plan.holdout is not None and plan.holdout[0].index(unit) == 0:
            choice = plan.holdout[1]
        elif plan.explore is not None and plan.explore[0].index(unit) == 0:
            choice = plan.explore[1]
        elif plan.canary is not None and plan.canary[0].index(unit) == 0:
            choice = plan.canary[1]
        else:
            split, arms = plan.arms
            choice = arms[0 if split is None else split.index(unit)]
        plain = choice[0]
        if plain.experiment is None:
            return plain
        key = (plain.experiment, unit)
        with self._seen_lock:
            if key in self._seen:
                return plain
            self._seen[key] = None
            if len(self._seen) > self._max_seen:
                del self._seen[next(iter(self._seen))]
        return choice[1]

    def record(self, route: Served, *, latency_ms: float, error: bool) -> None:
        """Count a served request's outcome; a canary past its limits is rolled back at once.

        Rolling back takes the canary out of this worker's routing, then stores a revision of the
        deployment without it, the reason in its history, which every other worker picks up.
        """
        if route.arm != CANARY_ARM:
            return
        plan = self._plan
        if plan.canary_window is None or route.scorer is not plan.canary_scorer:
            return
        reason = plan.canary_window.add(latency_ms, error)
        if reason is not None:
            self._roll_back_canary(plan, reason)

    # refreshing ----------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Read the registry again; when anything routing depends on changed, load what the new plan needs
        beside the old scorers and swap the plan in. Returns whether the plan changed."""
        with self._refresh_lock:
            self._store_rollback()
            state = self._read_state()
            if state == self._plan.state:
                return False
            self._plan = self._build(state, self._plan)
            return True

    def _read_state(self) -> _State:
        registry = self.registry
        found: Deployment | None = registry.find_deployment(self.name)
        if found is not None:
            spec = DeploymentSpec.from_dict(found.spec, source=f"deployment {self.name!r} revision {found.revision}")
            revision: int | None = found.revision
        elif self.name in registry.list_models():
            spec, revision = DeploymentSpec.for_model(self.name), None
        else:
            raise ServingError(
                f"nothing to serve under {self.name!r}: it is neither a deployment nor a model in the registry "
                f"(models: {', '.join(registry.list_models()) or 'none'}). Deploy one with 'loopline deploy FILE' "
                "or give a registered model's name."
            )
        aliases = registry.aliases(spec.model)
        killed = [c for c in registry.controls() if c.killed]
        versions = frozenset(c.version for c in killed if c.kind == "model" and c.name == spec.model
                             and c.version is not None)
        return _State(
            spec=spec, revision=revision, aliases=tuple(sorted(aliases.items())),
            model_killed=any(c.kind == "model" and c.name == spec.model and c.version is None for c in killed),
            killed_versions=versions,
            killed_experiments=frozenset(c.name for c in killed if c.kind == "experiment"),
            deployment_killed=any(c.kind == "deployment" and c.name == spec.name for c in killed),
        )

    def _build(self, state: _State, old: _Plan | None) -> _Plan:
        builder = _Builder(state, rolled_back=self._rolled_back is not None and self._rolled_back == state.revision)
        loaded = {v: self._loaded[v] if v in self._loaded else Scorer.load(self.registry, state.spec.model, v,
                                                                                 trees=self._trees)
                  for v in sorted(builder.needed())}
        window = None
        if builder.canary_version in loaded and state.spec.canary is not None:
            scorer = loaded[builder.canary_version]
            if old is not None and old.canary_window is not None and old.canary_scorer is scorer \
                    and old.state.spec.canary == state.spec.canary:
                window = old.canary_window  # the same canary under the same limits: its window goes on
            else:
                window = CanaryWindow(state.spec.canary, clock=self._clock)
        plan = builder.plan(loaded, window)
        self._loaded = loaded  # versions no longer needed are dropped once in-flight requests let go of them
        return plan

    def _roll_back_canary(self, plan: _Plan, reason: str) -> None:
        with self._refresh_lock:
            if self._plan is not plan or plan.canary_scorer is None:
                return  # already rolled back, or the plan changed under us
            scorer, revision = plan.canary_scorer, plan.state.revision
            message = f"canary {scorer.name} v{scorer.version} rolled back: {reason}"
            log.warning("deployment %r: %s", self.name, message)
            self._rolled_back = revision
            self._plan = self._build(plan.state, plan)
            if revision is not None:
                self._pending_rollback = (revision, message)
                self._store_rollback()

    def _store_rollback(self) -> None:
        """Store the pending rollback in the registry; on failure it stays pending for the next refresh."""
        if self._pending_rollback is None:
            return
        revision, message = self._pending_rollback
        try:
            self.registry.end_canary(self.name, revision, reason=message, actor="router")
        except Exception as exc:  # never fail a request over it; retried at the next refresh
            log.warning("the canary of %r is out of routing in this worker, but storing that in the registry "
                        "failed (%s); retrying at the next refresh", self.name, exc)
            return
        self._pending_rollback = None


class _Builder:
    """Turns one registry state into a plan (see the module docstring for the rules)."""

    def __init__(self, state: _State, *, rolled_back: bool) -> None:
        self.state = state
        spec = state.spec
        self.spec = spec
        self.aliases = dict(state.aliases)
        self.arm_versions = {arm: self._number(f"arms.{arm}.version", a.version) for arm, a in spec.arms.items()}
        self.shadow_versions = [self._number(f"shadows[{i}]", ref) for i, ref in enumerate(spec.shadows)]
        canary = spec.canary if not rolled_back else None
        self.canary_version = None if canary is None else self._number("canary.version", canary.version)
        self.champion = self.aliases.get("champion", self.arm_versions[spec.control])
        self.experiment_killed = spec.experiment is not None and spec.experiment in state.killed_experiments
        self.scorers: dict[int, Scorer] = {}

    def _number(self, where: str, ref: VersionRef) -> int:
        if isinstance(ref, int):
            return ref
        if ref not in self.aliases:
            known = ", ".join(f"{a} -> v{v}" for a, v in sorted(self.aliases.items())) or "none"
            raise ServingError(f"deployment {self.spec.name!r}, {where}: model {self.spec.model!r} has no alias "
                               f"{ref!r} (its aliases: {known}). Point it at a version with 'loopline models "
                               f"promote {self.spec.model} <version> --alias {ref}', or deploy a version number.")
        return self.aliases[ref]

    def alive(self, version: int) -> bool:
        return not self.state.model_killed and version not in self.state.killed_versions

    def why_killed(self, version: int) -> str:
        if self.state.model_killed:
            return f"model {self.spec.model} killed"
        return f"model {self.spec.model} v{version} killed"

    def needed(self) -> set[int]:
        versions = {*self.arm_versions.values(), *self.shadow_versions, self.champion}
        if self.canary_version is not None:
            versions.add(self.canary_version)
        return {v for v in versions if self.alive(v)}

    # routes --------------------------------------------------------------------------------------

    def shadows_for(self, *served: Scorer) -> tuple[Scorer, ...]:
        shadows = dict.fromkeys(self.scorers[v] for v in self.shadow_versions if self.alive(v))
        return tuple(s for s in shadows if not any(s is x for x in served))

    def fallback(self, reason: str) -> Route:
        """The champion, or the baseline when the champion itself is killed."""
        champion = self.champion
        if self.alive(champion):
            scorer = self.scorers[champion]
            arm = next((a for a, v in self.arm_versions.items() if v == champion), "champion")
            return Route(arm, None, scorer, self.shadows_for(scorer), None, False, fallback=reason)
        if reason != self.why_killed(champion):
            reason = f"{reason}; the champion v{champion} is killed too"
        return Route(BASELINE_ARM, None, None, (), None, False, fallback=reason)

    def arm_route(self, arm: str, experiment: str | None, fallback: str | None = None) -> Route:
        version = self.arm_versions[arm]
        if not self.alive(version):
            return self.fallback(self.why_killed(version) if fallback is None else
                                 f"{fallback}; {self.why_killed(version)}")
        scorer = self.scorers[version]
        return Route(arm, experiment, scorer, self.shadows_for(scorer), None, False, fallback=fallback)

    def plan(self, scorers: Mapping[int, Scorer], window: CanaryWindow | None) -> _Plan:
        self.scorers = dict(scorers)
        spec, state = self.spec, self.state
        control = spec.control
        everyone = None
        if state.deployment_killed:
            everyone = _choice(Route(BASELINE_ARM, None, None, (), None, False,
                                     fallback=f"deployment {spec.name} killed"))
        holdout = None
        if spec.holdout > 0 and spec.holdout_experiment not in state.killed_experiments:
            route = Route(HOLDOUT_ARM, spec.holdout_experiment, None, (), None, False)
            holdout = (_Split(spec.holdout_salt, [spec.holdout, 1 - spec.holdout]), _choice(route))
        explore = None
        if spec.explore > 0:
            served = self.arm_route(control, None)  # the control arm's model scores; a random order is shown
            route = dataclasses.replace(served, arm=EXPLORE_ARM, experiment=None, explore=served.scorer is not None)
            explore = (_Split(spec.explore_salt, [spec.explore, 1 - spec.explore]), _choice(route))
        canary = None
        canary_scorer = None
        if spec.canary is not None and self.canary_version is not None:
            version = self.canary_version
            if self.alive(version):
                canary_scorer = self.scorers[version]
                route = Route(CANARY_ARM, None, canary_scorer, self.shadows_for(canary_scorer), None, False)
            else:
                route = self.fallback(self.why_killed(version))
            canary = (_Split(spec.canary_salt, [spec.canary.share, 1 - spec.canary.share]), _choice(route))
        arms = self._arm_choices()
        return _Plan(state=state, everyone=everyone, anonymous=_choice(self.arm_route(control, None)),
                     holdout=holdout, explore=explore, canary=canary, arms=arms,
                     scorers=tuple(self.scorers[v] for v in sorted(self.scorers)), canary_scorer=canary_scorer,
                     canary_window=window if canary_scorer is not None else None)

    def _arm_choices(self) -> tuple[_Split | None, tuple[_Choice, ...]]:
        spec = self.spec
        experiment = spec.experiment
        if self.experiment_killed:
            return None, (_choice(self.arm_route(spec.control, None, fallback=f"experiment {experiment} killed")),)
        if spec.interleave:
            team_a, team_b = spec.arms
            dead = [self.arm_versions[a] for a in (team_a, team_b) if not self.alive(self.arm_versions[a])]
            if dead:
                return None, (_choice(self.fallback(self.why_killed(dead[0]))),)
            a, b = self.scorers[self.arm_versions[team_a]], self.scorers[self.arm_versions[team_b]]
            return None, (_choice(Route(INTERLEAVED_ARM, experiment, a, self.shadows_for(a, b), b, False)),)
        if len(spec.arms) == 1:
            return None, (_choice(self.arm_route(spec.control, None)),)
        split = _Split(str(experiment), list(spec.weights.values()))
        return split, tuple(_choice(self.arm_route(arm, experiment)) for arm in spec.arms)


def _choice(route: Route) -> _Choice:
    return route, (dataclasses.replace(route, first_exposure=True) if route.experiment is not None else route)


def _unit_text(unit_id: object) -> str:
    if isinstance(unit_id, str):
        return unit_id
    if isinstance(unit_id, int) and not isinstance(unit_id, bool):
        return str(unit_id)
    raise InputError(f"unit_id: expected a string or an integer, got {unit_id!r} ({type(unit_id).__name__}).",
                     field="unit_id")
