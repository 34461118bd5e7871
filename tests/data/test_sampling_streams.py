"""Negative downsampling, its correction, and the reservoir's uniformity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression

from loopline import DataError
from loopline.data import ReservoirSampler, correct_for_downsampling, downsample_negatives


def test_correction_restores_the_base_rate_of_a_model_trained_on_downsampled_data() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40_000, 1))
    y = (rng.random(40_000) < 1 / (1 + np.exp(-(-3.0 + 1.2 * x[:, 0])))).astype(int)
    frame = pd.DataFrame({"x": x[:, 0], "y": y})
    sampled = downsample_negatives(frame, "y", 0.1, seed=1)
    assert sampled["y"].sum() == frame["y"].sum()
    model = LogisticRegression().fit(sampled[["x"]], sampled["y"])
    raw = model.predict_proba(frame[["x"]])[:, 1]
    corrected = correct_for_downsampling(raw, 0.1)
    assert raw.mean() > 2 * y.mean()
    assert abs(corrected.mean() - y.mean()) < 0.004
    odds = raw / (1 - raw)
    assert np.allclose(corrected / (1 - corrected), 0.1 * odds)


def test_bad_rates_and_labels_are_refused() -> None:
    frame = pd.DataFrame({"y": [0, 1, 2]})
    with pytest.raises(DataError, match="0/1 label"):
        downsample_negatives(frame, "y", 0.5, seed=0)
    with pytest.raises(DataError, match=r"\(0, 1\]"):
        downsample_negatives(frame, "y", 1.5, seed=0)


def test_reservoir_is_uniform_over_a_stream_of_batches() -> None:
    n, k, runs = 40, 5, 2000
    counts = np.zeros(n)
    for seed in range(runs):
        sampler = ReservoirSampler(k, seed=seed)
        for start in range(0, n, 7):
            sampler.add(pd.DataFrame({"i": np.arange(start, min(start + 7, n))}))
        sample = sampler.sample()
        assert len(sample) == k and sample["i"].is_unique
        counts[sample["i"].to_numpy()] += 1
    assert stats.chisquare(counts).pvalue > 0.001


def test_reservoir_keeps_everything_from_a_short_stream() -> None:
    sampler = ReservoirSampler(10, seed=0)
    sampler.add(pd.DataFrame({"i": [1, 2, 3], "s": ["a", "b", "c"]}))
    assert sampler.sample()["s"].tolist() == ["a", "b", "c"] and sampler.seen == 3
