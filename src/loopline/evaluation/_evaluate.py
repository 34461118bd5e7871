"""``evaluate``: everything computed about one model on one split, returned as an :class:`Evaluation`.

The model is scored next to the ``others`` (baselines and other candidates) and ``references``
(score arrays from outside, such as the simulator's true probabilities), all on the same rows and the
same bootstrap resamples. The others and references get fewer resamples than the model
(``min(n_boot, max(50, n_boot // 4))``): their intervals are context, the model's are the result.
Binary references are judged at the model's threshold, so precision and recall compare like for like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import EvaluationError
from loopline._progress import SILENT, Progress
from loopline.evaluation._binary import confusion
from loopline.evaluation._bootstrap import bootstrap_scorer
from loopline.evaluation._curves import (
    cost_curve,
    other_curves,
    pr_curve,
    predicted_actual,
    reliability_curve,
    roc_curve,
)
from loopline.evaluation._explain import explain_rows, extreme_rows, mistakes, signed_coefficients, top_importance
from loopline.evaluation._fairness import fairness
from loopline.evaluation._lift import improvement, lift, paired_improvement
from loopline.evaluation._metrics import make_scorer
from loopline.evaluation._multiclass import class_indices
from loopline.evaluation._over_time import as_utc, over_time
from loopline.evaluation._ranking import RankingScorer
from loopline.evaluation._ranking_summary import scoring_options, summarize_ranking
from loopline.evaluation._slices import compute_slices, worst_slices
from loopline.evaluation._types import Curve, Evaluation, ModelScores
from loopline.models import TrainedModel
from loopline.spec import METRICS, ProblemSpec, Task, metric_labels

_MIN_OTHER_BOOT = 50
_SUBSET_BOOT = 100  # resamples for the intervals of slice gaps and of points over time


@dataclass(frozen=True)
class _Entry:
    """One scorer on the split: who, in which role, its predictions and decision threshold."""

    name: str
    role: str
    prediction: np.ndarray
    threshold: float | None


@dataclass(frozen=True)
class _Split:
    """The evaluated rows as metrics need them: labels (class indices for multiclass), query ids."""

    task: Task
    labels: np.ndarray
    groups: np.ndarray | None
    classes: tuple[Any, ...] | None
    k: int | tuple[int, ...]
    where: str
    options: Mapping[str, Any] = field(default_factory=dict)
    """Ranking: ``gain`` and the resolved ``relevant_at`` (see ``evaluation._ranking_summary.scoring_options``)."""

    def measure(self, prediction: np.ndarray, threshold: float | None, metric: str, rows: np.ndarray) -> float:
        """``metric`` on a subset of rows; NaN where it is undefined (one class only, nothing relevant)."""
        try:
            scorer = make_scorer(self.task, self.labels[rows], prediction[rows], threshold=threshold,
                                 groups=None if self.groups is None else self.groups[rows], k=self.k,
                                 classes=self.classes, names=[metric], where=self.where, **self.options)
        except EvaluationError:
            return float("nan")
        return scorer.compute().get(metric, float("nan"))

    def resample(self, prediction: np.ndarray, threshold: float | None, metric: str, rows: np.ndarray,
                 n_boot: int, seed: int) -> tuple[float, np.ndarray]:
        """``metric`` on a subset of rows and ``n_boot`` bootstrap draws of it (resampling those rows, or
        their queries); NaN where undefined."""
        value = self.measure(prediction, threshold, metric, rows)
        if n_boot < 1 or not np.isfinite(value):
            return value, np.empty(0)
        scorer = make_scorer(self.task, self.labels[rows], prediction[rows], threshold=threshold,
                             groups=None if self.groups is None else self.groups[rows], k=self.k,
                             classes=self.classes, names=[metric], where=self.where, **self.options)
        rng = np.random.default_rng(seed)
        draws = np.empty(n_boot)
        for b in range(n_boot):
            weights = np.bincount(rng.integers(0, scorer.units, scorer.units), minlength=scorer.units)
            draws[b] = scorer.compute(weights.astype(np.float64)).get(metric, float("nan"))
        return value, draws


def evaluate(model: TrainedModel, frame: pd.DataFrame, spec: ProblemSpec, *, label: str, time: str,
             split: str = "test", others: Sequence[TrainedModel] = (),
             references: Mapping[str, np.ndarray] | None = None, n_boot: int = 200, seed: int = 0,
             champion: TrainedModel | None = None, champion_name: str = "champion",
             progress: Progress = SILENT) -> Evaluation:
    """Metrics with bootstrap intervals for ``model`` and each of ``others`` and ``references``, the
    model's lift over each baseline, and (where they apply to the task) curves, slices, worst
    slices, fairness, importance, explanations, confident mistakes and the metric over time.

    ``champion`` (the model currently in production, scored as ``champion_name`` with the role
    ``champion``) adds the paired improvement of the primary metric over it (``Evaluation.champion``)."""
    task = spec.task
    where = f"the {split} split"
    refs = dict(references or {})
    _check_frame(frame, spec, label=label, time=time, where=where)
    _check_models(model, [*others, *([] if champion is None else [champion])], refs, task,
                  renamed={} if champion is None else {id(champion): champion_name})
    metric = spec.primary_metric
    names = list(dict.fromkeys([metric, *spec.metrics.report, *METRICS[task]]))
    names += [f"ndcg@{k}" for k in spec.metrics.other_k if task == "ranking" and f"ndcg@{k}" not in names]
    options = scoring_options(spec, frame[label].to_numpy())  # ranking: gain, relevant_at resolved once
    rankers: dict[str, tuple[str, RankingScorer]] = {}
    progress.start(f"evaluating {model.name} on the {split} split",
                   total=len(others) + len(refs) + 7 + (champion is not None))

    threshold = (0.5 if model.threshold is None else model.threshold) if task == "binary" else model.threshold
    entries = [_Entry(model.name, "model", _predict(model, frame), threshold)]
    for other in others:
        other_threshold = (0.5 if other.threshold is None else other.threshold) if task == "binary" else None
        entries.append(_Entry(other.name, "baseline" if other.is_baseline else "candidate",
                              _predict(other, frame), other_threshold))
    if champion is not None:
        champion_threshold = (0.5 if champion.threshold is None else champion.threshold) if task == "binary" else None
        entries.append(_Entry(champion_name, "champion", _predict(champion, frame), champion_threshold))
    entries += [_Entry(name, "reference", np.asarray(values), threshold) for name, values in refs.items()]
    progress.advance()

    raw_labels = frame[label].to_numpy()
    groups = frame[spec.group].to_numpy() if task == "ranking" and spec.group is not None else None
    scores = []
    paired: dict[str, _Entry] = {}  # the model and the champion, for the paired comparison
    for entry in entries:
        who = f"{entry.role} '{entry.name}'" if entry.role == "reference" else f"model '{entry.name}'"
        scorer = make_scorer(task, raw_labels, entry.prediction, threshold=entry.threshold, groups=groups,
                             k=spec.metrics.ks, classes=model.classes, names=names, who=who, where=where, **options)
        if isinstance(scorer, RankingScorer) and entry.role != "reference":
            rankers[entry.name] = (entry.role, scorer)
        boots = n_boot if entry.role == "model" else min(n_boot, max(_MIN_OTHER_BOOT, n_boot // 4))
        scores.append(ModelScores(entry.name, entry.role, bootstrap_scorer(scorer, n_boot=boots, seed=seed)))
        if entry.role in ("model", "champion"):
            paired[entry.role] = entry
        progress.advance()
    point = {s.name: {k: v.value for k, v in s.metrics.items()} for s in scores}
    if metric not in point[model.name]:
        scores_too = " and scores in [0, 1]" if metric == "log_loss" else ""
        raise EvaluationError(
            f"the primary metric '{metric}' needs 0/1 relevance labels{scores_too}, which '{label}' of {where} "
            f"and model '{model.name}' do not give; set metrics.primary in loopline.yaml to ndcg, map or mrr"
        )

    data = _Split(task, _metric_labels(task, raw_labels, model, entries[0].prediction, where), groups,
                  tuple(range(entries[0].prediction.shape[1])) if task == "multiclass" else None,
                  spec.metrics.ks, where, options)
    prediction = entries[0].prediction.astype(np.float64)
    binary = task == "binary"
    cut = 0.5 if threshold is None else threshold  # the binary decision threshold
    curves = _curves(data.labels, prediction, spec) if binary else {}
    if binary:
        curves.update(other_curves(data.labels, [(e.name, e.prediction) for e in entries[1:]]))
    if task == "regression":
        curves["predicted_actual"] = predicted_actual(data.labels, prediction, seed=seed)
    progress.advance()
    resample_boot = min(n_boot, _SUBSET_BOOT)

    def resample(rows: np.ndarray, boots: int) -> tuple[float, np.ndarray]:
        return data.resample(prediction, threshold, metric, rows, boots, seed)

    def label_rate(rows: np.ndarray) -> float | None:
        return None if task == "multiclass" else float(data.labels[rows].mean())

    slices = compute_slices(frame, spec.slices, metric=metric, overall=point[model.name][metric],
                            resample=resample, label_rate=label_rate, n_boot=resample_boot)
    progress.advance()
    fair = [fairness(a, frame[a], data.labels, prediction, cut) for a in spec.sensitive] if binary else []
    progress.advance()
    explained = _explanations(model, frame, task, data.labels, prediction)
    wrong = [] if task == "ranking" else mistakes(model, frame, task, data.labels, prediction,
                                                  threshold=cut, label=label, entity=spec.entity)
    progress.advance()
    timeline = over_time(as_utc(frame[time], column=time, where=where), resample, n_boot=resample_boot)
    versus = None
    if "champion" in paired:
        pair = [make_scorer(task, raw_labels, paired[r].prediction, threshold=paired[r].threshold, groups=groups,
                            k=spec.metrics.ks, classes=model.classes, names=[metric], where=where, **options)
                for r in ("model", "champion")]
        versus = paired_improvement(pair[0], pair[1], metric, other_name=paired["champion"].name,
                                    n_boot=n_boot, seed=seed)
    progress.advance()
    progress.finish()
    return Evaluation(
        model=model.name, split=split, task=task, rows=len(frame), primary_metric=metric, scores=scores,
        lift={s.name: lift(point[model.name], point[s.name]) for s in scores if s.role == "baseline"},
        improvement={s.name: improvement(point[model.name], point[s.name]) for s in scores if s.role == "baseline"},
        threshold=threshold, confusion=confusion(data.labels, prediction, cut) if binary else None,
        curves=curves, slices=slices, worst_slices=worst_slices(slices), fairness=fair,
        importance=top_importance(model), explanations=explained, mistakes=wrong, over_time=timeline,
        coefficients=signed_coefficients(model), champion=versus,
        metric_labels=metric_labels(task, spec.metrics, relevant_at=options.get("relevant_at")),
        ranking=summarize_ranking(rankers, model=model.name, primary=metric, n_boot=n_boot, seed=seed)
        if rankers else None,
    )


def _predict(model: TrainedModel, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(frame))


def _metric_labels(task: Task, raw: np.ndarray, model: TrainedModel, prediction: np.ndarray, where: str) -> np.ndarray:
    if task == "multiclass":
        return class_indices(raw, model.classes, prediction.shape[1], where=where)
    return np.asarray(raw, dtype=np.float64)


def _curves(y: np.ndarray, p: np.ndarray, spec: ProblemSpec) -> dict[str, Curve]:
    return {
        "roc": roc_curve(y, p),
        "pr": pr_curve(y, p),
        "reliability": reliability_curve(y, p),
        "cost": cost_curve(y, p, false_positive_cost=spec.decision.false_positive_cost,
                           false_negative_cost=spec.decision.false_negative_cost),
    }


def _explanations(model: TrainedModel, frame: pd.DataFrame, task: Task, y: np.ndarray,
                  prediction: np.ndarray) -> list[Any]:
    score = prediction.max(axis=1) if task == "multiclass" else prediction
    rows = extreme_rows(score)
    return explain_rows(model, frame, rows, score, [float(y[r]) for r in rows])


def _check_frame(frame: pd.DataFrame, spec: ProblemSpec, *, label: str, time: str, where: str) -> None:
    shown = ", ".join(map(str, list(frame.columns)[:12])) + (", ..." if frame.shape[1] > 12 else "")
    needed = [("label", label), ("time", time)]
    if spec.task == "ranking" and spec.group is not None:
        needed.append(("group (the query id)", spec.group))
    for what, column in needed:
        if column not in frame.columns:
            raise EvaluationError(f"{where} has no {what} column '{column}'; its columns are {shown}")
    for key in ("slices", "sensitive"):
        for column in getattr(spec, key):
            if column not in frame.columns:
                raise EvaluationError(
                    f"{spec.source_name}, {key}: column '{column}' is not in {where} (its columns are {shown}); "
                    f"remove it from '{key}' or keep the column in the data"
                )
    if len(frame) == 0:
        raise EvaluationError(f"{where} has no rows to evaluate; check the split dates and the filters")


def _check_models(model: TrainedModel, others: Sequence[TrainedModel], refs: Mapping[str, np.ndarray],
                  task: Task, *, renamed: Mapping[int, str] | None = None) -> None:
    """Distinct names (``renamed``: the name a model is scored under, by ``id``) and the spec's task."""
    seen: set[str] = set()
    shown = dict(renamed or {})
    for name in [model.name, *(shown.get(id(o), o.name) for o in others), *refs]:
        if name in seen:
            raise EvaluationError(
                f"two of the evaluated models and references are named '{name}'; give each a distinct name"
            )
        seen.add(name)
    for m in [model, *others]:
        if m.task != task:
            raise EvaluationError(
                f"model '{m.name}' was trained for a {m.task} task but the spec's task is {task}; "
                "evaluate it against a spec of its own task"
            )
