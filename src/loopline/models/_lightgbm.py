"""LightGBM candidates: binary, multiclass, regression and lambdarank, early-stopped on validation.

Inputs come from the ``tree`` preprocessing (raw numbers with NaN, integer category codes that
LightGBM treats as categorical: every categorical with up to ``features.native_max_levels`` values and 20
training rows per value, see ``features._plan``). The parameters are loopline's defaults, then
``models.lightgbm`` from the spec (a round-count alias such as ``num_boost_round`` caps the rounds). The params
recorded with the model say, under ``encodings``, which encoding each feature got.

Categorical splits are regularised by LightGBM's own settings (``CATEGORICAL``): at each node LightGBM orders
a feature's categories by ``sum_gradient / (sum_hessian + cat_smooth)`` and searches at most
``max_cat_threshold`` split points along that order, adding ``cat_l2`` to the hessian of each side and
requiring ``min_data_per_group`` rows on each side; categories with too few rows to be binned go with missing
values and categories never seen in training, to the side of every split that holds none of the chosen ones.
Loopline keeps LightGBM's defaults for ``cat_smooth`` and ``cat_l2`` (10 each: a category needs some tens of
rows before its own mean outweighs the smoothing), ``max_cat_to_onehot`` (4) and ``max_cat_threshold`` (32), and
lowers ``min_data_per_group`` from 100 to 50, the ``min_child_samples`` of every other split, so a group of
categories needs the rows any leaf does. (On three seeded tables with a 104-value column, LightGBM's defaults,
``min_data_per_group`` 20, ``cat_smooth`` 30 or ``max_cat_threshold`` 64 moved test AUC by less than 0.01 either
way; native categories against target encoding gained 0.10 to 0.15.) On downsampled
binary data the validation set carries ``ln(negative_rate)`` as its initial score, so early stopping
judges the corrected probabilities. The booster kept is cut at the best iteration and re-read from
its text model, which is exactly what is stored.

Rankers early-stop on the metric the spec decides by. For ``ndcg`` that is LightGBM's own NDCG at the cut-off of
the primary metric (``eval_at`` holds it alone), with the spec's gain (``label_gain`` 2^i - 1, LightGBM's default,
or i for linear gain). LightGBM scores a query without ranking information (one item, all of equal relevance) 1
where loopline leaves it out; on the fixed validation queries that is ``(excluded + sum of ours) / queries``, an
increasing affine map of loopline's mean, so both pick the same iteration (up to how exactly tied scores are
ordered: LightGBM keeps row order, loopline averages over the orders). For ``map`` and ``mrr`` (whose relevance
threshold and tie handling LightGBM does not share) it early-stops on loopline's own metric through a ``feval``
built from the ``ranking_metric`` the caller passes (``loopline.evaluation.ranking_metric``: models cannot import
the later evaluation stage); without one, on LightGBM's ``map`` (relevance > 0) or its NDCG.

Explanations are TreeSHAP contributions (``pred_contrib``) on the raw scale (log-odds for binary;
the predicted class's margin for multiclass) summed back to source columns, with LightGBM's bias
column as base. Importance is the total split gain per source column, normalised to sum 1.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from loopline._errors import ModelError, SpecError
from loopline._threads import THREAD_ALIASES, default_threads, openmp_settings
from loopline.data import Splits
from loopline.features import Matrix, Preprocessor, build_preprocessor
from loopline.models._model import TASK_LINKS, Fitted, group_by_source, normalised
from loopline.models._targets import Targets
from loopline.models._types import Explanation, ModelFamily
from loopline.spec import ProblemSpec, Task, at_k

MAX_ROUNDS = 1000
ROUND_ALIASES = ("num_iterations", "num_iteration", "n_iter", "num_tree", "num_trees", "num_round", "num_rounds",
                 "nrounds", "num_boost_round", "n_estimators", "max_iter")
STOPPING_ALIASES = ("early_stopping_round", "early_stopping_rounds", "early_stopping", "n_iter_no_change")
OBJECTIVE_ALIASES = ("objective", "objective_type", "app", "application", "loss")
DEFAULTS: dict[Task, tuple[str, str]] = {"binary": ("binary", "binary_logloss"),
                                         "multiclass": ("multiclass", "multi_logloss"),
                                         "regression": ("regression", "l2"), "ranking": ("lambdarank", "ndcg")}
# Objectives whose raw score is what ``Model``'s link expects (no log link for regression, no one-vs-all).
OBJECTIVES: dict[Task, frozenset[str]] = {
    "binary": frozenset({"binary", "cross_entropy", "xentropy"}),
    "multiclass": frozenset({"multiclass", "softmax"}),
    "regression": frozenset({"regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root",
                             "root_mean_squared_error", "rmse", "regression_l1", "l1", "mean_absolute_error", "mae",
                             "huber", "fair", "quantile", "mape", "mean_absolute_percentage_error"}),
    "ranking": frozenset({"lambdarank", "rank_xendcg", "xendcg", "xe_ndcg", "xe_ndcg_mart", "xendcg_mart"}),
}
_SOURCE_LOCATION = re.compile(r"\s+at \S+, line \d+")  # where in LightGBM's C++ a check failed
MAX_GRADE = 30  # LightGBM's default label_gain has 31 entries
CATEGORICAL: dict[str, Any] = {"cat_smooth": 10.0, "cat_l2": 10.0, "min_data_per_group": 50, "max_cat_threshold": 32,
                               "max_cat_to_onehot": 4}
"""LightGBM's regularisation of categorical splits, as loopline sets it (see the module docstring)."""
OWN_METRICS = ("map", "mrr")
"""Ranking metrics LightGBM early-stops on through loopline's ``feval`` (LightGBM's own differ in threshold, ties)."""
Feval = Callable[[np.ndarray, lgb.Dataset], tuple[str, float, bool]]
RankingMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], float]
"""loopline's primary ranking metric of (relevance, scores, query ids), higher is better."""


@dataclass
class LightGBMScorer:
    preprocessor: Preprocessor
    booster: lgb.Booster

    @property
    def family(self) -> ModelFamily:
        return "lightgbm"

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(self.preprocessor.transform(frame), raw_score=True), dtype=np.float64)

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        x: Any = self.preprocessor.transform(frame)
        found = np.asarray(self.booster.predict(x.toarray() if sp.issparse(x) else x, pred_contrib=True),
                           dtype=np.float64)
        width = len(self.preprocessor.source_columns_) + 1
        outputs = int(self.booster.num_model_per_iteration())
        if outputs > 1:  # multiclass: one block of contributions + bias per class
            blocks = found.reshape(len(frame), outputs, width)
            found = blocks[np.arange(len(frame)), np.argmax(blocks.sum(axis=2), axis=1)]
        names, grouped = group_by_source(found[:, :-1], self.preprocessor.source_columns_)
        return Explanation(features=names, contributions=grouped, base=found[:, -1].copy())

    def importance(self) -> dict[str, float] | None:
        gain = np.asarray(self.booster.feature_importance(importance_type="gain"), dtype=np.float64)
        names, grouped = group_by_source(gain.reshape(1, -1), self.preprocessor.source_columns_)
        return normalised({n: float(v) for n, v in zip(names, grouped[0], strict=True)})

    def state(self) -> dict[str, Any]:
        return {"preprocessor": self.preprocessor.get_state(), "booster": "booster.txt"}

    def files(self) -> dict[str, bytes]:
        return {"booster.txt": self.booster.model_to_string().encode("utf-8")}

    @classmethod
    def from_state(cls, state: dict[str, Any], files: dict[str, bytes]) -> LightGBMScorer:
        booster = lgb.Booster(model_str=files[state["booster"]].decode("utf-8"))
        return cls(preprocessor=Preprocessor.from_state(state["preprocessor"]), booster=booster)


@dataclass(eq=False)
class TreeData:
    """The preprocessed train and valid sets, built once and shared by tuning trials and the final fit."""

    preprocessor: Preprocessor
    train: lgb.Dataset
    valid: lgb.Dataset
    x_valid: Matrix
    feval: Feval | None = None
    """Ranking by map or mrr: loopline's metric on the validation queries, what early stopping watches."""


def lightgbm_params(spec: ProblemSpec, n_classes: int | None) -> tuple[dict[str, Any], int]:
    """LightGBM parameters (loopline's defaults, then ``models.lightgbm``) and the maximum number of rounds."""
    objective, metric = DEFAULTS[spec.task]
    params: dict[str, Any] = {
        "objective": objective, "metric": metric, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 50,
        "seed": spec.seed, "deterministic": True, "force_row_wise": True, "verbosity": -1, **CATEGORICAL,
    }
    if spec.task == "multiclass":
        params["num_class"] = n_classes
    if spec.task == "ranking":
        # The primary cut-off alone: LightGBM sorts eval_at, so with several the first (what early stopping
        # watches) would be the smallest, not the primary one. Loopline reports the others.
        params["eval_at"] = [at_k(spec.primary_metric) or spec.metrics.k]
        if spec.metrics.gain == "linear":
            params["label_gain"] = [float(i) for i in range(MAX_GRADE + 1)]
        if spec.primary_metric == "map":  # replaced by loopline's own map when a ranking_metric is given
            params["metric"] = "map"
    given = dict(spec.models.lightgbm)
    stopping = [k for k in STOPPING_ALIASES if k in given]
    if stopping:
        raise ModelError(f"models.lightgbm.{stopping[0]}: set early stopping with models.early_stopping_rounds "
                         "in loopline.yaml instead")
    rounds = MAX_ROUNDS
    for alias in ROUND_ALIASES:
        if alias in given:
            rounds = int(given.pop(alias))
    for alias in OBJECTIVE_ALIASES:
        if alias in given:
            chosen = str(given.pop(alias))
            if chosen not in OBJECTIVES[spec.task]:
                raise ModelError(f"models.lightgbm.{alias}: {chosen!r} does not fit task '{spec.task}'; use one of "
                                 f"{sorted(OBJECTIVES[spec.task])} or remove it")
            params["objective"] = chosen
    params.update(given)
    return params, rounds


def check_lightgbm_params(spec: ProblemSpec) -> None:
    """Refuse ``models.lightgbm`` values LightGBM would reject, before any data is read or run recorded.

    LightGBM checks its configuration when a booster is built, so one is built on 20 synthetic rows shaped
    for the task; its message (e.g. ``Check failed: (num_leaves) > (1)``) is passed on with the key.
    """
    if not spec.models.lightgbm or "lightgbm" not in spec.models.candidates:
        return
    n_classes = 3 if spec.task == "multiclass" else None
    try:
        params, _ = lightgbm_params(spec, n_classes)
    except ModelError as exc:
        raise SpecError(f"{spec.source_name}, {exc}") from None
    params = {**params, "verbosity": -1}
    rows = 200
    x = np.random.default_rng(0).normal(size=(rows, 2))
    y = (np.arange(rows) % (n_classes or 2)).astype(np.float64)
    group = [rows // 4] * 4 if spec.task == "ranking" else None
    try:  # LightGBM prints its complaints itself; the error below says it once, with the key
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            lgb.Booster(params=params, train_set=lgb.Dataset(x, label=y, group=group))
    except lgb.basic.LightGBMError as exc:
        given = ", ".join(f"{k}: {v!r}" for k, v in spec.models.lightgbm.items())
        reason = _SOURCE_LOCATION.sub("", str(exc).strip().splitlines()[0]).rstrip(" .")
        raise SpecError(
            f"{spec.source_name}, models.lightgbm: LightGBM refuses these parameters ({given}): {reason}. Fix the "
            "value (see LightGBM's parameter documentation) or remove the key."
        ) from None


def tree_data(targets: Targets, splits: Splits, spec: ProblemSpec, *,
              ranking_metric: RankingMetric | None = None) -> TreeData:
    pre = build_preprocessor(splits.schema, splits.features, spec=spec.features, task=spec.task, for_model="tree",
                             seed=spec.seed)
    x_train = pre.fit_transform(targets.train, targets.encoding_labels)
    x_valid = pre.transform(targets.valid)
    y_train, y_valid = targets.y_train, targets.y_valid
    if spec.task == "ranking":
        y_train, y_valid = relevance_grades(y_train, y_valid)
    init = None if targets.negative_rate is None else np.full(len(y_valid), np.log(targets.negative_rate))
    categorical: Any = list(pre.categorical_indices_) or "auto"
    train = lgb.Dataset(x_train, label=y_train, group=targets.group_train, categorical_feature=categorical)
    valid = lgb.Dataset(x_valid, label=y_valid, group=targets.group_valid, init_score=init, reference=train,
                        categorical_feature=categorical)
    feval = None
    if (ranking_metric is not None and spec.task == "ranking" and spec.primary_metric in OWN_METRICS
            and targets.group_valid is not None):
        feval = ranking_feval(targets.y_valid, targets.group_valid, spec.primary_metric, ranking_metric)
    return TreeData(pre, train, valid, x_valid, feval)


def train_booster(data: TreeData, params: dict[str, Any], rounds: int,
                  stopping_rounds: int) -> tuple[lgb.Booster, dict[str, float]]:
    """Train with early stopping on the first metric; the booster cut at its best iteration, and the
    validation metrics there."""
    booster = lgb.train(params, data.train, num_boost_round=rounds, valid_sets=[data.valid], valid_names=["valid"],
                        feval=data.feval,
                        callbacks=[lgb.early_stopping(stopping_rounds, first_metric_only=True, verbose=False)])
    best = booster.best_iteration or booster.current_iteration()
    scores = {str(k): float(v) for k, v in booster.best_score.get("valid", {}).items()}
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best)), scores


def fit_lightgbm(targets: Targets, splits: Splits, spec: ProblemSpec, *,
                 ranking_metric: RankingMetric | None = None) -> Fitted:
    """Fit (or tune, when ``models.tune`` is set) LightGBM with early stopping on the valid split (on
    ``ranking_metric`` for a ranker judged by map or mrr)."""
    n_classes = len(targets.classes) if spec.task == "multiclass" and targets.classes is not None else None
    data = tree_data(targets, splits, spec, ranking_metric=ranking_metric)
    params, rounds = lightgbm_params(spec, n_classes)
    if data.feval is not None:
        params["metric"] = "None"  # early stopping on loopline's metric alone
    if not any(alias in params for alias in THREAD_ALIASES):
        params["num_threads"] = default_threads(len(targets.y_train))
    extra: dict[str, Any] = {}
    if spec.models.tune is not None:
        from loopline.models._tune import tune_lightgbm

        booster, params, scores, extra = tune_lightgbm(data, params, rounds, spec)
    else:
        booster, scores = train_booster(data, params, rounds, spec.models.early_stopping_rounds)
    margin = np.asarray(booster.predict(data.x_valid, raw_score=True), dtype=np.float64)
    used = {k: v for k, v in params.items() if k != "verbosity"}
    used.update(openmp_settings())
    used.update({"max_rounds": rounds, "best_iteration": int(booster.current_iteration()), "valid_scores": scores,
                 "encodings": dict(data.preprocessor.encodings_), **extra})
    return Fitted(LightGBMScorer(data.preprocessor, booster), TASK_LINKS[spec.task], used, margin)


def ranking_feval(relevance: np.ndarray, group_sizes: np.ndarray, metric: str,
                  ranking_metric: RankingMetric) -> Feval:
    """A LightGBM ``feval`` giving ``ranking_metric`` (loopline's ``metric``, higher is better) on the validation
    rows, which LightGBM holds query by query (``group_sizes``)."""
    query = np.repeat(np.arange(len(group_sizes)), np.asarray(group_sizes, dtype=np.intp))
    relevance = np.asarray(relevance, dtype=np.float64)

    def feval(preds: np.ndarray, _: lgb.Dataset) -> tuple[str, float, bool]:
        return f"loopline_{metric}", ranking_metric(relevance, np.asarray(preds, dtype=np.float64), query), True

    return feval


def relevance_grades(y_train: np.ndarray, y_valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relevance as the integer grades 0..30 lambdarank needs: unchanged when it already is, else
    order-preserving levels (the distinct training values, or 31 quantile bins of them).

    >>> relevance_grades(np.array([0.5, 2.0, 7.5]), np.array([2.0, 9.0]))
    (array([0., 1., 2.]), array([1., 2.]))
    """
    both = np.r_[y_train, y_valid]
    if np.all(both == np.round(both)) and both.min() >= 0 and both.max() <= MAX_GRADE:
        return y_train, y_valid
    levels = np.unique(y_train)
    edges = levels[1:] if len(levels) <= MAX_GRADE + 1 else np.unique(
        np.quantile(y_train, np.linspace(0, 1, MAX_GRADE + 2)[1:-1]))
    return (np.searchsorted(edges, y_train, side="right").astype(np.float64),
            np.searchsorted(edges, y_valid, side="right").astype(np.float64))
