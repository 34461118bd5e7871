"""Numeric and boolean columns against scikit-learn's imputer and scaler."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from loopline import FeatureError
from loopline.features._numeric import NumericEncoder


def test_linear_scaling_matches_simple_imputer_then_standard_scaler() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 3.0, 200)
    train[rng.random(200) < 0.2] = np.nan
    test = rng.normal(4.0, 2.0, 50)
    test[:5] = np.nan
    enc = NumericEncoder("x", mode="linear")
    enc.fit(pd.Series(train), None)
    imputer = SimpleImputer(strategy="median").fit(train.reshape(-1, 1))
    scaler = StandardScaler().fit(imputer.transform(train.reshape(-1, 1)))
    expected = scaler.transform(imputer.transform(test.reshape(-1, 1)))[:, 0]
    out = enc.transform(pd.Series(test))
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-12, atol=1e-12)
    assert out[:, 1].tolist() == np.isnan(test).astype(float).tolist()
    assert enc.names() == ["x", "x__missing"]


def test_no_indicator_when_training_had_no_missing_values() -> None:
    enc = NumericEncoder("x", mode="linear")
    enc.fit(pd.Series([1, 2, 3, 4]), None)
    out = enc.transform(pd.Series([np.nan, 2.5]))
    assert out.shape == (2, 1) and out[0, 0] == out[1, 0] == 0.0  # filled with the median 2.5, i.e. the mean


def test_constant_column_gets_unit_scale_like_sklearn() -> None:
    enc = NumericEncoder("x", mode="linear")
    out = enc.fit_transform(pd.Series([7.0, 7.0, 7.0]), None)
    assert enc.scale == 1.0 and out[:, 0].tolist() == [0.0, 0.0, 0.0]


def test_tree_mode_passes_values_through_with_nan_and_infinities_as_missing() -> None:
    enc = NumericEncoder("x", mode="tree")
    out = enc.fit_transform(pd.Series([1.5, None, np.inf, -2.0]), None)
    assert np.array_equal(out[:, 0], [1.5, np.nan, np.nan, -2.0], equal_nan=True)


def test_numbers_stored_as_text_are_read_and_words_are_refused() -> None:
    enc = NumericEncoder("x", mode="tree")
    assert enc.fit_transform(pd.Series(["1.5", "2", None], dtype="str"), None)[:, 0].tolist()[:2] == [1.5, 2.0]
    with pytest.raises(FeatureError, match=r"feature 'x' is numeric in the schema but has dtype 'str' \(values "
                                           r"such as \['1', 'ten'\]\).*features.types.x to 'categorical'"):
        enc.transform(pd.Series(["1", "ten"], dtype="str"))


@pytest.mark.parametrize(
    "values",
    [pd.Series([True, False, None, True], dtype="boolean"), pd.Series(["yes", "no", None, "YES"], dtype="str"),
     pd.Series([1.0, 0.0, np.nan, 1.0])],
)
def test_booleans_become_zero_one_with_mode_fill_and_indicator(values: pd.Series) -> None:
    linear = NumericEncoder("b", mode="linear", boolean=True)
    assert linear.fit_transform(values, None).tolist() == [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 0.0]]
    tree = NumericEncoder("b", mode="tree", boolean=True)
    assert np.array_equal(tree.fit_transform(values, None)[:, 0], [1.0, 0.0, np.nan, 1.0], equal_nan=True)


def test_boolean_refuses_other_values() -> None:
    with pytest.raises(FeatureError, match=r"feature 'b' is boolean in the schema but holds values such as "
                                           r"\['maybe'\]"):
        NumericEncoder("b", mode="tree", boolean=True).fit(pd.Series(["yes", "maybe"]), None)
