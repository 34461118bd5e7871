"""Sample ratio mismatch: chi-square against scipy, the classic 50.5/49.5 catch, and the per-day check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from loopline import ExperimentError
from loopline.experiments import srm, srm_by_day


def test_matches_scipy_chisquare_without_correction() -> None:
    counts, shares = [5030, 2410, 2560], (0.5, 0.25, 0.25)
    result = srm(counts, shares, arms=["control", "b", "c"])
    ref = stats.chisquare(counts, np.array(shares) * sum(counts))
    assert result.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert result.df == 2
    assert result.expected == pytest.approx((5000.0, 2500.0, 2500.0))
    # Two arms: the statistic is the squared z of the observed share, no Yates continuity correction.
    two = srm([10_100, 9_900])
    assert two.statistic == pytest.approx(100**2 / 10_000 * 2)


def test_a_half_percent_mismatch_at_100k_per_arm_is_caught() -> None:
    result = srm([101_000, 99_000])
    assert result.alarm
    assert result.p_value < 1e-4
    assert result.alpha == 0.001


def test_a_balanced_split_is_not_flagged() -> None:
    assert not srm([100_000, 100_000]).alarm
    rng = np.random.default_rng(0)
    draws = rng.binomial(200_000, 0.5, 1000)
    alarms = sum(srm([d, 200_000 - d]).alarm for d in draws)
    assert alarms <= 5  # about 1 in 1000 by construction


def test_unequal_configured_shares() -> None:
    assert not srm([20_050, 79_950], (0.2, 0.8)).alarm
    assert srm([50_000, 50_000], (0.2, 0.8)).alarm


def test_per_day_check_finds_the_broken_day() -> None:
    counts = np.array([[5000, 5010], [0, 0], [5100, 4300], [4990, 5020]])
    result = srm_by_day(counts, days=["mon", "tue", "wed", "thu"])
    assert result.days == ("mon", "wed", "thu")
    assert result.empty_days == ("tue",)
    assert result.alarm_days == ("wed",)
    assert result.cumulative.observed == (15090, 14330)
    assert result.by_day[1].p_value == pytest.approx(stats.chisquare([5100, 4300]).pvalue)
    assert result.to_dict()["by_day"][0]["arms"] == ["control", "treatment"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: srm([100, 100], (0.6, 0.6)), "shares: the shares must sum to 1, got [0.6, 0.6]"),
    (lambda: srm([100, 100], (1.0,)), "expected one share per arm (2 arms, control first), got 1"),
    (lambda: srm([100, -1]), "expected non-negative whole numbers of units"),
    (lambda: srm([0, 0]), "no units in any arm"),
    (lambda: srm([100]), "at least 2 arms"),
    (lambda: srm([5, 5], arms=["a"]), "arms: expected 2 names"),
    (lambda: srm_by_day([100, 100]), "expected a table of days x arms"),
    (lambda: srm_by_day([[100, 100]], days=["a", "b"]), "days: expected 1 labels"),
])
def test_errors_say_what_to_fix(call: object, message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)
