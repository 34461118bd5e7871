"""Warm start: the champion's LightGBM booster continued on a fresh window, its trees kept as they were."""

from __future__ import annotations

import doctest
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from loopline import ModelError
from loopline.data import Splits
from loopline.models import TrainedModel, continue_training, load_model, save_model, train_candidates
from loopline.models import _warm as warm_module
from loopline.spec import ProblemSpec
from tests.models.samples import FEATURES, make_frame, make_spec, make_splits

N = 2000
TASKS = ["binary", "regression", "multiclass", "ranking"]
Champion = Callable[..., tuple[TrainedModel, ProblemSpec]]


def shifted(task: str, *, seed: int = 1, n: int = N, negative_rate: float | None = None) -> Splits:
    """A later window whose label depends on x1 the other way round (concept shift)."""
    frame = make_frame(task, n, seed)
    frame["x1"] = -frame["x1"]
    frame["ts"] = frame["ts"] + pd.Timedelta(days=30)
    return make_splits(task, n, seed, frame=frame, negative_rate=negative_rate)


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    """``champion(task, **spec)``: LightGBM trained on the sample window, saved and loaded as the registry does."""
    cache: dict[tuple[str, str], tuple[TrainedModel, ProblemSpec]] = {}

    def get(task: str, negative_rate: float | None = None, **over: Any) -> tuple[TrainedModel, ProblemSpec]:
        key = (task, repr((negative_rate, sorted(over.items()))))
        if key not in cache:
            models = {"candidates": ["lightgbm"], **over.pop("models", {})}
            spec = make_spec(task, models=models, **over)
            model = train_candidates(make_splits(task, N, 0, negative_rate=negative_rate), spec)[0]
            folder = tmp_path_factory.mktemp(f"champion-{task}")
            cache[key] = load_model(folder, sha256=save_model(model, folder)), spec
        return cache[key]

    return get


def raw(model: TrainedModel, frame: pd.DataFrame, **options: Any) -> np.ndarray:
    scorer: Any = model.scorer  # type: ignore[attr-defined]
    return np.asarray(scorer.booster.predict(scorer.preprocessor.transform(frame), raw_score=True, **options))


def booster(model: TrainedModel) -> Any:
    return model.scorer.booster  # type: ignore[attr-defined]


@pytest.mark.parametrize("task", TASKS)
def test_the_warm_model_starts_with_the_champions_trees(task: str, champion: Champion) -> None:
    old, spec = champion(task)
    splits = shifted(task)
    model = continue_training(old, splits, spec, rounds=30, version=4)
    first, extended = booster(old), booster(model)
    n = first.num_trees()
    per_iteration = first.num_model_per_iteration()
    assert extended.num_trees() > n
    assert extended.dump_model()["tree_info"][:n] == first.dump_model()["tree_info"]
    # On the champion's iterations the warm booster is the champion, bit for bit.
    iterations = n // per_iteration
    assert np.array_equal(raw(model, splits.test, num_iteration=iterations), raw(old, splits.test))
    added = extended.num_trees() - n
    assert model.params["warm_start"] == {"from_trees": n, "added_trees": added, "from_model": "lightgbm",
                                          "from_version": 4, "negative_rate": None}
    assert 0 < added <= 30 * per_iteration
    assert model.params["best_iteration"] == extended.current_iteration() == iterations + added // per_iteration
    assert (model.name, model.family, model.task, model.features) == ("lightgbm-warm", "lightgbm", task, FEATURES)
    assert model.classes == old.classes


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_after_a_concept_shift_the_warm_model_beats_the_champion(champion: Champion) -> None:
    old, spec = champion("binary")
    splits = shifted("binary")
    model = continue_training(old, splits, spec, rounds=100)
    y = splits.test["y"].to_numpy(dtype=float)
    warm_loss, old_loss = log_loss(y, model.predict(splits.test)), log_loss(y, old.predict(splits.test))
    assert warm_loss < old_loss - 0.05, (warm_loss, old_loss)
    assert model.threshold is not None and 0 < model.threshold < 1
    assert model.params["calibration"]["setting"] == spec.models.calibration


def test_after_a_concept_shift_the_warm_regression_beats_the_champion(champion: Champion) -> None:
    old, spec = champion("regression")
    splits = shifted("regression")
    model = continue_training(old, splits, spec, rounds=100)
    y = splits.test["y"].to_numpy()
    warm_mse = float(np.mean((model.predict(splits.test) - y) ** 2))
    old_mse = float(np.mean((old.predict(splits.test) - y) ** 2))
    assert warm_mse < 0.8 * old_mse, (warm_mse, old_mse)


def test_multiclass_probabilities_stay_probabilities(champion: Champion) -> None:
    old, spec = champion("multiclass")
    splits = shifted("multiclass")
    p = continue_training(old, splits, spec, rounds=20).predict(splits.test)
    assert p.shape == (len(splits.test), 3) and np.allclose(p.sum(axis=1), 1.0)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_a_saved_warm_model_reloads_with_identical_predictions(task: str, champion: Champion,
                                                               tmp_path: Path) -> None:
    old, spec = champion(task)
    splits = shifted(task)
    model = continue_training(old, splits, spec, rounds=20)
    loaded = load_model(tmp_path, sha256=save_model(model, tmp_path))
    assert np.max(np.abs(loaded.predict(splits.test) - model.predict(splits.test))) <= 1e-12
    assert loaded.params == model.params and loaded.name == "lightgbm-warm" and loaded.family == "lightgbm"
    assert loaded.threshold == model.threshold and loaded.calibration == model.calibration


def test_the_champions_lightgbm_parameters_are_kept(champion: Champion) -> None:
    lightgbm = {"num_boost_round": 60, "min_child_samples": 20, "num_threads": 1, "learning_rate": 0.2,
                "num_leaves": 7}
    old, _ = champion("binary", models={"lightgbm": lightgbm})
    today = make_spec("binary", models={"candidates": ["lightgbm"]})  # the spec's defaults have moved on since
    model = continue_training(old, shifted("binary"), today, rounds=10)
    for key in ("objective", "metric", "learning_rate", "num_leaves", "min_child_samples", "seed"):
        assert model.params[key] == old.params[key], key
    assert model.params["learning_rate"] == 0.2 and model.params["num_leaves"] == 7
    assert model.params["max_rounds"] == 10 and model.params["num_threads"] == 1
    assert all(tree["num_leaves"] <= 7 for tree in booster(model).dump_model()["tree_info"])


@pytest.mark.parametrize(("old_rate", "new_rate"), [(0.2, 0.5), (0.2, None), (None, 0.3)])
def test_downsampled_windows_keep_the_true_rate(old_rate: float | None, new_rate: float | None,
                                                champion: Champion) -> None:
    old, spec = champion("binary", negative_rate=old_rate, models={"calibration": "none"})
    splits = shifted("binary", n=6000, negative_rate=new_rate)
    model = continue_training(old, splits, spec, rounds=100)
    test = splits.test
    assert abs(model.predict(test).mean() - test["y"].mean()) < 0.03
    # The warm booster keeps the champion's scale, so the champion's correction still applies to it.
    assert model.negative_rate == old_rate  # type: ignore[attr-defined]
    offset = 0.0 if old_rate is None else np.log(old_rate)
    assert np.allclose(model.predict(test), expit(raw(model, test) + offset), rtol=1e-12)
    assert model.params["warm_start"]["negative_rate"] == new_rate


def test_a_champion_that_is_not_lightgbm_is_refused(champion: Champion) -> None:
    spec = make_spec("binary", models={"candidates": ["linear"]})
    linear = train_candidates(make_splits("binary", 600), spec)[0]
    with pytest.raises(ModelError, match=r"warm start continues a LightGBM booster; champion v3 is linear: use "
                                         r"retrain mode 'full'"):
        continue_training(linear, shifted("binary"), spec, version=3)
    with pytest.raises(ModelError, match=r"champion 'linear' is linear"):
        continue_training(linear, shifted("binary"), spec)


def test_a_feature_missing_from_the_splits_is_named(champion: Champion) -> None:
    old, spec = champion("binary")
    splits = shifted("binary")
    narrower = Splits(train=splits.train, valid=splits.valid, test=splits.test, label="y", time="ts",
                      features=("x1", "x2", "colour"), schema=splits.schema)
    with pytest.raises(ModelError, match=r"the splits lack feature\(s\) \['noise'\] that champion v2 was trained "
                                         r"on .* use retrain mode 'full'"):
        continue_training(old, narrower, spec, version=2)


def test_a_task_mismatch_is_refused(champion: Champion) -> None:
    old, _ = champion("binary")
    regression = make_spec("regression", models={"candidates": ["lightgbm"]})
    with pytest.raises(ModelError, match=r"champion v1 was trained for task 'binary' but the spec's task is "
                                         r"'regression'"):
        continue_training(old, shifted("regression"), regression, version=1)


def test_a_class_the_champion_never_saw_is_refused(champion: Champion) -> None:
    old, spec = champion("multiclass")
    frame = make_frame("multiclass", N, 1)
    frame.loc[frame.index % 50 == 0, "y"] = "extreme"
    with pytest.raises(ModelError, match=r"class\(es\) \['extreme'\] that champion 'lightgbm' never saw"):
        continue_training(old, make_splits("multiclass", frame=frame), spec)


def test_multiclass_labels_follow_the_champions_classes(champion: Champion) -> None:
    # Without 'high' in the new window, 'low' and 'mid' must still map to the champion's outputs 1 and 2.
    old, spec = champion("multiclass")
    frame = make_frame("multiclass", N, 1)
    frame = frame[frame["y"] != "high"].reset_index(drop=True)
    splits = make_splits("multiclass", frame=frame)
    model = continue_training(old, splits, spec, rounds=30)
    assert model.classes == ("high", "low", "mid")
    p = model.predict(splits.test)
    assert p[:, 0].mean() < old.predict(splits.test)[:, 0].mean()
    hits = np.asarray(model.classes)[np.argmax(p, axis=1)] == splits.test["y"].to_numpy()
    assert hits.mean() > 0.6


def test_bad_arguments_are_refused(champion: Champion) -> None:
    old, spec = champion("binary")
    with pytest.raises(ModelError, match="rounds must be at least 1"):
        continue_training(old, shifted("binary"), spec, rounds=0)
    with pytest.raises(ModelError, match=r"model name '\.\./x' is not usable"):
        continue_training(old, shifted("binary"), spec, name="../x")


def test_docstring_examples_run() -> None:
    result = doctest.testmod(warm_module)
    assert result.failed == 0 and result.attempted > 0
