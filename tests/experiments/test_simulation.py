"""Seeded simulations: an A/A test's false-positive rate, and power for a planted effect at the designed n."""

from __future__ import annotations

import numpy as np

from loopline.experiments import ProportionMetric, compare_means, design

RUNS = 2000


def _rejection_rate(rng: np.random.Generator, n: int, p_control: float, p_treatment: float) -> float:
    """Share of RUNS experiments in which Welch's test on 0/1 outcomes rejects at alpha 0.05."""
    rejected = 0
    for _ in range(0, RUNS, 250):  # draw in chunks to bound memory
        control = rng.random((250, n)) < p_control
        treatment = rng.random((250, n)) < p_treatment
        rejected += sum(compare_means(c, t).p_value < 0.05 for c, t in zip(control, treatment, strict=True))
    return rejected / RUNS


def test_a_a_false_positive_rate_is_alpha() -> None:
    rate = _rejection_rate(np.random.default_rng(2024), 1000, 0.1, 0.1)
    assert 0.04 <= rate <= 0.06


def test_planted_effect_is_found_with_the_designed_power() -> None:
    plan = design(ProportionMetric(0.10), mde=0.02, power=0.8)
    n = plan.n_per_arm[0]
    assert 3500 < n < 4200
    rate = _rejection_rate(np.random.default_rng(2025), n, 0.10, 0.12)
    assert abs(rate - 0.8) <= 0.03
