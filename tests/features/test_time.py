"""Timestamps: calendar features only, cyclic for linear models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopline import FeatureError
from loopline.features._time import TimeEncoder


def _times() -> pd.Series:
    return pd.Series(pd.to_datetime(["2024-03-04T00:00:00Z", "2024-03-06T06:00:00Z", None, "2024-03-10T18:00:00Z"]))


def test_tree_mode_gives_hour_and_weekday_with_nan() -> None:
    out = TimeEncoder("t", mode="tree").fit_transform(_times(), None)
    assert np.array_equal(out, [[0, 0], [6, 2], [np.nan, np.nan], [18, 6]], equal_nan=True)


def test_linear_mode_is_cyclic_and_flags_missing() -> None:
    enc = TimeEncoder("t", mode="linear")
    out = enc.fit_transform(_times(), None)
    assert enc.names() == ["t__hour_sin", "t__hour_cos", "t__weekday_sin", "t__weekday_cos", "t__missing"]
    np.testing.assert_allclose(out[0], [0.0, 1.0, 0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(out[1, :2], [1.0, 0.0], atol=1e-12)
    angle = 2 * np.pi * (2 + 6 / 24) / 7
    np.testing.assert_allclose(out[1, 2:4], [np.sin(angle), np.cos(angle)])
    assert out[2].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]
    np.testing.assert_allclose(np.hypot(out[[0, 1, 3], 0], out[[0, 1, 3], 1]), 1.0)


def test_naive_and_text_times_are_read_as_utc() -> None:
    enc = TimeEncoder("t", mode="tree")
    naive = pd.Series(pd.to_datetime(["2024-03-04 05:00"]))
    text = pd.Series(["2024-03-04T07:00:00+02:00"], dtype="str")
    assert enc.fit_transform(naive, None).tolist() == enc.transform(text).tolist() == [[5.0, 0.0]]


def test_numbers_are_not_timestamps() -> None:
    with pytest.raises(FeatureError, match=r"feature 't' is timestamp in the schema but has dtype 'int64'"):
        TimeEncoder("t", mode="tree").fit(pd.Series([1, 2]), None)
