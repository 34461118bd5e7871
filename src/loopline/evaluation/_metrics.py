"""``compute_metrics``: every metric of a task, checked inputs, one prepared scorer per task.

A scorer is prepared once from labels and predictions and computes its metrics under weights over
its ``units`` (rows; queries for ranking). ``compute()`` with no weights is the point estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from loopline._errors import EvaluationError
from loopline.evaluation._binary import BinaryScorer
from loopline.evaluation._checks import (
    as_binary_labels,
    as_float_labels,
    as_labels,
    as_scores,
    check_names,
    check_probabilities,
    need_both_classes,
)
from loopline.evaluation._multiclass import MulticlassScorer, class_indices
from loopline.evaluation._ranking import RankingScorer, as_ks
from loopline.evaluation._regression import RegressionScorer
from loopline.spec import METRICS, Gain, ProblemSpec, Task

# Binary metrics left undefined by labels without positives, and by labels without negatives.
_NEED_POSITIVES = ("roc_auc", "pr_auc", "normalized_entropy", "calibration_ratio")
_NEED_NEGATIVES = ("roc_auc", "normalized_entropy")


class Scorer(Protocol):
    names: tuple[str, ...]
    units: int

    def compute(self, weights: np.ndarray | None = None) -> dict[str, float]: ...


def make_scorer(task: Task, y_true: Any, prediction: Any, *, threshold: float | None = None,
                groups: Any = None, k: int | Sequence[int] = 10, gain: Gain = "exponential",
                relevant_at: float | None = None, classes: Sequence[Any] | None = None,
                names: Sequence[str] | None = None, who: str = "the model",
                where: str = "the data") -> Scorer:
    """Check the inputs and prepare the scorer of ``task``; errors name ``who`` and ``where``.

    ``k`` is the cut-off of the @k metrics, or several for ranking (the first is the primary one, each other adds
    ``ndcg@<k>``); ``gain`` and ``relevant_at`` define NDCG's gain and the relevance threshold of map and mrr
    (see ``evaluation._ranking``).
    """
    if task not in METRICS:
        raise EvaluationError(f"unknown task '{task}'; expected one of {', '.join(METRICS)}")
    ks = as_ks(k)
    if not ks or min(ks) < 1:
        raise EvaluationError(f"k must be a positive number of items, got {', '.join(map(str, ks)) or 'none'}")
    if gain not in ("exponential", "linear"):
        raise EvaluationError(f"gain must be 'exponential' or 'linear', got {gain!r}")
    wanted = check_names(task, names, ks=ks)
    y = as_labels(y_true, where=where)
    n = len(y)
    if task == "binary":
        labels = as_binary_labels(y, where=where)
        p = as_scores(prediction, n, who=who, where=where)
        check_probabilities(p, who=who, where=where)
        undefined = _NEED_POSITIVES if labels.sum() == 0 else _NEED_NEGATIVES
        needs = [m for m in wanted if m in undefined]
        if needs:
            need_both_classes(labels, needs, where=where)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise EvaluationError(f"the decision threshold of {who} must lie in [0, 1], got {threshold}")
        return BinaryScorer(labels, p, threshold=0.5 if threshold is None else threshold, names=wanted)
    if task == "regression":
        return RegressionScorer(as_float_labels(y, where=where), as_scores(prediction, n, who=who, where=where),
                                names=wanted)
    if task == "multiclass":
        proba = as_scores(prediction, n, who=who, where=where, ndim=2)
        check_probabilities(proba, who=who, where=where)
        index = class_indices(y, classes, proba.shape[1], where=where)
        return MulticlassScorer(index, proba, k=ks[0], names=wanted)
    relevance = as_float_labels(y, where=where)
    if (relevance < 0).any():
        raise EvaluationError(f"relevance labels of {where} must be >= 0, got {relevance.min():g}")
    score = as_scores(prediction, n, who=who, where=where)
    if groups is None:
        raise EvaluationError(
            f"ranking metrics of {where} need groups: the query (request) id of each row, as named by "
            "'group' in loopline.yaml"
        )
    group_values = np.asarray(groups)
    if group_values.shape != (n,):
        raise EvaluationError(f"groups of {where} must hold one query id per row ({n}), got shape {group_values.shape}")
    if not (relevance > 0).any():
        raise EvaluationError(
            f"no query of {where} has a relevant item (every label is 0), so ndcg, map and mrr are undefined; "
            "evaluate on a window with positive feedback"
        )
    if relevant_at is not None and not relevant_at > 0:
        raise EvaluationError(f"relevant_at must be above 0 (a relevance grade), got {relevant_at:g}")
    return RankingScorer(relevance, score, group_values, k=ks, gain=gain, relevant_at=relevant_at, names=wanted)


def compute_metrics(task: Task, y_true: np.ndarray, prediction: np.ndarray, *, threshold: float | None = None,
                    groups: np.ndarray | None = None, k: int | Sequence[int] = 10, gain: Gain = "exponential",
                    relevant_at: float | None = None, classes: Sequence[Any] | None = None,
                    names: Sequence[str] | None = None) -> dict[str, float]:
    """The metrics of ``task`` (all of ``METRICS[task]``, or ``names``) for ``prediction`` against ``y_true``.

    ``prediction`` is what ``TrainedModel.predict`` returns: the positive-class probability (binary),
    class probabilities in the column order of ``classes`` (multiclass), the value (regression) or a
    score per item (ranking, with the query id of each row in ``groups``). Binary metrics at a
    threshold predict positive when ``p >= threshold`` (default 0.5). Ranking adds ``roc_auc`` and
    ``log_loss`` only when the labels are 0/1 (and ``log_loss`` only for scores in [0, 1]), and
    ``ndcg@<k>`` for each cut-off of ``k`` after the first.

    >>> import numpy as np
    >>> m = compute_metrics("regression", np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 4.0]))
    >>> round(m["mae"], 4), round(m["r2"], 4)
    (0.3333, 0.7857)
    """
    return make_scorer(task, y_true, prediction, threshold=threshold, groups=groups, k=k, gain=gain,
                       relevant_at=relevant_at, classes=classes, names=names).compute()


def ranking_metric(spec: ProblemSpec) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float] | None:
    """The spec's primary ranking metric as a function of (relevance, scores, query ids), with the spec's cut-offs,
    gain and relevance threshold: what a ranker judged by map or mrr early-stops on
    (``models.train_candidates(..., ranking_metric=...)``). None for other tasks."""
    if spec.task != "ranking":
        return None
    metric = spec.primary_metric

    def measure(relevance: np.ndarray, score: np.ndarray, query: np.ndarray) -> float:
        scorer = make_scorer("ranking", relevance, score, groups=query, names=[metric], where="the valid split",
                             **spec.metrics.scoring)
        return float(scorer.compute().get(metric, float("nan")))

    return measure
