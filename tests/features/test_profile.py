"""The reference profile: numbers against numpy, and a lossless JSON round trip."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.weightstats import DescrStatsW

from loopline import FeatureError
from loopline.data import Kind, Schema, downsample_negatives
from loopline.features import (
    QUANTILE_LEVELS,
    BooleanProfile,
    CategoricalProfile,
    LabelProfile,
    NumericProfile,
    PredictionProfile,
    Profile,
)
from loopline.features._binning import bin_values, grid_edges
from loopline.features._profile import OTHER

from .samples import MIXED_KINDS, mixed_frame, mixed_schema, schema_of


def _profile(bins: int = 10) -> tuple[Profile, pd.DataFrame]:
    frame, y = mixed_frame(n=500, seed=2)
    frame["label"] = y
    return Profile.from_frame(frame, mixed_schema(frame.drop(columns="label")), features=list(frame.columns[:-1]),
                              label="label", bins=bins), frame


def test_round_trips_through_json() -> None:
    profile, _ = _profile()
    data = profile.to_dict()
    text = json.dumps(data, allow_nan=False)
    again = Profile.from_dict(json.loads(text))
    assert again == profile
    assert again.to_dict() == data


def test_numeric_statistics_match_numpy() -> None:
    profile, frame = _profile(bins=5)
    amount = frame["amount"].to_numpy()
    present = amount[~np.isnan(amount)]
    p = profile.features["amount"]
    assert p.kind == "numeric"
    np.testing.assert_allclose(p.quantiles, np.quantile(present, QUANTILE_LEVELS), rtol=1e-12)
    assert p.mean == pytest.approx(present.mean()) and p.std == pytest.approx(present.std())
    assert p.missing_share == pytest.approx(np.isnan(amount).mean())
    np.testing.assert_allclose(p.edges, np.quantile(present, np.linspace(0, 1, 6)), rtol=1e-12)
    assert list(p.counts) == np.histogram(present, bins=np.asarray(p.edges))[0].tolist()
    assert sum(p.counts) == present.size and max(p.counts) - min(p.counts) <= 1


def test_repeated_values_merge_edges_and_a_constant_has_one_bin() -> None:
    schema = mixed_schema(mixed_frame(n=20)[0])
    frame = pd.DataFrame({"amount": [1.0] * 8 + [2.0, 3.0], "visits": [4] * 10})
    p = Profile.from_frame(frame, schema, features=["amount", "visits"], bins=4).features
    assert p["amount"].edges == (1.0, 3.0) and p["amount"].counts == (10,)
    assert p["visits"].edges == (4.0, 4.0) and p["visits"].counts == (10,)


def test_categorical_boolean_and_label_shares() -> None:
    profile, frame = _profile()
    plan = profile.features["plan"]
    shares = frame["plan"].value_counts(normalize=False) / len(frame)
    assert plan.frequencies == pytest.approx(shares.to_dict())
    assert list(plan.frequencies) == list(shares.sort_values(ascending=False).index)
    assert plan.missing_share == pytest.approx(frame["plan"].isna().mean())
    assert plan.other_share == 0.0 and plan.n_categories == 4
    assert sum(plan.frequencies.values()) + plan.other_share + plan.missing_share == pytest.approx(1.0)
    member = profile.features["member"]
    assert member.true_share == pytest.approx(frame["member"].dropna().astype(float).mean())
    assert profile.label == LabelProfile("binary", 500, 0.0, rate=pytest.approx(frame["label"].mean()))
    assert profile.rows == 500


def test_top_fifty_categories_and_the_rest_as_other() -> None:
    values = pd.Series([f"c{i:03d}" for i in range(100) for _ in range(1 + (i < 50))], dtype="str")
    frame = pd.DataFrame({"user": values})
    schema = mixed_schema(mixed_frame(n=20)[0])
    p = Profile.from_frame(frame, schema, features=["user"]).features["user"]
    assert len(p.frequencies) == 50 and set(p.frequencies) == {f"c{i:03d}" for i in range(50)}
    assert p.other_share == pytest.approx(50 / 150) and p.n_categories == 100


def test_label_kinds() -> None:
    reg = LabelProfile.of(pd.Series([1.5, 2.5, None]), "y")
    assert (reg.kind, reg.mean, reg.std, reg.missing_share) == ("numeric", 2.0, 0.5, pytest.approx(1 / 3))
    classes = LabelProfile.of(pd.Series(["a", "b", "b", "c"], dtype="str"), "y")
    assert classes.kind == "categorical" and classes.classes == {"b": 0.5, "a": 0.25, "c": 0.25}
    codes = LabelProfile.of(pd.Series([0, 1, 2, 2]), "y")
    assert codes.classes == {"2": 0.5, "0": 0.25, "1": 0.25}


def test_missing_columns_are_named() -> None:
    frame, _ = mixed_frame(n=20)
    with pytest.raises(FeatureError, match=r"missing column\(s\) \['label'\]"):
        Profile.from_frame(frame, mixed_schema(frame), features=["amount"], label="label")


# ---- weights: frequency weights that undo sampling --------------------------------------------------------------

def _population(n: int = 200_000, seed: int = 11) -> tuple[pd.DataFrame, Schema]:
    """5% positives; ``x`` shifted by 2 for positives; ``c`` has different shares by class."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.05).astype(np.int64)
    x = rng.normal(2.0 * y, 1.0)
    c = np.where(y == 1, rng.choice(["a", "b", "c"], n, p=[0.05, 0.3, 0.65]),
                 rng.choice(["a", "b", "c"], n, p=[0.7, 0.2, 0.1]))
    frame = pd.DataFrame({"x": x, "c": pd.Series(c, dtype="str"), "y": y})
    return frame, schema_of(frame, {"x": Kind.NUMERIC, "c": Kind.CATEGORICAL, "y": Kind.NUMERIC})


def _summary(p: Profile) -> dict[str, float]:
    x, c = p.features["x"], p.features["c"]
    assert isinstance(x, NumericProfile) and isinstance(c, CategoricalProfile)
    assert p.label is not None and p.label.rate is not None and x.mean is not None and x.quantiles is not None
    median = x.quantiles[QUANTILE_LEVELS.index(0.5)]
    return {"rate": p.label.rate, "mean": x.mean, "median": median, **c.frequencies}


def test_weights_undo_negative_downsampling() -> None:
    full, schema = _population()
    kept = downsample_negatives(full, "y", 0.1, seed=3)
    weights = np.where(kept["y"] == 0, 1 / 0.1, 1.0)
    truth = Profile.from_frame(full, schema, features=["x", "c"], label="y")
    weighted = Profile.from_frame(kept, schema, features=["x", "c"], label="y", weights=weights)
    naive = Profile.from_frame(kept, schema, features=["x", "c"], label="y")

    expected, got, biased = _summary(truth), _summary(weighted), _summary(naive)
    # Sampling noise: ~19k kept negatives, n_eff ~ 21k, so standard errors are ~0.0003 (rate), ~0.01 (mean,
    # median, shares); the tolerances are 5+ of them. Without weights the statistics that move with the label
    # are off by more than 0.1 (the share of 'b', 0.3 vs 0.2 by class, moves less).
    tolerance = {"rate": 0.002, "mean": 0.04, "median": 0.04, "a": 0.015, "b": 0.015, "c": 0.015}
    for key, tol in tolerance.items():
        assert abs(got[key] - expected[key]) < tol, (key, got[key], expected[key])
        assert abs(biased[key] - expected[key]) > (0.02 if key == "b" else 0.1), (key, biased[key], expected[key])

    # The fine grid: the weighted reference's CDF against the full frame counted on the same edges.
    ref = weighted.features["x"]
    assert isinstance(ref, NumericProfile)
    binned = ref.binned()
    assert binned is not None and 900 <= binned.cells <= 1000
    full_cdf = bin_values(full["x"].to_numpy(), binned.edges).cdf_at_edges()
    assert np.abs(binned.cdf_at_edges() - full_cdf).max() < 0.02
    naive_binned = naive.features["x"].binned()  # type: ignore[union-attr]
    assert naive_binned is not None
    assert np.abs(naive_binned.cdf_at_edges() - bin_values(full["x"].to_numpy(), naive_binned.edges).cdf_at_edges()
                  ).max() > 0.1
    # The weighted totals stand for the full frame; n_eff says how many rows the precision is worth.
    assert ref.present == pytest.approx(len(full), rel=0.02) and binned.n == pytest.approx(ref.present)
    assert ref.n_eff == pytest.approx(weights.sum() ** 2 / np.square(weights).sum())
    assert weighted.weighted and not naive.weighted and weighted.rows == len(kept)
    assert weighted.label is not None and weighted.label.n_eff == pytest.approx(ref.n_eff)
    assert naive.label is not None and naive.label.n_eff is None and naive.label.effective_rows == len(kept)


def _weighted_case(seed: int = 5, n: int = 3000) -> tuple[pd.DataFrame, np.ndarray, Profile]:
    frame, _ = mixed_frame(n=n, seed=seed)
    frame["score"] = np.random.default_rng(seed).normal(size=n)
    frame.loc[::7, "score"] = np.nan
    weights = np.random.default_rng(seed + 1).uniform(0.1, 5.0, n)
    schema = schema_of(frame, {**MIXED_KINDS, "score": Kind.NUMERIC})
    profile = Profile.from_frame(frame, schema, features=list(frame.columns), label="score", weights=weights)
    return frame, weights, profile


def test_weighted_moments_and_shares_match_statsmodels_and_numpy() -> None:
    frame, w, profile = _weighted_case()
    amount = frame["amount"].to_numpy()
    kept = ~np.isnan(amount)
    reference = DescrStatsW(amount[kept], weights=w[kept], ddof=0)
    p = profile.features["amount"]
    assert isinstance(p, NumericProfile)
    assert p.mean == pytest.approx(reference.mean, rel=1e-12) and p.std == pytest.approx(reference.std, rel=1e-12)
    assert p.mean == pytest.approx(np.average(amount[kept], weights=w[kept]), rel=1e-12)
    assert p.missing_share == pytest.approx(w[~kept].sum() / w.sum(), rel=1e-12)
    assert p.present == pytest.approx(w[kept].sum(), rel=1e-12)
    assert sum(p.counts) == pytest.approx(w[kept].sum(), rel=1e-12)

    plan = profile.features["plan"]
    assert isinstance(plan, CategoricalProfile)
    sums = pd.Series(w).groupby(frame["plan"].to_numpy()).sum()
    assert plan.frequencies == pytest.approx((sums / w.sum()).to_dict(), rel=1e-12)
    assert plan.counts == pytest.approx(sums.to_dict(), rel=1e-12) and plan.complete is True
    assert list(plan.frequencies) == list(sums.sort_values(ascending=False).index)
    assert plan.missing_share == pytest.approx(w[frame["plan"].isna().to_numpy()].sum() / w.sum(), rel=1e-12)
    has_plan = w[frame["plan"].notna().to_numpy()]
    assert plan.n_eff == pytest.approx(has_plan.sum() ** 2 / np.square(has_plan).sum(), rel=1e-12)

    member = profile.features["member"]
    assert isinstance(member, BooleanProfile)
    present = frame["member"].notna().to_numpy()
    truth = frame["member"].to_numpy(dtype=float, na_value=np.nan)[present]
    assert member.true_share == pytest.approx(np.average(truth, weights=w[present]), rel=1e-12)
    assert member.true_count == pytest.approx(w[present][truth == 1].sum(), rel=1e-12)
    assert member.false_count == pytest.approx(w[present][truth == 0].sum(), rel=1e-12)

    note = profile.features["note"]
    lengths = frame["note"].str.len().to_numpy()
    has = frame["note"].notna().to_numpy()
    assert note.mean_length == pytest.approx(np.average(lengths[has], weights=w[has]), rel=1e-12)  # type: ignore[union-attr]

    label = profile.label
    score = frame["score"].to_numpy()
    ok = ~np.isnan(score)
    described = DescrStatsW(score[ok], weights=w[ok], ddof=0)
    assert label is not None and label.kind == "numeric"
    assert label.mean == pytest.approx(described.mean, rel=1e-12)
    assert label.std == pytest.approx(described.std, rel=1e-12)
    assert label.missing_share == pytest.approx(w[~ok].sum() / w.sum(), rel=1e-12)
    binned = label.binned()
    assert binned is not None and binned.n == pytest.approx(w[ok].sum(), rel=1e-12)
    assert profile.n_eff == pytest.approx(w.sum() ** 2 / np.square(w).sum(), rel=1e-12)


def test_weighted_label_shares() -> None:
    w = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    binary = LabelProfile.of(pd.Series([1, 0, 1, 0, None]), "y", weights=w)
    assert binary.kind == "binary" and binary.rate == pytest.approx(4 / 10) and binary.missing_share == 0.5
    assert binary.n_eff == pytest.approx(100 / 30) and binary.rows == 4
    classes = LabelProfile.of(pd.Series(["a", "b", "b", "c", "a"], dtype="str"), "y", weights=w)
    assert classes.classes == pytest.approx({"a": 11 / 20, "b": 5 / 20, "c": 4 / 20})
    assert list(classes.classes) == ["a", "b", "c"]


def test_weighted_quantiles_equal_the_quantiles_of_rows_repeated_by_integer_weights() -> None:
    rng = np.random.default_rng(8)
    schema = schema_of(pd.DataFrame({"x": [0.0]}), {"x": Kind.NUMERIC})
    for case in range(6):
        n = int(rng.integers(1, 300))
        # rounding makes ties, which a naive oracle handles by construction
        values = np.round(rng.gamma(2.0, 3.0, n), 0 if case % 2 else 3)
        values[rng.random(n) < 0.1] = np.nan
        counts = rng.integers(1, 6, n)
        profile = Profile.from_frame(pd.DataFrame({"x": values}), schema, features=["x"], bins=7,
                                     weights=counts.astype(float)).features["x"]
        kept = ~np.isnan(values)
        repeated = np.repeat(values[kept], counts[kept])
        assert isinstance(profile, NumericProfile)
        if repeated.size == 0:
            assert profile.quantiles is None and profile.binned() is None
            continue
        np.testing.assert_allclose(profile.quantiles, np.quantile(repeated, QUANTILE_LEVELS), rtol=1e-12, atol=0)
        edges = np.unique(np.quantile(repeated, np.linspace(0, 1, 8)))
        if edges.size >= 2:
            np.testing.assert_allclose(profile.edges, edges, rtol=1e-12, atol=0)
            assert list(profile.counts) == np.histogram(repeated, bins=np.asarray(profile.edges))[0].tolist()
        oracle = bin_values(repeated, grid_edges(repeated, cells=1000))
        binned = profile.binned()
        assert binned is not None
        np.testing.assert_array_equal(binned.edges, oracle.edges)
        np.testing.assert_array_equal(binned.counts, oracle.counts)


def test_unit_weights_change_nothing_and_row_order_does_not_matter() -> None:
    frame, _ = mixed_frame(n=400, seed=4)
    schema = mixed_schema(frame)
    plain = Profile.from_frame(frame, schema, features=list(frame.columns))
    ones = Profile.from_frame(frame, schema, features=list(frame.columns), weights=np.ones(len(frame)))
    assert ones.weighted and not plain.weighted
    _same(ones.to_dict()["features"], plain.to_dict()["features"], rel=1e-12)

    w = np.random.default_rng(1).uniform(0.5, 3.0, len(frame))
    order = np.random.default_rng(2).permutation(len(frame))
    forward = Profile.from_frame(frame, schema, features=list(frame.columns), weights=w)
    shuffled = Profile.from_frame(frame.iloc[order], schema, features=list(frame.columns), weights=w[order])
    _same(shuffled.to_dict(), forward.to_dict(), rel=1e-9)


def _leaves(tree: object, path: str = "") -> dict[str, object]:
    """Every leaf of a JSON tree by its path."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _leaves(sub, f"{path}.{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in _leaves(sub, f"{path}[{i}]").items()}
    return {path: tree}


def _same(a: object, b: object, *, rel: float) -> None:
    """Two JSON trees with the same leaves: numbers within ``rel``, everything else equal."""
    left, right = _leaves(a), _leaves(b)
    assert list(left) == list(right)
    for path, value in left.items():
        other = right[path]
        if isinstance(value, float | int) and not isinstance(value, bool):
            assert value == pytest.approx(other, rel=rel, abs=1e-12), path
        else:
            assert value == other, path


def test_categorical_counts_keep_a_thousand_categories_and_fold_the_rest() -> None:
    values = [f"k{i:04d}" for i in range(1200) for _ in range(1 + (i < 1000))] + ["__other__"] * 3
    frame = pd.DataFrame({"user": pd.Series(values, dtype="str")})
    schema = mixed_schema(mixed_frame(n=20)[0])
    p = Profile.from_frame(frame, schema, features=["user"]).features["user"]
    assert isinstance(p, CategoricalProfile) and p.counts is not None
    assert p.complete is False and len(p.counts) == 1001 and list(p.counts)[-1] == OTHER
    assert p.counts[OTHER] == 200 + 3  # the 200 rarest, and the literal '__other__' category
    assert sum(p.counts.values()) == len(values) and p.n_categories == 1201
    assert {k for k in p.counts if k != OTHER} == {f"k{i:04d}" for i in range(1000)}
    few = Profile.from_frame(frame.head(10), schema, features=["user"]).features["user"]
    assert isinstance(few, CategoricalProfile) and few.complete is True and few.counts == {
        "k0000": 2.0, "k0001": 2.0, "k0002": 2.0, "k0003": 2.0, "k0004": 2.0}


def test_bad_weights_are_refused_with_the_row() -> None:
    frame, _ = mixed_frame(n=20)
    schema = mixed_schema(frame)
    with pytest.raises(FeatureError, match=r"profile: expected one weight per row \(20 rows\), got weights of "
                                           r"shape \(19,\)"):
        Profile.from_frame(frame, schema, features=["amount"], weights=np.ones(19))
    bad = np.ones(20)
    bad[[3, 8]] = [0.0, np.nan]
    with pytest.raises(FeatureError, match=r"weights must be finite and above 0, but row 3 has 0\.0 \(2 such row"):
        Profile.from_frame(frame, schema, features=["amount"], weights=bad)


# ---- the prediction profile ----------------------------------------------------------------------------------------

def test_prediction_profile_of_scores() -> None:
    rng = np.random.default_rng(0)
    scores = rng.beta(2.0, 5.0, 5000)
    scores[:10] = np.nan
    w = rng.uniform(0.5, 2.0, 5000)
    p = PredictionProfile.of(scores, "binary", weights=w)
    ok = np.isfinite(scores)
    oracle = bin_values(scores[ok], grid_edges(scores[ok], cells=1000, weights=w[ok]), weights=w[ok])
    assert p.binned() == oracle and p.scores == oracle.to_dict()
    described = DescrStatsW(scores[ok], weights=w[ok], ddof=0)
    assert p.mean == pytest.approx(described.mean, rel=1e-12) and p.std == pytest.approx(described.std, rel=1e-12)
    assert (p.rows, p.weight_total) == (5000, pytest.approx(w.sum(), rel=1e-12))
    assert p.missing_share == pytest.approx(w[:10].sum() / w.sum(), rel=1e-12)
    assert p.n_eff == pytest.approx(oracle.n_eff, rel=1e-12) and p.class_counts is None
    plain = PredictionProfile.of(scores[ok], "regression")
    assert (plain.weight_total, plain.n_eff, plain.missing_share) == (ok.sum(), ok.sum(), 0.0)
    assert plain.mean == pytest.approx(scores[ok].mean()) and plain.std == pytest.approx(scores[ok].std())


def test_prediction_profile_of_classes() -> None:
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet([1.0, 2.0, 3.0], 2000)
    w = rng.integers(1, 4, 2000).astype(float)
    p = PredictionProfile.of(probabilities, "multiclass", weights=w, classes=[2, 0, 1.0])
    counts = {"2": 0.0, "0": 0.0, "1": 0.0}
    for row, weight in zip(probabilities, w, strict=True):
        counts[["2", "0", "1"][int(np.argmax(row))]] += weight
    assert p.class_counts == pytest.approx(counts) and list(p.class_counts or {}) == ["2", "0", "1"]
    top = probabilities.max(axis=1)
    oracle = bin_values(top, grid_edges(top, cells=1000, weights=w), weights=w)
    assert p.binned() == oracle and p.scores is None
    assert p.mean == pytest.approx(np.average(top, weights=w), rel=1e-12)
    assert PredictionProfile.of(probabilities[:2], "multiclass").class_counts is not None


def test_prediction_profile_refuses_wrong_shapes() -> None:
    with pytest.raises(FeatureError, match=r"task 'binary': expected predictions of shape \(rows,\), got shape "
                                           r"\(3, 2\)"):
        PredictionProfile.of(np.zeros((3, 2)), "binary")
    with pytest.raises(FeatureError, match=r"2 class name\(s\) \['a', 'b'\] for predictions with 3 column"):
        PredictionProfile.of(np.full((4, 3), 1 / 3), "multiclass", classes=["a", "b"])
    with pytest.raises(FeatureError, match=r"unknown task 'clustering'"):
        PredictionProfile.of(np.zeros(3), "clustering")


# ---- JSON ---------------------------------------------------------------------------------------------------------

def test_weighted_profile_with_predictions_round_trips_exactly() -> None:
    profile = _weighted_case(n=800)[2]
    scores = np.random.default_rng(3).random(300)
    with_scores = replace(profile, prediction=PredictionProfile.of(scores, "ranking", weights=np.full(300, 2.5)))
    multiclass = replace(profile, prediction=PredictionProfile.of(
        np.random.default_rng(4).dirichlet([1, 1], 50), "multiclass", classes=["no", "yes"]))
    for p in (with_scores, multiclass):
        data = p.to_dict()
        again = Profile.from_dict(json.loads(json.dumps(data, allow_nan=False)))
        assert again == p and again.to_dict() == data
        assert again.prediction is not None and again.prediction.binned() == p.prediction.binned()  # type: ignore[union-attr]


OLD_PROFILE = {  # as Profile.to_dict wrote it before the weighted and drift-reference fields existed
    "rows": 500, "bins": 2, "quantile_levels": [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0],
    "features": {
        "amount": {"missing_share": 0.1, "mean": 19.5, "std": 13.25,
                   "quantiles": [0.5, 1.1, 3.0, 9.5, 16.5, 26.0, 46.0, 62.0, 80.0],
                   "edges": [0.5, 16.5, 80.0], "counts": [225, 225], "kind": "numeric"},
        "empty": {"missing_share": 1.0, "mean": None, "std": None, "quantiles": None, "edges": [], "counts": [],
                  "kind": "numeric"},
        "plan": {"missing_share": 0.05, "frequencies": {"basic": 0.5, "pro": 0.3, "team": 0.15},
                 "other_share": 0.0, "n_categories": 3, "kind": "categorical"},
        "member": {"missing_share": 0.04, "true_share": 0.4, "kind": "boolean"},
        "seen_at": {"missing_share": 0.05, "first": "2024-01-01T00:10:00+00:00",
                    "last": "2024-03-01T00:00:00+00:00", "kind": "timestamp"},
        "note": {"missing_share": 0.05, "mean_length": 27.5, "kind": "text"},
    },
    "label": {"kind": "binary", "rows": 500, "missing_share": 0.0, "rate": 0.42, "mean": None, "std": None,
              "classes": {}},
}


def test_a_profile_stored_before_the_weighted_fields_still_loads() -> None:
    old = Profile.from_dict(json.loads(json.dumps(OLD_PROFILE)))
    amount, plan, member = old.features["amount"], old.features["plan"], old.features["member"]
    assert isinstance(amount, NumericProfile) and isinstance(plan, CategoricalProfile)
    assert isinstance(member, BooleanProfile)
    assert amount.edges == (0.5, 16.5, 80.0) and amount.counts == (225, 225) and amount.mean == 19.5
    assert (amount.reference, amount.present, amount.n_eff, amount.binned()) == (None, None, None, None)
    assert (plan.counts, plan.complete, plan.n_eff) == (None, None, None) and plan.frequencies["pro"] == 0.3
    assert (member.true_count, member.false_count, member.n_eff, member.true_share) == (None, None, None, 0.4)
    assert (old.weighted, old.n_eff, old.prediction) == (False, None, None)
    assert old.label == LabelProfile("binary", 500, 0.0, rate=0.42)
    assert old.label is not None and old.label.effective_rows == 500.0 and old.label.binned() is None
    assert Profile.from_dict(old.to_dict()) == old
