"""Team-draft interleaving: the laws of the merge, click credit, and the sign test against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from loopline import ExperimentError
from loopline.experiments import credit, preference_test, team_draft

RANKING = st.lists(st.integers(0, 30), max_size=20, unique=True)


@given(RANKING, RANKING, st.integers(0, 2**32 - 1))
def test_team_draft_laws(a: list[int], b: list[int], seed: int) -> None:
    items, teams = team_draft(a, b, np.random.default_rng(seed))
    assert len(items) == len(teams)
    assert len(set(items)) == len(items)  # no duplicates
    assert all(item in a or item in b for item in items)
    for k in range(1, len(teams) + 1):  # after every pick the teams differ by at most one
        assert abs(teams[:k].count("A") - teams[:k].count("B")) <= 1
    # Each team's items are that ranker's best unshown ones at the time of the pick.
    for position, (item, team) in enumerate(zip(items, teams, strict=True)):
        ranking = a if team == "A" else b
        unshown = [x for x in ranking if x not in items[:position]]
        assert item == unshown[0]
    # The merge stops only when one ranking has nothing left to add.
    assert set(a) <= set(items) or set(b) <= set(items)


@given(RANKING, st.integers(0, 2**32 - 1))
def test_identical_rankings_interleave_to_the_same_ranking(a: list[int], seed: int) -> None:
    items, _ = team_draft(a, a, np.random.default_rng(seed))
    assert list(items) == a


def test_length_caps_the_list_and_seeding_repeats_it() -> None:
    a, b = list("abcdefgh"), list("hgfedcba")
    first = team_draft(a, b, np.random.default_rng(42), length=5)
    assert len(first[0]) == 5
    assert team_draft(a, b, np.random.default_rng(42), length=5) == first


def test_credit_goes_to_the_team_with_more_clicks() -> None:
    teams = ("A", "B", "B", "A")
    assert credit(teams, [1, 2]) == "B"
    assert credit(teams, [0, 1]) == "tie"
    assert credit(teams, []) == "tie"
    assert credit(teams, [3]) == "A"
    assert credit(teams, [3, 3]) == "A"  # a repeated click on one item counts once


def test_preference_matches_binomtest_and_its_interval() -> None:
    outcomes = ["A"] * 70 + ["B"] * 45 + ["tie"] * 185
    result = preference_test(outcomes)
    assert result.p_value == pytest.approx(stats.binomtest(70, 115, 0.5).pvalue, rel=1e-12)
    assert result.delta == pytest.approx(25 / 300)
    scores = np.array([1] * 70 + [-1] * 45 + [0] * 185)
    se = np.std(scores) / math.sqrt(300)
    assert result.delta_ci == pytest.approx((25 / 300 - 1.959964 * se, 25 / 300 + 1.959964 * se), rel=1e-6)
    assert result.preferred == "A"
    assert (result.wins_a, result.wins_b, result.ties, result.queries) == (70, 45, 185, 300)


def test_all_ties_prefer_nobody() -> None:
    result = preference_test(["tie"] * 10)
    assert result.p_value == 1.0
    assert result.preferred is None
    assert result.to_dict()["delta_ci"] == [0.0, 0.0]


def test_a_better_ranker_wins_a_simulated_user() -> None:
    rng = np.random.default_rng(0)
    outcomes = []
    for _ in range(400):
        relevant = set(rng.choice(50, 5, replace=False).tolist())
        good = sorted(range(50), key=lambda i: (i not in relevant, rng.random()))  # relevant items first
        random = rng.permutation(50).tolist()
        items, teams = team_draft(good, random, rng, length=10)
        clicks = [pos for pos, item in enumerate(items) if item in relevant and rng.random() < 0.7 / (1 + pos / 5)]
        outcomes.append(credit(teams, clicks))
    result = preference_test(outcomes)
    assert result.preferred == "A"
    assert result.delta_ci[0] > 0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: credit(("A", "B"), [2]), "clicked position 2 is outside the interleaved list of 2 items"),
    (lambda: credit(("A", "C"), [1]), "expected 'A' or 'B' at position 1, got 'C'"),
    (lambda: preference_test([]), "no queries"),
    (lambda: preference_test(["A", "x"]), "expected 'A', 'B' or 'tie' per query, got 'x'"),
    (lambda: team_draft([1], [2], np.random.default_rng(0), length=-1), "length: expected a non-negative"),
])
def test_errors_say_what_to_fix(call: object, message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)
