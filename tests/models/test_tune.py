"""Tuning LightGBM with Optuna: the untuned parameters first, cheap subsamples pruned by successive halving, the
budget checked inside trials (on an injected clock), reproducible trial budgets, and the error when Optuna is
missing."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import lightgbm as lgb
import pytest

from loopline import MissingExtraError
from loopline.models import _tune, train_candidates
from loopline.models._lightgbm import lightgbm_params, tree_data
from loopline.models._targets import prepare_targets
from loopline.spec import ProblemSpec
from loopline.testing import check_model
from tests.models.samples import make_spec, make_splits


class FakeClock:
    """A clock one second later at every reading: the budget runs out after a known number of readings."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def _tuned(task: str, n: int, tune: dict[str, Any], *, rounds: int = 40, lightgbm: dict[str, Any] | None = None,
           **over: Any) -> dict[str, Any]:
    splits = make_splits(task, n=n)
    models = {"candidates": ["lightgbm"], "tune": tune, **({"lightgbm": lightgbm} if lightgbm else {})}
    spec = make_spec(task, rounds=rounds, models=models, **over)
    tuning: dict[str, Any] = train_candidates(splits, spec)[0].params["tuning"]
    return tuning


def _without_times(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in h.items() if k not in ("seconds", "began_s")} for h in history]


def test_trial_0_is_the_untuned_model_and_tuning_never_ends_worse() -> None:
    splits = make_splits("binary", n=1200)
    untuned = train_candidates(splits, make_spec("binary", rounds=40, models={"candidates": ["lightgbm"]}))[0]
    spec = make_spec("binary", rounds=40, models={"candidates": ["lightgbm"], "tune": {"trials": 6}})
    model = train_candidates(splits, spec)[0]
    tuning = model.params["tuning"]
    default = untuned.params["valid_scores"]["binary_logloss"]
    first = tuning["history"][0]
    assert (first["trial"], first["state"], first["rows"]) == (0, "complete", len(splits.train))
    assert first["value"] == default  # trained exactly as without tuning
    assert first["params"]["learning_rate"] == 0.05 and first["params"]["num_leaves"] == 31
    assert first["params"]["lambda_l2"] == 0.0  # LightGBM's default, not the search space's lower end
    assert tuning["trials"] == 6 and tuning["metric"] == "binary_logloss" and tuning["ended_by"] == "trials"
    assert tuning["best_value"] == model.params["valid_scores"]["binary_logloss"] <= default
    best = tuning["history"][tuning["best_trial"]]
    assert best["value"] == tuning["best_value"] and best["rows"] == len(splits.train)  # the best fit on all rows
    assert [h["trial"] for h in tuning["history"]] == list(range(6))
    check_model(model, splits.test.iloc[:50])


def test_what_is_searched_leaves_out_what_the_spec_sets() -> None:
    spec = make_spec("binary", models={"lightgbm": {"min_data_in_leaf": 30, "reg_lambda": 1.0}})
    assert set(_tune.search_space(spec, categorical=False)) == {
        "learning_rate", "num_leaves", "feature_fraction", "bagging_fraction", "lambda_l1"}
    assert {"cat_smooth", "cat_l2", "max_cat_threshold"} <= set(_tune.search_space(spec, categorical=True))


def test_rungs_grow_by_three_from_a_minimum_and_the_last_is_every_row() -> None:
    assert _tune.rung_rows(29_999) == [29_999]  # a third would be under MIN_RUNG_ROWS
    assert _tune.rung_rows(30_000) == [10_000, 30_000]
    assert _tune.rung_rows(90_000) == [10_000, 30_000, 90_000]
    assert _tune.rung_rows(10**7)[0] == 1_111_112  # at most three rungs
    assert _tune.rung_rows(100) == [100]


def test_obviously_bad_parameters_are_pruned_on_the_smallest_subsample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tune, "MIN_RUNG_ROWS", 150)  # 1800 training rows: rungs of 200, 600 and 1800 rows
    # A learning rate that cannot learn in 40 rounds: every trial but the untuned one is clearly worse.
    monkeypatch.setitem(_tune.SPACE, "learning_rate", _tune.Dimension(1e-4, 2e-4, True, False, 0.1))
    tuning = _tuned("binary", 3000, {"trials": 8})
    assert tuning["rung_rows"] == [200, 600, 1800]
    history = tuning["history"]
    assert [h["state"] for h in history] == ["complete"] + ["pruned"] * 7
    assert tuning["pruned"] == 7 and tuning["best_trial"] == 0
    assert all(h["rows"] < 1800 for h in history[1:])  # none reached every row ...
    assert sum(h["rows"] == 200 for h in history[1:]) >= 4  # ... most stopped on a ninth of them
    assert all(h["value"] > history[0]["value"] for h in history[1:])


def test_a_promising_trial_grows_to_every_row_and_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tune, "MIN_RUNG_ROWS", 150)
    tuning = _tuned("binary", 3000, {"trials": 12})
    reached = {h["rows"] for h in tuning["history"][1:]}
    assert {200, 1800} <= reached  # some stop on a ninth of the rows, some go on to every row
    assert 0 < tuning["pruned"] < 11
    complete = [h["value"] for h in tuning["history"] if h["state"] == "complete"]
    assert tuning["best_value"] == min(complete)


def test_a_trial_budget_gives_the_same_search_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tune, "MIN_RUNG_ROWS", 150)
    splits = make_splits("binary", n=3000)
    spec = make_spec("binary", rounds=40, models={"candidates": ["lightgbm"], "tune": {"trials": 8}})
    first, again = train_candidates(splits, spec)[0], train_candidates(splits, spec)[0]
    tuning = first.params["tuning"]
    assert tuning["budget_s"] is None and tuning["trial_limit"] == 8  # trials alone: no time limit
    assert _without_times(tuning["history"]) == _without_times(again.params["tuning"]["history"])
    assert {k: first.params.get(k) for k in tuning["searched"]} == {k: again.params.get(k) for k in tuning["searched"]}
    assert (first.predict(splits.test) == again.predict(splits.test)).all()


def test_a_fake_clock_stops_the_trial_running_when_the_budget_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tune, "MIN_RUNG_ROWS", 150)
    splits = make_splits("binary", n=3000)
    spec = make_spec("binary", rounds=40, models={"candidates": ["lightgbm"], "tune": {"budget": "150s"}})
    targets = prepare_targets(splits, spec)
    params, rounds = lightgbm_params(spec, None)
    clock = FakeClock()
    _, _, _, summary = _tune.tune_lightgbm(tree_data(targets, splits, spec), params, rounds, spec, clock=clock)
    tuning = summary["tuning"]
    assert tuning["ended_by"] == "budget" and tuning["budget_s"] == 150
    assert 150 <= tuning["seconds"] <= 154  # the clock is read once per boosting round: stopped within a round
    history = tuning["history"]
    assert all(h["began_s"] < 150 for h in history)  # no trial started after the budget
    last = history[-1]
    assert last["state"] == "stopped" and 149 <= last["began_s"] + last["seconds"] <= 151
    assert [h["state"] for h in history[:-1]].count("stopped") == 0
    assert len(history) >= 2


def test_tuning_for_a_time_and_for_trials_in_the_spec() -> None:
    def tune(given: dict[str, Any]) -> Any:
        body = {"name": "m", "task": "binary", "data": {"source": "x.csv"}, "event_time": "ts",
                "label": {"column": "y"}, "models": {"tune": given}}
        return ProblemSpec.from_dict(body).models.tune

    assert (tune({}).budget, tune({}).trials) == (timedelta(minutes=2), None)
    assert tune({}).model_dump(mode="json") == {"budget": "2m", "trials": None}  # as hashed before
    assert (tune({"trials": 20}).budget, tune({"trials": 20}).trials) == (None, 20)
    assert tune({"trials": 20, "budget": "5m"}).budget == timedelta(minutes=5)


def test_a_ranker_is_tuned_on_whole_queries_by_its_primary_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tune, "MIN_RUNG_ROWS", 50)  # 480 training rows in queries of about eight
    tuning = _tuned("ranking", 800, {"trials": 4}, rounds=20, metrics={"primary": "map", "k": 5})
    assert tuning["metric"] == "map" and 0 < tuning["best_value"] <= 1
    assert tuning["rung_rows"][0] >= 54 and tuning["rung_rows"][-1] == 480


def test_each_trial_bags_every_round_and_ties_the_categorical_group_size_to_the_leaf_size(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tune, "MIN_RUNG_ROWS", 150)
    seen: list[dict[str, Any]] = []
    real = lgb.train

    def spy(params: dict[str, Any], *args: Any, **kwargs: Any) -> lgb.Booster:
        seen.append(dict(params))
        return real(params, *args, **kwargs)

    monkeypatch.setattr(lgb, "train", spy)
    lightgbm = {"num_boost_round": 30, "num_threads": 1}  # min_child_samples left to the search
    tuning = _tuned("binary", 3000, {"trials": 4}, lightgbm=lightgbm)
    assert "min_child_samples" in tuning["searched"]
    fits = [p for p in seen if "feature_pre_filter" in p]  # the tuning fits: trial 0 on all rows, then its rungs
    untuned = [p for p in fits if p == fits[0]]
    assert len(untuned) == 3 and "bagging_freq" not in fits[0] and fits[0]["min_data_per_group"] == 50
    trials = [p for p in fits if p != fits[0]]
    assert trials and all(p["bagging_freq"] == 1 and 0.5 <= p["bagging_fraction"] <= 1 for p in trials)
    assert all(p["min_data_per_group"] == p["min_child_samples"] for p in trials)


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_every_task_is_tuned_on_subsamples(task: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tune, "MIN_RUNG_ROWS", 150)
    tuning = _tuned(task, 3000, {"trials": 5})
    assert tuning["metric"] == {"regression": "rmse", "multiclass": "multi_logloss"}[task]
    assert tuning["rung_rows"] == [200, 600, 1800] and tuning["trials"] == 5
    assert tuning["best_value"] <= tuning["history"][0]["value"]


def test_tuning_without_optuna_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # makes `import optuna` raise ImportError
    spec = make_spec("binary", models={"candidates": ["lightgbm"], "tune": {"trials": 1}})
    with pytest.raises(MissingExtraError, match=r"pip install 'loopline\[tune\]'"):
        train_candidates(make_splits("binary", n=400), spec)
