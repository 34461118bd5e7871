"""Team-draft interleaving: the batch form is the scalar form row by row, on the same random draws."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline import ExperimentError, events, experiments
from loopline.events import _interleave, team_draft, team_draft_batch


def _row(values: np.ndarray) -> list[int]:
    return [int(v) for v in values if v >= 0]


def _random_rankings(rng: np.random.Generator, sessions: int, width: int) -> np.ndarray:
    """Rows of item ids (some shared between the two sides, some repeated) with empty slots anywhere."""
    ranks = rng.integers(0, width + 3, size=(sessions, width))
    ranks[rng.random((sessions, width)) < 0.2] = -1
    return ranks


@pytest.mark.parametrize("seed", range(40))
def test_the_batch_form_is_the_scalar_form_row_by_row(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sessions, width_a, width_b = int(rng.integers(1, 30)), int(rng.integers(0, 12)), int(rng.integers(0, 12))
    rank_a, rank_b = _random_rankings(rng, sessions, width_a), _random_rankings(rng, sessions, width_b)
    length = [None, 0, 1, 3, 10, 30][seed % 6]
    picks, teams = team_draft_batch(rank_a, rank_b, np.random.default_rng(seed + 1000), length=length)
    scalar_rng = np.random.default_rng(seed + 1000)
    assert picks.shape == teams.shape == (sessions, width_a + width_b if length is None else length)
    for s in range(sessions):
        items, owners = team_draft(_row(rank_a[s]), _row(rank_b[s]), scalar_rng, length=length)
        shown = picks[s][picks[s] >= 0].tolist()
        assert shown == list(items), s
        assert picks[s][len(items):].tolist() == [-1] * (picks.shape[1] - len(items))
        assert ["A" if t == 0 else "B" for t in teams[s][: len(items)]] == list(owners)
        assert (teams[s][len(items):] == -1).all()
    # Both forms drew the same numbers: the generators are left in the same state.
    batch_rng = np.random.default_rng(seed + 1000)
    team_draft_batch(rank_a, rank_b, batch_rng, length=length)
    assert batch_rng.random() == scalar_rng.random()


@given(st.lists(st.integers(0, 30), max_size=20, unique=True), st.lists(st.integers(0, 30), max_size=20, unique=True),
       st.integers(0, 2**32 - 1), st.one_of(st.none(), st.integers(0, 25)))
def test_the_textbook_rule(a: list[int], b: list[int], seed: int, length: int | None) -> None:
    """Radlinski et al. 2008: fewer picks goes next, teams never differ by more than one, each team adds its
    best unshown item, and the merge stops at ``length`` or when either ranking has nothing left to add."""
    items, teams = team_draft(a, b, np.random.default_rng(seed), length=length)
    for k in range(1, len(teams) + 1):
        assert abs(teams[:k].count("A") - teams[:k].count("B")) <= 1
    for position, (item, team) in enumerate(zip(items, teams, strict=True)):
        ranking = a if team == "A" else b
        assert item == next(x for x in ranking if x not in items[:position])
    assert len(items) == length or set(a) <= set(items) or set(b) <= set(items)


def test_the_draws_are_one_coin_per_round_made_up_front() -> None:
    rng = np.random.default_rng(3)
    coins = np.random.default_rng(3).random(math.ceil(6 / 2))  # min(length, 4 + 4) = 6 positions: 3 rounds
    _, teams = team_draft([1, 2, 3, 4], [5, 6, 7, 8], rng, length=6)
    firsts = ["A" if c < 0.5 else "B" for c in coins]
    assert [teams[i] for i in (0, 2, 4)] == firsts
    assert rng.random() == np.random.default_rng(3).random(4)[3]  # exactly three numbers were used


def test_each_side_has_a_coin_flip_chance_of_picking_first() -> None:
    rng = np.random.default_rng(11)
    firsts = [team_draft([1, 2], [3, 4], rng)[1][0] for _ in range(4000)]
    assert abs(firsts.count("A") / 4000 - 0.5) < 0.03


def test_experiments_reexports_the_one_implementation() -> None:
    assert experiments.team_draft is events.team_draft is _interleave.team_draft
    assert {"team_draft", "team_draft_batch", "NO_ITEM"} <= set(events.__all__)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: team_draft([1], [2], np.random.default_rng(0), length=-1), "length: expected a non-negative"),
    (lambda: team_draft_batch(np.zeros((2, 3), dtype=int), np.zeros((3, 3), dtype=int), np.random.default_rng(0)),
     "expected one row per session in both, got 2 and 3 rows"),
    (lambda: team_draft_batch(np.zeros(3, dtype=int), np.zeros((1, 3), dtype=int), np.random.default_rng(0)),
     "rank_a: expected a 2-D array of integer item ids"),
    (lambda: team_draft_batch(np.zeros((1, 3)), np.zeros((1, 3), dtype=int), np.random.default_rng(0)),
     "got shape (1, 3) and dtype float64"),
])
def test_errors_say_what_to_fix(call: object, message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_interleave)
    assert result.failed == 0 and result.attempted > 0
