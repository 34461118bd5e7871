"""Column readers: canonical category keys and dtype errors that name the column and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopline import FeatureError
from loopline.features._coerce import as_float, as_text, category_keys, positions


def test_category_keys_agree_across_dtypes() -> None:
    for series in (pd.Series([1, 2]), pd.Series([1.0, 2.0]), pd.Series(["1", "2"], dtype="str"),
                   pd.Series([1, 2], dtype="Int64"), pd.Series(["1", "2"], dtype="category")):
        keys, missing = category_keys(series)
        assert keys.tolist() == ["1", "2"] and not missing.any()


def test_category_keys_flag_missing_and_keep_empty_strings_apart() -> None:
    keys, missing = category_keys(pd.Series(["", None, "a"], dtype="str"))
    assert keys.tolist() == ["", "", "a"] and missing.tolist() == [False, True, False]
    assert positions(keys, missing, ["", "a"]).tolist() == [0, -1, 1]


def test_nested_values_are_not_categories() -> None:
    with pytest.raises(FeatureError, match=r"feature 'tags' is categorical in the schema but has dtype 'object'"
                                           r".*Flatten the values"):
        category_keys(pd.Series([["a"], "b", 1.5], dtype=object), "tags")


def test_numeric_reader_refuses_dates_and_text_reader_refuses_numbers() -> None:
    with pytest.raises(FeatureError, match=r"feature 'd' is numeric .* dtype 'datetime64"):
        as_float(pd.Series(pd.to_datetime(["2024-01-01"])), "d")
    with pytest.raises(FeatureError, match=r"feature 'n' is text in the schema but has dtype 'float64'"):
        as_text(pd.Series([1.0]), "n")
    assert np.isnan(as_float(pd.Series([None, "3"], dtype=object), "x")[0])
