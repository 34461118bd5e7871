"""The preprocessor as a whole: JSON state round trip, the scikit-learn contract, layout and errors."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from loopline import FeatureError
from loopline.data._types import Column, Kind, Schema
from loopline.features import Preprocessor, build_preprocessor
from loopline.spec import FeaturesSpec

from .samples import mixed_frame, mixed_schema, small_spec


def _dense(matrix: np.ndarray | sp.csr_matrix) -> np.ndarray:
    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix)


Built = tuple[Preprocessor, pd.DataFrame, np.ndarray]


def _build(mode: Literal["linear", "tree"], *, text: bool = True, **spec: object) -> Built:
    frame, y = mixed_frame()
    features = list(frame.columns) if text else [c for c in frame.columns if c != "note"]
    pre = build_preprocessor(mixed_schema(frame), features, spec=small_spec(**spec), task="binary",
                             for_model=mode, seed=3, text_features=64)
    return pre, frame, y


@pytest.mark.parametrize("mode", ["linear", "tree"])
@pytest.mark.parametrize("encoding", ["target", "hash"])
def test_state_round_trip_through_json_gives_identical_output(mode: Literal["linear", "tree"], encoding: str) -> None:
    pre, frame, y = _build(mode, high_cardinality_encoding=encoding)
    pre.fit(frame.iloc[:300], y[:300])
    fresh, _ = mixed_frame(n=200, seed=9)
    fresh.loc[0, "plan"] = "never-seen"
    state = json.loads(json.dumps(pre.get_state(), allow_nan=False))
    loaded = Preprocessor.from_state(state)
    before, after = pre.transform(fresh), loaded.transform(fresh)
    assert type(before) is type(after)
    assert np.array_equal(_dense(before), _dense(after), equal_nan=True)
    assert loaded.feature_names_out_ == pre.feature_names_out_
    assert loaded.source_columns_ == pre.source_columns_
    assert loaded.categorical_indices_ == pre.categorical_indices_
    assert loaded.get_state() == state


@pytest.mark.parametrize("mode", ["linear", "tree"])
def test_names_and_sources_match_the_output_width(mode: Literal["linear", "tree"]) -> None:
    pre, frame, y = _build(mode)
    out = pre.fit_transform(frame, y)
    assert sp.isspmatrix_csr(out) and out.dtype == np.float64
    assert len(pre.feature_names_out_) == len(pre.source_columns_) == out.shape[1]
    assert set(pre.source_columns_) == set(frame.columns)
    assert list(pre.get_feature_names_out()) == pre.feature_names_out_


def test_blocks_come_in_kind_order_and_schema_order_within() -> None:
    pre, frame, y = _build("tree")
    pre.fit(frame, y)
    firsts = list(dict.fromkeys(pre.source_columns_))
    assert firsts == ["amount", "visits", "member", "seen_at", "plan", "user", "note"]
    reordered = build_preprocessor(mixed_schema(frame), list(reversed(frame.columns)), spec=small_spec(),
                                   task="binary", for_model="tree", text_features=64).fit(frame, y)
    assert reordered.feature_names_out_ == pre.feature_names_out_


def test_dense_without_sparse_blocks_and_categorical_indices_point_at_codes() -> None:
    pre, frame, y = _build("tree", text=False)
    out = pre.fit_transform(frame, y)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert [pre.feature_names_out_[i] for i in pre.categorical_indices_] == ["plan"]
    codes = out[:, pre.categorical_indices_[0]]
    assert np.isnan(codes[frame["plan"].isna().to_numpy()]).all()
    present = codes[~np.isnan(codes)]
    assert (present >= 0).all() and (present == np.round(present)).all()


def test_tree_mode_keeps_nan_and_linear_mode_has_none() -> None:
    frame, y = mixed_frame()
    tree, _, _ = _build("tree", text=False)
    linear, _, _ = _build("linear", text=False)
    assert np.isnan(tree.fit_transform(frame, y)[:, 0]).sum() == frame["amount"].isna().sum()
    assert not np.isnan(linear.fit_transform(frame, y)).any()


def test_sklearn_clone_and_get_params_round_trip() -> None:
    pre, frame, y = _build("linear")
    params = pre.get_params()
    assert params["for_model"] == "linear" and params["seed"] == 3
    again = Preprocessor(**params)
    assert again.get_params() == params
    copy = clone(pre.fit(frame, y))
    assert not hasattr(copy, "encoders_")
    assert copy.get_params()["features"] == params["features"]
    out = copy.fit_transform(frame, y)
    assert np.array_equal(_dense(out), _dense(pre.fit_transform(frame, y)))
    assert pre.set_params(seed=4).seed == 4


def test_fit_returns_self_and_transform_matches_fit_transform_without_target_encoding() -> None:
    pre, frame, y = _build("linear", high_cardinality_encoding="hash")
    assert pre.fit(frame, y) is pre
    assert np.array_equal(_dense(pre.transform(frame)), _dense(pre.fit_transform(frame, y)))


def test_missing_column_at_transform_is_named_with_what_was_expected() -> None:
    pre, frame, y = _build("linear")
    pre.fit(frame, y)
    with pytest.raises(FeatureError, match=r"missing feature column\(s\) \['plan'\]; the preprocessor expects "
                                           r"\['amount', 'visits', 'member', 'seen_at', 'plan', 'user', 'note'\]"):
        pre.transform(frame.drop(columns=["plan"]))


def test_fitting_on_an_empty_frame_is_refused() -> None:
    pre, frame, y = _build("linear")
    with pytest.raises(FeatureError, match="empty frame"):
        pre.fit(frame.iloc[:0], y[:0])


def test_unsupported_dtype_names_the_column() -> None:
    frame = pd.DataFrame({"when": pd.to_timedelta([1, 2, 3], unit="D")})
    schema = Schema((Column("when", Kind.NUMERIC, "timedelta64[ns]", 3, 0.0),))
    pre = build_preprocessor(schema, ["when"], spec=FeaturesSpec(), task="binary", for_model="linear")
    with pytest.raises(FeatureError, match=r"feature 'when' is numeric in the schema but has dtype 'timedelta64"):
        pre.fit(frame)


def test_unknown_features_and_transform_before_fit_are_refused() -> None:
    frame, _ = mixed_frame(n=50)
    with pytest.raises(FeatureError, match=r"features \['nope'\] are not in the schema"):
        build_preprocessor(mixed_schema(frame), ["amount", "nope"], spec=small_spec(), task="binary",
                           for_model="tree")
    with pytest.raises(FeatureError, match="no features"):
        build_preprocessor(mixed_schema(frame), [], spec=small_spec(), task="binary", for_model="tree")
    pre = build_preprocessor(mixed_schema(frame), ["amount"], spec=small_spec(), task="binary", for_model="tree")
    with pytest.raises(FeatureError, match="not fitted yet"):
        pre.transform(frame)


def test_from_state_refuses_something_else() -> None:
    with pytest.raises(FeatureError, match="not a preprocessor state"):
        Preprocessor.from_state({"format": "other"})


def test_transform_is_row_wise_extra_columns_and_index_do_not_matter() -> None:
    pre, frame, y = _build("linear")
    pre.fit(frame, y)
    full = _dense(pre.transform(frame))
    order = np.random.default_rng(1).permutation(len(frame))
    shuffled = frame.iloc[order].assign(label=y[order], extra="x")
    assert np.array_equal(_dense(pre.transform(shuffled)), full[order])
    assert np.array_equal(_dense(pre.transform(frame.iloc[[5]])), full[[5]])


def test_lightgbm_trains_on_tree_output_with_the_categorical_indices() -> None:
    lightgbm = pytest.importorskip("lightgbm")
    pre, frame, y = _build("tree", text=False)
    X = pre.fit_transform(frame, y)
    data = lightgbm.Dataset(X, label=y, feature_name=pre.feature_names_out_,
                            categorical_feature=pre.categorical_indices_, params={"verbose": -1})
    booster = lightgbm.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "min_data_in_leaf": 5},
                             data, num_boost_round=5)
    scores = booster.predict(pre.transform(frame))
    assert scores.shape == (len(frame),) and np.isfinite(scores).all()
