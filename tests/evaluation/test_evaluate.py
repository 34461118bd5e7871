"""evaluate(): the whole Evaluation of a model on a split, with fake models meeting the protocol."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopline.evaluation as evaluation
from loopline._errors import EvaluationError
from loopline.evaluation import Evaluation, compute_metrics, evaluate
from loopline.evaluation._binary import confusion
from loopline.evaluation._curves import roc_curve
from loopline.evaluation._lift import relative_improvement
from loopline.spec import METRICS
from tests.evaluation.fakes import FakeModel, binary_frame, good_binary, make_spec, prior_baseline, sigmoid

SPEC = make_spec(slices=["plan", "x1"], sensitive=["country"], metrics={"report": ["roc_auc", "ece"]},
                 decision={"false_positive_cost": 1.0, "false_negative_cost": 5.0})


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return binary_frame(3000)


@pytest.fixture(scope="module")
def result(frame: pd.DataFrame) -> Evaluation:
    rule = FakeModel("rule", lambda f: sigmoid(f["x1"].to_numpy()), is_baseline=True, family="heuristic")
    other = FakeModel("other", lambda f: sigmoid(-1 + 0.5 * f["x1"].to_numpy()))
    return evaluate(good_binary(), frame, SPEC, label="label", time="ts", split="test",
                    others=[prior_baseline(float(frame["label"].mean())), rule, other],
                    references={"truth": frame["true_p"].to_numpy()}, n_boot=60, seed=1)


def test_scores_of_every_scorer_in_order_with_roles(result: Evaluation) -> None:
    assert [(s.name, s.role) for s in result.scores] == [
        ("good", "model"), ("prior", "baseline"), ("rule", "baseline"), ("other", "candidate"), ("truth", "reference")]
    assert list(result.metrics)[:3] == ["log_loss", "roc_auc", "ece"]  # primary, then report, then the rest
    assert set(result.metrics) == set(METRICS["binary"])
    assert (result.model, result.split, result.task, result.rows, result.primary_metric) == (
        "good", "test", "binary", 3000, "log_loss")


def test_metrics_are_compute_metrics_at_each_threshold_with_intervals(result: Evaluation, frame: pd.DataFrame) -> None:
    y = frame["label"].to_numpy()
    model = good_binary()
    expected = compute_metrics("binary", y, model.predict(frame), threshold=0.4)
    assert result.metrics == pytest.approx(expected)
    truth = compute_metrics("binary", y, frame["true_p"].to_numpy(), threshold=0.4)  # the model's threshold
    assert {k: v.value for k, v in result.scores_of("truth").metrics.items()} == pytest.approx(truth)
    rule = compute_metrics("binary", y, sigmoid(frame["x1"].to_numpy()), threshold=0.5)  # its own default
    assert {k: v.value for k, v in result.scores_of("rule").metrics.items()} == pytest.approx(rule)
    for scores in result.scores:
        for name, v in scores.metrics.items():
            if v.low is not None and v.high is not None:
                assert v.low <= v.value <= v.high, (scores.name, name)
    assert result.scores_of("good").metrics["roc_auc"].low is not None


def test_lift_over_each_baseline_only(result: Evaluation) -> None:
    assert set(result.lift) == {"prior", "rule"}
    m, b = result.metrics, {k: v.value for k, v in result.scores_of("rule").metrics.items()}
    assert result.lift["rule"]["roc_auc"] == pytest.approx((m["roc_auc"] - b["roc_auc"]) / b["roc_auc"])
    expected = relative_improvement(m["log_loss"], b["log_loss"], "log_loss")
    assert result.lift["rule"]["log_loss"] == pytest.approx(expected)
    assert result.lift["prior"]["log_loss"] > 0 and result.lift["prior"]["roc_auc"] > 0
    # no percentage for ECE or the calibration ratio; their improvement is in the metric's units
    assert {"ece", "calibration_ratio"}.isdisjoint(result.lift["rule"]) and "ece" not in result.lift["prior"]
    assert result.improvement["rule"]["ece"] == pytest.approx(b["ece"] - m["ece"])
    assert result.improvement["rule"]["roc_auc"] == pytest.approx(m["roc_auc"] - b["roc_auc"])
    assert result.to_dict()["improvement"]["prior"]["log_loss"] > 0


def test_threshold_confusion_and_curves(result: Evaluation, frame: pd.DataFrame) -> None:
    assert result.threshold == 0.4
    assert result.confusion == confusion(frame["label"].to_numpy(), good_binary().predict(frame), 0.4)
    others = ("prior", "rule", "other", "truth")
    pairs = {f"{c}:{o}" for c in ("roc", "pr") for o in others}
    assert set(result.curves) == {"roc", "pr", "reliability", "cost", *pairs}
    assert len(result.curves["roc"].x) <= 200
    rule = roc_curve(frame["label"].to_numpy(), sigmoid(frame["x1"].to_numpy()))
    assert result.curves["roc:rule"] == rule and result.curves["roc:prior"].x == [0.0, 1.0]
    reliability = result.curves["reliability"]
    assert len(reliability.x) == 20 and max(reliability.counts or []) - min(reliability.counts or []) <= 1
    cost = result.curves["cost"]
    p, y = good_binary().predict(frame), frame["label"].to_numpy()
    at = cost.x.index(0.4)
    assert cost.y[at] == pytest.approx((((p >= 0.4) & (y == 0)).sum() + 5 * ((p < 0.4) & (y == 1)).sum()) / len(y))


def test_slices_and_worst_slices(result: Evaluation, frame: pd.DataFrame) -> None:
    assert {s.column for s in result.slices} == {"plan", "x1"}
    assert len([s for s in result.slices if s.column == "x1"]) == 4  # quartiles
    p, y = good_binary().predict(frame), frame["label"].to_numpy()
    overall = result.metrics["log_loss"]
    for s in result.slices:
        if s.column == "plan":
            rows = (frame["plan"] == s.value).to_numpy()
            assert s.rows == rows.sum() and s.label_rate == pytest.approx(y[rows].mean())
            assert s.metrics["log_loss"] == pytest.approx(compute_metrics("binary", y[rows], p[rows])["log_loss"])
            assert s.gap == pytest.approx(s.metrics["log_loss"] - overall)
    assert result.worst_slices
    assert all(w.gap_low is not None and w.gap_low > 0 and w.rows >= 100 for w in result.worst_slices)
    lows = [w.gap_low or 0.0 for w in result.worst_slices]
    assert lows == sorted(lows, reverse=True)
    assert all(s.gap_low is not None and s.gap_high is not None and s.gap_low <= s.gap <= s.gap_high
               for s in result.slices)
    basic = next(s for s in result.slices if s.value == "basic")
    assert basic in result.worst_slices  # the model ignores the plan effect, so 'basic' is mis-calibrated


def test_fairness_importance_explanations_mistakes(result: Evaluation, frame: pd.DataFrame) -> None:
    [fair] = result.fairness
    assert fair.attribute == "country" and sorted(g.group for g in fair.groups) == ["de", "fr", "us"]
    assert result.importance == [("x1", 1.2), ("x2", 0.8)]
    p = good_binary().predict(frame)
    rows = [e.row for e in result.explanations]
    assert rows[:5] == np.argsort(-p)[:5].tolist() and rows[5:] == np.argsort(p)[:5].tolist()
    assert all(len(e.contributions) == 2 for e in result.explanations)
    assert len(result.mistakes) == 10 and all(m.entity is None for m in result.mistakes)  # SPEC names no entity
    assert result.coefficients == []  # not a linear model
    y = frame["label"].to_numpy()
    assert all((p[m.row] >= 0.4) != (y[m.row] == 1) for m in result.mistakes)


def test_over_time_is_daily_and_json_is_clean(result: Evaluation) -> None:
    assert len(result.over_time) == 20 and sum(t.rows for t in result.over_time) == 3000
    assert result.over_time[0].start == "2024-03-01" and all(t.rows >= 100 for t in result.over_time)
    assert all(t.low is not None and t.high is not None and t.low <= t.value <= t.high for t in result.over_time)
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert '"worst_slices"' in text


def test_the_frame_index_does_not_matter(frame: pd.DataFrame) -> None:
    relabelled = frame.set_axis([f"r{i}" for i in range(len(frame))][::-1])
    a = evaluate(good_binary(), frame, SPEC, label="label", time="ts", n_boot=0)
    b = evaluate(good_binary(), relabelled, SPEC, label="label", time="ts", n_boot=0)
    assert a == b


def test_long_windows_are_weekly() -> None:
    frame = binary_frame(800, days=100)
    found = evaluate(good_binary(), frame, make_spec(), label="label", time="ts", n_boot=0)
    assert len(found.over_time) == 6  # 15 weeks of about 55 rows (fewer in the first), merged to reach 100 rows
    assert sum(t.rows for t in found.over_time) == 800 and all(t.rows >= 100 for t in found.over_time)
    assert all(pd.Timestamp(t.start).day_of_week == 0 for t in found.over_time)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def start(self, task: str, total: float | None = None) -> None:
        self.calls.append(("start", total))

    def advance(self, amount: float = 1.0) -> None:
        self.calls.append(("advance", amount))

    def finish(self) -> None:
        self.calls.append(("finish", None))


def test_progress_is_reported() -> None:
    recorder = Recorder()
    evaluate(good_binary(), binary_frame(300), make_spec(), label="label", time="ts", n_boot=0, progress=recorder,
             others=[prior_baseline(0.3)])
    assert recorder.calls[0] == ("start", 8) and recorder.calls[-1] == ("finish", None)
    assert sum(1 for c in recorder.calls if c[0] == "advance") == 8


def _model(name: str, fn: Any, **kw: Any) -> FakeModel:
    return FakeModel(name, fn, **kw)


@pytest.mark.parametrize(
    ("model", "references", "message"),
    [
        (_model("short", lambda f: np.full(len(f) - 1, 0.5)), {},
         "model 'short' returned 299 predictions for the 300 rows of the test split"),
        (_model("holes", lambda f: np.where(f["x1"] > 1, np.nan, 0.5)), {},
         r"model 'holes' returned NaN or infinite predictions for \d+ of 300 rows of the test split"),
        (good_binary(), {"truth": np.full(300, np.nan)},
         "reference 'truth' returned NaN or infinite predictions for 300 of 300 rows"),
        (good_binary(), {"good": np.full(300, 0.5)}, "two of the evaluated models and references are named 'good'"),
        (_model("reg", lambda f: np.zeros(len(f)), task="regression"), {},
         "model 'reg' was trained for a regression task but the spec's task is binary"),
    ],
)
def test_bad_models_are_named(model: FakeModel, references: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        evaluate(model, binary_frame(300), make_spec(), label="label", time="ts", references=references, n_boot=0)


def test_one_class_labels_name_the_split() -> None:
    frame = binary_frame(200).assign(label=0)
    with pytest.raises(EvaluationError, match=r"labels of the valid split hold only one class, 0 \(negative\)"):
        evaluate(good_binary(), frame, make_spec(), label="label", time="ts", split="valid", n_boot=0)


@pytest.mark.parametrize(
    ("spec", "label", "time", "message"),
    [
        (make_spec(slices=["region"]), "label", "ts",
         r"loopline.yaml, slices: column 'region' is not in the test split \(its columns are ts, x1"),
        (make_spec(sensitive=["gender"]), "label", "ts", "sensitive: column 'gender' is not in the test split"),
        (make_spec(), "churned", "ts", "the test split has no label column 'churned'; its columns are ts, x1"),
        (make_spec(), "label", "when", "the test split has no time column 'when'"),
    ],
)
def test_missing_columns_are_named(spec: Any, label: str, time: str, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        evaluate(good_binary(), binary_frame(100), spec, label=label, time=time, n_boot=0)


def test_regression_evaluation() -> None:
    frame = binary_frame(600).assign(label=lambda f: 3 * f["x1"] + f["x2"])
    model = FakeModel("lin", lambda f: 3 * f["x1"].to_numpy(), task="regression", features=("x1", "x2"),
                      coef={"x1": 3.0})
    mean = FakeModel("mean", lambda f: np.zeros(len(f)), task="regression", is_baseline=True)
    found = evaluate(model, frame, make_spec("regression", slices=["plan"], sensitive=["country"]), label="label",
                     time="ts", others=[mean], n_boot=30)
    assert list(found.metrics) == ["rmse", "mae", "r2"]
    assert found.metrics["rmse"] == pytest.approx(np.sqrt(np.mean(frame["x2"] ** 2)))
    assert found.lift["mean"]["rmse"] > 0.5
    assert "r2" not in found.lift["mean"]  # the mean's R2 is about 0: a percentage over it means nothing
    mean_r2 = found.scores_of("mean").metrics["r2"].value
    assert found.improvement["mean"]["r2"] == pytest.approx(found.metrics["r2"] - mean_r2)
    assert (found.confusion, list(found.curves), found.fairness) == (None, ["predicted_actual"], [])
    errors = np.abs(frame["x2"].to_numpy())
    assert [m.row for m in found.mistakes] == np.argsort(-errors)[:10].tolist()
    first = found.slices[0]
    assert first.label_rate == pytest.approx(frame.loc[frame["plan"] == first.value, "label"].mean())


def test_multiclass_evaluation() -> None:
    rng = np.random.default_rng(0)
    frame = binary_frame(500)
    classes = ("low", "mid", "high")
    proba = rng.dirichlet([2, 2, 2], 500)
    frame = frame.assign(label=np.array(classes, dtype=object)[[rng.choice(3, p=row) for row in proba]])
    model = FakeModel("mc", lambda f: proba, task="multiclass", classes=classes, features=("x1",))
    found = evaluate(model, frame, make_spec("multiclass", slices=["plan"]), label="label", time="ts", n_boot=20)
    assert found.metrics == pytest.approx(compute_metrics("multiclass", frame["label"].to_numpy(), proba,
                                                          classes=classes, names=list(found.metrics)))
    assert found.slices[0].label_rate is None and found.confusion is None
    assert len(found.mistakes) == 10 and list(found.mistakes[0].values)[:2] == ["true class", "predicted class"]
    assert found.explanations == []


def _ranking_frame(n_queries: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 12, n_queries)
    query = np.repeat(np.arange(n_queries), sizes)
    quality = rng.normal(size=len(query))
    return pd.DataFrame({
        "query": query, "quality": quality, "device": rng.choice(["ios", "web"], len(query)),
        "ts": pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(query * 3, unit="h"),
        "label": (rng.random(len(query)) < sigmoid(quality - 1)).astype(int),
    })


def test_ranking_evaluation_bootstraps_queries() -> None:
    frame = _ranking_frame()
    model = FakeModel("rank", lambda f: sigmoid(f["quality"].to_numpy()), task="ranking", coef={"quality": 1.0})
    popular = FakeModel("random", lambda f: np.random.default_rng(1).random(len(f)), task="ranking", is_baseline=True)
    found = evaluate(model, frame, make_spec("ranking", slices=["device"]), label="label", time="ts", others=[popular],
                     n_boot=40)
    groups = frame["query"].to_numpy()
    assert found.metrics == pytest.approx(compute_metrics("ranking", frame["label"].to_numpy(),
                                                          model.predict(frame), groups=groups))
    assert found.lift["random"]["ndcg"] > 0
    assert found.mistakes == [] and len(found.explanations) == 10 and found.curves == {}
    assert {s.value for s in found.slices} == {"ios", "web"}


def test_ranking_primary_metric_that_needs_binary_labels() -> None:
    frame = _ranking_frame().assign(label=lambda f: f["label"] * 2)
    model = FakeModel("rank", lambda f: sigmoid(f["quality"].to_numpy()), task="ranking")
    with pytest.raises(EvaluationError, match="primary metric 'roc_auc' needs 0/1 relevance labels"):
        evaluate(model, frame, make_spec("ranking", metrics={"primary": "roc_auc"}), label="label", time="ts", n_boot=0)


def test_public_names() -> None:
    assert sorted(evaluation.__all__) == sorted([
        "Curve", "Evaluation", "FairnessSummary", "GroupFairness", "MetricValue", "Mistake", "ModelScores",
        "PairedDifference", "QueryDifference", "RankingSummary", "RowExplanation", "SliceRow", "TimePoint", "bootstrap",
        "compute_metrics",
        "evaluate", "make_scorer", "ranking_metric"])
    for name in evaluation.__all__:
        assert hasattr(evaluation, name)


@pytest.mark.slow
def test_200k_rows_with_three_others_and_a_reference_in_seconds() -> None:
    frame = binary_frame(200_000, days=30)
    spec = make_spec(slices=["plan", "country", "age"], sensitive=["country", "age"])
    others = [prior_baseline(0.35), FakeModel("rule", lambda f: sigmoid(f["x1"].to_numpy()), is_baseline=True),
              FakeModel("cand", lambda f: sigmoid(f["x1"].to_numpy() - 1))]
    start = time.perf_counter()
    found = evaluate(good_binary(), frame, spec, label="label", time="ts", others=others,
                     references={"truth": frame["true_p"].to_numpy()})
    assert time.perf_counter() - start < 20
    assert len(found.scores) == 5


def test_the_champion_is_scored_on_the_same_rows_with_a_paired_difference(frame: pd.DataFrame) -> None:
    champion = FakeModel("good", lambda f: sigmoid(-1 + 0.6 * f["x1"].to_numpy()))  # same name as the model
    found = evaluate(good_binary(), frame, make_spec(), label="label", time="ts", n_boot=100, seed=2,
                     champion=champion, champion_name="champion v3", others=[prior_baseline(0.3)])
    assert [(s.name, s.role) for s in found.scores] == [("good", "model"), ("prior", "baseline"),
                                                         ("champion v3", "champion")]
    versus = found.champion
    assert versus is not None and (versus.other, versus.metric) == ("champion v3", "log_loss")
    y = frame["label"].to_numpy()
    theirs = compute_metrics("binary", y, champion.predict(frame))["log_loss"]
    assert versus.other_value == pytest.approx(theirs)
    assert versus.model_value == pytest.approx(found.metrics["log_loss"])
    assert versus.improvement == pytest.approx(theirs - found.metrics["log_loss"])
    assert versus.low is not None and versus.high is not None and 0 < versus.low <= versus.improvement <= versus.high
    assert "roc:champion v3" in found.curves and found.lift.keys() == {"prior"}  # the champion is no baseline
    assert evaluate(good_binary(), frame, make_spec(), label="label", time="ts", n_boot=0).champion is None
    with pytest.raises(EvaluationError, match="two of the evaluated models and references are named 'prior'"):
        evaluate(good_binary(), frame, make_spec(), label="label", time="ts", n_boot=0, champion=champion,
                 champion_name="prior", others=[prior_baseline(0.3)])


def test_a_regression_keeps_its_predicted_and_actual_points() -> None:
    rng = np.random.default_rng(0)
    frame = binary_frame(600).assign(label=lambda f: 2.0 * f["x1"] + rng.normal(0, 0.5, len(f)))
    model = FakeModel("lin", lambda f: 2.0 * f["x1"].to_numpy(), task="regression")
    found = evaluate(model, frame, make_spec("regression"), label="label", time="ts", n_boot=0)
    points = found.curves["predicted_actual"]
    assert points.x == (2.0 * frame["x1"]).tolist() and points.y == frame["label"].tolist()
