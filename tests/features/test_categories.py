"""Low-cardinality categories: one-hot for linear models, integer codes for trees."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.preprocessing import OneHotEncoder as SkOneHot

from loopline.features._categories import CodeEncoder, OneHotEncoder


def _train() -> pd.Series:
    return pd.Series(["a"] * 6 + ["b"] * 5 + ["c"] * 2 + ["d"] + [None] * 2, dtype="str")


def test_one_hot_pools_rare_categories_and_gives_missing_its_own_column() -> None:
    enc = OneHotEncoder("p", min_frequency=5)
    enc.fit(_train(), None)
    assert enc.names() == ["p=a", "p=b", "p=__other__", "p=__missing__"]
    out = enc.transform(pd.Series(["b", "c", "d", None, "a"], dtype="str"))
    assert out.tolist() == [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]]


def test_unknown_categories_are_all_zeros_like_sklearn_handle_unknown_ignore() -> None:
    train = pd.Series(["red", "green", "blue"] * 5, dtype="str")
    test = pd.Series(["green", "purple", "red", "blue", "teal"], dtype="str")
    enc = OneHotEncoder("colour", min_frequency=1)
    enc.fit(train, None)
    reference = SkOneHot(handle_unknown="ignore", sparse_output=False).fit(train.to_frame())
    assert enc.names() == [f"colour={c}" for c in reference.categories_[0]]
    np.testing.assert_array_equal(enc.transform(test), reference.transform(test.to_frame()))
    assert enc.transform(test)[[1, 4]].sum() == 0


def test_missing_at_transform_without_missing_in_training_is_all_zeros() -> None:
    enc = OneHotEncoder("p", min_frequency=1)
    enc.fit(pd.Series(["x", "y"], dtype="str"), None)
    assert enc.names() == ["p=x", "p=y"]
    assert enc.transform(pd.Series([None, "y"], dtype="str")).tolist() == [[0, 0], [0, 1]]


def test_integers_and_integral_floats_share_categories() -> None:
    enc = OneHotEncoder("n", min_frequency=1)
    enc.fit(pd.Series([1, 2, 2]), None)
    assert enc.transform(pd.Series([2.0, np.nan, 1.0])).tolist() == [[0, 1], [0, 0], [1, 0]]


def test_codes_are_sorted_positions_with_nan_for_missing_and_unknown() -> None:
    enc = CodeEncoder("p")
    enc.fit(_train(), None)
    out = enc.transform(pd.Series(["d", "a", None, "zzz", "c"], dtype="str"))[:, 0]
    assert np.array_equal(out, [3.0, 0.0, np.nan, np.nan, 2.0], equal_nan=True)
    assert enc.categorical() == [0]
