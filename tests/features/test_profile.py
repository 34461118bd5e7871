"""The reference profile: numbers against numpy, and a lossless JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from loopline import FeatureError
from loopline.features import QUANTILE_LEVELS, LabelProfile, Profile

from .samples import mixed_frame, mixed_schema


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
