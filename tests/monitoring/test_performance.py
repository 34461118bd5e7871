"""Performance monitoring: realised metrics against scikit-learn, the confidence-based estimates against naive
oracles and simulation, intervals that cover, and the acceptance on the feed simulator."""

from __future__ import annotations

import doctest
import itertools
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.stats import rankdata
from sklearn import metrics as skm

from loopline._errors import MonitoringError
from loopline.data import make_labels
from loopline.evaluation import compute_metrics
from loopline.monitoring import _estimate, _performance
from loopline.monitoring._estimate import estimate_binary, estimate_ranking
from loopline.monitoring._performance import Performance, labelled_exposures, performance
from loopline.simulate import FeedSimulator, SimConfig
from loopline.spec import EventLabelSpec, LabelSpec

T0 = pd.Timestamp("2026-01-01T00:00:00Z")
DAY = pd.Timedelta(days=1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _frame(scores: np.ndarray, *, days: np.ndarray | None = None, **columns: object) -> pd.DataFrame:
    n = len(scores)
    offset = pd.to_timedelta(np.arange(n) % 1000, unit="s")
    ts = T0 + offset + (pd.to_timedelta(days, unit="D") if days is not None else pd.Timedelta(0))
    return pd.DataFrame({"ts": ts, "score": scores, **columns})


def test_doctests() -> None:
    assert doctest.testmod(_performance).failed == 0
    assert doctest.testmod(_estimate).failed == 0


# -- estimate_binary: oracles ---------------------------------------------------------------------

def _pairwise_auc(s: np.ndarray, p: np.ndarray) -> float:
    """The definition, O(n^2):
    sum_{i != j} p_i (1 - p_j) ([s_i > s_j] + [s_i == s_j] / 2) / sum_{i != j} p_i (1 - p_j)."""
    num = den = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i == j:
                continue
            w = p[i] * (1.0 - p[j])
            den += w
            num += w * (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0)
    return num / den if den > 0 else float("nan")


PROBABILITIES = st.one_of(
    st.lists(st.floats(0.0, 1.0, allow_subnormal=False), min_size=2, max_size=25),  # the oracle underflows on them
    st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]), min_size=2, max_size=25),  # many ties
)


@settings(max_examples=150, deadline=None)
@given(PROBABILITIES, st.randoms(use_true_random=False))
def test_expected_auc_equals_the_pairwise_definition_and_ignores_row_order(values: list[float], rnd: object) -> None:
    p = np.array(values)
    expected = _pairwise_auc(p, p)
    found = estimate_binary(p)["roc_auc"]
    if math.isnan(expected):
        assert math.isnan(found)
    else:
        assert found == pytest.approx(expected, rel=1e-9, abs=1e-12)
    shuffled = p.copy()
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    again = estimate_binary(shuffled)
    for name, value in estimate_binary(p).items():
        assert (math.isnan(value) and math.isnan(again[name])) or again[name] == pytest.approx(value, rel=1e-12), name


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.05, 0.2, 0.2, 0.5, 0.7, 0.95]),  # scores with ties
                          st.floats(0.0, 1.0, allow_subnormal=False)), min_size=2, max_size=20))
def test_expected_auc_of_scores_with_other_probabilities_equals_the_pairwise_definition(
        rows: list[tuple[float, float]]) -> None:
    s, p = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    expected = _pairwise_auc(s, p)
    found = estimate_binary(s, probabilities=p)["roc_auc"]
    assert (math.isnan(expected) and math.isnan(found)) or found == pytest.approx(expected, rel=1e-9, abs=1e-12)


def _enumerate(p: np.ndarray, threshold: float, s: np.ndarray | None = None) -> dict[str, float]:
    """Every expectation by enumerating the 2^n label vectors (scikit-learn for each vector's ROC AUC and average
    precision, the plain definitions for the rest)."""
    n = len(p)
    s = p if s is None else s
    sums: dict[str, float] = dict.fromkeys(
        ["log_loss", "brier", "accuracy", "precision", "auc_num", "pairs", "ap_num", "positives", "tp", "f1_den"], 0.0)
    chosen = s >= threshold
    for bits in itertools.product((0.0, 1.0), repeat=n):
        y = np.array(bits)
        w = float(np.prod(np.where(y == 1, p, 1.0 - p)))
        if w == 0.0:
            continue
        positives = y.sum()
        sums["log_loss"] += w * float(-np.mean(y * np.log(s) + (1 - y) * np.log(1 - s)))
        sums["brier"] += w * float(np.mean((s - y) ** 2))
        sums["accuracy"] += w * float(np.mean(y == chosen))
        sums["precision"] += w * (float(y[chosen].mean()) if chosen.any() else 0.0)
        if 0 < positives < n:
            sums["auc_num"] += w * skm.roc_auc_score(y, s) * positives * (n - positives)
            sums["pairs"] += w * positives * (n - positives)
        if positives > 0:
            sums["ap_num"] += w * skm.average_precision_score(y, s) * positives
        sums["positives"] += w * positives
        sums["tp"] += w * float(y[chosen].sum())
        sums["f1_den"] += w * (chosen.sum() + positives)
    return {
        "log_loss": sums["log_loss"], "brier": sums["brier"], "accuracy": sums["accuracy"],
        "precision": sums["precision"], "roc_auc": sums["auc_num"] / sums["pairs"],
        "pr_auc": sums["ap_num"] / sums["positives"], "recall": sums["tp"] / sums["positives"],
        "f1": 2 * sums["tp"] / sums["f1_den"],
    }


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_estimates_are_the_expectations_found_by_enumerating_every_labelling(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, 7)
    if seed == 2:
        p[[1, 4]] = p[0]  # ties: one threshold for tied scores, as in scikit-learn's average precision
    s = np.clip(p + rng.normal(0, 0.2, 7), 0.01, 0.99) if seed == 3 else None  # scores other than the probabilities
    threshold = float(np.median(p))
    found = estimate_binary(p if s is None else s, probabilities=None if s is None else p, threshold=threshold)
    oracle = _enumerate(p, threshold, s)
    for name, value in oracle.items():
        assert found[name] == pytest.approx(value, rel=1e-9), name
    rate = p.mean()
    entropy = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
    assert found["normalized_entropy"] == pytest.approx(oracle["log_loss"] / entropy, rel=1e-12)


def test_mean_realised_metrics_approach_the_estimates_by_simulation() -> None:
    rng = np.random.default_rng(7)
    n, draws = 300, 4000
    p = rng.beta(0.5, 4.0, n)
    estimate = estimate_binary(p)
    y = (rng.random((draws, n)) < p).astype(np.float64)
    ranks = rankdata(p)  # the realised AUC of every draw at once: Mann-Whitney from the ranks of the positives
    positives = y.sum(axis=1)
    both = (positives > 0) & (positives < n)
    auc = (y @ ranks - positives * (positives + 1) / 2) / (positives * (n - positives))
    se = auc[both].std() / np.sqrt(both.sum())
    assert abs(auc[both].mean() - estimate["roc_auc"]) < 4 * se + 1e-3
    loss = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)
    assert abs(loss.mean() - estimate["log_loss"]) < 4 * loss.std() / np.sqrt(draws)
    brier = ((p - y) ** 2).mean(axis=1)
    assert abs(brier.mean() - estimate["brier"]) < 4 * brier.std() / np.sqrt(draws)
    ap = np.array([skm.average_precision_score(row, p) for row in y[:300] if row.any()])
    assert abs(ap.mean() - estimate["pr_auc"]) < 4 * ap.std() / np.sqrt(len(ap)) + 2e-3


def test_estimate_binary_is_n_log_n() -> None:
    p = np.random.default_rng(0).random(1_000_000)
    found = estimate_binary(p)  # an O(n^2) implementation would not return on a million rows
    assert found["roc_auc"] == pytest.approx(_closed_form_uniform_auc(), abs=2e-3)


def _closed_form_uniform_auc() -> float:
    """p ~ U(0, 1): E[p1 (1 - p2) 1{p1 > p2}] / E[p1 (1 - p2)] = (5/24) / (1/4) = 5/6."""
    return 5 / 6


def test_estimate_binary_refuses_what_is_not_a_probability() -> None:
    with pytest.raises(MonitoringError, match="probabilities in \\[0, 1\\]"):
        estimate_binary(np.array([0.2, 1.3]))
    with pytest.raises(MonitoringError, match="without NaN"):
        estimate_binary(np.array([0.2, np.nan]))


# -- realised metrics against scikit-learn --------------------------------------------------------

def test_realised_binary_metrics_equal_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    p = rng.beta(1.0, 5.0, 800).round(3)  # rounding makes ties
    y = (rng.random(800) < p).astype(float)
    found = performance(_frame(p), y, task="binary", threshold=0.3, n_boot=50)
    r = {name: value.value for name, value in found.overall.realised.items() if value is not None}
    chosen = (p >= 0.3).astype(float)
    assert r["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-9)
    assert r["pr_auc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-9)
    assert r["log_loss"] == pytest.approx(skm.log_loss(y, p), abs=1e-9)
    assert r["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-9)
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, chosen), abs=1e-9)
    assert r["precision"] == pytest.approx(skm.precision_score(y, chosen), abs=1e-9)
    assert r["recall"] == pytest.approx(skm.recall_score(y, chosen), abs=1e-9)
    assert r["f1"] == pytest.approx(skm.f1_score(y, chosen), abs=1e-9)
    ratio = found.overall.calibration_ratio
    assert ratio is not None and ratio.value == pytest.approx(p.sum() / y.sum(), rel=1e-12)
    assert ratio.low is not None and ratio.high is not None and ratio.low < ratio.value < ratio.high
    estimated = found.overall.estimated
    assert estimated == {**dict.fromkeys(found.overall.realised), **{
        k: pytest.approx(v, rel=1e-12) for k, v in estimate_binary(p, threshold=0.3).items()}}


def test_one_class_period_leaves_undefined_metrics_empty_and_keeps_the_rest() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    days = np.array([0, 0, 0, 1, 1, 1])
    y = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    found = performance(_frame(p, days=days), y, task="binary", n_boot=20)
    first, second = found.periods
    assert first.realised["roc_auc"] is None and first.realised["pr_auc"] is None
    assert first.calibration_ratio is None  # no positive: the ratio is undefined
    assert first.realised["log_loss"] is not None
    assert first.realised["log_loss"].value == pytest.approx(skm.log_loss([0, 0, 0], p[:3], labels=[0, 1]))
    assert second.realised["roc_auc"] is not None and second.realised["roc_auc"].value == 1.0


def test_realised_multiclass_accuracy_and_macro_f1_equal_scikit_learn_and_accuracy_is_estimated() -> None:
    rng = np.random.default_rng(3)
    classes = np.array(["cat", "dog", "eel"])
    proba = rng.dirichlet([0.6, 0.6, 0.6], 6000)
    predicted = classes[proba.argmax(axis=1)]
    truth = classes[(rng.random(6000)[:, None] > proba.cumsum(axis=1)).sum(axis=1)]  # drawn from the probabilities
    top = proba.max(axis=1)
    found = performance(_frame(top, predicted_label=predicted), truth, task="multiclass", metric="accuracy",
                        n_boot=30)
    realised = found.overall.realised
    assert realised["accuracy"] is not None and realised["macro_f1"] is not None
    assert realised["accuracy"].value == pytest.approx(skm.accuracy_score(truth, predicted), abs=1e-12)
    assert realised["macro_f1"].value == pytest.approx(skm.f1_score(truth, predicted, average="macro"), abs=1e-9)
    assert realised["log_loss"] is None  # the log holds the top class's probability only
    estimated = found.overall.estimated["accuracy"]
    assert estimated == pytest.approx(top.mean(), rel=1e-12)
    se = np.sqrt(estimated * (1 - estimated) / len(top))
    assert abs(realised["accuracy"].value - estimated) < 4 * se  # calibrated: realised accuracy near the estimate
    ratio = found.overall.calibration_ratio
    assert ratio is not None and ratio.value == pytest.approx(top.sum() / (truth == predicted).sum(), rel=1e-12)


def test_regression_is_realised_only_and_says_why() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(10, 3, 500)
    prediction = y + rng.normal(0, 1, 500)
    found = performance(_frame(prediction), y, task="regression", n_boot=30)
    realised = found.overall.realised
    assert realised["rmse"] is not None and realised["mae"] is not None and realised["r2"] is not None
    assert realised["rmse"].value == pytest.approx(skm.root_mean_squared_error(y, prediction), abs=1e-9)
    assert realised["mae"].value == pytest.approx(skm.mean_absolute_error(y, prediction), abs=1e-9)
    assert realised["r2"].value == pytest.approx(skm.r2_score(y, prediction), abs=1e-9)
    assert found.metric == "rmse" and found.overall.estimated == {"rmse": None, "mae": None, "r2": None}
    assert found.overall.calibration_ratio is None
    assert any("regression has no estimate" in note for note in found.notes)


# -- ranking ---------------------------------------------------------------------------------------

def _queries(n_queries: int, items: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.beta(0.7, 4.0, n_queries * items), np.repeat([f"r{i}" for i in range(n_queries)], items)


def test_realised_ndcg_equals_scikit_learn_per_query_and_is_estimated() -> None:
    scores, groups = _queries(200, 8, seed=5)
    rng = np.random.default_rng(6)
    relevance = (rng.random(len(scores)) < scores).astype(float)
    frame = _frame(scores, request_id=groups)
    found = performance(frame, relevance, task="ranking", k=5, n_boot=30)
    per_query = [skm.ndcg_score([relevance[groups == g]], [scores[groups == g]], k=5)
                 for g in np.unique(groups) if relevance[groups == g].any()]
    ndcg = found.overall.realised["ndcg"]
    assert found.metric == "ndcg" and ndcg is not None
    assert ndcg.value == pytest.approx(np.mean(per_query), abs=1e-9)
    assert found.overall.estimated["ndcg"] == pytest.approx(estimate_ranking(scores, groups, k=5), rel=1e-12)
    assert found.overall.estimated["map"] is None
    ratio = found.overall.calibration_ratio
    assert ratio is not None and ratio.value == pytest.approx(scores.sum() / relevance.sum(), rel=1e-12)


def _enumerated_ndcg(scores: np.ndarray, groups: np.ndarray, k: int, probabilities: np.ndarray | None = None
                     ) -> float:
    """sum_q E[NDCG_q 1{R_q >= 1}] / sum_q P(R_q >= 1), every relevance vector of every query enumerated,
    NDCG from scikit-learn."""
    probabilities = scores if probabilities is None else probabilities
    numerator = relevant = 0.0
    for g in np.unique(groups):
        s, p = scores[groups == g], probabilities[groups == g]
        for bits in itertools.product((0.0, 1.0), repeat=len(p)):
            y = np.array(bits)
            w = float(np.prod(np.where(y == 1, p, 1.0 - p)))
            if y.any():
                relevant += w
                numerator += w * skm.ndcg_score([y], [s], k=k) if len(p) > 1 else w
    return numerator / relevant


@pytest.mark.parametrize(("seed", "k"), [(0, 3), (1, 2), (2, 10)])
def test_estimated_ndcg_is_the_expectation_found_by_enumeration(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, 4)
    scores = rng.uniform(0.05, 0.95, sizes.sum()).round(1)  # rounding makes tied scores
    groups = np.repeat(np.arange(len(sizes)), sizes)
    assert estimate_ranking(scores, groups, k=k) == pytest.approx(_enumerated_ndcg(scores, groups, k), rel=1e-9)
    margins = scores * 8 - 3  # any scores, with the probabilities given apart
    p = rng.uniform(0.05, 0.95, len(scores))
    assert estimate_ranking(margins, groups, probabilities=p, k=k) == pytest.approx(
        _enumerated_ndcg(margins, groups, k, p), rel=1e-9)


def test_estimated_ndcg_is_the_same_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    scores, groups = _queries(300, 6, seed=8)
    whole = estimate_ranking(scores, groups, k=4)
    monkeypatch.setattr(_estimate, "_RANKING_CHUNK", 50)
    assert estimate_ranking(scores, groups, k=4) == pytest.approx(whole, rel=1e-12)


def test_mean_realised_ndcg_approaches_the_estimate_by_simulation() -> None:
    scores, groups = _queries(150, 10, seed=9)
    estimate = estimate_ranking(scores, groups, k=5)
    rng = np.random.default_rng(10)
    values = []
    for _ in range(400):
        relevance = (rng.random(len(scores)) < scores).astype(float)
        values.append(compute_metrics("ranking", relevance, scores, groups=groups, k=5, names=["ndcg"])["ndcg"])
    mean, se = np.mean(values), np.std(values) / np.sqrt(len(values))
    assert abs(mean - estimate) < 4 * se + 1e-3


def test_ranking_scores_that_are_not_probabilities_get_no_estimate() -> None:
    scores, groups = _queries(50, 5, seed=11)
    relevance = (np.random.default_rng(12).random(len(scores)) < scores).astype(float)
    found = performance(_frame(scores * 10 - 3, request_id=groups), relevance, task="ranking", n_boot=0)
    assert found.overall.realised["ndcg"] is not None
    assert all(value is None for value in found.overall.estimated.values())
    assert any("not probabilities of relevance" in note for note in found.notes)


# -- intervals cover ------------------------------------------------------------------------------

@pytest.mark.slow
def test_intervals_of_auc_and_calibration_ratio_cover_the_population_value() -> None:
    a_true, a_model, slope = -2.0, -1.6, 1.5  # the model's scores overstate the odds: calibration ratio > 1
    grid = np.linspace(-8, 8, 20001)
    weight = stats.norm.pdf(grid)
    weight /= weight.sum()
    p, s = _sigmoid(a_true + slope * grid), _sigmoid(a_model + slope * grid)
    ratio_population = float((weight * s).sum() / (weight * p).sum())
    pos, neg = weight * p, weight * (1 - p)
    auc_population = float((pos * (np.cumsum(neg) - neg)).sum() / (pos.sum() * neg.sum()))
    runs, covered_auc, covered_ratio = 200, 0, 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=1000)
        y = (rng.random(1000) < _sigmoid(a_true + slope * x)).astype(float)
        found = performance(_frame(_sigmoid(a_model + slope * x)), y, task="binary", metrics=["roc_auc"],
                            n_boot=200, seed=seed)
        auc, ratio = found.overall.realised["roc_auc"], found.overall.calibration_ratio
        assert auc is not None and ratio is not None and auc.low is not None and ratio.low is not None
        assert auc.high is not None and ratio.high is not None
        covered_auc += auc.low <= auc_population <= auc.high
        covered_ratio += ratio.low <= ratio_population <= ratio.high
    noise = 3 * math.sqrt(0.95 * 0.05 / runs)
    assert 0.95 - noise <= covered_auc / runs <= 0.99
    assert 0.95 - noise <= covered_ratio / runs <= 0.99


# -- periods, slices, filters and notes -----------------------------------------------------------

def test_periods_cover_the_window_and_show_gaps() -> None:
    p = np.array([0.2, 0.6, 0.4, 0.9])
    frame = _frame(p, days=np.array([0, 0, 2, 2]))
    found = performance(frame, np.array([0, 1, 0, 1]), task="binary", metric="roc_auc", n_boot=0)
    assert [(p.start, p.end, p.rows, p.labelled) for p in found.periods] == [
        (T0.to_pydatetime(), (T0 + DAY).to_pydatetime(), 2, 2),
        ((T0 + DAY).to_pydatetime(), (T0 + 2 * DAY).to_pydatetime(), 0, 0),
        ((T0 + 2 * DAY).to_pydatetime(), (T0 + 3 * DAY).to_pydatetime(), 2, 2),
    ]
    gap = found.periods[1]
    assert set(gap.realised.values()) == {None} and set(gap.estimated.values()) == {None}
    assert found.overall.rows == 4 and found.overall.start == T0.to_pydatetime()
    six_hours = performance(frame, None, task="binary", period="6h", start=(T0 + DAY).to_pydatetime(),
                            end=(T0 + 3 * DAY).to_pydatetime(), n_boot=0)
    assert len(six_hours.periods) == 8 and six_hours.overall.rows == 2
    assert [p.rows for p in six_hours.periods] == [0, 0, 0, 0, 2, 0, 0, 0]
    assert six_hours.notes[0].startswith("no exposure has a label yet")


def test_shadow_rows_null_scores_and_other_deployments_are_left_out_and_said() -> None:
    frame = _frame(np.array([0.2, 0.7, 0.5, np.nan, 0.9, 0.3]),
                   served=[True, True, False, True, True, True],
                   deployment=["feed", "feed", "feed", "feed", "feed", "other"],
                   model_version=["3", "4", "3", "3", "3", "3"])
    y = np.array([0, 1, 1, 0, 1, 0])
    found = performance(frame, y, task="binary", deployment="feed", n_boot=0)
    assert found.overall.rows == 3 and found.overall.labelled == 3
    assert "1 shadow exposures (served=false) are left out" in found.notes
    assert "1 exposures without a score (answered by a fallback) are left out" in found.notes
    assert any(note.startswith("exposures of 2 model versions (3, 4) are pooled") for note in found.notes)


def test_labels_align_by_index_and_unlabelled_rows_count_as_censored_share() -> None:
    frame = _frame(np.array([0.1, 0.8, 0.3, 0.7, 0.6])).set_axis([10, 11, 12, 13, 14])
    labels = pd.Series([1, 0, 1, 1], index=[13, 10, 11, 12])  # any order: matched on the index
    found = performance(frame, labels, task="binary", n_boot=0)
    assert found.overall.labelled == 4 and found.overall.rows == 5
    assert found.notes[0] == ("20% of the exposures have no label yet (their label window has not closed, or no "
                              "label was given)")
    assert found.overall.realised["roc_auc"] is not None
    assert found.overall.realised["roc_auc"].value == skm.roc_auc_score([0, 1, 1, 1], [0.1, 0.8, 0.3, 0.7])


def test_slices_measure_each_value_over_the_window() -> None:
    rng = np.random.default_rng(13)
    p = rng.beta(1, 4, 600)
    y = (rng.random(600) < p).astype(float)
    device = np.array(["ios", "android", "web"])[rng.integers(0, 3, 600)]
    device[:5] = None
    found = performance(_frame(p, device=device), y, task="binary", slices=["device"], n_boot=0,
                        max_slice_values=3)
    rows = {s.value: s for s in found.slices["device"]}
    assert sum(s.rows for s in rows.values()) == 595 and "(missing)" not in rows
    assert "slice 'device' has 4 values; only the 3 most frequent are shown" in found.notes
    web = device == "web"
    assert rows["web"].realised["roc_auc"] is not None
    assert rows["web"].realised["roc_auc"].value == pytest.approx(skm.roc_auc_score(y[web], p[web]), abs=1e-12)
    assert rows["web"].estimated["roc_auc"] == pytest.approx(estimate_binary(p[web])["roc_auc"], rel=1e-12)


def test_miscalibrated_scores_are_noted() -> None:
    rng = np.random.default_rng(14)
    p = rng.beta(1, 5, 5000)
    y = (rng.random(5000) < p).astype(float)
    found = performance(_frame(np.clip(1.5 * p, 0, 1)), y, task="binary", n_boot=100)
    ratio = found.overall.calibration_ratio
    assert ratio is not None and ratio.low is not None and ratio.high is not None
    assert (f"the scores are miscalibrated on the labelled exposures (calibration ratio {ratio.value:.2f}, 95% "
            f"interval {ratio.low:.2f} to {ratio.high:.2f}): the estimated performance assumes calibrated scores "
            "and cannot be trusted") in found.notes
    assert 1.0 < ratio.low < 1.5 < ratio.high
    assert not any("miscalibrated" in note for note in performance(_frame(p), y, task="binary", n_boot=100).notes)


def test_a_reference_recalibrates_an_underconfident_model_before_estimating() -> None:
    rng = np.random.default_rng(16)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=n)  # the model's scores are squeezed: too low and too close together
        return _sigmoid(-2.2 + 0.6 * x), (rng.random(n) < _sigmoid(-2.0 + 1.5 * x)).astype(float)

    reference, (s, y) = draw(20_000), draw(20_000)
    raw = performance(_frame(s), y, task="binary", metrics=["roc_auc"], n_boot=100)
    recalibrated = performance(_frame(s), y, task="binary", metrics=["roc_auc"], n_boot=100, reference=reference)
    realised = raw.overall.realised["roc_auc"]
    assert realised is not None and realised.low is not None and realised.high is not None
    raw_estimate, estimate = raw.overall.estimated["roc_auc"], recalibrated.overall.estimated["roc_auc"]
    assert raw_estimate is not None and estimate is not None
    assert realised.value - raw_estimate > 0.1  # the squeezed scores promise far less than they deliver
    assert realised.low <= estimate <= realised.high
    assert "the estimates use the scores recalibrated (isotonic) on 20,000 reference rows" in recalibrated.notes
    assert any(n.endswith("the estimates use probabilities recalibrated on the reference rows instead")
               for n in recalibrated.notes)
    with pytest.raises(MonitoringError, match="reference: the scores must be finite and the outcomes 0/1"):
        performance(_frame(s), y, task="binary", reference=(s[:10], np.zeros(10)))


def test_values_and_json_for_alerts_and_reports() -> None:
    rng = np.random.default_rng(15)
    p = rng.beta(1, 4, 300)
    y = (rng.random(300) < p).astype(float)
    y[:30] = np.nan
    found = performance(_frame(p), y, task="binary", n_boot=20)
    values = found.values()
    assert values["performance.roc_auc"] == found.overall.realised["roc_auc"].value  # type: ignore[union-attr]
    assert values["performance.estimated.roc_auc"] == found.overall.estimated["roc_auc"]
    assert values["performance.labelled_share"] == pytest.approx(0.9)
    plain = json.loads(json.dumps(found.to_dict()))
    assert plain["overall"]["rows"] == 300 and plain["metric"] == "log_loss"
    assert set(plain["overall"]["realised"]["roc_auc"]) == {"value", "low", "high"}


# -- labels from the feedback log -----------------------------------------------------------------

def _exposures() -> pd.DataFrame:
    return pd.DataFrame({"ts": [T0, T0 + pd.Timedelta("1h"), T0 + pd.Timedelta("2h")],
                         "request_id": ["r1", "r2", "r3"], "item_id": ["a", "b", "c"],
                         "score": [0.6, 0.2, 0.4]}, index=[7, 8, 9])


def _feedback() -> pd.DataFrame:
    rows = [("10min", "r1", "a"), ("2h5min", "r3", "c")]
    return pd.DataFrame([{"ts": T0 + pd.Timedelta(dt), "request_id": r, "item_id": i, "event": "click", "value": 1.0}
                         for dt, r, i in rows])


SPEC = EventLabelSpec(feedback="feedback", window=timedelta(minutes=30))


def test_labelled_exposures_are_make_labels_with_the_exposures_index() -> None:
    out, report = labelled_exposures(_exposures(), _feedback(), label_spec=SPEC)
    expected, expected_report = make_labels(_exposures(), _feedback(), event_time="ts", spec=SPEC, name="label")
    assert out.index.tolist() == [7, 8]  # r3's window (to 2h30) has not closed by the last record (2h05)
    assert out.reset_index(drop=True).equals(expected)
    assert report == expected_report and report.censored == 1
    named = LabelSpec(name="clicked", from_events=SPEC)
    assert labelled_exposures(_exposures(), _feedback(), label_spec=named)[0]["clicked"].tolist() == [1, 0]


def test_now_sets_how_far_the_labels_are_known() -> None:
    later, report = labelled_exposures(_exposures(), _feedback(), label_spec=SPEC,
                                       now=datetime(2026, 1, 1, 3, tzinfo=UTC))
    assert later["label"].to_dict() == {7: 1, 8: 0, 9: 1} and report.censored == 0
    earlier, report = labelled_exposures(_exposures(), _feedback(), label_spec=SPEC,
                                         now=datetime(2026, 1, 1, 1, 40, tzinfo=UTC))
    assert earlier["label"].to_dict() == {7: 1, 8: 0}  # r3 comes after now
    assert (report.exposures, report.censored, report.positives) == (3, 1, 1)
    found = performance(_exposures(), earlier["label"], task="binary", n_boot=0)
    assert found.overall.labelled == 2 and found.notes[0].startswith("33% of the exposures have no label yet")


def test_a_label_column_cannot_come_from_the_feedback_log() -> None:
    with pytest.raises(MonitoringError, match=r"label\.column: the label is the column 'churned'"):
        labelled_exposures(_exposures(), _feedback(), label_spec=LabelSpec(column="churned"))


# -- clear errors ---------------------------------------------------------------------------------

def test_an_empty_window_names_the_window_and_the_deployment() -> None:
    frame = _frame(np.array([0.2, 0.4]), deployment=["feed", "feed"])
    start, end = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)
    with pytest.raises(MonitoringError) as info:
        performance(frame, None, task="binary", start=start, end=end, deployment="feed")
    assert str(info.value) == ("no exposures between 2026-01-05T00:00:00+00:00 and 2026-01-06T00:00:00+00:00 for "
                               "deployment feed: check --window")
    with pytest.raises(MonitoringError, match=r"^no exposures between the beginning of the log and its end for "
                                              r"deployment sim: check --window$"):
        performance(frame, None, task="binary", deployment="sim")


def test_a_missing_or_empty_score_column_is_refused() -> None:
    with pytest.raises(MonitoringError, match="the exposures have no column 'score' \\(their columns: ts, p\\)"):
        performance(pd.DataFrame({"ts": [T0], "p": [0.5]}), None, task="binary")
    with pytest.raises(MonitoringError, match="every one of the 2 exposures has a null score"):
        performance(_frame(np.array([np.nan, np.nan])), None, task="binary")
    with pytest.raises(MonitoringError, match="must be the positive class's probability, in \\[0, 1\\]"):
        performance(_frame(np.array([0.5, 2.5])), None, task="binary")


def test_labels_of_the_wrong_length_or_index_are_refused() -> None:
    frame = _frame(np.array([0.1, 0.5, 0.9]))
    with pytest.raises(MonitoringError, match=r"^labels hold 2 values \(shape \(2,\)\) for 3 exposures: give one "
                                              r"label per exposure row"):
        performance(frame, np.array([0, 1]), task="binary")
    with pytest.raises(MonitoringError, match="1 of the 2 labels have an index the exposures do not have"):
        performance(frame, pd.Series([0, 1], index=[0, 99]), task="binary")
    with pytest.raises(MonitoringError, match="binary labels must be 0/1, got 2"):
        performance(frame, np.array([0, 1, 2]), task="binary")


def test_bad_options_are_refused() -> None:
    frame = _frame(np.array([0.1, 0.5]))
    with pytest.raises(MonitoringError, match="period: expected a positive fixed length like '1D'"):
        performance(frame, None, task="binary", period="1M")
    with pytest.raises(MonitoringError, match="'ndcg' is not a binary metric"):
        performance(frame, None, task="binary", metric="ndcg")
    with pytest.raises(MonitoringError, match="has no time zone"):
        performance(frame, None, task="binary", start=datetime(2026, 1, 1))


# -- acceptance on the simulator ------------------------------------------------------------------

def _daily_gaps(found: object) -> list[float]:
    gaps = []
    for period in found.periods:  # type: ignore[attr-defined]
        realised = period.realised["roc_auc"]
        if period.labelled:
            gaps.append(abs(period.estimated["roc_auc"] - realised.value))
    return gaps


def test_estimate_is_within_002_auc_of_realised_on_the_simulator_with_true_probabilities() -> None:
    """The issue's acceptance, fast: the simulator's true click probabilities as the (calibrated) scores."""
    config = SimConfig(seed=1, n_users=5000, n_posts_per_day=200, n_authors=200, days=3)
    exposures, feedback, truth = FeedSimulator(config).run_frames()
    exposures = exposures.merge(truth[["request_id", "item_id", "true_p"]], on=["request_id", "item_id"], how="left",
                                validate="1:1")
    exposures["score"] = exposures["true_p"]
    clicked = feedback.loc[feedback["event"] == "click", ["request_id", "item_id"]].drop_duplicates()
    labels = exposures[["request_id", "item_id"]].merge(clicked.assign(clicked=1.0), how="left")["clicked"].fillna(0.0)
    found = performance(exposures, labels.to_numpy(), task="binary", metrics=["roc_auc"], n_boot=0)
    gaps = _daily_gaps(found)
    assert len(gaps) == 3 and max(gaps) <= 0.02, gaps
    assert all(p.rows > 40_000 for p in found.periods)


@dataclass(frozen=True)
class TrainedFeed:
    later: pd.DataFrame        # three later days of exposures, scored by the trained model
    labels: pd.Series          # their labels from the feedback log (the spec's 30-minute click window)
    p_label: np.ndarray        # the simulator's probability of each label: a click within 30 minutes
    found: Performance


@pytest.fixture(scope="module")
def trained_feed(tmp_path_factory: pytest.TempPathFactory) -> TrainedFeed:
    """A LightGBM model trained by ``loopline.loop.train`` on days 0-2 of a simulated feed (the demo's spec),
    scoring days 3-5 of the same world (no drift configured)."""
    import yaml

    from loopline.events import EventLog
    from loopline.loop import demo_spec, train
    from loopline.spec import ProblemSpec
    from loopline.workspace import Workspace

    root = tmp_path_factory.mktemp("feed")
    ws = Workspace.open(root / "ws", env={})
    log = EventLog.for_workspace(ws)
    config = SimConfig(seed=2, n_users=5000, n_posts_per_day=200, n_authors=200, days=6)
    FeedSimulator(config).run(log)
    cut = config.start + timedelta(days=3)
    spec = demo_spec(log)
    spec["data"] = {"source": [str(p) for p in log.segments("exposures", start=config.start, end=cut)]}
    spec["models"] = {"candidates": ["lightgbm"]}
    path = root / "loopline.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    problem = ProblemSpec.load(path)
    outcome = train(problem, ws, n_boot=10)
    later = log.read("exposures", start=cut, end=config.start + timedelta(days=6))
    later["score"] = outcome.trained[outcome.best].predict(later)
    labelled, report = labelled_exposures(later, log.read("feedback"), label_spec=problem.label)
    assert report.censored == 0
    truth = pd.read_parquet(log.root / "_simulation" / "truth.parquet", columns=["request_id", "item_id", "true_p"])
    true_p = later[["request_id", "item_id"]].merge(truth, how="left", validate="1:1")["true_p"].to_numpy()
    # Click delays are independent of everything and a share late_click_share of them exceed 30 minutes.
    p_label = (1.0 - config.late_click_share) * true_p
    labels = labelled[problem.label.name]
    found = performance(later, labels, task="binary", metrics=["roc_auc"], n_boot=50)
    return TrainedFeed(later, labels, p_label, found)


@pytest.mark.slow
def test_trained_model_estimate_is_exact_given_the_world_and_realised_agrees(trained_feed: TrainedFeed) -> None:
    """With each label's true probability the expected AUC of the model's scores is within 0.02 of the
    realised AUC every day: the estimator is right on a real model's scores; only the probabilities it is
    given can be wrong."""
    days = trained_feed.later["ts"].dt.floor("D")
    scores, labels = trained_feed.later["score"].to_numpy(), trained_feed.labels.to_numpy()
    for period in trained_feed.found.periods:
        at = (days == pd.Timestamp(period.start)).to_numpy()
        assert at.sum() == period.rows > 40_000
        expected = estimate_binary(scores[at], probabilities=trained_feed.p_label[at])["roc_auc"]
        realised = skm.roc_auc_score(labels[at], scores[at])
        assert period.realised["roc_auc"] is not None and period.realised["roc_auc"].value == pytest.approx(realised)
        assert abs(expected - realised) <= 0.02, (period.start, expected, realised)


@pytest.mark.slow
def test_estimate_recalibrated_on_the_previous_labelled_day_is_within_002_auc(trained_feed: TrainedFeed) -> None:
    """The issue's acceptance with the model's own scores, as ``check`` estimates: each later day's AUC estimated
    from the scores recalibrated on the day before (its labels known), against the realised AUC (measured here:
    gaps 0.014 and 0.002, against 0.024 and 0.023 from the raw scores)."""
    later, labels = trained_feed.later, trained_feed.labels
    days = later["ts"].dt.floor("D")
    order = sorted(days.unique())
    scores = later["score"].to_numpy()
    outcomes = labels.reindex(later.index).to_numpy(dtype=float)
    gaps = []
    for previous, day in itertools.pairwise(order):
        reference = (days == previous).to_numpy() & np.isfinite(outcomes)
        current = (days == day).to_numpy()
        found = performance(later[current], labels[labels.index.isin(later.index[current])], task="binary",
                            metrics=["roc_auc"], n_boot=0, reference=(scores[reference], outcomes[reference]))
        period = found.periods[0]
        assert period.realised["roc_auc"] is not None
        gaps.append(abs(period.estimated["roc_auc"] - period.realised["roc_auc"].value))
    assert len(gaps) == 2 and max(gaps) <= 0.02, gaps


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "the issue's acceptance with the model's own scores is not met: the LightGBM model of the demo spec is "
    "calibrated on its validation split but under-confident on later days (in the top score decile about 10% click "
    "where the score says 8.6%), so the estimate from its scores runs 0.02-0.03 below the realised AUC. "
    "Recalibrating on the validation split does not help, since the model is calibrated there; with the true "
    "probabilities the estimate is within 0.02, and so it is recalibrated on the previous day, as check() does "
    "(the tests above)."))
def test_estimate_is_within_002_auc_of_realised_for_a_model_trained_on_earlier_days(trained_feed: TrainedFeed) -> None:
    """The issue's acceptance with a trained model: a model trained on the first days scores three later days of
    the same world (no concept drift configured); its estimated AUC should be within 0.02 of the realised one."""
    gaps = _daily_gaps(trained_feed.found)
    assert len(gaps) == 3 and max(gaps) <= 0.02, gaps
