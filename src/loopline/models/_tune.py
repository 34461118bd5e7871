"""Tuning LightGBM within ``models.tune``'s budget with Optuna (``pip install 'loopline[tune]'``).

Trial 0 is the untuned parameters on all training rows, trained exactly as without tuning, so tuning never
ends worse on validation than not tuning. Every later trial is cheap first: it trains on a nested, seeded
subsample of the training rows (a ninth, then a third, then all of them: :func:`rung_rows`, fewer rungs on
small tables; whole queries for a ranker) with early stopping on validation, so a small subsample also means
fewer rounds. After each rung Optuna's (asynchronous) successive-halving pruner lets it go on only when its
validation metric is among the best third of the trials that reached that rung, trial 0 included (the best
one while fewer than six have: early trials must beat the untuned parameters on a ninth of the rows before
they cost more). A trial that reaches all rows is a candidate; the best candidate's booster, trained on all
rows, is the model. Rows rather than boosting rounds are the resource: at an equal round count a high
learning rate always looks better, so pruning on rounds would prune the slow, often better, trials.

The search (:data:`SPACE`; :data:`CATEGORICAL_SPACE` too when a column is a native category) covers the tree
size, learning rate, leaf size, column and row sampling (bagging every round), L1/L2 regularisation and the
smoothing of categorical splits, with Optuna's seeded multivariate TPE. A parameter that ``models.lightgbm``
sets (under any LightGBM alias) is held fixed. LightGBM's ``min_data_per_group`` (the rows on each side of a
categorical split) follows the leaf size ``min_child_samples``, as loopline's defaults tie them, unless the
spec sets it. Each trial is scored by the LightGBM metric matching the spec's primary metric on validation
(the objective's metric when none matches; ``params['tuning']['metric']`` says which; a ranker judged by map
or mrr is scored by loopline's own metric, see ``models._lightgbm``).

``budget`` is checked inside trials: a LightGBM callback stops the fit running when it is spent (the model so
far, cut at its best iteration, stands for its rung, and on all rows is a candidate) and no trial or rung
starts after it; only trial 0's fit on all rows is exempt. ``trials`` alone has no time limit and gives a
reproducible search (seeded sampler and subsamples, deterministic LightGBM). What was tried is in
``params['tuning']['history']``: each trial's parameters, the rows of the last rung it trained on, its
validation metric there, its state (complete, pruned, or stopped by the budget), when it began and its
seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from lightgbm.callback import EarlyStopException

from loopline._errors import MissingExtraError
from loopline.models._lightgbm import DEFAULTS, TreeData, train_booster
from loopline.spec import ProblemSpec, Task, at_k

Clock = Callable[[], float]
ETA = 3
"""Each rung trains on ETA times the rows of the one before, and the pruner keeps the best 1/ETA."""
MIN_RUNG_ROWS = 10_000
"""The smallest subsample a rung trains on; a table with fewer than ETA times this has one rung (all rows)."""
MAX_RUNGS = 3
STARTUP_TRIALS = 6
"""Trials sampled at random before TPE models the results (trial 0 counts)."""

# The primary metric -> (LightGBM metric, whether larger is better).
METRICS: dict[Task, dict[str, tuple[str, bool]]] = {
    "binary": {"log_loss": ("binary_logloss", False), "roc_auc": ("auc", True), "pr_auc": ("average_precision", True)},
    "multiclass": {"log_loss": ("multi_logloss", False), "accuracy": ("multi_error", False)},
    "regression": {"rmse": ("rmse", False), "mae": ("l1", False), "r2": ("l2", False)},
    "ranking": {"ndcg": ("ndcg", True), "map": ("map", True)},
}


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: its range, scale, LightGBM's default (when loopline sets none) and aliases."""

    low: float
    high: float
    log: bool
    integer: bool
    default: float
    aliases: tuple[str, ...] = ()


SPACE: dict[str, Dimension] = {
    "learning_rate": Dimension(0.02, 0.3, True, False, 0.1, ("shrinkage_rate", "eta")),
    "num_leaves": Dimension(8, 256, True, True, 31, ("num_leaf", "max_leaves", "max_leaf", "max_leaf_nodes")),
    "min_child_samples": Dimension(5, 300, True, True, 20,
                                   ("min_data_in_leaf", "min_data_per_leaf", "min_data", "min_samples_leaf")),
    "feature_fraction": Dimension(0.4, 1.0, False, False, 1.0, ("sub_feature", "colsample_bytree")),
    "bagging_fraction": Dimension(0.5, 1.0, False, False, 1.0, ("sub_row", "subsample", "bagging")),
    "lambda_l1": Dimension(1e-8, 10.0, True, False, 0.0, ("reg_alpha", "l1_regularization")),
    "lambda_l2": Dimension(1e-8, 10.0, True, False, 0.0, ("reg_lambda", "lambda", "l2_regularization")),
}
CATEGORICAL_SPACE: dict[str, Dimension] = {
    "cat_smooth": Dimension(1.0, 100.0, True, False, 10.0),
    "cat_l2": Dimension(1.0, 100.0, True, False, 10.0),
    "max_cat_threshold": Dimension(8, 128, True, True, 32),
}
BAGGING_FREQ = ("bagging_freq", "subsample_freq")


def rung_rows(rows: int) -> list[int]:
    """The training rows of each rung: all of them last, each earlier one ETA times fewer.

    >>> rung_rows(5_000), rung_rows(40_000), rung_rows(1_000_000)
    ([5000], [13334, 40000], [111112, 333334, 1000000])
    """
    rungs = 1
    while rungs < MAX_RUNGS and rows / ETA**rungs >= MIN_RUNG_ROWS:
        rungs += 1
    return [math.ceil(rows / ETA ** (rungs - 1 - i)) for i in range(rungs)]


def search_space(spec: ProblemSpec, *, categorical: bool) -> dict[str, Dimension]:
    """What is searched: :data:`SPACE` (and :data:`CATEGORICAL_SPACE` with native categories) less what
    ``models.lightgbm`` sets."""
    given = set(spec.models.lightgbm)
    space = {**SPACE, **(CATEGORICAL_SPACE if categorical else {})}
    return {name: dim for name, dim in space.items() if not given & {name, *dim.aliases}}


class BudgetStop:
    """A LightGBM callback ending a fit at ``deadline`` (on ``clock``), keeping its best iteration so far on the
    first validation metric (the one early stopping watches)."""

    order = 40  # after LightGBM's early stopping (30)

    def __init__(self, clock: Clock, deadline: float | None) -> None:
        self.clock, self.deadline = clock, deadline
        self.stopped = False
        self._best: tuple[float, int, list[Any]] | None = None

    def __call__(self, env: Any) -> None:
        results = list(env.evaluation_result_list)
        value, larger = float(results[0][2]), bool(results[0][3])
        if self._best is None or (value > self._best[0] if larger else value < self._best[0]):
            self._best = (value, env.iteration, results)  # as LightGBM's early stopping counts
        if self.deadline is not None and self.clock() >= self.deadline:
            self.stopped = True
            raise EarlyStopException(self._best[1], self._best[2])


def tune_lightgbm(data: TreeData, params: dict[str, Any], rounds: int, spec: ProblemSpec, *,
                  clock: Clock = time.perf_counter,
                  ) -> tuple[lgb.Booster, dict[str, Any], dict[str, float], dict[str, Any]]:
    """The best booster, its parameters and validation scores, and what was tried (``{"tuning": ...}``)."""
    try:
        import optuna
    except ImportError as exc:
        raise MissingExtraError("tuning LightGBM (models.tune)", "tune", "optuna") from exc
    tune = spec.models.tune
    budget = None if tune is None or tune.budget is None else tune.budget.total_seconds()
    limit = None if tune is None else tune.trials
    metric, maximize, base = _scored_by(params, spec, data)
    stopping = spec.models.early_stopping_rounds
    space = search_space(spec, categorical=bool(data.preprocessor.categorical_indices_))
    start = clock()
    deadline = None if budget is None else start + budget

    def value_of(scores: dict[str, float]) -> float:
        return next(v for k, v in scores.items() if k.split("@")[0] == metric)

    def better(value: float, than: float) -> bool:
        return value > than if maximize else value < than

    booster, scores = train_booster(data, base, rounds, stopping)  # trial 0 on all rows: exempt from the budget
    best: dict[str, Any] = {"trial": 0, "value": value_of(scores), "booster": booster, "params": base,
                            "scores": scores}
    searching = bool(space) and (limit is None or limit > 1)
    rows = rung_rows(data.train.num_data()) if searching else [data.train.num_data()]
    subsets, rows = _subsets(data.train, rows, spec.seed)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=optuna.samplers.TPESampler(seed=spec.seed, multivariate=True, n_startup_trials=STARTUP_TRIALS),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=ETA))
    study.enqueue_trial({name: _clip(base.get(name, dim.default), dim) for name, dim in space.items()})
    trial = study.ask()
    for name, dim in space.items():
        _suggest(trial, name, dim)
    for rung, subset in enumerate(subsets[:-1]):  # trial 0's results on the subsamples, for the pruner
        if deadline is not None and clock() >= deadline:
            break
        fit = _fit(subset, data, base, rounds, stopping, BudgetStop(clock, deadline))
        if fit[2]:
            break
        trial.report(value_of(fit[1]), ETA**rung)
        trial.should_prune()  # records trial 0 at this rung; it is never pruned
    study.tell(trial, best["value"])
    history = [_entry(0, {n: _rounded(base.get(n, d.default)) for n, d in space.items()}, rows[-1], best["value"],
                      "complete", 0.0, clock() - start)]

    ended = "trials" if space else "nothing to search"
    while searching and (limit is None or len(history) < limit):
        began = clock()
        if deadline is not None and began >= deadline:
            ended = "budget"
            break
        trial = study.ask()
        chosen = {name: _suggest(trial, name, dim) for name, dim in space.items()}
        tried = {**base, **chosen}
        if "bagging_fraction" in chosen and not set(spec.models.lightgbm) & set(BAGGING_FREQ):
            tried["bagging_freq"] = 1
        if "min_child_samples" in chosen and "min_data_per_group" not in spec.models.lightgbm:
            tried["min_data_per_group"] = chosen["min_child_samples"]  # as loopline's defaults tie them
        state, value, reached = "pruned", math.nan, 0
        for rung, subset in enumerate(subsets):
            if deadline is not None and clock() >= deadline:
                state = "stopped"
                break
            stop = BudgetStop(clock, deadline)
            fit = _fit(subset, data, tried, rounds, stopping, stop, keep=rung == len(subsets) - 1)
            value, reached = value_of(fit[1]), rung
            if rung == len(subsets) - 1:
                state = "stopped" if stop.stopped else "complete"
                if better(value, best["value"]):
                    best = {"trial": trial.number, "value": value, "booster": fit[0], "params": tried,
                            "scores": fit[1]}
                break
            if stop.stopped:
                state = "stopped"
                break
            trial.report(value, ETA**rung)
            if trial.should_prune():
                break
        if reached == len(subsets) - 1 and not math.isnan(value):
            study.tell(trial, value)
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        history.append(_entry(trial.number, {n: _rounded(v) for n, v in chosen.items()}, rows[reached], value,
                              state, began - start, clock() - began))
    summary = {"tuning": {
        "metric": metric, "best_value": float(best["value"]), "best_trial": best["trial"], "trials": len(history),
        "pruned": sum(h["state"] == "pruned" for h in history),
        "stopped": sum(h["state"] == "stopped" for h in history), "ended_by": ended,
        "budget_s": budget, "trial_limit": limit, "seconds": round(clock() - start, 3), "rung_rows": rows,
        "searched": sorted(space), "history": history}}
    return best["booster"], best["params"], best["scores"], summary


def _scored_by(params: dict[str, Any], spec: ProblemSpec, data: TreeData) -> tuple[str, bool, dict[str, Any]]:
    """The metric trials are judged by, whether larger is better, and trial 0's parameters."""
    default_metric = DEFAULTS[spec.task][1]
    primary = "ndcg" if at_k(spec.primary_metric) is not None else spec.primary_metric  # ndcg@5: LightGBM's ndcg
    metric, maximize = METRICS[spec.task].get(primary, (default_metric, spec.task == "ranking"))
    if data.feval is not None:  # ranking by map or mrr: loopline's own metric, the only one LightGBM reports
        return f"loopline_{spec.primary_metric}", True, {**params, "metric": "None", "feature_pre_filter": False}
    metrics = list(dict.fromkeys([str(params.get("metric", default_metric)), metric]))
    return metric, maximize, {**params, "metric": metrics, "feature_pre_filter": False}


def _subsets(train: lgb.Dataset, rows: list[int], seed: int) -> tuple[list[lgb.Dataset], list[int]]:
    """Nested seeded subsamples of the (constructed) training set with ``rows`` rows each (whole queries for a
    ranker: at least that many), then the full set; and their row counts."""
    rng = np.random.default_rng(seed)
    group = train.get_group()
    picked: list[np.ndarray] = []
    if group is None:
        order = rng.permutation(train.num_data())
        picked = [np.sort(order[:n]) for n in rows[:-1]]
    else:
        sizes = np.asarray(group, dtype=np.int64)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        shuffled = rng.permutation(len(sizes))
        reached = np.cumsum(sizes[shuffled])
        for n in rows[:-1]:
            queries = np.sort(shuffled[: int(np.searchsorted(reached, n)) + 1])
            picked.append(np.concatenate([np.arange(starts[q], starts[q] + sizes[q]) for q in queries]))
    return ([*(train.subset(p.tolist()) for p in picked), train],
            [*(len(p) for p in picked), train.num_data()])


def _fit(train: lgb.Dataset, data: TreeData, params: dict[str, Any], rounds: int, stopping: int, stop: BudgetStop,
         *, keep: bool = False) -> tuple[lgb.Booster | None, dict[str, float], bool]:
    """Train with early stopping and the budget; the booster cut at its best iteration (when ``keep``), the
    validation metrics there, and whether the budget stopped it."""
    booster = lgb.train(params, train, num_boost_round=rounds, valid_sets=[data.valid], valid_names=["valid"],
                        feval=data.feval,
                        callbacks=[lgb.early_stopping(stopping, first_metric_only=True, verbose=False), stop])
    scores = {str(k): float(v) for k, v in booster.best_score.get("valid", {}).items()}
    if not keep:
        return None, scores, stop.stopped
    best = booster.best_iteration or booster.current_iteration()
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best)), scores, stop.stopped


def _suggest(trial: Any, name: str, dim: Dimension) -> float:
    if dim.integer:
        return int(trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log))
    return float(trial.suggest_float(name, dim.low, dim.high, log=dim.log))


def _clip(value: Any, dim: Dimension) -> float:
    """A default as the search space can hold it (LightGBM's ``lambda_l2 = 0`` is 1e-8 on a log scale)."""
    clipped = min(max(float(value), dim.low), dim.high)
    return round(clipped) if dim.integer else clipped


def _rounded(value: Any) -> float:
    """A parameter as the history shows it: integers as they are, other numbers to four significant digits."""
    return value if isinstance(value, int) else float(f"{float(value):.4g}")


def _entry(number: int, params: dict[str, float], rows: int, value: float, state: str, began: float,
           seconds: float) -> dict[str, Any]:
    """One trial of ``params['tuning']['history']``; ``began_s`` counts from the start of tuning."""
    return {"trial": number, "params": params, "rows": int(rows),
            "value": None if math.isnan(value) else float(value), "state": state, "began_s": round(began, 3),
            "seconds": round(seconds, 3)}
