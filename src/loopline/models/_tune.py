"""Optional tuning of LightGBM under a time budget with Optuna (``pip install 'loopline[tune]'``).

Each trial fits with early stopping on validation and is scored by LightGBM's validation metric
(log-loss, l2 or nDCG@k); the preprocessing is fitted once and shared by every trial. The sampler
is seeded, so a budget given in trials is reproducible; a budget in time is not, by nature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import MissingExtraError
from loopline.data import Splits
from loopline.features import build_preprocessor
from loopline.models._lightgbm import fit_lightgbm
from loopline.spec import ProblemSpec


def tune_lightgbm(spec: ProblemSpec, train: pd.DataFrame, valid: pd.DataFrame, splits: Splits, y_train: np.ndarray,
                  y_valid: np.ndarray, *, n_classes: int | None) -> dict[str, Any]:
    """The best LightGBM parameter overrides found within ``models.tune``'s budget."""
    try:
        import optuna
    except ImportError as exc:
        raise MissingExtraError("models.tune", "tune", "optuna") from exc
    assert spec.models.tune is not None
    pre = build_preprocessor(splits.schema, splits.features, spec=spec.features,
                             task=spec.task if spec.task != "ranking" else "regression", for_model="tree",
                             seed=spec.seed)
    x_train = pre.fit_transform(train, y_train if spec.task != "multiclass" else None)
    x_valid = pre.transform(valid)
    maximize = spec.task == "ranking"

    def objective(trial: Any) -> float:
        overrides = {
            "num_leaves": trial.suggest_int("num_leaves", 8, 255, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }
        _, _, _, score = fit_lightgbm(spec, train, valid, splits.features, splits.schema, y_train, y_valid,
                                      n_classes=n_classes, overrides=overrides, preprocessed=(pre, x_train, x_valid))
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if maximize else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=spec.seed))
    study.optimize(objective, n_trials=spec.models.tune.trials, timeout=spec.models.tune.budget.total_seconds())
    return dict(study.best_params)
