"""Probabilities of models trained on downsampled negatives are put back on the true base rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit, logit

from loopline.models import correct_for_downsampling, train_candidates
from tests.models.samples import make_spec, make_splits


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.5, 1.0])
def test_the_correction_is_the_closed_form(rate: float) -> None:
    p = np.linspace(0, 1, 101)
    corrected = correct_for_downsampling(p, rate)
    assert np.allclose(corrected, p / (p + (1 - p) / rate), rtol=1e-12)
    inner = p[1:-1]  # the same as multiplying the odds by the rate
    assert np.allclose(logit(correct_for_downsampling(inner, rate)), logit(inner) + math.log(rate))
    assert corrected[0] == 0 and corrected[-1] == 1 and np.all(np.diff(corrected) > 0)


@pytest.mark.parametrize("kind", ["linear", "lightgbm"])
def test_a_model_trained_on_downsampled_data_predicts_the_true_rate(kind: str) -> None:
    sampled = make_splits("binary", n=8000, negative_rate=0.2)
    full = make_splits("binary", n=8000)
    assert sampled.train["y"].mean() > full.train["y"].mean() + 0.2
    spec = make_spec("binary", rounds=100, models={"candidates": [kind], "calibration": "none"})
    model = train_candidates(sampled, spec)[0]
    test = sampled.test
    assert abs(model.predict(test).mean() - test["y"].mean()) < 0.03
    uncorrected = expit(model.scorer.margin(test))  # type: ignore[attr-defined]
    assert uncorrected.mean() > test["y"].mean() + 0.15
    assert np.allclose(model.predict(test), correct_for_downsampling(uncorrected, 0.2), rtol=1e-12)
    # Explanations add up to the corrected log-odds: the correction sits in the base.
    explained = model.explain(test.iloc[:20])
    assert explained is not None
    total = explained.base + explained.contributions.sum(axis=1)
    assert np.allclose(expit(total), model.predict(test.iloc[:20]), atol=1e-9)
