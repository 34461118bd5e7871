"""Tuning LightGBM with Optuna within a trial budget, and the error when Optuna is missing."""

from __future__ import annotations

import sys

import pytest

from loopline import MissingExtraError
from loopline.models import train_candidates
from loopline.testing import check_model
from tests.models.samples import make_spec, make_splits


def test_tuning_with_three_trials_keeps_the_best_and_is_reproducible() -> None:
    splits = make_splits("binary", n=1200)
    spec = make_spec("binary", rounds=40, models={"candidates": ["lightgbm"], "tune": {"trials": 3}})
    first, again = train_candidates(splits, spec)[0], train_candidates(splits, spec)[0]
    tuning = first.params["tuning"]
    assert tuning["trials"] == 3 and tuning["metric"] == "binary_logloss"
    assert tuning["best_value"] == first.params["valid_scores"]["binary_logloss"]
    untuned = train_candidates(splits, make_spec("binary", rounds=40, models={"candidates": ["lightgbm"]}))[0]
    assert tuning["best_value"] <= untuned.params["valid_scores"]["binary_logloss"] + 1e-12  # trial 0 is untuned
    searched = {k: first.params.get(k) for k in tuning["searched"]}
    assert searched == {k: again.params.get(k) for k in tuning["searched"]}  # seeded sampler
    assert (first.predict(splits.test) == again.predict(splits.test)).all()
    check_model(first, splits.test.iloc[:50])


def test_the_tuning_metric_follows_the_primary_metric() -> None:
    splits = make_splits("ranking", n=800)
    spec = make_spec("ranking", rounds=20, metrics={"primary": "map", "k": 5},
                     models={"candidates": ["lightgbm"], "tune": {"trials": 2}})
    tuning = train_candidates(splits, spec)[0].params["tuning"]
    assert tuning["metric"] == "map" and 0 < tuning["best_value"] <= 1


def test_tuning_without_optuna_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # makes `import optuna` raise ImportError
    spec = make_spec("binary", models={"candidates": ["lightgbm"], "tune": {"trials": 1}})
    with pytest.raises(MissingExtraError, match=r"pip install 'loopline\[tune\]'"):
        train_candidates(make_splits("binary", n=400), spec)
