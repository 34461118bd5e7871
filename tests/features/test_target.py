"""High-cardinality categories: out-of-fold target encoding (no leak) and hashing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction import FeatureHasher
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold

from loopline.data._types import Column, Kind, Schema
from loopline.features import build_preprocessor
from loopline.features._hashing import HashEncoder
from loopline.features._target import TargetEncoder
from loopline.spec import FeaturesSpec


def _naive(keys: list[str], y: np.ndarray, m: float) -> tuple[dict[str, float], float]:
    prior = float(np.mean(y))
    table = {}
    for key in set(keys):
        rows = [i for i, k in enumerate(keys) if k == key]
        table[key] = (float(sum(y[rows])) + m * prior) / (len(rows) + m)
    return table, prior


def _noise(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, Schema]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"session": pd.Series([f"s{i}" for i in rng.integers(0, 3 * n, n)], dtype="str")})
    y = rng.integers(0, 2, n)
    schema = Schema((Column("session", Kind.CATEGORICAL, "str", int(frame["session"].nunique()), 0.0),))
    return frame, y, schema


def test_out_of_fold_encoding_does_not_leak_a_noise_column() -> None:
    frame, y, schema = _noise()
    pre = build_preprocessor(schema, ["session"], spec=FeaturesSpec(), task="binary", for_model="tree", seed=1)
    assert pre.fit(frame, y).feature_names_out_ == ["session__target"]
    honest = roc_auc_score(y, pre.fit_transform(frame, y)[:, 0])
    leaky = roc_auc_score(y, pre.transform(frame)[:, 0])  # the full-train mapping applied to its own rows
    assert abs(honest - 0.5) < 0.05, honest
    assert leaky > 0.85, leaky


def test_mapping_matches_the_m_estimate_and_unseen_gets_the_prior() -> None:
    keys = ["a", "a", "b", "c", "c", "c", "a"]
    y = np.array([1, 0, 1, 0, 0, 1, 1])
    enc = TargetEncoder("k", mode="tree", smoothing=2.0)
    enc.fit(pd.Series(keys, dtype="str"), y)
    table, prior = _naive(keys, y, 2.0)
    out = enc.transform(pd.Series(["a", "b", "c", "new"], dtype="str"))[:, 0]
    np.testing.assert_allclose(out, [table["a"], table["b"], table["c"], prior], rtol=1e-12)


def test_each_training_row_is_encoded_by_the_other_folds() -> None:
    rng = np.random.default_rng(4)
    keys = [f"k{i}" for i in rng.integers(0, 8, 60)]
    y = rng.normal(size=60)
    enc = TargetEncoder("k", mode="tree", smoothing=3.0, folds=5, seed=7)
    out = enc.fit_transform(pd.Series(keys, dtype="str"), y)[:, 0]
    for fit_rows, out_rows in KFold(5, shuffle=True, random_state=7).split(keys):
        table, prior = _naive([keys[i] for i in fit_rows], y[fit_rows], 3.0)
        np.testing.assert_allclose(out[out_rows], [table.get(keys[i], prior) for i in out_rows], rtol=1e-12)


def test_missing_is_a_category_and_linear_mode_centres_and_scales() -> None:
    values = pd.Series(["a", None, "a", None, "b"], dtype="str")
    y = np.array([1.0, 3.0, 1.0, 5.0, 0.0])
    tree = TargetEncoder("k", mode="tree", smoothing=1.0)
    tree.fit(values, y)
    prior = y.mean()
    assert tree.transform(pd.Series([None], dtype="str"))[0, 0] == pytest.approx((8.0 + prior) / 3.0)
    linear = TargetEncoder("k", mode="linear", smoothing=1.0)
    linear.fit(values, y)
    np.testing.assert_allclose(linear.transform(values)[:, 0], (tree.transform(values)[:, 0] - prior) / y.std())


def test_label_is_required_for_target_encoding() -> None:
    frame, _, schema = _noise(n=50)
    pre = build_preprocessor(schema, ["session"], spec=FeaturesSpec(high_cardinality=10), task="regression",
                             for_model="linear")
    with pytest.raises(ValueError, match="needs the label to fit: call fit"):
        pre.fit(frame)


@pytest.mark.parametrize(("task", "encoding"), [("multiclass", "target"), ("binary", "hash")])
def test_multiclass_or_hash_setting_hashes_into_buckets(task: str, encoding: str) -> None:
    frame, y, schema = _noise(n=300)
    spec = FeaturesSpec(hash_buckets=32, high_cardinality_encoding=encoding)  # type: ignore[arg-type]
    pre = build_preprocessor(schema, ["session"], spec=spec, task=task, for_model="linear")  # type: ignore[arg-type]
    out = pre.fit_transform(frame, y)
    assert out.shape == (300, 32) and pre.feature_names_out_[0] == "session__hash0"
    assert (out.sum(axis=1) == 1).all()


def test_hash_buckets_match_feature_hasher_and_are_stateless() -> None:
    values = pd.Series(["x", "y", None, "x"], dtype="str")
    enc = HashEncoder("k", mode="tree", buckets=16)
    out = enc.fit_transform(values, None).toarray()
    reference = FeatureHasher(16, input_type="string", alternate_sign=False).transform(
        [["x"], ["y"], ["__missing__"], ["x"]]).toarray()
    np.testing.assert_array_equal(out, reference)
    assert np.array_equal(HashEncoder("k", mode="tree", buckets=16).transform(values).toarray(), out)
