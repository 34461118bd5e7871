"""Baselines and candidates for every task: candidates beat the constant prior; rules and errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_squared_error, ndcg_score, roc_auc_score

from loopline import ModelError
from loopline.models import train_baselines, train_candidates
from tests.models.samples import spec, splits


def _by_name(models: list) -> dict:  # type: ignore[type-arg]
    return {m.name: m for m in models}


def test_binary_candidates_beat_baselines_and_get_a_threshold() -> None:
    s, sp = splits("binary"), spec("binary", baseline={"rule": "x1 + 2 * CAST(colour = 'red' AS INTEGER)"})
    base = _by_name(train_baselines(s, sp))
    cands = _by_name(train_candidates(s, sp))
    y = s.test["y"].to_numpy()
    losses = {n: log_loss(y, m.predict(s.test)) for n, m in {**base, **cands}.items()}
    assert losses["lightgbm"] < losses["constant"] * 0.9 and losses["linear"] < losses["constant"] * 0.9
    assert losses["heuristic"] < losses["constant"]
    assert abs(roc_auc_score(y, base["random"].predict(s.test)) - 0.5) < 0.06
    assert abs(base["random"].predict(s.test).mean() - s.train["y"].mean()) < 0.03
    assert all(m.threshold is not None and 0 < m.threshold < 1 for m in cands.values())
    assert base["constant"].predict(s.test[:3]).tolist() == [s.train["y"].mean()] * 3


def test_regression_multiclass_and_ranking() -> None:
    reg = splits("regression")
    models = _by_name([*train_baselines(reg, spec("regression")), *train_candidates(reg, spec("regression"))])
    rmse = {n: mean_squared_error(reg.test["y"], m.predict(reg.test)) ** 0.5 for n, m in models.items()}
    assert rmse["lightgbm"] < 0.7 * rmse["constant"] and rmse["linear"] < 0.7 * rmse["constant"]

    multi = splits("multiclass")
    found = _by_name(train_candidates(multi, spec("multiclass")))
    p = found["lightgbm"].predict(multi.test)
    assert found["lightgbm"].classes == ("high", "low", "mid")
    assert p.shape == (len(multi.test), 3) and np.allclose(p.sum(axis=1), 1)
    prior = multi.train["y"].value_counts(normalize=True).reindex(["high", "low", "mid"]).to_numpy()
    assert log_loss(multi.test["y"], p, labels=["high", "low", "mid"]) < 0.8 * log_loss(
        multi.test["y"], np.tile(prior, (len(multi.test), 1)), labels=["high", "low", "mid"])

    rank = splits("ranking")
    ranked = _by_name(train_candidates(rank, spec("ranking")))
    groups = rank.test.groupby("query").indices
    scores = ranked["lightgbm"].predict(rank.test)
    y = rank.test["y"].to_numpy()
    model_ndcg = np.mean([ndcg_score([y[i]], [scores[i]], k=10) for i in groups.values() if len(i) > 1])
    random_ndcg = np.mean([ndcg_score([y[i]], [np.random.default_rng(0).random(len(i))], k=10)
                           for i in groups.values() if len(i) > 1])
    assert model_ndcg > random_ndcg + 0.1


def test_a_bad_rule_names_itself_and_the_columns() -> None:
    s = splits("binary", n=600)
    with pytest.raises(ModelError) as info:
        train_baselines(s, spec("binary", baseline={"rule": "ln(1 + followers)"}))
    assert "ln(1 + followers)" in str(info.value) and "x1" in str(info.value)


def test_downsampled_training_is_corrected_back_to_the_base_rate() -> None:
    full = splits("binary", n=8000)
    train = full.train
    keep = (train["y"] == 1) | (np.random.default_rng(0).random(len(train)) < 0.2)
    sampled = type(full)(train=train[keep].reset_index(drop=True), valid=full.valid, test=full.test, label="y",
                         time="ts", features=full.features, schema=full.schema, negative_rate=0.2)
    model = _by_name(train_candidates(sampled, spec("binary", models={"candidates": ["linear"],
                                                                        "calibration": "none"})))["linear"]
    assert abs(model.predict(full.test).mean() - full.test["y"].mean()) < 0.03
    assert model.scorer.raw(full.test).mean() > full.test["y"].mean() + 0.1  # type: ignore[attr-defined]


@pytest.mark.slow
def test_tuning_runs_within_its_trial_budget() -> None:
    s = splits("binary", n=1500)
    tuned = train_candidates(s, spec("binary", models={"candidates": ["lightgbm"], "tune": {"trials": 3},
                                                       "lightgbm": {"num_boost_round": 50}}))
    assert "num_leaves" in tuned[0].params or tuned[0].params["num_leaves"]
