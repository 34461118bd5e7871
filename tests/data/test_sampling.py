"""Negative downsampling and its correction checked against logistic regression; the reservoir by simulation."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.linear_model import LogisticRegression

from loopline._errors import DataError
from loopline.data._sampling import ReservoirSampler, correct_for_downsampling, downsample_negatives


def _population(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-3.5 + 1.5 * x)))).astype(np.int64)
    return pd.DataFrame({"x": x, "y": y})


def test_every_positive_and_a_rate_share_of_negatives_is_kept_the_same_way_for_a_seed() -> None:
    frame = _population(100_000, seed=0).assign(row=np.arange(100_000))
    kept = downsample_negatives(frame, "y", 0.2, seed=7)
    negatives = int((frame["y"] == 0).sum())
    assert kept["y"].sum() == frame["y"].sum()
    assert abs((kept["y"] == 0).sum() - 0.2 * negatives) < 5 * np.sqrt(negatives * 0.2 * 0.8)
    assert kept["row"].is_monotonic_increasing and kept.index.equals(pd.RangeIndex(len(kept)))
    pd.testing.assert_frame_equal(kept, downsample_negatives(frame, "y", 0.2, seed=7))
    assert not kept["row"].equals(downsample_negatives(frame, "y", 0.2, seed=8)["row"])
    assert len(downsample_negatives(frame, "y", 1.0, seed=7)) == len(frame)
    flags = pd.DataFrame({"y": [True, False, False, True]})
    assert downsample_negatives(flags, "y", 0.001, seed=0)["y"].tolist() == [True, True]


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5, float("nan")])
def test_a_rate_outside_zero_to_one_is_refused(rate: float) -> None:
    with pytest.raises(DataError, match=r"sampling.negative_rate must be in \(0, 1\]"):
        downsample_negatives(pd.DataFrame({"y": [0, 1]}), "y", rate, seed=0)
    with pytest.raises(DataError, match=r"must be in \(0, 1\]"):
        correct_for_downsampling(np.array([0.5]), rate)


@pytest.mark.parametrize(("values", "shown"), [([0, 1, 2], "2"), (["no", "yes"], "'no'"), ([0.0, None], "nan")])
def test_a_label_that_is_not_zero_one_is_refused(values: list[object], shown: str) -> None:
    with pytest.raises(DataError, match=f"needs a 0/1 label, but 'y' holds .*{shown}"):
        downsample_negatives(pd.DataFrame({"y": values}), "y", 0.5, seed=0)
    with pytest.raises(DataError, match="label column 'target' is not in the frame; its columns are: y"):
        downsample_negatives(pd.DataFrame({"y": [0, 1]}), "target", 0.5, seed=0)


def test_the_correction_puts_a_model_fitted_on_downsampled_data_back_on_the_true_base_rate() -> None:
    frame = _population(200_000, seed=1)
    sampled = downsample_negatives(frame, "y", 0.1, seed=2)
    biased = LogisticRegression(C=1e6).fit(sampled[["x"]], sampled["y"]).predict_proba(frame[["x"]])[:, 1]
    corrected = correct_for_downsampling(biased, 0.1)
    assert biased.mean() > 3 * frame["y"].mean()
    assert corrected.mean() == pytest.approx(frame["y"].mean(), abs=0.002)
    full = LogisticRegression(C=1e6).fit(frame[["x"]], frame["y"]).predict_proba(frame[["x"]])[:, 1]
    assert np.max(np.abs(corrected - full)) < 0.01


def test_the_correction_is_the_prior_shift_formula() -> None:
    p = np.linspace(0.0, 1.0, 101)
    rate, base = 0.05, 0.02
    trained_base = base / (base + rate * (1 - base))  # the positive share after downsampling
    # Prior shift (Saerens et al. 2002): reweight each class by true prior / training prior.
    up, down = p * base / trained_base, (1 - p) * (1 - base) / (1 - trained_base)
    assert np.allclose(correct_for_downsampling(p, rate), up / (up + down))
    inner = p[1:-1]
    odds = correct_for_downsampling(inner, rate) / (1 - correct_for_downsampling(inner, rate))
    assert np.allclose(odds, rate * inner / (1 - inner))
    assert np.array_equal(correct_for_downsampling(p, 1.0), p)
    with pytest.raises(DataError, match=r"must lie in \[0, 1\]; got values from -0.1 to 0.5"):
        correct_for_downsampling(np.array([-0.1, 0.5]), 0.5)


def _stream(sampler: ReservoirSampler, n: int, cuts: list[int]) -> pd.DataFrame:
    bounds = [0, *sorted(c for c in cuts if 0 < c < n), n]
    for lo, hi in pairwise(bounds):
        sampler.add(pd.DataFrame({"i": np.arange(lo, hi), "name": [f"r{j}" for j in range(lo, hi)]}))
    return sampler.sample()


@pytest.mark.slow
def test_every_row_of_the_stream_is_equally_likely_to_be_in_the_reservoir() -> None:
    n, k, runs = 60, 6, 1500
    counts = np.zeros(n)
    for seed in range(runs):
        sample = _stream(ReservoirSampler(k, seed=seed), n, cuts=[1, 5, 13, 40, 41])
        assert len(sample) == k and sample["i"].is_unique
        counts[sample["i"].to_numpy()] += 1
    assert stats.chisquare(counts).pvalue > 0.001
    firsts = np.bincount([int(_stream(ReservoirSampler(1, seed=s), 5, [2])["i"].iloc[0]) for s in range(2000)],
                         minlength=5)
    assert stats.chisquare(firsts).pvalue > 0.001


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 300), k=st.integers(1, 20), cuts=st.lists(st.integers(0, 300), max_size=12),
       seed=st.integers(0, 2**32))
def test_the_sample_does_not_depend_on_how_the_stream_is_cut_into_batches(n: int, k: int, cuts: list[int],
                                                                         seed: int) -> None:
    whole = _stream(ReservoirSampler(k, seed=seed), n, cuts=[])
    pieces = _stream(ReservoirSampler(k, seed=seed), n, cuts=cuts)
    pd.testing.assert_frame_equal(whole, pieces)
    assert len(pieces) == min(n, k) and (pieces["name"] == "r" + pieces["i"].astype(str)).all()


def test_a_stream_shorter_than_k_is_kept_whole_and_in_order() -> None:
    sampler = ReservoirSampler(10, seed=0)
    assert sampler.sample().empty
    sampler.add(pd.DataFrame({"i": [1, 2, 3], "s": ["a", "b", "c"]}, index=[7, 8, 9]))
    sampler.add(pd.DataFrame({"i": [], "s": []}).astype({"i": "int64", "s": "object"}))
    sampler.add(pd.DataFrame({"i": [4], "s": ["d"]}))
    sample = sampler.sample()
    assert sample["s"].tolist() == ["a", "b", "c", "d"] and sample["i"].dtype == np.int64 and sampler.seen == 4
    assert sample.index.equals(pd.RangeIndex(4))


def test_a_reservoir_refuses_a_bad_size_and_batches_with_other_columns() -> None:
    with pytest.raises(DataError, match="k >= 1"):
        ReservoirSampler(0, seed=0)
    sampler = ReservoirSampler(2, seed=0)
    sampler.add(pd.DataFrame({"i": [1]}))
    with pytest.raises(DataError, match=r"columns \['j'\], but the stream started with \['i'\]"):
        sampler.add(pd.DataFrame({"j": [2]}))
