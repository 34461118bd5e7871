"""Rankers as loopline measures them: LightGBM's cut-off, gain and early-stopping metric, the random baseline."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from loopline.evaluation import compute_metrics, ranking_metric
from loopline.evaluation._ranking import per_query
from loopline.models._baselines import fit_random
from loopline.models._lightgbm import MAX_GRADE, fit_lightgbm, lightgbm_params
from loopline.models._targets import prepare_targets
from tests.models.samples import make_spec, make_splits


def test_lightgbm_stops_at_the_primary_cut_off_with_the_spec_gain() -> None:
    params, _ = lightgbm_params(make_spec("ranking", metrics={"k": [10, 5, 1]}), None)
    assert params["eval_at"] == [10] and params["metric"] == "ndcg" and "label_gain" not in params  # LightGBM
    at_five, _ = lightgbm_params(make_spec("ranking", metrics={"k": [10, 5], "primary": "ndcg@5"}), None)  # sorts
    assert at_five["eval_at"] == [5]  # eval_at, so early stopping would watch the smallest of several
    linear, _ = lightgbm_params(make_spec("ranking", metrics={"gain": "linear"}), None)
    assert linear["label_gain"] == [float(i) for i in range(MAX_GRADE + 1)]
    by_map, _ = lightgbm_params(make_spec("ranking", metrics={"primary": "map"}), None)
    assert by_map["metric"] == "map"  # without loopline's metric at hand (ranking_metric), LightGBM's own


def _lightgbm_ndcg(relevance: np.ndarray, margin: np.ndarray, query: np.ndarray, k: int, gain: str) -> float:
    """LightGBM's NDCG@k from loopline's per-query values: queries without ranking information count 1 there."""
    found = per_query(relevance, margin, query, ks=[k], gain=gain)  # type: ignore[arg-type]
    assert not found.ranked.all()  # some validation queries carry no ranking information
    return float(np.where(found.ranked, np.nan_to_num(found.ndcg["ndcg"]), 1.0).mean())


@pytest.mark.parametrize("gain", ["exponential", "linear"])
def test_lightgbm_valid_ndcg_is_an_affine_map_of_ours(gain: str) -> None:
    """What early stopping watches equals (excluded + sum of loopline's per-query NDCG) / queries."""
    splits, spec = make_splits("ranking"), make_spec("ranking", metrics={"gain": gain, "k": [5, 3]})
    targets = prepare_targets(splits, spec)
    fitted = fit_lightgbm(targets, splits, spec)
    query = np.repeat(np.arange(len(targets.group_valid)), targets.group_valid)  # type: ignore[arg-type]
    # LightGBM orders tied scores by row (a stable sort) where loopline averages over their orders: break ties so
    order = np.lexsort((np.arange(len(query)), -fitted.valid_margin))
    margin = np.empty(len(query))
    margin[order] = -np.arange(len(query), dtype=float)
    scores = fitted.params["valid_scores"]
    assert list(scores) == ["ndcg@5"]
    assert scores["ndcg@5"] == pytest.approx(_lightgbm_ndcg(targets.y_valid, margin, query, 5, gain), abs=1e-9)


@pytest.mark.parametrize("primary", ["map", "mrr"])
def test_a_ranker_judged_by_map_or_mrr_early_stops_on_loopline_metric(primary: str) -> None:
    splits = make_splits("ranking")
    spec = make_spec("ranking", metrics={"primary": primary, "relevant_at": 2})
    targets = prepare_targets(splits, spec)
    fitted = fit_lightgbm(targets, splits, spec, ranking_metric=ranking_metric(spec))
    assert fitted.params["metric"] == "None"
    query = np.repeat(np.arange(len(targets.group_valid)), targets.group_valid)  # type: ignore[arg-type]
    expected = compute_metrics("ranking", targets.y_valid, fitted.valid_margin, groups=query, relevant_at=2)[primary]
    assert fitted.params["valid_scores"] == {f"loopline_{primary}": pytest.approx(expected, abs=1e-12)}


def test_the_random_ranking_baseline_is_the_mean_over_all_orders() -> None:
    rel = np.array([3.0, 0.0, 1.0, 0.0, 2.0, 1.0, 0.0])
    groups = np.array([0, 0, 0, 0, 1, 1, 1])
    baseline = fit_random("ranking", rel, None, seed=0)
    found = compute_metrics("ranking", rel, baseline.margin(pd.DataFrame(index=range(7))), groups=groups, k=[3, 1],
                            relevant_at=1)
    by_order: dict[str, list[float]] = {key: [] for key in found}
    for first in itertools.permutations(range(4)):  # item first[i] of query 0 at rank i
        for second in itertools.permutations(range(4, 7)):
            score = np.empty(7)
            score[list(first)] = -np.arange(4.0)
            score[list(second)] = -np.arange(3.0)
            one = compute_metrics("ranking", rel, score, groups=groups, k=[3, 1], relevant_at=1)
            for key, values in by_order.items():
                values.append(one[key])
    assert len(by_order["ndcg"]) == 24 * 6
    for key, values in by_order.items():
        assert found[key] == pytest.approx(np.mean(values), abs=1e-12), key


def test_tuning_a_ranker_judged_by_map_scores_trials_by_loopline_map() -> None:
    pytest.importorskip("optuna")
    splits = make_splits("ranking")
    spec = make_spec("ranking", metrics={"primary": "map"}, models={"tune": {"trials": 2}})
    targets = prepare_targets(splits, spec)
    fitted = fit_lightgbm(targets, splits, spec, ranking_metric=ranking_metric(spec))
    tuning = fitted.params["tuning"]
    assert tuning["metric"] == "loopline_map" and tuning["trials"] == 2
    assert tuning["best_value"] == fitted.params["valid_scores"]["loopline_map"]
    query = np.repeat(np.arange(len(targets.group_valid)), targets.group_valid)  # type: ignore[arg-type]
    assert tuning["best_value"] == pytest.approx(
        compute_metrics("ranking", targets.y_valid, fitted.valid_margin, groups=query)["map"], abs=1e-12)
