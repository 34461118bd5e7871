"""Baselines: the constant prior, seeded random scores and the spec's rule, against direct computations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from loopline import ModelError
from loopline.models import train_baselines
from loopline.testing import check_model
from tests.models.conftest import RULES, Trained
from tests.models.samples import CLASSES, make_spec, make_splits

TASKS = ["binary", "regression", "multiclass", "ranking"]


@pytest.mark.parametrize("task", TASKS)
def test_every_baseline_meets_the_contract(task: str, trained: Callable[[str], Trained]) -> None:
    found = trained(task)
    for name in ("constant", "random", "heuristic"):
        model = found.models[name]
        assert model.is_baseline and model.family == name
        assert model.explain(found.splits.test) is None and model.importance() is None
        check_model(model, found.splits.test.iloc[:100])
    assert found.models["constant"].features == found.models["random"].features == ()


def test_constant_is_the_train_prior(trained: Callable[[str], Trained]) -> None:
    binary, regression, multi = trained("binary"), trained("regression"), trained("multiclass")
    assert np.allclose(binary.models["constant"].predict(binary.splits.test), binary.splits.train["y"].mean(),
                       rtol=1e-12)
    assert np.allclose(regression.models["constant"].predict(regression.splits.test),
                       regression.splits.train["y"].mean(), rtol=1e-12)
    shares = multi.splits.train["y"].value_counts(normalize=True).reindex(list(CLASSES)).to_numpy()
    p = multi.models["constant"].predict(multi.splits.test)
    assert multi.models["constant"].classes == CLASSES
    assert np.allclose(p, shares, rtol=1e-9)


def test_random_ignores_the_features_and_is_seeded(trained: Callable[[str], Trained]) -> None:
    found = trained("binary")
    model = found.models["random"]
    frame = make_splits("binary", n=20_000, seed=5).train
    p = model.predict(frame)
    assert abs(p.mean() - found.splits.train["y"].mean()) < 0.01  # a Beta with mean = prior
    assert abs(roc_auc_score(frame["y"], p) - 0.5) < 0.02
    assert np.array_equal(p, model.predict(frame.iloc[::-1]))  # by position: depends on seed and row count only
    other_seed = train_baselines(found.splits, make_spec("binary", seed=1))[1]
    assert not np.array_equal(p, other_seed.predict(frame))

    regression = trained("regression")
    draws = regression.models["random"].predict(frame)
    labels = regression.splits.train["y"].to_numpy()
    assert labels.min() <= draws.min() and draws.max() <= labels.max()
    assert np.allclose(np.quantile(draws, [0.1, 0.5, 0.9]), np.quantile(labels, [0.1, 0.5, 0.9]), atol=0.15)
    multi = trained("multiclass").models["random"].predict(frame)
    assert np.allclose(multi.sum(axis=1), 1.0) and multi.std(axis=0).min() > 0.05


def test_the_rule_is_mapped_by_a_one_feature_fit_on_train(trained: Callable[[str], Trained]) -> None:
    found = trained("binary")
    train, test = found.splits.train, found.splits.test
    rule = (train["x1"] + (train["colour"] == "red")).to_numpy().reshape(-1, 1)
    oracle = LogisticRegression(C=1e4, max_iter=1000).fit(rule, train["y"])
    test_rule = (test["x1"] + (test["colour"] == "red")).to_numpy().reshape(-1, 1)
    assert np.allclose(found.models["heuristic"].predict(test), oracle.predict_proba(test_rule)[:, 1], atol=1e-4)
    assert found.models["heuristic"].features == ("x1", "colour")

    regression = trained("regression")
    train, test = regression.splits.train, regression.splits.test

    raw_train = (train["x1"] + 0.5 * train["x2"]).to_numpy()
    fill = np.median(raw_train[np.isfinite(raw_train)])
    slope, intercept = np.polyfit(np.where(np.isfinite(raw_train), raw_train, fill), train["y"], 1)
    raw_test = (test["x1"] + 0.5 * test["x2"]).to_numpy()
    expected = slope * np.where(np.isfinite(raw_test), raw_test, fill) + intercept
    assert np.allclose(regression.models["heuristic"].predict(test), expected, atol=1e-9)

    ranking = trained("ranking")
    assert np.array_equal(ranking.models["heuristic"].predict(ranking.splits.test), ranking.splits.test["x1"])


def test_baselines_get_a_threshold_for_binary_only(trained: Callable[[str], Trained]) -> None:
    assert all(trained("binary").models[n].threshold is not None for n in ("constant", "random", "heuristic"))
    assert all(trained("regression").models[n].threshold is None for n in ("constant", "random", "heuristic"))


def test_a_bad_rule_names_the_rule_the_duckdb_message_and_the_columns() -> None:
    splits = make_splits("binary", n=300)
    with pytest.raises(ModelError) as info:
        train_baselines(splits, make_spec("binary", baseline={"rule": "ln(1 + author_followers)"}))
    message = str(info.value)
    assert "'ln(1 + author_followers)'" in message
    assert 'Referenced column "author_followers" not found' in message
    assert "'x1', 'x2', 'colour', 'noise'" in message
    with pytest.raises(ModelError, match=r"Could not convert string 'red' to DOUBLE"):
        train_baselines(splits, make_spec("binary", baseline={"rule": "colour"}))
    with pytest.raises(ModelError, match=r"uses the label column 'y'"):
        train_baselines(splits, make_spec("binary", baseline={"rule": "2 * y"}))


def test_the_constant_baseline_is_corrected_for_downsampling() -> None:
    full = make_splits("binary", n=6000)
    sampled = make_splits("binary", n=6000, negative_rate=0.25)
    constant = train_baselines(sampled, make_spec("binary", baseline={"rule": RULES["binary"]}))[0]
    rate = sampled.train["y"].mean()
    assert rate > full.train["y"].mean() + 0.15  # the sampled prior is far too high ...
    corrected = rate / (rate + (1 - rate) / 0.25)
    assert np.allclose(constant.predict(full.test.iloc[:3]), corrected)  # ... and is put back
    assert abs(corrected - full.train["y"].mean()) < 0.03
