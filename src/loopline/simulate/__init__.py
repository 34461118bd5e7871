"""The feed simulator: a social feed whose ground truth is known, logged in the serving contract.

Users open the app in sessions; each session is one request (``request_id``) in which the serving
policy shows ``feed_length`` recent posts at positions 0..L-1; the user clicks some of them, and likes
some clicked ones. The simulator writes exposures and feedback to an :class:`~loopline.events.EventLog`
exactly as serving would, plus the true click probability of every impression, so a model's AUC can
be set beside the best any model could reach.

The ground truth of a click (``true_p`` in the truth table)::

    p_engage = sigmoid(b0 + 3.0 * interest[user, topic] + 0.5 * quality + 0.15 * log(1 + followers)
                       - 0.02 * post_age_hours + device + age_bucket + country + propensity[user])
    true_p   = examination(position) * p_engage,   examination(k) = 1 / (1 + k) ** position_bias

``b0`` is solved so that day 0's click-through rate equals ``base_ctr`` (5% by default). Click delays
are lognormal (median one minute, 5% later than 30 minutes); a share of clicks is followed by a like.

**Observable** (logged inline with each exposure, usable as features):
``country``, ``device`` (ios/android/web), ``age_bucket`` (a sensitive attribute), ``user_top_topic``
(the topic the user declared: their strongest interest 70% of the time, another of their interests
otherwise, and never updated after drift), ``user_activity`` (the user's sessions over the previous
seven days, as known when serving), ``topic``, ``author_id``, ``author_followers``,
``post_age_hours``, ``post_quality_score`` (a noisy proxy of quality, in (0, 1)), the time ``ts``
(hour of day is derivable) and, from serving itself, ``position`` and the policy's ``score``.

**Latent** (only in the simulator): the full interest vector of each user (a Dirichlet draw over
topics), the user's propensity to click and activity rate, the true post quality, the examination
probability, and ``p_engage``. So the features carry most of the signal but not all: a good model's
AUC lands a few points below the AUC of ``true_p``.

**Serving policy** (``deployment="sim"``, ``arm="control"``, ``model_version="sim-policy"``): for each
session, candidates from the posts of the last ``freshness_window_h`` hours, half uniformly at random
and half in proportion to the square root of the author's followers, ranked by a cheap heuristic
(followers, quality score, freshness, a match with the declared top topic) plus exploration noise.

**A plan per day** (``FeedSimulator.run(log, plan=..., after_day=...)``): ``plan(d)`` returns the
:class:`DayPlan` that serves day ``d`` (arms with their policies, each unit's arm, the versions they log,
experiments and shadows), as a deployment would; ``after_day(d, summary)`` sees each day's
:class:`DaySummary` once the day is in the log, so a loop can retrain and redeploy between days.

**An experiment** (``SimConfig.experiment``, a :class:`SimExperiment`): from its start day each unit is in
one arm, ranked by that arm's policy, with the arm's planted lift. Its truth (:class:`TrueEffect`) holds the
population effect the experiment's interval estimates (every exposed unit served by each arm in turn) and the
realised effect of the units drawn into each arm (see :mod:`loopline.simulate._truth`).

**Drift** (``SimConfig.drift``, a schedule of :class:`Drift`): ``interest_shift`` moves a share of users'
interest to one topic from a given day; ``new_topic`` introduces a topic with no history (named after
the initial ones, e.g. ``t12``) that a share of posts are about and a share of users like.
"""

from __future__ import annotations

from loopline.simulate._config import Drift, DriftKind, SimConfig, SimulationError
from loopline.simulate._experiment import Policy, SimExperiment
from loopline.simulate._plan import ArmDay, DayPlan, DaySummary
from loopline.simulate._simulator import FeedSimulator, SimulationResult
from loopline.simulate._truth import TrueEffect

__all__ = ["ArmDay", "DayPlan", "DaySummary", "Drift", "DriftKind", "FeedSimulator", "Policy", "SimConfig",
           "SimExperiment", "SimulationError", "SimulationResult", "TrueEffect"]
