"""LightGBM candidates: binary, multiclass, regression and lambdarank, with early stopping on validation.

Inputs come from the ``tree`` preprocessing (raw numbers with NaN, integer category codes passed
to LightGBM as categorical). Explanations are TreeSHAP contributions (``pred_contrib``) summed back
to source columns, on the raw (log-odds) scale; importance is the total gain per source column.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from loopline.features import Preprocessor, build_preprocessor
from loopline.models._model import group_by_source
from loopline.models._types import Explanation, ModelFamily
from loopline.spec import ProblemSpec, Task

MAX_ROUNDS = 1000
OBJECTIVES = {"binary": ("binary", "binary_logloss"), "multiclass": ("multiclass", "multi_logloss"),
              "regression": ("regression", "l2"), "ranking": ("lambdarank", "ndcg")}


@dataclass
class LightGBMScorer:
    task: Task
    preprocessor: Preprocessor
    booster: lgb.Booster
    family: ModelFamily = "lightgbm"

    def _x(self, frame: pd.DataFrame) -> Any:
        return self.preprocessor.transform(frame)

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(self._x(frame)), dtype=float)

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        if self.task == "multiclass":
            return None
        found: Any = self.booster.predict(self._x(frame), pred_contrib=True)
        contrib = np.asarray(found.toarray() if sp.issparse(found) else found, dtype=float)
        names, grouped = group_by_source(contrib[:, :-1], self.preprocessor.feature_names_out_,
                                         self.preprocessor.source_columns_)
        return Explanation(features=names, contributions=grouped, base=contrib[:, -1])

    def importance(self) -> dict[str, float] | None:
        gain = np.asarray(self.booster.feature_importance(importance_type="gain"), dtype=float).reshape(1, -1)
        names, grouped = group_by_source(gain, self.preprocessor.feature_names_out_, self.preprocessor.source_columns_)
        total = float(grouped.sum()) or 1.0
        return {n: float(v / total) for n, v in zip(names, grouped[0], strict=True)}

    def state(self) -> dict[str, Any]:
        return {"task": self.task, "preprocessor": self.preprocessor.get_state(), "booster": "booster.txt"}

    def files(self) -> dict[str, bytes]:
        return {"booster.txt": self.booster.model_to_string().encode("utf-8")}

    @classmethod
    def from_state(cls, state: dict[str, Any], files: dict[str, bytes]) -> LightGBMScorer:
        booster = lgb.Booster(model_str=files[state["booster"]].decode("utf-8"))
        return cls(task=state["task"], preprocessor=Preprocessor.from_state(state["preprocessor"]), booster=booster)


def lightgbm_params(spec: ProblemSpec, n_classes: int | None,
                    overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """LightGBM parameters: loopline's defaults, then ``models.lightgbm`` from the spec, then ``overrides``."""
    objective, metric = OBJECTIVES[spec.task]
    params: dict[str, Any] = {
        "objective": objective, "metric": metric, "learning_rate": 0.05, "num_leaves": 31,
        "min_child_samples": 50, "feature_fraction": 0.9, "lambda_l2": 1.0, "seed": spec.seed,
        "deterministic": True, "force_row_wise": True, "verbosity": -1, "num_threads": os.cpu_count() or 1,
    }
    if spec.task == "multiclass":
        params["num_class"] = n_classes
    if spec.task == "ranking":
        params["eval_at"] = [spec.metrics.k]
    params.update(spec.models.lightgbm)
    params.update(overrides or {})
    return params


def fit_lightgbm(spec: ProblemSpec, train: pd.DataFrame, valid: pd.DataFrame, features: tuple[str, ...], schema: Any,
                 y_train: np.ndarray, y_valid: np.ndarray, *, n_classes: int | None = None,
                 overrides: dict[str, Any] | None = None, preprocessed: tuple[Preprocessor, Any, Any] | None = None,
                 ) -> tuple[LightGBMScorer, dict[str, Any], float, float]:
    """Fit with early stopping; return the scorer, its params, fit seconds and the best validation score."""
    clock = time.perf_counter()
    if preprocessed is None:
        pre = build_preprocessor(schema, features, spec=spec.features,
                                 task=spec.task if spec.task != "ranking" else "regression", for_model="tree",
                                 seed=spec.seed)
        x_train = pre.fit_transform(train, y_train if spec.task != "multiclass" else None)
        x_valid = pre.transform(valid)
    else:
        pre, x_train, x_valid = preprocessed
    params = lightgbm_params(spec, n_classes, overrides)
    rounds = int(params.pop("num_boost_round", params.pop("n_estimators", MAX_ROUNDS)))
    group_train = group_valid = None
    if spec.task == "ranking":
        assert spec.group is not None
        group_train = _group_sizes(train[spec.group])
        group_valid = _group_sizes(valid[spec.group])
    categorical = list(pre.categorical_indices_)
    dtrain = lgb.Dataset(x_train, label=y_train, group=group_train, categorical_feature=categorical or "auto",
                         free_raw_data=True)
    dvalid = lgb.Dataset(x_valid, label=y_valid, group=group_valid, reference=dtrain)
    booster = lgb.train(params, dtrain, num_boost_round=rounds, valid_sets=[dvalid], valid_names=["valid"],
                        callbacks=[lgb.early_stopping(spec.models.early_stopping_rounds, verbose=False)])
    metric_name = next(iter(booster.best_score["valid"])) if booster.best_score.get("valid") else None
    best_score = float(booster.best_score["valid"][metric_name]) if metric_name else float("nan")
    if booster.best_iteration > 0:
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    used = {k: v for k, v in params.items() if k not in ("num_threads", "verbosity")}
    used.update({"best_iteration": int(booster.current_iteration()), "max_rounds": rounds})
    return LightGBMScorer(spec.task, pre, booster), used, time.perf_counter() - clock, best_score


def _group_sizes(groups: pd.Series) -> np.ndarray:
    """Sizes of consecutive runs of the same query id (rows must already be sorted by group)."""
    values = groups.to_numpy()
    starts = np.r_[0, np.flatnonzero(values[1:] != values[:-1]) + 1, len(values)]
    return np.diff(starts)
