"""Tuning LightGBM within ``models.tune``'s budget with Optuna (``pip install 'loopline[tune]'``).

The search covers ``num_leaves``, ``learning_rate``, ``min_child_samples``, ``feature_fraction`` and
``lambda_l2``. The first trial is the untuned parameters (run outside Optuna, whose log-scale space
cannot hold LightGBM's default ``lambda_l2 = 0``), so tuning never ends worse on validation than not
tuning; Optuna's seeded TPE sampler then runs the remaining trials within what is left of the
budget. Each trial trains with early stopping on the objective's metric and is scored by the
LightGBM metric matching the spec's primary metric on validation (the objective's metric when none
matches; ``params['tuning']['metric']`` says which; a ranker judged by map or mrr is scored by loopline's own
metric, ``loopline_map`` or ``loopline_mrr``, see ``models._lightgbm``). A budget given in trials is reproducible; a
time budget stops after the trial running when it runs out.

The preprocessing and LightGBM's binned datasets are built once and shared by every trial. The best
trial's booster is kept as is: refitting it with the same parameters on the same data would give
the same model (training is deterministic), at the cost of one more fit.
"""

from __future__ import annotations

import time
from typing import Any

import lightgbm as lgb

from loopline._errors import MissingExtraError
from loopline.models._lightgbm import DEFAULTS, TreeData, train_booster
from loopline.spec import ProblemSpec, Task, at_k

# The primary metric -> (LightGBM metric, whether larger is better).
METRICS: dict[Task, dict[str, tuple[str, bool]]] = {
    "binary": {"log_loss": ("binary_logloss", False), "roc_auc": ("auc", True), "pr_auc": ("average_precision", True)},
    "multiclass": {"log_loss": ("multi_logloss", False), "accuracy": ("multi_error", False)},
    "regression": {"rmse": ("rmse", False), "mae": ("l1", False), "r2": ("l2", False)},
    "ranking": {"ndcg": ("ndcg", True), "map": ("map", True)},
}
SPACE: dict[str, tuple[float, float, bool, bool]] = {  # name: (low, high, log scale, integer)
    "num_leaves": (8, 256, True, True),
    "learning_rate": (0.01, 0.3, True, False),
    "min_child_samples": (5, 200, True, True),
    "feature_fraction": (0.5, 1.0, False, False),
    "lambda_l2": (1e-8, 10.0, True, False),
}


def tune_lightgbm(data: TreeData, params: dict[str, Any], rounds: int,
                  spec: ProblemSpec) -> tuple[lgb.Booster, dict[str, Any], dict[str, float], dict[str, Any]]:
    """The best booster, its parameters and validation scores, and a summary of the search."""
    try:
        import optuna
    except ImportError as exc:
        raise MissingExtraError("tuning LightGBM (models.tune)", "tune", "optuna") from exc
    tune = spec.models.tune
    assert tune is not None
    default_metric = DEFAULTS[spec.task][1]
    primary = "ndcg" if at_k(spec.primary_metric) is not None else spec.primary_metric  # ndcg@5: LightGBM's ndcg
    metric, maximize = METRICS[spec.task].get(primary, (default_metric, spec.task == "ranking"))
    base = {**params, "metric": list(dict.fromkeys([str(params.get("metric", default_metric)), metric])),
            "feature_pre_filter": False}
    if data.feval is not None:  # ranking by map or mrr: loopline's own metric, the only one LightGBM reports
        metric, maximize = f"loopline_{spec.primary_metric}", True
        base = {**params, "metric": "None", "feature_pre_filter": False}
    best: dict[str, Any] = {}

    def fit(params: dict[str, Any]) -> float:
        booster, scores = train_booster(data, params, rounds, spec.models.early_stopping_rounds)
        value = next(v for k, v in scores.items() if k.split("@")[0] == metric)
        if not best or (value > best["value"] if maximize else value < best["value"]):
            best.update(value=value, booster=booster, params=params, scores=scores)
        return value

    def objective(trial: Any) -> float:
        chosen = {name: (trial.suggest_int(name, int(low), int(high), log=log) if integer
                         else trial.suggest_float(name, low, high, log=log))
                  for name, (low, high, log, integer) in SPACE.items()}
        return fit({**base, **chosen})

    clock = time.perf_counter()
    fit(base)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if maximize else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=spec.seed))
    trials = None if tune.trials is None else tune.trials - 1
    left = tune.budget.total_seconds() - (time.perf_counter() - clock)
    if trials != 0 and left > 0:
        study.optimize(objective, n_trials=trials, timeout=left)
    summary = {"tuning": {"trials": 1 + len(study.trials), "metric": metric, "best_value": float(best["value"]),
                          "seconds": round(time.perf_counter() - clock, 3), "searched": sorted(SPACE)}}
    return best["booster"], best["params"], best["scores"], summary
