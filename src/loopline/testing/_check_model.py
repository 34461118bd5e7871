"""``check_model``: does a model honour the :class:`~loopline.models.TrainedModel` contract?

Every failure is an ``AssertionError`` whose message names the model and the broken promise.
"""

from __future__ import annotations

import json
import math
import tempfile
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from loopline._errors import ModelError
from loopline.models import Explanation, ModelFamily, TrainedModel, load_model, save_model
from loopline.spec import Task

TASKS = typing.get_args(Task)
FAMILIES = typing.get_args(ModelFamily)
TOLERANCE = 1e-6


def check_model(model: TrainedModel, frame: pd.DataFrame, *, round_trip: bool = True) -> None:
    """Assert that ``model`` meets the protocol on the rows of ``frame`` (at least two rows).

    Checks the attributes, the shape and range of ``predict`` by task, that predictions do not depend
    on the other rows of the batch (except for the ``random`` baseline, which draws by position),
    that an explanation adds up to the raw score, the importance, and, with ``round_trip``, that
    ``save_model`` / ``load_model`` give a model that predicts identically.
    """
    who = f"model '{getattr(model, 'name', '?')}'"
    _require(isinstance(model, TrainedModel), f"{who} lacks attributes or methods of TrainedModel")
    _require(len(frame) >= 2, "check_model needs a frame with at least two rows")
    _check_attributes(model, who)
    prediction = np.asarray(model.predict(frame))
    _check_prediction(model, prediction, len(frame), who)
    _require(np.array_equal(np.asarray(model.predict(frame)), prediction), f"{who}: predict is not deterministic")
    if model.family != "random":
        reverse = np.asarray(model.predict(frame.iloc[::-1]))[::-1]
        _require(np.allclose(reverse, prediction, rtol=1e-9, atol=1e-12),
                 f"{who}: a row's prediction changes with the other rows of the frame (row order)")
    explanation = model.explain(frame)
    if explanation is not None:
        _check_explanation(model, frame, explanation, prediction, who)
    _check_importance(model.importance(), who)
    if round_trip:
        _check_round_trip(model, frame, prediction, who)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _check_attributes(model: TrainedModel, who: str) -> None:
    _require(isinstance(model.name, str) and model.name != "", f"{who}: name must be a non-empty string")
    _require(model.task in TASKS, f"{who}: task {model.task!r} is not one of {TASKS}")
    _require(model.family in FAMILIES, f"{who}: family {model.family!r} is not one of {FAMILIES}")
    _require(isinstance(model.features, tuple) and all(isinstance(f, str) for f in model.features),
             f"{who}: features must be a tuple of column names, got {model.features!r}")
    _require(isinstance(model.is_baseline, bool), f"{who}: is_baseline must be a bool")
    _require(model.calibration in (None, "isotonic", "platt"), f"{who}: calibration {model.calibration!r} is not "
             "'isotonic', 'platt' or None")
    _require(isinstance(model.fit_seconds, float | int) and math.isfinite(model.fit_seconds)
             and model.fit_seconds >= 0, f"{who}: fit_seconds must be a finite number >= 0, got {model.fit_seconds!r}")
    try:
        json.dumps(model.params)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{who}: params must be JSON-serialisable ({exc})") from exc
    if model.task == "binary":
        _require(model.threshold is not None and math.isfinite(model.threshold),
                 f"{who}: a binary model needs a finite decision threshold, got {model.threshold!r}")
    else:
        _require(model.threshold is None, f"{who}: only binary models have a threshold, got {model.threshold!r}")
    if model.task == "multiclass":
        _require(model.classes is not None and len(model.classes) >= 2,
                 f"{who}: a multiclass model needs at least two classes, got {model.classes!r}")


def _check_prediction(model: TrainedModel, p: np.ndarray, n: int, who: str) -> None:
    if model.task == "multiclass":
        k = len(model.classes or ())
        _require(p.shape == (n, k), f"{who}: multiclass predict must have shape ({n}, {k}), got {p.shape}")
        _require(bool(np.all((p >= 0) & (p <= 1))), f"{who}: class probabilities outside [0, 1]")
        _require(np.allclose(p.sum(axis=1), 1.0, atol=TOLERANCE), f"{who}: class probabilities do not sum to 1")
        return
    _require(p.shape == (n,), f"{who}: {model.task} predict must have shape ({n},), got {p.shape}")
    _require(bool(np.all(np.isfinite(p))), f"{who}: predict returned NaN or infinite values")
    if model.task == "binary":
        _require(bool(np.all((p >= 0) & (p <= 1))), f"{who}: binary predict must be probabilities in [0, 1]")


def _check_explanation(model: TrainedModel, frame: pd.DataFrame, found: Explanation, p: np.ndarray, who: str) -> None:
    n = len(frame)
    contributions, base = np.asarray(found.contributions), np.asarray(found.base)
    _require(contributions.shape == (n, len(found.features)), f"{who}: contributions have shape "
             f"{contributions.shape}, expected ({n}, {len(found.features)}) for the features {found.features}")
    _require(base.shape == (n,), f"{who}: explanation base has shape {base.shape}, expected ({n},)")
    _require(len(set(found.features)) == len(found.features), f"{who}: explanation names a feature twice")
    total = base + contributions.sum(axis=1)
    raw_score = getattr(model, "raw_score", None)
    if callable(raw_score):
        raw = np.asarray(raw_score(frame))
        if raw.ndim == 2:
            raw = raw[np.arange(n), np.argmax(p, axis=1)]
        expected, scale = raw, "raw score"
    elif model.task == "binary" and model.calibration is None:
        total, expected, scale = expit(total), p, "probability"
    elif model.task in ("regression", "ranking"):
        expected, scale = p, "prediction"
    else:
        return
    gap = float(np.max(np.abs(total - expected)))
    _require(np.allclose(total, expected, rtol=TOLERANCE, atol=TOLERANCE),
             f"{who}: explanation base + contributions differs from the {scale} by up to {gap:.3g}")


def _check_importance(found: dict[str, float] | None, who: str) -> None:
    if found is None:
        return
    _require(isinstance(found, dict) and all(isinstance(k, str) for k in found),
             f"{who}: importance must map feature names to numbers")
    _require(all(math.isfinite(float(v)) for v in found.values()), f"{who}: importance has non-finite values")


def _check_round_trip(model: TrainedModel, frame: pd.DataFrame, p: np.ndarray, who: str) -> None:
    with tempfile.TemporaryDirectory(prefix="loopline-check-") as tmp:
        try:
            digest = save_model(model, Path(tmp) / "model")
        except ModelError as exc:
            raise AssertionError(f"{who}: save_model refused it ({exc}); pass round_trip=False for a model that "
                                 "loopline.models does not store") from exc
        loaded = load_model(Path(tmp) / "model", sha256=digest)
    _require(np.array_equal(np.asarray(loaded.predict(frame)), p), f"{who}: the reloaded model predicts differently")
    fields: dict[str, tuple[Any, Any]] = {
        name: (getattr(model, name), getattr(loaded, name))
        for name in ("name", "task", "family", "features", "is_baseline", "classes", "threshold", "calibration")
    }
    changed = {name: pair for name, pair in fields.items() if pair[0] != pair[1]}
    _require(not changed, f"{who}: save/load changed {changed}")
    first, again = model.explain(frame), loaded.explain(frame)
    if first is not None:
        _require(again is not None and np.array_equal(first.contributions, again.contributions)
                 and np.array_equal(first.base, again.base), f"{who}: the reloaded model explains differently")
