"""Training: the baselines, then the spec's candidates, each calibrated and given a threshold."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import ModelError
from loopline._progress import SILENT, Progress
from loopline.data import Splits
from loopline.models._baselines import constant, heuristic, random
from loopline.models._calibration import choose_calibrator
from loopline.models._lightgbm import fit_lightgbm
from loopline.models._linear import fit_linear
from loopline.models._model import Model, Scorer
from loopline.models._threshold import choose_threshold
from loopline.models._types import TrainedModel
from loopline.spec import ProblemSpec


def train_baselines(splits: Splits, spec: ProblemSpec) -> list[TrainedModel]:
    """``constant``, ``random`` and, when the spec has ``baseline.rule``, ``heuristic``."""
    train, valid, y_train = splits.train, splits.valid, _labels(splits.train, splits, spec)
    classes = _classes(splits, spec)
    scorers: list[tuple[str, Scorer, float]] = []
    for name, build in (("constant", lambda: constant(spec.task, y_train, classes)),
                        ("random", lambda: random(spec.task, y_train, classes, seed=spec.seed))):
        clock = time.perf_counter()
        scorers.append((name, build(), time.perf_counter() - clock))
    if spec.baseline.rule:
        clock = time.perf_counter()
        scorers.append(("heuristic", heuristic(spec.task, spec.baseline.rule, train, y_train),
                        time.perf_counter() - clock))
    models: list[TrainedModel] = []
    for name, scorer, seconds in scorers:
        model = Model(name=name, task=spec.task, features=_used(name, splits, spec), scorer=scorer, is_baseline=True,
                      classes=classes, params=scorer.state() if name != "random" else {"seed": spec.seed},
                      fit_seconds=seconds)
        _finish(model, valid, _labels(valid, splits, spec), spec, calibrate=False)
        models.append(model)
    return models


def train_candidates(splits: Splits, spec: ProblemSpec, *, progress: Progress = SILENT) -> list[TrainedModel]:
    """One model per ``models.candidates`` entry, early-stopped, calibrated and thresholded on validation."""
    train, valid = _ordered(splits.train, spec), _ordered(splits.valid, spec)
    y_train, y_valid = _labels(train, splits, spec), _labels(valid, splits, spec)
    classes = _classes(splits, spec)
    if spec.task == "multiclass":
        assert classes is not None
        unseen = sorted(set(map(str, pd.unique(valid[splits.label]))) - set(map(str, classes)))
        if unseen:
            raise ModelError(f"label '{splits.label}' has class(es) {unseen} in validation that never occur in train; "
                             "add training data for them or move the split.")
        y_train = _codes(y_train, classes)
        y_valid = _codes(y_valid, classes)
    models: list[TrainedModel] = []
    progress.start("training candidates", total=len(spec.models.candidates))
    for kind in spec.models.candidates:
        params: dict[str, Any]
        if kind == "linear":
            scorer, params, seconds = fit_linear(spec, train, valid, splits.features, splits.schema, y_train, y_valid)
            linear: Scorer = scorer
            built = Model(name="linear", task=spec.task, features=splits.features, scorer=linear, classes=classes,
                          params=params, fit_seconds=seconds)
        else:
            overrides: dict[str, Any] = {}
            if spec.models.tune is not None:
                from loopline.models._tune import tune_lightgbm

                overrides = tune_lightgbm(spec, train, valid, splits, y_train, y_valid,
                                          n_classes=None if classes is None else len(classes))
            booster, params, seconds, _ = fit_lightgbm(spec, train, valid, splits.features, splits.schema, y_train,
                                                       y_valid, n_classes=None if classes is None else len(classes),
                                                       overrides=overrides)
            gbm: Scorer = booster
            built = Model(name="lightgbm", task=spec.task, features=splits.features, scorer=gbm, classes=classes,
                          params=params, fit_seconds=seconds)
        built.negative_rate = splits.negative_rate if spec.task == "binary" else None
        _finish(built, valid, _labels(valid, splits, spec), spec, calibrate=True)
        models.append(built)
        progress.advance()
    progress.finish()
    return models


def _finish(model: Model, valid: pd.DataFrame, y_valid: np.ndarray, spec: ProblemSpec, *, calibrate: bool) -> None:
    """Calibrate (binary candidates) and choose the threshold (binary) on validation."""
    if spec.task != "binary":
        return
    p = model.uncalibrated(valid)
    if calibrate:
        model.calibrator, losses = choose_calibrator(spec.models.calibration, p, y_valid.astype(int), seed=spec.seed)
        model.params = {**model.params, "calibration_valid_log_loss": losses}
        if model.calibrator is not None:
            p = model.calibrator.apply(p)
    model.threshold = choose_threshold(y_valid, p, spec.decision)


def _ordered(frame: pd.DataFrame, spec: ProblemSpec) -> pd.DataFrame:
    """Ranking needs each query's rows together; other tasks keep the time order."""
    if spec.task != "ranking" or spec.group is None:
        return frame
    return frame.sort_values(spec.group, kind="stable").reset_index(drop=True)


def _labels(frame: pd.DataFrame, splits: Splits, spec: ProblemSpec) -> np.ndarray:
    values = frame[splits.label]
    return values.to_numpy() if spec.task == "multiclass" else values.to_numpy(dtype=float)


def _classes(splits: Splits, spec: ProblemSpec) -> tuple[Any, ...] | None:
    if spec.task == "binary":
        return (0, 1)
    if spec.task != "multiclass":
        return None
    return tuple(v.item() if hasattr(v, "item") else v for v in sorted(pd.unique(splits.train[splits.label])))


def _codes(y: np.ndarray, classes: tuple[Any, ...]) -> np.ndarray:
    index = {str(c): i for i, c in enumerate(classes)}
    return np.array([index[str(v)] for v in y], dtype=float)


def _used(name: str, splits: Splits, spec: ProblemSpec) -> tuple[str, ...]:
    if name != "heuristic" or not spec.baseline.rule:
        return ()
    return tuple(c for c in splits.train.columns if str(c) in spec.baseline.rule)
