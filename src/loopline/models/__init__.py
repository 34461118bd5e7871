"""Models: the baselines every candidate must beat, the candidates, calibration, thresholds, storage.

- :func:`train_baselines`: the constant prior, features-independent random scores and, when the
  spec sets ``baseline.rule``, the rule as a heuristic model.
- :func:`train_candidates`: a regularised linear model and LightGBM (binary, multiclass, regression,
  lambdarank) early-stopped on validation, optionally tuned with Optuna within ``models.tune``'s
  budget; probabilities are corrected for negative downsampling (:func:`correct_for_downsampling`),
  calibrated (isotonic or Platt) only when that lowers the cross-fitted validation log-loss, and
  binary models get the decision threshold from the spec's costs or floor (:func:`choose_threshold`).
- :func:`check_params`: the spec's model parameters, checked before a run starts.
- :func:`save_model` / :func:`load_model`: JSON and LightGBM text, never pickle, with sha256
  checksums verified before loading; a reloaded model predicts exactly as the original.

Every model meets :class:`TrainedModel`; ``loopline.testing.check_model`` checks that it does.
"""

from __future__ import annotations

from loopline.data import correct_for_downsampling
from loopline.models._storage import load_model, save_model
from loopline.models._threshold import choose_threshold
from loopline.models._train import check_params, train_baselines, train_candidates
from loopline.models._types import Explanation, ModelFamily, TrainedModel
from loopline.models._warm import continue_training

__all__ = [
    "Explanation",
    "ModelFamily",
    "TrainedModel",
    "check_params",
    "choose_threshold",
    "continue_training",
    "correct_for_downsampling",
    "load_model",
    "save_model",
    "train_baselines",
    "train_candidates",
]
