"""Models: baselines every candidate must beat, the candidates, calibration, thresholds, storage.

- :func:`train_baselines`: the constant prior, random scores and the spec's heuristic rule.
- :func:`train_candidates`: regularised linear models and LightGBM (binary, multiclass,
  regression, lambdarank) with early stopping on validation, optional Optuna tuning
  (``models.tune``), isotonic or Platt calibration kept only when it lowers cross-fitted validation
  log-loss, and the decision threshold from the spec's costs or floor (:func:`choose_threshold`).
- :func:`save_model` / :func:`load_model`: JSON and LightGBM text, never pickle, with sha256
  checksums verified before loading; a reloaded model predicts exactly as the original.

Every model meets :class:`TrainedModel`.
"""

from __future__ import annotations

from loopline.models._baselines import evaluate_rule
from loopline.models._calibration import Calibrator, choose_calibrator, fit_calibrator
from loopline.models._lightgbm import lightgbm_params
from loopline.models._model import Model
from loopline.models._storage import load_model, save_model
from loopline.models._threshold import choose_threshold
from loopline.models._train import train_baselines, train_candidates
from loopline.models._types import Explanation, ModelFamily, TrainedModel

__all__ = [
    "Calibrator",
    "Explanation",
    "Model",
    "ModelFamily",
    "TrainedModel",
    "choose_calibrator",
    "choose_threshold",
    "evaluate_rule",
    "fit_calibrator",
    "lightgbm_params",
    "load_model",
    "save_model",
    "train_baselines",
    "train_candidates",
]
