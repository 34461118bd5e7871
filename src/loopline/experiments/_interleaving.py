"""Team-draft interleaving (Radlinski, Kurup and Joachims, CIKM 2008) and its preference test.

Two rankers' lists are merged like captains picking teams: the team with fewer picks so far (a coin
flip on ties) adds its highest-ranked item not yet shown; the merge, :func:`team_draft`, lives in
:mod:`loopline.events` (shared with serving and the simulator) and is re-exported here unchanged.
Each click credits the team that placed the clicked item; per query the team with more clicked
items wins (equal counts are a tie). The preference ``delta = (wins_A - wins_B) / queries`` has a
normal interval from the per-query scores (+1, -1, 0), and the sign test
``binomtest(wins_A, wins_A + wins_B, 0.5)`` ignores ties. A result can carry the names of its two
rankers (``teams``, as logged) and of the model versions they served (``models``), so a report says
which model won rather than "A" or "B".

>>> import numpy as np
>>> team_draft(["a", "b", "c", "d"], ["b", "e", "a", "f"], np.random.default_rng(0))
(('b', 'a', 'c', 'e', 'd'), ('B', 'A', 'A', 'B', 'A'))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import stats

from loopline._errors import ExperimentError
from loopline.events import team_draft
from loopline.experiments import _checks
from loopline.experiments._result import ResultDict

Outcome = Literal["A", "B", "tie"]
__all__ = ["InterleavingResult", "Outcome", "credit", "preference_test", "team_draft"]


@dataclass(frozen=True)
class InterleavingResult(ResultDict):
    """Wins per ranker over queries, the preference ``delta`` with its interval, and the sign test."""

    queries: int
    wins_a: int
    wins_b: int
    ties: int
    delta: float
    delta_se: float
    delta_ci: tuple[float, float]
    p_value: float
    alpha: float
    preferred: Literal["A", "B"] | None
    teams: tuple[str, str] = ("A", "B")
    """The two rankers' team names as logged (A first), e.g. the experiment's arms."""
    models: tuple[str | None, str | None] = (None, None)
    """The model version each team served (the most frequent one on its exposures), None where unknown."""

    def name(self, side: Literal["A", "B"]) -> str:
        """The ranker of ``side`` by its model and team, e.g. ``'v3 (control)'``, or its team alone.

        >>> preference_test(["A", "B"], teams=("control", "treatment"), models=("v3", None)).name("A")
        'v3 (control)'
        """
        team, model = (self.teams[0], self.models[0]) if side == "A" else (self.teams[1], self.models[1])
        return team if model is None or model == team else f"{model} ({team})"

    @property
    def preferred_name(self) -> str | None:
        """:meth:`name` of the preferred ranker, None when neither is."""
        return None if self.preferred is None else self.name(self.preferred)


def credit(teams: Sequence[str], clicked_positions: Iterable[int]) -> Outcome:
    """Which team won one query: the one whose items got more clicks (0-based positions), else ``'tie'``.

    >>> credit(("A", "B", "A"), [0, 2])
    'A'
    """
    clicks = {"A": 0, "B": 0}
    for position in set(clicked_positions):
        if not 0 <= position < len(teams):
            raise ExperimentError(
                f"clicked position {position} is outside the interleaved list of {len(teams)} items; "
                "positions are 0-based indices into the list team_draft returned."
            )
        team = teams[position]
        if team not in clicks:
            raise ExperimentError(f"teams: expected 'A' or 'B' at position {position}, got {team!r}.")
        clicks[team] += 1
    if clicks["A"] == clicks["B"]:
        return "tie"
    return "A" if clicks["A"] > clicks["B"] else "B"


def preference_test(outcomes: Iterable[str], *, alpha: float = 0.05, teams: tuple[str, str] = ("A", "B"),
                    models: tuple[str | None, str | None] = (None, None)) -> InterleavingResult:
    """Aggregate per-query outcomes into the preference for A over B, its interval and the sign test.

    ``teams`` and ``models`` name the two rankers in the result (see :class:`InterleavingResult`).

    >>> preference_test(["A"] * 30 + ["B"] * 10 + ["tie"] * 60).preferred
    'A'
    """
    _checks.probability(alpha, name="alpha")
    counts = {"A": 0, "B": 0, "tie": 0}
    for outcome in outcomes:
        if outcome not in counts:
            raise ExperimentError(f"outcomes: expected 'A', 'B' or 'tie' per query, got {outcome!r}.")
        counts[outcome] += 1
    queries = sum(counts.values())
    if queries == 0:
        raise ExperimentError("outcomes: no queries; run interleaved queries and credit their clicks first.")
    wins_a, wins_b = counts["A"], counts["B"]
    delta = (wins_a - wins_b) / queries
    # Plug-in variance of the per-query score s in {+1, -1, 0}: E[s^2] - E[s]^2.
    variance = max((wins_a + wins_b) / queries - delta * delta, 0.0)
    se = math.sqrt(variance / queries)
    z = float(stats.norm.isf(alpha / 2))
    decided = wins_a + wins_b
    p_value = float(stats.binomtest(wins_a, decided, 0.5).pvalue) if decided else 1.0
    preferred: Literal["A", "B"] | None = None
    if p_value < alpha:
        preferred = "A" if wins_a > wins_b else "B"
    return InterleavingResult(
        queries=queries, wins_a=wins_a, wins_b=wins_b, ties=counts["tie"], delta=delta, delta_se=se,
        delta_ci=(delta - z * se, delta + z * se), p_value=p_value, alpha=float(alpha), preferred=preferred,
        teams=(str(teams[0]), str(teams[1])), models=(models[0], models[1]),
    )
