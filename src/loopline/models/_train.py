"""Training: the baselines, then the spec's candidates, each calibrated and given a threshold on validation.

Post-processing is the same for every family (see ``_model.py``): probabilities (binary, and ranking
on 0/1 relevance with a logistic model) are corrected for negative downsampling; candidates' are
then calibrated when that lowers the cross-fitted validation log-loss; binary models, baselines
included, get the decision threshold from the spec's costs or floor.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from loopline._errors import ModelError
from loopline._progress import SILENT, Progress
from loopline.data import Splits, rates_differ
from loopline.models._baselines import fit_constant, fit_heuristic, fit_random
from loopline.models._calibration import choose_calibrator
from loopline.models._lightgbm import RankingMetric, check_lightgbm_params, fit_lightgbm
from loopline.models._linear import fit_linear
from loopline.models._model import TASK_LINKS, Fitted, Model, Scorer
from loopline.models._rule import referenced_columns
from loopline.models._targets import Targets, prepare_targets
from loopline.models._threshold import choose_threshold
from loopline.models._types import TrainedModel
from loopline.spec import ProblemSpec


def check_params(spec: ProblemSpec) -> None:
    """The spec's model parameters, checked without data (:class:`~loopline.SpecError` naming the key):
    ``models.lightgbm`` values LightGBM would refuse. Run before anything is read or recorded."""
    check_lightgbm_params(spec)


def train_baselines(splits: Splits, spec: ProblemSpec) -> list[TrainedModel]:
    """``constant``, ``random`` and, when the spec sets ``baseline.rule``, ``heuristic``."""
    targets = prepare_targets(splits, spec)
    n_classes = None if targets.classes is None or spec.task != "multiclass" else len(targets.classes)
    builders: list[tuple[str, tuple[str, ...], Callable[[], Scorer]]] = [
        ("constant", (), lambda: fit_constant(spec.task, targets.y_train, n_classes)),
        ("random", (), lambda: fit_random(spec.task, targets.y_train, n_classes, seed=spec.seed)),
    ]
    rule = spec.baseline.rule
    if rule:
        columns = [str(c) for c in targets.train.columns]
        used = referenced_columns(rule, columns)
        if splits.label in used:
            raise ModelError(f"baseline.rule {rule!r} uses the label column '{splits.label}'; a baseline may only use "
                             "what is known at prediction time. Fix baseline.rule in loopline.yaml.")
        builders.append(("heuristic", used,
                         lambda: fit_heuristic(spec.task, rule, targets.train, targets.y_train, n_classes)))
    models: list[TrainedModel] = []
    for name, features, build in builders:
        clock = time.perf_counter()
        scorer = build()
        fitted = Fitted(scorer, TASK_LINKS[spec.task], {}, scorer.margin(targets.valid))
        model = _assemble(name, fitted, targets, spec, features=features, is_baseline=True)
        model.params = {**scorer.state(), **model.params}
        model.fit_seconds = time.perf_counter() - clock
        models.append(model)
    return models


def train_candidates(splits: Splits, spec: ProblemSpec, *, progress: Progress = SILENT,
                     ranking_metric: RankingMetric | None = None) -> list[TrainedModel]:
    """One model per ``models.candidates`` entry (``'linear'``, ``'lightgbm'``), fitted on train, early-stopped
    (LightGBM) or regularised (linear) on valid, then calibrated and thresholded on valid. ``ranking_metric``
    (``loopline.evaluation.ranking_metric(spec)``) is what a ranker judged by map or mrr early-stops on."""
    targets = prepare_targets(splits, spec)
    models: list[TrainedModel] = []
    progress.start("training candidates", total=len(spec.models.candidates))
    try:
        for kind in spec.models.candidates:
            clock = time.perf_counter()
            fitted = fit_linear(targets, splits, spec) if kind == "linear" else fit_lightgbm(
                targets, splits, spec, ranking_metric=ranking_metric)
            model = _assemble(kind, fitted, targets, spec, features=splits.features, is_baseline=False)
            model.fit_seconds = time.perf_counter() - clock
            models.append(model)
            progress.advance()
    finally:
        progress.finish()
    return models


def prior_shifted(targets: Targets) -> bool:
    """Whether validation's label rate differs from training's (corrected for negative downsampling) beyond noise."""
    y_train, y_valid = np.asarray(targets.y_train, dtype=np.float64), np.asarray(targets.y_valid, dtype=np.float64)
    positives, negatives = float(y_train.sum()), float(len(y_train) - y_train.sum())
    if targets.negative_rate is not None:
        negatives /= targets.negative_rate  # the negatives training stood for
    return rates_differ(positives, positives + negatives, float(y_valid.sum()), float(len(y_valid)))


def _assemble(name: str, fitted: Fitted, targets: Targets, spec: ProblemSpec, *, features: tuple[str, ...],
              is_baseline: bool) -> Model:
    model = Model(name=name, task=spec.task, features=features, scorer=fitted.scorer, link=fitted.link,
                  is_baseline=is_baseline, classes=targets.classes if spec.task in ("binary", "multiclass") else None,
                  negative_rate=targets.negative_rate, params=dict(fitted.params),
                  fixed={} if is_baseline else {k: v for k, v in spec.features.fixed_at_serving.items()
                                                if k in features})
    if fitted.link != "logistic":
        return model
    y = targets.y_valid
    p = model.from_margin(fitted.valid_margin)
    if not is_baseline and len(np.unique(y)) == 2:
        shifted = prior_shifted(targets)
        times = targets.valid[spec.event_time].to_numpy() if spec.event_time in targets.valid.columns else None
        model.calibrator, losses = choose_calibrator(spec.models.calibration, p, y, seed=spec.seed, times=times,
                                                     shape_only_fit=shifted)
        model.params["calibration"] = {"setting": spec.models.calibration, "kept": model.calibration,
                                       "crossfit_valid_log_loss": losses, "judged_on": "later and earlier half of "
                                       "validation" if times is not None else "random halves of validation",
                                       "shape_only": shifted}
        if model.calibrator is not None:
            p = model.calibrator.apply(p)
    if spec.task == "binary":
        try:
            model.threshold = choose_threshold(y, p, spec.decision)
        except ModelError as exc:
            if not is_baseline:
                raise ModelError(f"model '{name}': {exc}") from exc
            # A baseline that cannot meet the precision floor acts on no row.
            model.threshold = float(np.nextafter(p.max(), np.inf))
            model.params["threshold_note"] = str(exc)
    return model
