"""Candidates: linear and LightGBM for every task beat the constant prior on validation; their settings."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, ndcg_score

from loopline import ModelError
from loopline.data import Kind, infer_schema
from loopline.models import train_baselines, train_candidates
from loopline.testing import check_model
from tests.models.conftest import Trained
from tests.models.samples import CLASSES, FEATURES, make_frame, make_spec, make_splits


def _ndcg(frame: pd.DataFrame, scores: np.ndarray, k: int = 10) -> float:
    found = [ndcg_score([frame["y"].to_numpy()[rows]], [scores[rows]], k=k)
             for rows in frame.groupby("query").indices.values() if len(rows) > 1]
    return float(np.mean(found))


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass", "ranking"])
def test_candidates_meet_the_contract(task: str, trained: Callable[[str], Trained]) -> None:
    found = trained(task)
    for name in ("linear", "lightgbm"):
        model = found.models[name]
        assert not model.is_baseline and model.family == name and model.features == found.splits.features
        assert model.fit_seconds > 0 and json.dumps(model.params)
        check_model(model, found.splits.test.iloc[:150])


def test_binary_and_multiclass_beat_the_prior_on_valid_log_loss(trained: Callable[[str], Trained]) -> None:
    binary = trained("binary")
    valid = binary.splits.valid
    loss = {n: log_loss(valid["y"], m.predict(valid)) for n, m in binary.models.items()}
    assert loss["lightgbm"] < 0.85 * loss["constant"] and loss["linear"] < 0.85 * loss["constant"]
    multi = trained("multiclass")
    valid = multi.splits.valid
    loss = {n: log_loss(valid["y"], m.predict(valid), labels=list(CLASSES)) for n, m in multi.models.items()}
    assert multi.models["lightgbm"].classes == CLASSES
    assert loss["lightgbm"] < 0.8 * loss["constant"] and loss["linear"] < 0.8 * loss["constant"]


def test_regression_and_ranking_beat_the_prior(trained: Callable[[str], Trained]) -> None:
    regression = trained("regression")
    valid = regression.splits.valid
    rmse = {n: float(np.sqrt(np.mean((valid["y"] - m.predict(valid)) ** 2))) for n, m in regression.models.items()}
    assert rmse["lightgbm"] < 0.6 * rmse["constant"] and rmse["linear"] < 0.6 * rmse["constant"]
    ranking = trained("ranking")
    valid = ranking.splits.valid
    ndcg = {n: _ndcg(valid, m.predict(valid)) for n, m in ranking.models.items()}
    assert ndcg["lightgbm"] > ndcg["constant"] + 0.1 and ndcg["linear"] > ndcg["constant"] + 0.1


def test_ranking_sorts_queries_itself() -> None:
    """Rows of a query are spread over time; training on frames pre-sorted by query gives the same model."""
    spec = make_spec("ranking", models={"candidates": ["lightgbm"]})
    shuffled = make_splits("ranking")
    assert not shuffled.train["query"].is_monotonic_increasing
    ordered = type(shuffled)(**{**shuffled.__dict__, "train": shuffled.train.sort_values("query", kind="stable"),
                                "valid": shuffled.valid.sort_values("query", kind="stable")})
    first, second = train_candidates(shuffled, spec)[0], train_candidates(ordered, spec)[0]
    assert first.params["best_iteration"] > 1
    assert np.array_equal(first.predict(shuffled.test), second.predict(shuffled.test))


def test_lightgbm_settings_come_from_the_spec() -> None:
    splits = make_splits("binary", n=1200)
    spec = make_spec("binary", rounds=30, models={"candidates": ["lightgbm"], "calibration": "none"})
    model = train_candidates(splits, spec)[0]
    params = model.params
    assert params["objective"] == "binary" and params["learning_rate"] == 0.05 and params["num_leaves"] == 31
    assert params["min_child_samples"] == 20 and params["seed"] == 0 and params["deterministic"] is True
    assert params["max_rounds"] == 30 and 1 <= params["best_iteration"] <= 30
    trees = model.scorer.booster.dump_model()["tree_info"]  # type: ignore[attr-defined]
    colour = model.scorer.preprocessor.source_columns_.index("colour")  # type: ignore[attr-defined]
    decisions = set()
    stack = [t["tree_structure"] for t in trees]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            if node["split_feature"] == colour:
                decisions.add(node["decision_type"])
            stack += [node["left_child"], node["right_child"]]
    assert decisions == {"=="}  # colour is split as a category, never by order
    with pytest.raises(ModelError, match=r"models.lightgbm.objective: 'poisson' does not fit task 'binary'"):
        train_candidates(splits, make_spec("binary", models={"lightgbm": {"objective": "poisson"}}))
    with pytest.raises(ModelError, match=r"models.early_stopping_rounds"):
        train_candidates(splits, make_spec("binary", models={"lightgbm": {"early_stopping_round": 3}}))


def test_linear_picks_c_on_validation_log_loss(trained: Callable[[str], Trained]) -> None:
    params = trained("binary").models["linear"].params
    losses = params["valid_loss_by_C"]
    assert params["model"] == "logistic" and set(losses) >= {"0.01", "0.1", "1.0", "10.0"}
    assert str(params["C"]) == min(losses, key=losses.get)
    assert trained("regression").models["linear"].params["model"] == "ridge"


def test_progress_is_reported() -> None:
    calls: list[tuple[str, object]] = []

    class Recorder:
        def start(self, task: str, total: float | None = None) -> None:
            calls.append(("start", total))

        def advance(self, amount: float = 1.0) -> None:
            calls.append(("advance", amount))

        def finish(self) -> None:
            calls.append(("finish", None))

    train_candidates(make_splits("regression", n=600), make_spec("regression"), progress=Recorder())
    assert calls == [("start", 2), ("advance", 1.0), ("advance", 1.0), ("finish", None)]


def test_labels_that_cannot_be_learned_are_refused() -> None:
    frame = make_frame("multiclass", n=1000)
    frame.loc[700:709, "y"] = "unseen"  # valid holds rows 600 to 799
    splits = make_splits("multiclass", frame=frame)
    with pytest.raises(ModelError, match=r"class\(es\) \['unseen'\] in the valid split that never occur in train"):
        train_candidates(splits, make_spec("multiclass"))
    binary = make_splits("binary", n=600)
    one_class = type(binary)(**{**binary.__dict__, "train": binary.train.assign(y=0)})
    with pytest.raises(ModelError, match=r"single class in the train split"):
        train_candidates(one_class, make_spec("binary"))


@pytest.mark.slow
def test_text_features_and_a_two_class_multiclass_label() -> None:
    """Text gives sparse inputs; two classes make scikit-learn fit a single margin."""
    frame = make_frame("binary", n=1200)
    words = np.array(["great", "bad", "fine", "awful", "lovely", "meh", "superb", "poor"])
    rng = np.random.default_rng(0)
    frame["review"] = [" ".join(rng.choice(words, 8)) + (" superb" if y else " awful") for y in frame["y"]]
    frame["y"] = np.where(frame["y"] == 1, "yes", "no")
    features = (*FEATURES, "review")
    base = make_splits("multiclass", frame=frame)
    splits = type(base)(**{**base.__dict__, "features": features, "schema": infer_schema(frame[list(features)])})
    assert splits.schema["review"].kind == Kind.TEXT
    spec = make_spec("multiclass", baseline={"rule": "x1"})
    candidates = train_candidates(splits, spec)
    for model in [*train_baselines(splits, spec), *candidates]:
        assert model.classes == ("no", "yes")
        check_model(model, splits.test.iloc[:40])
    importance = candidates[1].importance()
    assert importance is not None and max(importance, key=lambda k: importance[k]) == "review"


def test_ranking_on_binary_and_on_continuous_relevance() -> None:
    frame = make_frame("ranking", n=1500)
    clicks = make_splits("ranking", frame=frame.assign(y=(frame["y"] >= 2).astype(int)))
    linear, gbm = train_candidates(clicks, make_spec("ranking"))
    assert linear.params["model"] == "logistic" and "calibration" in linear.params  # a probability, calibrated
    assert ((linear.predict(clicks.test) > 0) & (linear.predict(clicks.test) < 1)).all()
    assert linear.threshold is None and gbm.params["objective"] == "lambdarank" and gbm.calibration is None
    minutes = make_splits("ranking", frame=frame.assign(y=np.exp(frame["x1"]) * 3.7))  # not integer grades
    gbm = train_candidates(minutes, make_spec("ranking", models={"candidates": ["lightgbm"]}))[0]
    constant = np.zeros(len(minutes.valid))
    assert _ndcg(minutes.valid, gbm.predict(minutes.valid)) > _ndcg(minutes.valid, constant) + 0.1
    check_model(gbm, minutes.test.iloc[:60])
