"""Team-draft interleaving (Radlinski, Kurup and Joachims, CIKM 2008), shared by serving, the simulator
and experiments' analysis.

Two rankers' lists are merged like captains picking teams: the team with fewer picks so far goes
next, a coin flip deciding when both have picked as often, and adds its highest-ranked item not yet
shown (duplicates inside one ranking are skipped the same way). The merge stops at ``length`` items
or as soon as either ranking has no unshown item left, as in the paper.

Random draws, the same for both forms: one uniform number per round of two picks, drawn in a single
``rng.random(rounds)`` call before the first pick, with ``rounds = ceil(min(length, len(a) + len(b)) / 2)``
(``length`` taken as unbounded when None); round ``r`` goes to A first when its number is below 0.5.
So :func:`team_draft_batch` over many sessions gives exactly what :func:`team_draft` gives session by
session with the same generator, and leaves the generator in the same state.

>>> import numpy as np
>>> team_draft(["a", "b", "c", "d"], ["b", "e", "a", "f"], np.random.default_rng(0))
(('b', 'a', 'c', 'e', 'd'), ('B', 'A', 'A', 'B', 'A'))
>>> picks, teams = team_draft_batch(np.array([[0, 1, 2, 3]]), np.array([[1, 4, 0, -1]]),
...                                 np.random.default_rng(0), length=4)
>>> picks.tolist(), teams.tolist()
([[1, 0, 2, 4]], [[1, 0, 0, 1]])
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from loopline._errors import ExperimentError

Team = Literal["A", "B"]
Item = TypeVar("Item", bound=Hashable)
NO_ITEM = -1
"""Marks an empty slot in :func:`team_draft_batch`'s input rankings and output picks and teams."""


def team_draft(ranking_a: Sequence[Item], ranking_b: Sequence[Item], rng: np.random.Generator, *,
               length: int | None = None) -> tuple[tuple[Item, ...], tuple[Team, ...]]:
    """Interleave two rankings (best first); returns the shown items and the team (``'A'``/``'B'``) of each.

    See the module docstring for the rule and for the random numbers drawn from ``rng``.
    """
    _check_length(length)
    limit = len(ranking_a) + len(ranking_b)
    if length is not None:
        limit = min(limit, length)
    coins = rng.random((limit + 1) // 2) < 0.5
    shown: list[Item] = []
    teams: list[Team] = []
    seen: set[Item] = set()
    picks = {"A": 0, "B": 0}
    next_index = {"A": 0, "B": 0}
    rankings: dict[Team, Sequence[Item]] = {"A": ranking_a, "B": ranking_b}

    def advance(team: Team) -> bool:
        ranking = rankings[team]
        while next_index[team] < len(ranking) and ranking[next_index[team]] in seen:
            next_index[team] += 1
        return next_index[team] < len(ranking)

    while len(shown) < limit and advance("A") and advance("B"):
        a, b = picks["A"], picks["B"]
        team: Team = "A" if a < b or (a == b and coins[a]) else "B"
        item = rankings[team][next_index[team]]
        shown.append(item)
        seen.add(item)
        teams.append(team)
        picks[team] += 1
    return tuple(shown), tuple(teams)


def team_draft_batch(rank_a: npt.ArrayLike, rank_b: npt.ArrayLike, rng: np.random.Generator, *,
                     length: int | None = None) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Team-draft interleaving of many sessions at once.

    ``rank_a`` and ``rank_b`` hold one session per row: non-negative item ids, best first, with
    :data:`NO_ITEM` (any negative number) where there is no item. Returns ``(picks, teams)``, both
    (sessions, ``length``): the item id shown in each slot and its team (0 for A, 1 for B), and
    :data:`NO_ITEM` in both after the merge of that session stopped. Row ``s`` equals
    ``team_draft(a_s, b_s, rng, length=length)`` with ``a_s``/``b_s`` the row's non-negative ids, the
    rows called in order on the same generator.
    """
    _check_length(length)
    a, b = _rankings(rank_a, "rank_a"), _rankings(rank_b, "rank_b")
    if a.shape[0] != b.shape[0]:
        raise ExperimentError(f"rank_a and rank_b: expected one row per session in both, got {a.shape[0]} and "
                              f"{b.shape[0]} rows.")
    n = a.shape[0]
    width = a.shape[1] + b.shape[1] if length is None else length
    limit = (a >= 0).sum(axis=1) + (b >= 0).sum(axis=1)
    if length is not None:
        limit = np.minimum(limit, length)
    rounds = (limit + 1) // 2
    offsets = np.concatenate([[0], np.cumsum(rounds)[:-1]]).astype(np.int64)
    coins = rng.random(int(rounds.sum())) < 0.5
    picks = np.full((n, width), NO_ITEM, dtype=np.int64)
    teams = np.full((n, width), NO_ITEM, dtype=np.int64)
    if n == 0 or width == 0 or coins.size == 0:
        return picks, teams
    taken = np.zeros((n, int(max(a.max(initial=-1), b.max(initial=-1))) + 1), dtype=bool)
    next_a, next_b = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    count_a, count_b = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    live = np.arange(n)
    for slot in range(width):
        _advance(a, next_a, taken, live)
        _advance(b, next_b, taken, live)
        live = live[(next_a[live] < a.shape[1]) & (next_b[live] < b.shape[1])]
        if len(live) == 0:
            break
        ca, cb = count_a[live], count_b[live]
        tie = ca == cb
        coin = np.zeros(len(live), dtype=bool)
        coin[tie] = coins[offsets[live[tie]] + ca[tie]]
        to_a = (ca < cb) | coin
        item = np.where(to_a, a[live, np.minimum(next_a[live], a.shape[1] - 1)],
                        b[live, np.minimum(next_b[live], b.shape[1] - 1)])
        picks[live, slot] = item
        teams[live, slot] = np.where(to_a, 0, 1)
        taken[live, item] = True
        count_a[live] += to_a
        count_b[live] += ~to_a
    return picks, teams


def _advance(ranking: npt.NDArray[np.int64], pointer: npt.NDArray[np.int64], taken: npt.NDArray[np.bool_],
             rows: npt.NDArray[np.int64]) -> None:
    """Move each row's pointer (in place) past empty slots and items already shown."""
    width = ranking.shape[1]
    while len(rows):
        inside = pointer[rows] < width
        rows = rows[inside]
        current = ranking[rows, pointer[rows]]
        blocked = (current < 0) | taken[rows, np.maximum(current, 0)]
        rows = rows[blocked]
        pointer[rows] += 1


def _rankings(values: npt.ArrayLike, name: str) -> npt.NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 2 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise ExperimentError(f"{name}: expected a 2-D array of integer item ids (one row per session), got shape "
                              f"{array.shape} and dtype {array.dtype}.")
    return array.astype(np.int64, copy=False)


def _check_length(length: int | None) -> None:
    if length is not None and length < 0:
        raise ExperimentError(f"length: expected a non-negative number of positions, got {length}.")

