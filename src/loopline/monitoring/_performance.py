"""Performance of a served model: realised once labels arrive, estimated from its scores before they do.

:func:`performance` takes a window of exposures (the event log's contract: ``ts``, ``score``, ``served``, ...)
and their labels (NaN where a label is not known yet), splits the window into periods, and gives for each
period, for the whole window (``overall``) and for each value of the slice columns:

- ``realised``: every metric of the task on the labelled rows, with a 95% percentile bootstrap interval
  (``loopline.evaluation``'s bootstrap: the same metrics, conventions and resampling as the offline
  evaluation; whole requests are resampled for ranking). ``None`` where a metric cannot be computed (no
  labelled row; one class only for ROC AUC).
- ``estimated``: the same metrics estimated from the scores of *every* scored row, labelled or not, assuming
  the scores are calibrated probabilities (confidence-based performance estimation, CBPE): binary (see
  :func:`estimate_binary`), multiclass (expected accuracy = the mean top-class probability), ranking (NDCG
  from the scores as expected gains, see :func:`estimate_ranking`). Regression has no estimate: a predicted
  value says nothing about its own error.
- ``calibration_ratio``: the sum of scores over the sum of labels on labelled rows (binary; for multiclass
  the top-class probability against the top class being right; for ranking 0/1 relevance against scores in
  [0, 1]), with its bootstrap interval. The estimate is only as good as the calibration: a ratio whose
  interval excludes 1 is reported in ``notes``. A model that is calibrated on average but under- or
  over-confident biases the estimated AUC all the same; ``reference=`` (labelled scores from elsewhere, such as
  the validation split) maps the scores through an isotonic curve fitted there before estimating.

Rows: exposures with ``served`` false (shadow scores) are left out, as are rows whose score is null
(answered by a fallback); both are counted in ``notes``. Periods of length ``period`` are laid from midnight
UTC of the window's first day (``start``, else the first exposure's); every period up to the window's end is
listed, an empty one with ``rows == 0``, so a gap shows.

Labels come from the feedback log through :func:`labelled_exposures` (``data.make_labels``), which drops
the exposures whose label window has not closed (censored) and keeps the exposures' index, so
``performance(exposures, labelled[label_name], ...)`` aligns them and counts the rest as unlabelled.

>>> import numpy as np, pandas as pd
>>> frame = pd.DataFrame({"ts": pd.to_datetime(["2026-01-01 08:00", "2026-01-01 09:00", "2026-01-01 10:00",
...                                             "2026-01-02 08:00"], utc=True),
...                       "score": [0.2, 0.5, 0.8, 0.6]})
>>> found = performance(frame, np.array([0.0, 1.0, 1.0, np.nan]), task="binary", metric="roc_auc", n_boot=0)
>>> [(str(p.start.date()), p.rows, p.labelled) for p in found.periods]
[('2026-01-01', 3, 3), ('2026-01-02', 1, 0)]
>>> found.periods[0].realised["roc_auc"].value, round(found.periods[0].estimated["roc_auc"], 4)
(1.0, 0.8571)
>>> found.notes[0]
'25% of the exposures have no label yet (their label window has not closed, or no label was given)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import EvaluationError, MonitoringError
from loopline._json import to_plain
from loopline.data import LabelReport, make_labels
from loopline.data._columns import require_columns, to_utc
from loopline.evaluation import MetricValue, bootstrap
from loopline.evaluation._bootstrap import bootstrap_scorer
from loopline.models._calibration import fit_calibrator
from loopline.monitoring._estimate import estimate_binary, estimate_ranking
from loopline.spec import DEFAULT_PRIMARY, METRICS, EventLabelSpec, Gain, LabelSpec, Task, at_k

Interval = MetricValue
"""A value with its 95% interval (``low``/``high`` None when not bootstrapped): evaluation's ``MetricValue``."""

MISSING = "(missing)"
_NEED_BOTH = ("roc_auc", "normalized_entropy")           # undefined without positives and without negatives
_NEED_POSITIVES = ("pr_auc", "calibration_ratio")       # undefined without positives
_MULTICLASS_REALISED = ("accuracy", "macro_f1")          # what a logged top class and a label can give


@dataclass(frozen=True)
class PeriodPerformance:
    """Performance on the served exposures of ``[start, end)`` (see the module docstring)."""

    start: datetime
    end: datetime
    rows: int
    labelled: int
    realised: dict[str, Interval | None]
    estimated: dict[str, float | None]
    calibration_ratio: Interval | None


@dataclass(frozen=True)
class SlicePerformance:
    """Performance over the whole window on the rows where ``column == value``."""

    column: str
    value: str
    rows: int
    labelled: int
    realised: dict[str, Interval | None]
    estimated: dict[str, float | None]
    calibration_ratio: Interval | None


@dataclass(frozen=True)
class Performance:
    """Realised and estimated performance of a window, per period, overall and per slice value."""

    task: str
    metric: str
    """The headline metric: the spec's primary metric where given, else the task's default."""
    periods: list[PeriodPerformance]
    overall: PeriodPerformance
    slices: dict[str, list[SlicePerformance]] = field(default_factory=dict)
    """Per slice column, one entry per value (the most frequent first, at most ``max_slice_values``)."""
    notes: list[str] = field(default_factory=list)

    def values(self) -> dict[str, float | None]:
        """Flat values over the whole window for alert rules: ``performance.<metric>`` (realised),
        ``performance.estimated.<metric>``, ``performance.labelled_share``."""
        out: dict[str, float | None] = {}
        for name, found in self.overall.realised.items():
            out[f"performance.{name}"] = None if found is None else found.value
        if self.overall.calibration_ratio is not None:
            out["performance.calibration_ratio"] = self.overall.calibration_ratio.value
        for name, value in self.overall.estimated.items():
            out[f"performance.estimated.{name}"] = value
        rows = self.overall.rows
        out["performance.labelled_share"] = self.overall.labelled / rows if rows else None
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (NaN and infinities as null)."""
        plain: dict[str, Any] = to_plain(asdict(self))
        return plain


# -- labels from the feedback log ---------------------------------------------------------------

def labelled_exposures(exposures: pd.DataFrame, feedback: pd.DataFrame, *, label_spec: LabelSpec | EventLabelSpec,
                       now: datetime | None = None, time: str = "ts") -> tuple[pd.DataFrame, LabelReport]:
    """The exposures whose label window has closed, with their label, through ``data.make_labels``.

    The label column is ``label_spec.name`` (``label`` for a bare :class:`EventLabelSpec`); the returned
    frame keeps the exposures' index, so it aligns with them (``performance(exposures, out[name], ...)``).
    Censored exposures (window not closed) are dropped and counted in the report.

    By default the labels are known up to the last recorded time in the two logs. With ``now``, up to ``now``:
    feedback after it is ignored, exposures after it count as censored, and an exposure is labelled once
    ``ts + window <= now`` (the feedback log is taken to be complete up to ``now``).
    """
    if isinstance(label_spec, LabelSpec):
        if label_spec.from_events is None:
            raise MonitoringError(
                f"label.column: the label is the column '{label_spec.column}' of the training table, so monitoring "
                "cannot build it from the feedback log. Give label.from_events (the outcome event and its window) "
                "in loopline.yaml, or pass the labels to performance() yourself."
            )
        events, name = label_spec.from_events, label_spec.name
    else:
        events, name = label_spec, "label"
    require_columns(exposures, [time], where="the exposures", role="the exposures' time")
    row = "__loopline_row"
    while row in exposures.columns:
        row += "_"
    frame = exposures.assign(**{row: np.arange(len(exposures))})
    late = 0
    if now is not None:
        cutoff = pd.Timestamp(_utc(now, "now"))
        times = to_utc(frame[time], column=time, where="the exposures")
        after = (times > cutoff).to_numpy()
        late = int(after.sum())
        frame = frame.loc[~after]
        require_columns(feedback, [events.feedback_time], where=f"the feedback log {events.feedback}",
                        role="label.from_events")
        fb_times = to_utc(feedback[events.feedback_time], column=events.feedback_time, where="the feedback log")
        feedback = feedback.loc[(fb_times <= cutoff).to_numpy()]
    labelled, report = make_labels(frame, feedback, event_time=time, spec=events, name=name,
                                   horizon=None if now is None else _utc(now, "now"))
    labelled.index = exposures.index[labelled.pop(row).to_numpy()]
    return labelled, LabelReport(exposures=len(exposures), censored=report.censored + late,
                                 positives=report.positives)


# -- performance of a window --------------------------------------------------------------------

def performance(exposures: pd.DataFrame, labels: pd.Series | np.ndarray | None, *, task: Task,
                period: str = "1D", slices: Sequence[str] = (), n_boot: int = 200, seed: int = 0,
                metric: str | None = None, metrics: Sequence[str] | None = None, threshold: float | None = None,
                k: int = 10, gain: Gain = "exponential", relevant_at: float | None = None,
                start: datetime | None = None, end: datetime | None = None, deployment: str | None = None,
                time: str = "ts", score: str = "score", group: str = "request_id", predicted: str = "predicted_label",
                max_slice_values: int = 20, reference: tuple[np.ndarray, np.ndarray] | None = None) -> Performance:
    """Realised and estimated performance of ``exposures`` per period, overall and per slice value.

    ``labels``: one per exposure row (NaN or None where not known yet), or a Series indexed like the
    exposures holding only the labelled rows (as :func:`labelled_exposures` returns), or None (estimates
    only). Binary labels are 0/1; ranking labels are relevances (0/1 for the NDCG estimate to mean the same);
    multiclass labels are classes, compared by their text with the predicted class the exposures log
    (column ``predicted``) while ``score`` holds that class's probability.

    Options: ``metric`` the headline (default: the task's default primary metric); ``metrics`` the metrics to
    report (default: every metric of the task; the headline is always among them); ``threshold`` the binary
    decision threshold (0.5); ``k``, ``gain`` and ``relevant_at`` for the ranking metrics (as ``metrics:`` in
    loopline.yaml); ``start``/``end``/``deployment`` cut the window
    (``start <= ts < end``); ``time``, ``score``, ``group`` (the request id, ranking) and ``predicted`` name
    columns; ``n_boot`` resamples per interval (0: no intervals) with ``seed``.

    ``reference``: ``(scores, outcomes)`` of labelled rows from elsewhere (the model's validation split, or an
    earlier window whose labels are in), outcomes 0/1 (binary label, ranking relevance, or for multiclass
    whether the predicted class was right). The estimates then take each row's probability from an isotonic
    curve fitted on them instead of its score, so they assume only that this curve still holds, not that the
    model is calibrated (an under- or over-confident model otherwise biases the estimated AUC).
    """
    if task not in METRICS:
        raise MonitoringError(f"unknown task '{task}'; expected one of {', '.join(METRICS)}")
    headline = metric or DEFAULT_PRIMARY[task]
    cut = at_k(headline) if task == "ranking" else None
    if cut is not None:  # NDCG at a cut-off other than metrics.k (a primary metric such as ndcg@5)
        headline, k = "ndcg", cut
    if headline not in METRICS[task]:
        raise MonitoringError(f"metric '{headline}' is not a {task} metric; choose one of {', '.join(METRICS[task])}")
    names = tuple(dict.fromkeys([headline, *(METRICS[task] if metrics is None else metrics)]))
    unknown = [n for n in names if n not in METRICS[task]]
    if unknown:
        raise MonitoringError(f"{', '.join(repr(n) for n in unknown)} is not a {task} metric; choose from "
                              f"{', '.join(METRICS[task])}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise MonitoringError(f"threshold must lie in [0, 1], got {threshold}")
    if max_slice_values < 1:
        raise MonitoringError(f"max_slice_values must be at least 1, got {max_slice_values}")
    step = _period(period)
    needed = [time, score, *slices, *([group] if task == "ranking" else []),
              *([predicted] if task == "multiclass" else []), *(["deployment"] if deployment is not None else [])]
    _require(exposures, needed)
    y_all = _aligned(exposures, labels)
    times = to_utc(exposures[time], column=time, where="the exposures")
    notes: list[str] = []
    positions, scores = _scored_rows(exposures, times, task=task, score=score, start=start, end=end,
                                     deployment=deployment, notes=notes)
    probabilities = None
    if reference is not None and task != "regression":
        probabilities = _recalibrated(scores, reference)
        notes.append(f"the estimates use the scores recalibrated (isotonic) on {len(reference[0]):,} reference rows")
    rows = _Rows(task=task, names=names, frame=exposures.iloc[positions], scores=scores, labels=y_all.iloc[positions],
                 threshold=0.5 if threshold is None else threshold, k=k, group=group, predicted=predicted,
                 n_boot=n_boot, seed=seed, probabilities=probabilities, gain=gain, relevant_at=relevant_at)
    window_times = times.iloc[positions]
    first = pd.Timestamp(_utc(start, "start")) if start is not None else window_times.min()
    origin = first.floor("D")
    last = pd.Timestamp(_utc(end, "end")) if end is not None else window_times.max() + pd.Timedelta(1, "ns")
    offset_ns = (window_times - origin).to_numpy(dtype="timedelta64[ns]").astype(np.int64)
    index = offset_ns // step.value  # each row's period
    n_periods = max(int(np.ceil((last - origin) / step)), int(index.max()) + 1)
    periods, whole = [], None
    for i in range(n_periods):
        at = np.flatnonzero(index == i)
        measured = rows.measure(at)
        whole = measured if len(at) == len(positions) else whole  # one period holds the window: measured once
        periods.append(PeriodPerformance(_time(origin + i * step), _time(origin + (i + 1) * step), *measured))
    overall = PeriodPerformance(_time(origin), _time(origin + n_periods * step),
                                *(whole or rows.measure(np.arange(len(positions)))))
    sliced = {column: _slices(rows, column, max_slice_values, notes) for column in slices}
    notes[:0] = _label_notes(task, rows, overall, exposures, positions)
    return Performance(task=task, metric=headline, periods=periods, overall=overall, slices=sliced, notes=notes)


Measured = tuple[int, int, dict[str, Interval | None], dict[str, float | None], Interval | None]


@dataclass(frozen=True)
class _Rows:
    """The kept rows of a window and how to measure any subset of them (positions into these arrays)."""

    task: Task
    names: tuple[str, ...]
    frame: pd.DataFrame
    scores: np.ndarray
    labels: pd.Series
    threshold: float
    k: int
    group: str
    predicted: str
    n_boot: int
    seed: int
    probabilities: np.ndarray | None = None
    gain: Gain = "exponential"
    relevant_at: float | None = None

    @property
    def known(self) -> np.ndarray:
        return self.labels.notna().to_numpy()

    def measure(self, at: np.ndarray) -> Measured:
        names = self.names
        labelled = at[self.known[at]]
        estimated: dict[str, float | None] = dict.fromkeys(names)
        realised: dict[str, Interval | None] = dict.fromkeys(names)
        calibration = None
        if len(at):
            estimated.update({n: v for n, v in self._estimate(at).items() if n in names})
        if len(labelled):
            found, calibration = self._realise(labelled)
            realised.update({n: v for n, v in found.items() if n in names})
        return len(at), len(labelled), realised, estimated, calibration

    def _estimate(self, at: np.ndarray) -> dict[str, float | None]:
        s = self.scores[at]
        p = None if self.probabilities is None else self.probabilities[at]
        if self.task == "regression" or (p is None and (s.min() < 0.0 or s.max() > 1.0)):
            return {}
        if self.task == "multiclass":
            return {"accuracy": float((s if p is None else p).mean())}
        if self.task == "ranking":
            groups = self.frame[self.group].to_numpy()[at]
            found = {"ndcg": estimate_ranking(s, groups, probabilities=p, k=self.k)}
            if s.min() >= 0.0 and s.max() <= 1.0:  # item-level metrics of the scores need probabilities
                items = estimate_binary(s, probabilities=p)
                found.update({"roc_auc": items["roc_auc"], "log_loss": items["log_loss"]})
        else:
            found = estimate_binary(s, probabilities=p, threshold=self.threshold)
        return {name: (value if math.isfinite(value) else None) for name, value in found.items()}

    def _realise(self, at: np.ndarray) -> tuple[dict[str, Interval | None], Interval | None]:
        p = self.scores[at]
        where = "the labelled exposures"
        if self.task == "multiclass":
            truth = np.array([str(v) for v in self.labels.iloc[at].tolist()], dtype=object)
            guess = np.array([str(v) for v in self.frame[self.predicted].iloc[at].tolist()], dtype=object)
            classes = sorted(set(truth.tolist()) | set(guess.tolist()))
            onehot = (guess[:, None] == np.array(classes, dtype=object)[None, :]).astype(np.float64)
            wanted = [n for n in _MULTICLASS_REALISED if n in self.names]
            found = self._boot("multiclass", truth, onehot, wanted, classes=classes) if wanted else {}
            correct = (truth == guess).astype(np.float64)
            ratio = None
            if correct.sum() > 0 and p.min() >= 0.0 and p.max() <= 1.0:
                ratio = self._boot("binary", correct, p, ("calibration_ratio",))["calibration_ratio"]
            return found, ratio
        y = _numeric_labels(self.labels.iloc[at], where=where)
        if self.task == "regression":
            return self._boot("regression", y, p, self.names), None
        if self.task == "binary":
            if not np.isin(y, (0.0, 1.0)).all():
                bad = ", ".join(dict.fromkeys(f"{v:g}" for v in y[~np.isin(y, (0.0, 1.0))][:100]))
                raise MonitoringError(f"binary labels must be 0/1, got {bad}; build the label with aggregate 'any' "
                                      "(label.from_events.aggregate in loopline.yaml)")
            positives = y.sum()
            undefined = set(_NEED_POSITIVES + _NEED_BOTH) if positives == 0 else (
                set(_NEED_BOTH) if positives == len(y) else set())
            names = tuple(n for n in (*self.names, "calibration_ratio") if n not in undefined)
            found = self._boot("binary", y, p, names)
            return found, found.get("calibration_ratio")
        groups = self.frame[self.group].to_numpy()[at]
        if not (y > 0).any():
            return {}, None
        found = self._boot("ranking", y, p, self.names, groups=groups)
        ratio = None
        if np.isin(y, (0.0, 1.0)).all() and p.min() >= 0.0 and p.max() <= 1.0:
            ratio = _grouped_ratio(p, y, groups, n_boot=self.n_boot, seed=self.seed)
        return found, ratio

    def _boot(self, task: Task, y: np.ndarray, prediction: np.ndarray, names: Sequence[str], *,
              groups: np.ndarray | None = None, classes: Sequence[Any] | None = None) -> dict[str, Interval | None]:
        try:
            found = bootstrap(task, y, prediction, metrics=list(names), n_boot=self.n_boot, seed=self.seed,
                              groups=groups, threshold=self.threshold if task == "binary" else None, k=self.k,
                              classes=classes, gain=self.gain, relevant_at=self.relevant_at)
        except EvaluationError as exc:
            raise MonitoringError(f"performance of the labelled exposures: {exc}") from None
        return {name: (value if math.isfinite(value.value) else None) for name, value in found.items()}


class _RatioScorer:
    """sum of scores / sum of labels under query weights: the calibration ratio bootstrapped by query."""

    names: tuple[str, ...] = ("calibration_ratio",)

    def __init__(self, scores: np.ndarray, labels: np.ndarray, query: np.ndarray) -> None:
        self.units = int(query.max()) + 1
        self._scores = np.bincount(query, weights=scores, minlength=self.units)
        self._labels = np.bincount(query, weights=labels, minlength=self.units)

    def compute(self, weights: np.ndarray | None = None) -> dict[str, float]:
        w = np.ones(self.units) if weights is None else weights
        positives = float(np.einsum("i,i->", w, self._labels))  # einsum, not BLAS: see evaluation._sums
        scored = float(np.einsum("i,i->", w, self._scores))
        return {"calibration_ratio": scored / positives if positives > 0 else float("nan")}


def _grouped_ratio(p: np.ndarray, y: np.ndarray, groups: np.ndarray, *, n_boot: int, seed: int) -> Interval | None:
    query = np.asarray(pd.factorize(pd.Series(groups, copy=False), use_na_sentinel=False)[0], dtype=np.intp)
    found = bootstrap_scorer(_RatioScorer(p, y, query), n_boot=n_boot, seed=seed)["calibration_ratio"]
    return found if math.isfinite(found.value) else None


def _slices(rows: _Rows, column: str, top: int, notes: list[str]) -> list[SlicePerformance]:
    values = rows.frame[column]
    names = np.array([MISSING if pd.isna(v) else str(v) for v in values.tolist()], dtype=object)
    counts = pd.Series(names).value_counts()
    if len(counts) > top:
        notes.append(f"slice '{column}' has {len(counts):,} values; only the {top} most frequent are shown")
    out = []
    for value in counts.index[:top]:
        measured = rows.measure(np.flatnonzero(names == value))
        out.append(SlicePerformance(column, str(value), *measured))
    return out


def _label_notes(task: Task, rows: _Rows, overall: PeriodPerformance, exposures: pd.DataFrame,
                 positions: np.ndarray) -> list[str]:
    notes = []
    missing = overall.rows - overall.labelled
    if overall.labelled == 0:
        notes.append("no exposure has a label yet (their label window has not closed, or no label was given): "
                     "only the estimated performance is shown")
    elif missing:
        share = missing / overall.rows
        shown = f"{share:.0%}" if share >= 0.01 else "under 1%"
        notes.append(f"{shown} of the exposures have no label yet (their label window has not closed, or no label "
                     "was given)")
    if task == "regression":
        notes.append("regression has no estimate from the predictions alone: its performance (rmse, mae, r2) is "
                     "known only once labels arrive")
    elif task == "ranking" and rows.probabilities is None and (rows.scores.min() < 0.0 or rows.scores.max() > 1.0):
        notes.append("the ranking scores lie outside [0, 1], so they are not probabilities of relevance and no "
                     "performance is estimated")
    ratio = overall.calibration_ratio
    if task != "regression" and ratio is not None and ratio.low is not None and ratio.high is not None \
            and not ratio.low <= 1.0 <= ratio.high:
        then = ("the estimates use probabilities recalibrated on the reference rows instead"
                if rows.probabilities is not None else
                "the estimated performance assumes calibrated scores and cannot be trusted")
        notes.append(f"the scores are miscalibrated on the labelled exposures (calibration ratio {ratio.value:.2f}, "
                     f"95% interval {ratio.low:.2f} to {ratio.high:.2f}): {then}")
    if "model_version" in exposures.columns:
        versions = sorted({str(v) for v in exposures["model_version"].iloc[positions].dropna().unique()})
        if len(versions) > 1:
            shown = ", ".join(versions[:5]) + (" ..." if len(versions) > 5 else "")
            notes.append(f"exposures of {len(versions)} model versions ({shown}) are pooled; pass "
                         "slices=['model_version'] to see each")
    return notes


# -- inputs -------------------------------------------------------------------------------------

def _scored_rows(exposures: pd.DataFrame, times: pd.Series, *, task: Task, score: str, start: datetime | None,
                 end: datetime | None, deployment: str | None, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the served, scored exposures in the window, and their scores; what was left out is noted."""
    keep = np.ones(len(exposures), dtype=bool)
    if deployment is not None:
        keep &= (exposures["deployment"] == deployment).to_numpy()
    if start is not None:
        keep &= (times >= pd.Timestamp(_utc(start, "start"))).to_numpy()
    if end is not None:
        keep &= (times < pd.Timestamp(_utc(end, "end"))).to_numpy()
    if not keep.any():
        raise MonitoringError(_empty(start, end, deployment))
    if "served" in exposures.columns:
        shadow = keep & exposures["served"].eq(False).to_numpy()  # a null ``served`` counts as served
        if shadow.any():
            notes.append(f"{int(shadow.sum()):,} shadow exposures (served=false) are left out")
        keep &= ~shadow
        if not keep.any():
            raise MonitoringError(_empty(start, end, deployment, "served "))
    raw = exposures[score].loc[keep]
    try:
        scores = pd.to_numeric(raw).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise MonitoringError(f"the score column '{score}' of the exposures holds values that are not numbers, e.g. "
                              f"{raw.head(3).tolist()}; point score= at the model's score") from None
    null = ~np.isfinite(scores)
    if null.all():
        raise MonitoringError(
            f"every one of the {len(scores):,} exposures{_window_text(start, end, deployment)} has a null score, so "
            "there is nothing to measure; check that the deployment logs its model's scores (a kill switch or "
            "fallback serves without one)")
    if null.any():
        notes.append(f"{int(null.sum()):,} exposures without a score (answered by a fallback) are left out")
    present = scores[~null]
    if task in ("binary", "multiclass") and (present.min() < 0.0 or present.max() > 1.0):
        what = "the positive class's probability" if task == "binary" else "the predicted class's probability"
        raise MonitoringError(f"the scores of a {task} model must be {what}, in [0, 1]; the exposures' '{score}' "
                              f"runs from {present.min():.4g} to {present.max():.4g}. Point score= at the "
                              "probability the model served")
    return np.flatnonzero(keep)[~null], present


def _recalibrated(scores: np.ndarray, reference: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Each score's probability on the isotonic curve fitted to the reference rows."""
    ref_scores, outcomes = (np.asarray(v, dtype=np.float64) for v in reference)
    if ref_scores.ndim != 1 or ref_scores.shape != outcomes.shape:
        raise MonitoringError(f"reference: give (scores, outcomes) of equal length, got shapes {ref_scores.shape} and "
                              f"{outcomes.shape}")
    both = 0 < outcomes.sum() < len(outcomes)
    if not (np.isfinite(ref_scores).all() and np.isin(outcomes, (0.0, 1.0)).all() and both):
        raise MonitoringError("reference: the scores must be finite and the outcomes 0/1 with both values present; "
                              "use the labelled rows of the model's validation split or of an earlier window")
    return fit_calibrator("isotonic", ref_scores, outcomes).apply(scores)


def _require(exposures: pd.DataFrame, columns: Sequence[str]) -> None:
    absent = [c for c in dict.fromkeys(columns) if c not in exposures.columns]
    if absent:
        shown = ", ".join(str(c) for c in list(exposures.columns)[:30])
        raise MonitoringError(f"the exposures have no column {', '.join(repr(c) for c in absent)} (their columns: "
                              f"{shown}); the event log's exposures carry ts, score and request_id, and the "
                              "score column of another table is named with score=")


def _aligned(exposures: pd.DataFrame, labels: pd.Series | np.ndarray | None) -> pd.Series:
    """The label of every exposure row, by position (None/NaN where unknown)."""
    n = len(exposures)
    if labels is None:
        return pd.Series([np.nan] * n, dtype=np.float64)
    if isinstance(labels, pd.Series):
        if len(labels) == n and labels.index.equals(exposures.index):
            return labels.reset_index(drop=True)
        if not exposures.index.is_unique:
            raise MonitoringError("labels given as a Series are matched to the exposures by index, but the exposures' "
                                  "index has duplicates; reset it, or give one label per row as an array")
        unknown = ~labels.index.isin(exposures.index)
        if unknown.any():
            raise MonitoringError(
                f"{int(unknown.sum()):,} of the {len(labels):,} labels have an index the exposures do not have (e.g. "
                f"{labels.index[unknown][0]!r}); give labels indexed like the exposures (as labelled_exposures "
                "returns them), or one label per exposure row as an array")
        return labels.reindex(exposures.index).reset_index(drop=True)
    values = np.asarray(labels)
    if values.ndim != 1 or len(values) != n:
        raise MonitoringError(f"labels hold {values.shape[0] if values.ndim else 0:,} values (shape {values.shape}) "
                              f"for {n:,} exposures: give one label per exposure row (NaN where not known yet), or a "
                              "Series indexed like the exposures")
    return pd.Series(values)


def _numeric_labels(values: pd.Series, *, where: str) -> np.ndarray:
    try:
        return np.asarray(pd.to_numeric(values.astype(object)), dtype=np.float64)
    except (TypeError, ValueError):
        shown = ", ".join(dict.fromkeys(str(v) for v in values.head(100).tolist()))
        raise MonitoringError(f"labels of {where} must be numbers, got values like {shown}") from None


def _period(period: str) -> pd.Timedelta:
    try:
        step = pd.Timedelta(period)
    except ValueError:
        step = pd.Timedelta(0)
    if pd.isna(step) or step <= pd.Timedelta(0):
        raise MonitoringError(f"period: expected a positive fixed length like '1D', '6h' or '7D', got {period!r}")
    return step


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise MonitoringError(f"{name}={value.isoformat()} has no time zone; give it in UTC, e.g. "
                              "datetime(2026, 1, 1, tzinfo=timezone.utc)")
    return value.astimezone(UTC)


def _time(value: pd.Timestamp) -> datetime:
    out: datetime = value.to_pydatetime()
    return out


def _window_text(start: datetime | None, end: datetime | None, deployment: str | None) -> str:
    text = ""
    if start is not None or end is not None:
        lo = "the beginning" if start is None else _utc(start, "start").isoformat()
        hi = "the end" if end is None else _utc(end, "end").isoformat()
        text += f" between {lo} and {hi}"
    if deployment is not None:
        text += f" of deployment {deployment}"
    return text


def _empty(start: datetime | None, end: datetime | None, deployment: str | None, kind: str = "") -> str:
    lo = "the beginning of the log" if start is None else _utc(start, "start").isoformat()
    hi = "its end" if end is None else _utc(end, "end").isoformat()
    who = f" for deployment {deployment}" if deployment is not None else ""
    return f"no {kind}exposures between {lo} and {hi}{who}: check --window"

