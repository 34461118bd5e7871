"""Experiments run by the simulator itself: arms with their own ranking policy, assigned by the same
deterministic hash as serving, with a known true effect.

From ``start_day`` on, every unit is in one arm (``loopline.events.assign`` on its ``unit_id``): its
sessions are ranked by that arm's policy, logged with the arm and its ``model_version``, and the unit's
first exposure in the experiment writes an assignment record. Candidate generation is shared by all
arms, so arms differ only in how they rank. A planted ``lift`` multiplies the engagement probability
of an arm's impressions (``novelty`` adds an extra lift that halves every ``half_life`` days since the
unit's first exposure). ``broken_share`` loses the logs of that share of non-control units (a logging
bug), which a sample-ratio check must catch. With ``interleave`` every session shows a team-draft
interleaving of the first two arms' rankings (``loopline.events.team_draft_batch``, the same merge as
``loopline.experiments.team_draft``), each item logged with the ``team`` that contributed it.

Days before ``start_day`` are exactly those of the same run without an experiment: everything
experiment-specific draws from its own random stream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from loopline.events import assign, team_draft_batch
from loopline.simulate._config import SimulationError
from loopline.simulate._tables import Candidates


class Policy(Protocol):
    """Scores candidates (one row per session and candidate, the logged feature columns): larger ranks higher."""

    def __call__(self, candidates: pd.DataFrame) -> Any: ...


@dataclass(frozen=True)
class SimExperiment:
    """An experiment the simulator runs from ``start_day`` (see the module docstring)."""

    name: str
    arms: Mapping[str, float]
    start_day: int
    policies: Mapping[str, Policy | Callable[[pd.DataFrame], Any]] = field(default_factory=dict)
    model_versions: Mapping[str, str] = field(default_factory=dict)
    lift: Mapping[str, float] = field(default_factory=dict)
    novelty: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    broken_share: float = 0.0
    interleave: bool = False
    salt: str | None = None
    counterfactual: bool = True
    """Rank every session by every arm's policy too (only its own arm's ranking is shown), so the truth can give the
    population effect; turn it off for policies with side effects, such as one that asks a real server (each policy
    then sees only its own arm's sessions, and :meth:`SimulationResult.true_effect` has nothing to say)."""

    def __post_init__(self) -> None:
        where = f"SimExperiment '{self.name}'"
        arms = dict(self.arms)
        if len(arms) < 2 or any(not w > 0 for w in arms.values()):
            raise SimulationError(f"{where}: give at least two arms with positive weights, got {arms}.")
        if self.start_day < 1:
            raise SimulationError(f"{where}: start_day must be >= 1 so there is a pre-period, got {self.start_day}.")
        for label, mapping in (("policies", self.policies), ("model_versions", self.model_versions),
                               ("lift", self.lift), ("novelty", self.novelty)):
            unknown = sorted(set(mapping) - set(arms))
            if unknown:
                raise SimulationError(f"{where}: {label} names arms {unknown} that are not in arms {sorted(arms)}.")
        if any(v <= -1 for v in self.lift.values()):
            raise SimulationError(f"{where}: a lift must be above -1 (-100%), got {dict(self.lift)}.")
        if any(h <= 0 for _, h in self.novelty.values()):
            raise SimulationError(f"{where}: novelty half-lives must be positive days, got {dict(self.novelty)}.")
        if not 0 <= self.broken_share < 1:
            raise SimulationError(f"{where}: broken_share must be in [0, 1), got {self.broken_share}.")

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(self.arms)

    def version(self, arm: str) -> str:
        return self.model_versions.get(arm, "sim-policy")


class ExperimentState:
    """Per-run state: each user's arm, who is lost to the logging bug, and first exposure days."""

    def __init__(self, experiment: SimExperiment, unit_ids: list[str], *, seed: int) -> None:
        self.experiment = experiment
        arms = experiment.arm_names
        assigned = assign(experiment.name, np.asarray(unit_ids, dtype=object), dict(experiment.arms),
                          salt=experiment.salt)
        self.arm_index = np.array([arms.index(str(a)) for a in assigned], dtype=np.int64)
        rng = np.random.default_rng([seed, 7_919])
        self.lost = (self.arm_index > 0) & (rng.random(len(unit_ids)) < experiment.broken_share)
        self.first_day = np.full(len(unit_ids), -1, dtype=np.int64)
        self.rng = rng

    def lift_of_day(self, day: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """The planted lift of day ``day`` as ``_day.Lift``: (impression users, sessions) -> relative lift."""
        def lift(users: np.ndarray, sessions: np.ndarray) -> np.ndarray:
            return self.lift(users, self.arm_index[users], day)

        return lift

    def lift(self, users: np.ndarray, arm_of_row: np.ndarray, day: int) -> np.ndarray:
        """The relative lift of each impression's engagement probability."""
        out = np.zeros(len(users))
        for i, arm in enumerate(self.experiment.arm_names):
            rows = arm_of_row == i
            if not rows.any():
                continue
            out[rows] += self.experiment.lift.get(arm, 0.0)
            if arm in self.experiment.novelty:
                extra, half_life = self.experiment.novelty[arm]
                first = self.first_day[users[rows]]
                age = np.where(first < 0, 0, day - first)
                out[rows] += extra * 0.5 ** (age / half_life)
        return out


def first_exposures(imp_user: np.ndarray, imp_ts_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(users, time of each user's first impression) for the users among ``imp_user``, by user index."""
    order = np.lexsort((imp_ts_us, imp_user))
    users_sorted = imp_user[order]
    first_rows = order[np.r_[True, users_sorted[1:] != users_sorted[:-1]]] if len(order) else order
    return imp_user[first_rows], imp_ts_us[first_rows]


def candidate_frame(world: Any, names: Any, users: np.ndarray, ts_us: np.ndarray, cand: np.ndarray,
                    age_h: np.ndarray, day_index: int, sessions: np.ndarray) -> pd.DataFrame:
    """One row per (session, candidate) with the feature columns the exposures log carries."""
    import pyarrow as pa

    from loopline.simulate._world import user_activity

    k = cand.shape[1]
    user = np.repeat(users, k)
    post = cand.reshape(-1)
    author = world.post_author[post]
    session = np.repeat(sessions, k)

    def take(values: pa.Array, index: np.ndarray) -> np.ndarray:
        return np.asarray(values.take(pa.array(index, pa.int64())).to_numpy(zero_copy_only=False), dtype=object)

    requests = names.requests(day_index, int(sessions.max()) + 1 if len(sessions) else 0)
    return pd.DataFrame({
        "ts": pd.to_datetime(np.repeat(ts_us, k), unit="us", utc=True),
        "request_id": take(requests, session),
        "unit_id": take(names.users, user),
        "item_id": take(names.posts, post),
        "country": take(names.countries, world.country[user]),
        "device": take(names.devices, world.device[user]),
        "age_bucket": take(names.ages, world.age_bucket[user]),
        "user_top_topic": take(names.topics, world.top_topic[user]),
        "user_activity": user_activity(world)[user],
        "topic": take(names.topics, world.post_topic[post]),
        "author_id": take(names.authors, author),
        "author_followers": world.author_followers[author].astype(np.int64),
        "post_age_hours": np.round(age_h.reshape(-1), 4),
        "post_quality_score": world.post_quality_score[post],
    })


def make_rerank(state: ExperimentState, world: Any, names: Any, config: Any, day_index: int) -> ArmRanking:
    """The experiment's ranking step for one day (see ``_day.Rerank``)."""
    experiment = state.experiment
    return ArmRanking(state.arm_index, [experiment.policies.get(arm) for arm in experiment.arm_names], world, names,
                      config, day_index, interleave=state.rng if experiment.interleave else None,
                      counterfactual=experiment.counterfactual and not experiment.interleave)


class ArmRanking:
    """One day's ranking step (a ``_day.Rerank``): each session ranked by the policy of its user's arm.

    ``arm_of_user`` is each user's index into ``policies`` (None: the built-in ranking, logged with its
    own score). With ``interleave`` (the random stream of the merge) every session shows a team-draft
    interleaving of the first two policies' rankings. Each of ``shadows`` scores every session's
    candidates without changing what is shown; after the call, :attr:`candidates` and
    :attr:`shadow_scores` hold what they saw and gave (the simulator logs them as ``served=false``).
    With ``counterfactual`` every policy ranks every session (what is shown is unchanged: each session
    still shows its own arm's ranking) and, after the call, :attr:`seen` holds the sessions, candidates
    and built-in scores and :attr:`rankings` each policy's chosen columns for every session, so the truth
    can say what each unit would have been shown in every arm (:mod:`loopline.simulate._truth`).
    """

    def __init__(self, arm_of_user: np.ndarray, policies: Sequence[Policy | Callable[[pd.DataFrame], Any] | None],
                 world: Any, names: Any, config: Any, day_index: int, *,
                 interleave: np.random.Generator | None = None,
                 shadows: Sequence[Policy | Callable[[pd.DataFrame], Any]] = (),
                 counterfactual: bool = False) -> None:
        if interleave is not None and len(policies) < 2:
            raise SimulationError(f"interleaving needs two arms, got {len(policies)}.")
        if interleave is not None and counterfactual:
            raise SimulationError("an interleaved ranking shows both policies in every session; it has no "
                                  "counterfactual per arm.")
        self.counterfactual = counterfactual
        self.seen: Seen | None = None
        self.rankings: tuple[np.ndarray, ...] = ()
        self.arm_of_user = arm_of_user
        self.policies = tuple(policies)
        self.world, self.names, self.config, self.day_index = world, names, config, day_index
        self.interleave = interleave
        self.shadows = tuple(shadows)
        self.candidates: Candidates | None = None
        self.shadow_scores: tuple[np.ndarray, ...] = ()

    def _scores(self, policy: Policy | Callable[[pd.DataFrame], Any] | None, users: np.ndarray, ts_us: np.ndarray,
                cand: np.ndarray, h: np.ndarray, age_h: np.ndarray, sessions: np.ndarray,
                frames: list[pd.DataFrame] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ranking scores, logged scores) of ``policy``, -inf where the candidate is unusable.

        ``frames`` (empty, or holding the candidate frame of these sessions) keeps the frame for the next call.
        """
        if policy is None:
            return h, 1.0 / (1.0 + np.exp(-(h - 3.0)))
        if frames:
            frame = frames[0]
        else:
            self.names.extend_posts(len(self.world.post_created_us))
            frame = candidate_frame(self.world, self.names, users, ts_us, cand, age_h, self.day_index, sessions)
            if frames is not None:
                frames.append(frame)
        found = np.asarray(policy(frame), dtype=float).reshape(cand.shape)
        return np.where(np.isfinite(h), found, -np.inf), found

    def __call__(self, users: np.ndarray, ts_us: np.ndarray, cand: np.ndarray, h: np.ndarray, age_h: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        ranked = self._rank(users, ts_us, cand, h, age_h)
        if self.shadows and len(users):
            from loopline.simulate._world import user_activity

            self.candidates = Candidates(users=users, ts_us=ts_us, cand=cand, age_h=age_h,
                                         activity=user_activity(self.world)[users], usable=np.isfinite(h))
            index = np.arange(len(users))
            self.shadow_scores = tuple(self._scores(shadow, users, ts_us, cand, h, age_h, index)[1]
                                       for shadow in self.shadows)
        return ranked

    def _rank(self, users: np.ndarray, ts_us: np.ndarray, cand: np.ndarray, h: np.ndarray, age_h: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        length = self.config.feed_length
        arm = self.arm_of_user[users]
        top = np.zeros((len(users), length), dtype=np.int64)
        logged = np.zeros(cand.shape)
        index = np.arange(len(users))
        if self.interleave is not None:
            a, logged_a = self._scores(self.policies[0], users, ts_us, cand, h, age_h, index)
            b, logged_b = self._scores(self.policies[1], users, ts_us, cand, h, age_h, index)
            rank_a = np.where(np.isfinite(np.take_along_axis(a, order_a := np.argsort(-a, axis=1, kind="stable"),
                                                             axis=1)), order_a, -1)
            rank_b = np.where(np.isfinite(np.take_along_axis(b, order_b := np.argsort(-b, axis=1, kind="stable"),
                                                             axis=1)), order_b, -1)
            picks, teams = team_draft_batch(rank_a, rank_b, self.interleave, length=length)
            rows, slots = np.nonzero(picks >= 0)  # a session's merge may stop before the feed is full
            items = picks[rows, slots]
            logged[rows, items] = np.where(teams[rows, slots] == 0, logged_a[rows, items], logged_b[rows, items])
            return picks, logged, teams
        if self.counterfactual:
            rankings: list[np.ndarray] = []
            frames: list[pd.DataFrame] = []  # one candidate frame of every session, shared by the policies
            for i, policy in enumerate(self.policies):  # every policy ranks every session; each shows its own arm's
                s, log_s = self._scores(policy, users, ts_us, cand, h, age_h, index, frames)
                ranked = _top(s, length)
                rows = np.flatnonzero(arm == i)
                top[rows], logged[rows] = ranked[rows], log_s[rows]
                rankings.append(ranked)
            self.seen = Seen(users=users, cand=cand, age_h=age_h, h=h)
            self.rankings = tuple(rankings)
            return top, logged, None
        for i, policy in enumerate(self.policies):
            rows = np.flatnonzero(arm == i)
            if len(rows) == 0:
                continue
            s, log_s = self._scores(policy, users[rows], ts_us[rows], cand[rows], h[rows], age_h[rows], rows)
            top[rows] = _top(s, length)
            logged[rows] = log_s
        return top, logged, None


@dataclass(frozen=True)
class Seen:
    """One day's sessions as a counterfactual ranking step saw them (see :class:`ArmRanking`)."""

    users: np.ndarray  # (sessions,)
    cand: np.ndarray  # (sessions, k) post index
    age_h: np.ndarray  # (sessions, k)
    h: np.ndarray  # (sessions, k) the built-in scores, -inf for unusable candidates


def _top(scores: np.ndarray, length: int) -> np.ndarray:
    """The ``length`` best columns of each row, best first, -1 where the score is not finite."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :length]
    return np.where(np.isfinite(np.take_along_axis(scores, order, axis=1)), order, -1)
