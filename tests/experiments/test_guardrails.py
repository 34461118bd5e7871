"""Guardrails: the one-sided non-inferiority test against statsmodels, and its three verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import ttest_ind

from loopline import ExperimentError
from loopline.experiments import compare_means, compare_proportions, non_inferiority


def _arms(effect: float, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(10.0, 2.0, n), rng.normal(10.0 + effect, 2.5, n)


@pytest.mark.parametrize("effect", [0.0, -0.1, -0.3])
def test_matches_a_one_sided_welch_test_against_the_margin(effect: float) -> None:
    control, treatment = _arms(effect)
    result = non_inferiority(compare_means(control, treatment), margin=0.2)
    stat, p, _ = ttest_ind(treatment, control, alternative="larger", usevar="unequal", value=-0.2)
    assert result.statistic == pytest.approx(stat, abs=1e-6)
    assert result.p_value == pytest.approx(p, abs=1e-6)
    assert (result.verdict == "pass") == (p < 0.05)


def test_three_verdicts() -> None:
    assert non_inferiority(compare_means(*_arms(0.0)), margin=0.2).verdict == "pass"
    failing = non_inferiority(compare_means(*_arms(-0.6)), margin=0.2)
    assert failing.verdict == "fail"
    assert failing.best_bound < -0.2
    unsure = non_inferiority(compare_means(*_arms(-0.1, n=200)), margin=0.2)
    assert unsure.verdict == "inconclusive"
    assert "collect more units" in unsure.message


def test_lower_is_better_mirrors_higher_is_better() -> None:
    control, treatment = _arms(-0.1)
    up = non_inferiority(compare_means(control, treatment), margin=0.2)
    down = non_inferiority(compare_means(-control, -treatment), margin=0.2, direction="lower_is_better")
    assert down.p_value == pytest.approx(up.p_value)
    assert down.verdict == up.verdict
    assert down.worst_bound == pytest.approx(-up.worst_bound)  # the upper bound for a lower-is-better metric
    assert "higher by more than" in non_inferiority(compare_means(-control, -treatment), margin=0.01,
                                                    direction="lower_is_better").message


def test_relative_margin_uses_the_relative_effect() -> None:
    effect = compare_proportions((1000, 10_000), (990, 10_000))
    result = non_inferiority(effect, margin=0.05, relative=True)
    assert effect.relative is not None and effect.relative_se is not None
    expected_p = stats.norm.sf((effect.relative + 0.05) / effect.relative_se)
    assert result.p_value == pytest.approx(expected_p, rel=1e-12)
    assert result.relative
    assert result.to_dict()["verdict"] == result.verdict


@pytest.mark.parametrize(("call", "message"), [
    (lambda: non_inferiority(compare_means([0.0, 1, -1], [1.0, 2, 3], metric="errors"), margin=0.1, relative=True),
     "guardrail 'errors': a relative margin needs a non-zero control mean"),
    (lambda: non_inferiority(compare_means([0.0, 1], [1.0, 2]), margin=-0.1), "margin: expected a positive"),
    (lambda: non_inferiority(compare_means([0.0, 1], [1.0, 2]), margin=0.1, direction="up"),  # type: ignore[arg-type]
     "expected 'higher_is_better' or 'lower_is_better', got 'up'"),
])
def test_errors_say_what_to_fix(call: object, message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)
