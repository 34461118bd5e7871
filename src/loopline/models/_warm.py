"""Warm start: continue a champion's LightGBM booster on a fresh window instead of retraining from scratch.

The champion's fitted preprocessor is kept as it is (its categories, target means and hash buckets stay
what the champion's trees split on) and transforms the new train and valid splits. Up to ``rounds`` new
trees are then fitted on the new train split, starting from the champion's raw score on each row, and
early-stopped on the new valid split with the champion's own LightGBM parameters. The result is the
champion's trees followed by the new ones in one booster, calibrated and given its threshold on the new
valid split exactly as a fresh candidate is (``_train._assemble``).

Why the trees are fitted from explicit initial scores and then joined, rather than with LightGBM's
``init_model``: with an init model, LightGBM replaces the initial score of every dataset, train and
valid, by the init model's raw prediction. On downsampled binary data that is wrong twice: the valid
split (never downsampled) must start from the *corrected* log-odds, so early stopping judges the
probabilities the model will serve (as for a fresh fit, see ``_lightgbm.tree_data``); and when the
fresh window was downsampled at another rate than the champion's, the train split must start from the
champion's log-odds moved to the new rate. Both offsets come from :func:`init_offsets`. The new trees
are fitted on top of those starting scores, so appending them to the champion's trees gives a booster
whose raw score keeps the champion's scale: the warm model keeps the champion's ``negative_rate``.
The joined booster is checked against the sum of its two parts on the valid rows before it is used.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from typing import Any

import lightgbm as lgb
import numpy as np

from loopline._errors import ModelError
from loopline._names import check_name
from loopline._progress import SILENT, Progress
from loopline._threads import THREAD_ALIASES, WAIT_POLICY, default_threads, openmp_settings
from loopline.data import Splits
from loopline.models._lightgbm import LightGBMScorer, TreeData, lightgbm_params, relevance_grades, train_booster
from loopline.models._model import Fitted, Model
from loopline.models._targets import Targets, prepare_targets
from loopline.models._train import _assemble
from loopline.models._types import TrainedModel
from loopline.spec import ProblemSpec

# What loopline records in a LightGBM model's params beside LightGBM's own parameters.
_RECORDS = frozenset({"max_rounds", "best_iteration", "valid_scores", "tuning", "calibration", "threshold_note",
                      "warm_start", WAIT_POLICY})
# Header lines of a LightGBM text model that describe the data a booster saw rather than what it computes.
_DATA_LINES = ("feature_infos=", "tree_sizes=")
_TREE_START = re.compile(r"^Tree=\d+\n", re.MULTILINE)
_END_OF_TREES = "end of trees"


def continue_training(champion: TrainedModel, splits: Splits, spec: ProblemSpec, *, rounds: int = 100,
                      name: str = "lightgbm-warm", version: int | None = None,
                      progress: Progress = SILENT) -> TrainedModel:
    """The champion's LightGBM booster continued on ``splits``: its trees, then up to ``rounds`` new ones.

    ``champion`` is a loaded LightGBM model (what ``Registry.load`` returns). Its preprocessor is reused
    unchanged; the new trees are early-stopped on ``splits.valid`` after ``models.early_stopping_rounds``
    rounds without improvement, with the champion's LightGBM parameters (one thread below 100,000 training
    rows unless ``models.lightgbm`` sets the count). The model is then calibrated and thresholded on
    ``splits.valid`` like any candidate. Its params record
    ``warm_start: {from_trees, added_trees, from_model, from_version, negative_rate}``.

    ``version`` (the champion's registry version) is only used to name it in messages. A champion that is
    not LightGBM, a task other than ``spec.task``, or splits without one of the champion's features raise
    :class:`~loopline.ModelError` saying to retrain in full.
    """
    clock = time.perf_counter()
    check_name(name, what="model", error=ModelError, example="lightgbm-warm")
    if rounds < 1:
        raise ModelError(f"continue_training: rounds must be at least 1 (the most trees to add), got {rounds}")
    model, scorer = _lightgbm_champion(champion, spec, version)
    _check_features(model, splits, version)
    progress.start("continuing the champion's LightGBM booster", total=1)
    try:
        targets = _champion_targets(model, splits, spec, version)
        new_rate = splits.negative_rate if spec.task == "binary" else None
        fitted, warm = _continue(model, scorer, targets, spec, rounds=rounds, new_rate=new_rate)
        result = _assemble(name, fitted, targets, spec, features=model.features, is_baseline=False)
        result.params["warm_start"] = {**warm, "from_model": model.name, "from_version": version,
                                       "negative_rate": new_rate}
        result.fit_seconds = time.perf_counter() - clock
        progress.advance()
    finally:
        progress.finish()
    return result


def init_offsets(champion_rate: float | None, new_rate: float | None) -> tuple[float, float]:
    """What to add to the champion's raw score to start the new train rows and the valid rows.

    The champion's raw score is log-odds at its own negative rate (``champion_rate``; None when it kept
    every negative). New train rows sampled at ``new_rate`` start at the log-odds of that sample,
    ``ln(champion_rate) - ln(new_rate)`` above it; valid rows are never downsampled and start at the
    corrected log-odds, ``ln(champion_rate)`` above it.

    >>> [round(v, 4) for v in init_offsets(0.2, 0.5)]
    [-0.9163, -1.6094]
    >>> init_offsets(0.25, 0.25)[0], init_offsets(None, None)
    (0.0, (0.0, 0.0))
    """
    old = 0.0 if champion_rate is None else math.log(champion_rate)
    new = 0.0 if new_rate is None else math.log(new_rate)
    return old - new, old


def _describe(champion: TrainedModel, version: int | None) -> str:
    return f"v{version}" if version is not None else f"'{champion.name}'"


def _lightgbm_champion(champion: TrainedModel, spec: ProblemSpec, version: int | None) -> tuple[Model, LightGBMScorer]:
    which = _describe(champion, version)
    scorer = champion.scorer if isinstance(champion, Model) else None
    if not isinstance(champion, Model) or not isinstance(scorer, LightGBMScorer):
        raise ModelError(f"warm start continues a LightGBM booster; champion {which} is {champion.family}: use "
                         "retrain mode 'full'")
    if champion.task != spec.task:
        raise ModelError(f"champion {which} was trained for task '{champion.task}' but the spec's task is "
                         f"'{spec.task}'; warm start cannot change the task: use retrain mode 'full'")
    return champion, scorer


def _check_features(champion: Model, splits: Splits, version: int | None) -> None:
    missing = [f for f in champion.features if f not in splits.features]
    if missing:
        raise ModelError(
            f"the splits lack feature(s) {missing} that champion {_describe(champion, version)} was trained on "
            f"(split features: {list(splits.features)}); warm start keeps the champion's features. Restore the "
            "column(s) in the data or use retrain mode 'full'."
        )


def _champion_targets(champion: Model, splits: Splits, spec: ProblemSpec, version: int | None) -> Targets:
    """The new labels, encoded with the champion's classes, carrying the champion's negative rate.

    Multiclass labels become indices of the champion's classes (the booster's outputs); a class the
    champion never saw cannot be learned by adding trees.
    """
    targets = prepare_targets(splits, spec)
    classes = targets.classes
    y_train, y_valid = targets.y_train, targets.y_valid
    if (spec.task == "multiclass" and champion.classes is not None and targets.classes is not None
            and targets.classes != champion.classes):
        known = {str(c) for c in champion.classes}
        unseen = sorted({str(c) for c in targets.classes} - known)
        if unseen:
            shown = [c.item() if isinstance(c, np.generic) else c for c in champion.classes]
            raise ModelError(
                f"label '{splits.label}' has class(es) {unseen} that champion {_describe(champion, version)} never "
                f"saw (its classes: {shown}); added trees cannot predict a new class. Use retrain "
                "mode 'full'."
            )
        index = {str(c): i for i, c in enumerate(champion.classes)}
        to_champion = np.array([index[str(c)] for c in targets.classes], dtype=np.float64)
        y_train, y_valid = to_champion[y_train.astype(np.int64)], to_champion[y_valid.astype(np.int64)]
        classes = champion.classes
    return dataclasses.replace(targets, y_train=y_train, y_valid=y_valid, classes=classes,
                               negative_rate=champion.negative_rate)


def _continue(champion: Model, scorer: LightGBMScorer, targets: Targets, spec: ProblemSpec, *, rounds: int,
              new_rate: float | None) -> tuple[Fitted, dict[str, Any]]:
    """Fit the new trees from the champion's (offset) raw scores and join them to its booster.

    ``new_rate`` is the negative rate of the new train split (None when every negative was kept).
    """
    pre, base = scorer.preprocessor, scorer.booster
    x_train, x_valid = pre.transform(targets.train), pre.transform(targets.valid)
    margin_train = np.asarray(base.predict(x_train, raw_score=True), dtype=np.float64)
    margin_valid = np.asarray(base.predict(x_valid, raw_score=True), dtype=np.float64)
    logistic = champion.link == "logistic"
    train_offset, valid_offset = init_offsets(champion.negative_rate if logistic else None,
                                              new_rate if logistic else None)
    y_train, y_valid = targets.y_train, targets.y_valid
    if spec.task == "ranking":
        y_train, y_valid = relevance_grades(y_train, y_valid)
    categorical: Any = list(pre.categorical_indices_) or "auto"
    train = lgb.Dataset(x_train, label=y_train, group=targets.group_train, init_score=margin_train + train_offset,
                        categorical_feature=categorical)
    valid = lgb.Dataset(x_valid, label=y_valid, group=targets.group_valid, init_score=margin_valid + valid_offset,
                        reference=train, categorical_feature=categorical)
    params = _params(champion, spec, len(y_train))
    added, scores = train_booster(TreeData(pre, train, valid, x_valid), params, rounds,
                                  spec.models.early_stopping_rounds)
    booster = join_boosters(base, added)
    margin = np.asarray(booster.predict(x_valid, raw_score=True), dtype=np.float64)
    parts = margin_valid + np.asarray(added.predict(x_valid, raw_score=True), dtype=np.float64)
    if added.num_trees() and not np.allclose(margin, parts, rtol=1e-9, atol=1e-9):
        raise ModelError(f"the joined booster does not predict the champion's score plus the new trees' (largest "
                         f"difference {float(np.max(np.abs(margin - parts))):.3g}); this LightGBM version "
                         f"({lgb.__version__}) writes a model text loopline cannot join. Use retrain mode 'full'.")
    used = {k: v for k, v in params.items() if k != "verbosity"}
    used.update(openmp_settings())
    used.update({"max_rounds": rounds, "best_iteration": int(booster.current_iteration()), "valid_scores": scores})
    warm = {"from_trees": int(base.num_trees()), "added_trees": int(added.num_trees())}
    return Fitted(LightGBMScorer(pre, booster), champion.link, used, margin), warm


def _params(champion: Model, spec: ProblemSpec, rows: int) -> dict[str, Any]:
    """The champion's LightGBM parameters (else the spec's), with the thread count chosen for ``rows``."""
    recorded = {k: v for k, v in champion.params.items() if k not in _RECORDS and not isinstance(v, dict)}
    if "objective" in recorded:
        params = recorded
    else:  # a champion whose params were not recorded: the spec's, as a fresh fit would use
        n_classes = len(champion.classes) if spec.task == "multiclass" and champion.classes is not None else None
        params, _ = lightgbm_params(spec, n_classes)
    params = {k: v for k, v in params.items() if k not in THREAD_ALIASES}
    chosen = [k for k in THREAD_ALIASES if k in spec.models.lightgbm]
    params["num_threads"] = spec.models.lightgbm[chosen[0]] if chosen else default_threads(rows)
    params["verbosity"] = -1
    return params


def join_boosters(first: lgb.Booster, then: lgb.Booster) -> lgb.Booster:
    """One booster whose trees are ``first``'s followed by ``then``'s: its raw score is the sum of theirs.

    Both must compute alike (same objective, classes, trees per iteration and inputs); the data they saw
    (feature ranges) may differ. The header is ``first``'s, the trailing parameters ``then``'s.
    """
    head, trees, _ = _model_parts(first.model_to_string())
    other_head, more, tail = _model_parts(then.model_to_string())
    if _computing(head) != _computing(other_head):
        raise ModelError("cannot append trees to a booster that computes differently (objective, classes or "
                         "inputs differ); use retrain mode 'full'")
    if any(line.startswith("average_output") for line in head.splitlines()):
        raise ModelError("the champion's booster averages its trees (boosting 'rf'); added trees cannot extend it. "
                         "Use retrain mode 'full'.")
    blocks = [_TREE_START.sub(f"Tree={i}\n", block, count=1) for i, block in enumerate([*trees, *more])]
    sizes = "tree_sizes=" + " ".join(str(len(block.encode("utf-8"))) for block in blocks)
    lines = [sizes if line.startswith("tree_sizes=") else line for line in head.split("\n")]
    return lgb.Booster(model_str="\n".join(lines) + "".join(blocks) + tail)


def _model_parts(text: str) -> tuple[str, list[str], str]:
    """A LightGBM text model as (header up to the first tree, one block per tree, the rest from 'end of trees')."""
    end = text.find(_END_OF_TREES)
    if end < 0:
        raise ModelError(f"a LightGBM text model without '{_END_OF_TREES}'; this LightGBM version "
                         f"({lgb.__version__}) writes a format loopline cannot join. Use retrain mode 'full'.")
    starts = [m.start() for m in _TREE_START.finditer(text, 0, end)]
    first = starts[0] if starts else end
    blocks = [text[a:b] for a, b in zip(starts, [*starts[1:], end], strict=True)]
    return text[:first], blocks, text[end:]


def _computing(head: str) -> list[str]:
    return [line for line in head.splitlines() if line and not line.startswith(_DATA_LINES)]
