"""The report's summary tables: metrics per scorer, lift, splits, facts and the confusion matrix.

Formatting and ordering only. "Best" is a comparison of the given values, never a new metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from loopline.data import SplitSummary
from loopline.evaluation import Evaluation, MetricValue, ModelScores
from loopline.reports._format import (
    fmt_count,
    fmt_interval,
    fmt_number,
    fmt_percent_change,
    fmt_rate,
    fmt_signed,
    is_number,
    metric_label,
)
from loopline.reports._view import Cell, Table, head, num
from loopline.spec import METRICS, metric_loss

ROLE_ORDER = {"model": 0, "champion": 1, "candidate": 2, "baseline": 3, "reference": 4}
ROLE_LABEL = {"model": "evaluated model", "champion": "current champion", "candidate": "candidate",
              "baseline": "baseline", "reference": "reference"}


def ordered_scores(evaluation: Evaluation) -> list[ModelScores]:
    """The evaluated model first, then the champion, candidates, baselines and references, each in the given order."""
    indexed = list(enumerate(evaluation.scores))
    indexed.sort(key=lambda item: (item[1].name != evaluation.model, ROLE_ORDER.get(item[1].role, 5), item[0]))
    return [s for _, s in indexed]


def ordered_metrics(evaluation: Evaluation, names: Sequence[str]) -> list[str]:
    """The primary metric first, then the task's usual order, then any others as they came."""
    usual = METRICS.get(evaluation.task, ())
    rank = {m: i for i, m in enumerate(usual)}
    seen = list(dict.fromkeys(names))
    rest = sorted((m for m in seen if m != evaluation.primary_metric),
                  key=lambda m: (rank.get(m, len(rank)), seen.index(m)))
    return ([evaluation.primary_metric] if evaluation.primary_metric in seen else []) + rest


def _goodness(metric: str, value: float) -> float:
    """A key where larger is better, only to pick the best of the given values."""
    return -metric_loss(metric, value)


def best_names(metric: str, values: Mapping[str, float]) -> set[str]:
    """The names holding the best of ``values`` (ties all win); none when fewer than two are comparable.

    >>> sorted(best_names("log_loss", {"a": 0.2, "b": 0.3})), sorted(best_names("roc_auc", {"a": 0.7}))
    (['a'], [])
    """
    finite = {n: v for n, v in values.items() if is_number(v)}
    if len(finite) < 2:
        return set()
    top = max(_goodness(metric, v) for v in finite.values())
    return {n for n, v in finite.items() if math.isclose(_goodness(metric, v), top, rel_tol=1e-12, abs_tol=1e-15)}


def metrics_table(evaluation: Evaluation) -> Table:
    """Rows are metrics, columns the scorers; each value with its 95% interval, the best marked.

    References (such as true probabilities) are shown for context and are not ranked.
    """
    scores = ordered_scores(evaluation)
    names = ordered_metrics(evaluation, [m for s in scores for m in s.metrics])
    headers = (head("metric"), *(head(s.name, numeric=True, title=ROLE_LABEL.get(s.role, s.role)) for s in scores))
    rows = []
    for metric in names:
        ranked = {s.name: s.metrics[metric].value for s in scores if s.role != "reference" and metric in s.metrics}
        best = best_names(metric, ranked)
        cells = [Cell(metric_label(metric, evaluation.metric_labels),
                      mark="primary" if metric == evaluation.primary_metric else "")]
        for s in scores:
            value: MetricValue | None = s.metrics.get(metric)
            if value is None:
                cells.append(num("—"))
                continue
            cells.append(num(fmt_number(value.value), note=fmt_interval(value.low, value.high),
                             mark="best" if s.name in best else ""))
        rows.append(tuple(cells))
    roles = ", ".join(f"{s.name}: {ROLE_LABEL.get(s.role, s.role)}" for s in scores)
    return Table(headers=headers, rows=tuple(rows), compact=len(scores) <= 3, note=(
        f"Point estimates with bootstrap 95% intervals on the {evaluation.split} split; the best value of each "
        f"row is bold (references are not ranked). Columns: {roles}."))


def lift_table(evaluation: Evaluation) -> Table | None:
    """The evaluated model's improvement over each baseline (columns), per metric (rows).

    A cell is the relative lift in percent where the evaluation gives one (``Evaluation.lift``), else the
    improvement in the metric's units (``Evaluation.improvement``) with its sign: R², ECE, calibration
    ratio and any metric whose baseline is near 0 never get a percentage.
    """
    baselines = [b for b in dict.fromkeys([*evaluation.lift, *evaluation.improvement])
                 if evaluation.lift.get(b) or evaluation.improvement.get(b)]
    if not baselines:
        return None
    names = ordered_metrics(evaluation, [m for b in baselines for m in (*evaluation.lift.get(b, {}),
                                                                          *evaluation.improvement.get(b, {}))])
    rows = []
    absolute = undefined = False
    for metric in names:
        cells = [Cell(metric_label(metric, evaluation.metric_labels),
                      mark="primary" if metric == evaluation.primary_metric else "")]
        for b in baselines:
            relative = evaluation.lift.get(b, {}).get(metric)
            change = evaluation.improvement.get(b, {}).get(metric)
            if relative is not None:
                value, text = relative, fmt_percent_change(relative)
            elif change is not None:
                value, text, absolute = change, fmt_signed(change), True
            else:
                cells.append(num("—"))
                continue
            undefined = undefined or not is_number(value)
            mark = "" if not is_number(value) or value == 0 else ("pos" if value > 0 else "neg")
            cells.append(num(text, mark=mark, title="" if relative is not None else "difference in the metric's units"))
        rows.append(tuple(cells))
    headers = (head("metric"), *(head(f"over {b}", numeric=True) for b in baselines))
    note = (f"Improvement of {evaluation.model} over each baseline: positive is better, whatever the metric's "
            "direction. Percentages are relative to the baseline's value")
    if absolute:
        note += ("; signed numbers without % are differences in the metric's own units, shown for R², ECE and "
                 "calibration ratio (the shrinkage of |log ratio|) and wherever the baseline is near 0, "
                 "where a percentage would mean nothing")
    note += "." + (" n/a: undefined, as when a value is missing." if undefined else "")
    return Table(headers=headers, rows=tuple(rows), compact=len(baselines) <= 3, note=note)


def splits_table(splits: Sequence[SplitSummary], *, task: str, current: str) -> Table | None:
    if not splits:
        return None
    mean = task in ("regression", "ranking")  # a mean of values, not a share of positives
    rate = {"regression": "mean label", "ranking": "mean relevance"}.get(task, "label rate")
    with_entities = any(s.entities is not None for s in splits)
    headers = [head("split"), head("rows", numeric=True), head("from"), head("to"), head(rate, numeric=True)]
    if with_entities:
        headers.append(head("entities", numeric=True))
    rows = []
    for s in splits:
        label = fmt_number(s.label_rate) if mean else fmt_rate(s.label_rate)
        cells = [Cell(s.name), num(fmt_count(s.rows)), Cell(s.start.replace("T", " ")), Cell(s.end.replace("T", " ")),
                 num(label)]
        if with_entities:
            cells.append(num(fmt_count(s.entities)))
        rows.append(tuple(cells))
    marks = tuple("current" if s.name == current else "" for s in splits)
    return Table(headers=tuple(headers), rows=tuple(rows), row_marks=marks,
                 note=f"The evaluated split ({current}) is highlighted.")


def facts_table(evaluation: Evaluation, facts: Mapping[str, str]) -> Table | None:
    items = [(str(k), str(v)) for k, v in facts.items()]
    if evaluation.threshold is not None and not any("threshold" in k.lower() for k, _ in items):
        items.append(("decision threshold", fmt_number(evaluation.threshold)))
    if not items:
        return None
    return Table(headers=(head("fact"), head("value")), rows=tuple((Cell(k), Cell(v)) for k, v in items),
                 compact=True)


_CONFUSION_KEYS = {
    "tp": ("tp", "truepositive", "truepositives"),
    "fp": ("fp", "falsepositive", "falsepositives"),
    "fn": ("fn", "falsenegative", "falsenegatives"),
    "tn": ("tn", "truenegative", "truenegatives"),
}


def confusion_table(confusion: Mapping[str, int], *, threshold: float | None) -> Table | None:
    """The 2x2 matrix at the decision threshold: actual classes in rows, predicted in columns."""
    if not confusion:
        return None
    normal = {"".join(ch for ch in k.lower() if ch.isalnum()): v for k, v in confusion.items()}
    found = {cell: next((normal[a] for a in aliases if a in normal), None) for cell, aliases in _CONFUSION_KEYS.items()}
    at = "" if threshold is None else f" at threshold {fmt_number(threshold)}"
    if any(v is None for v in found.values()):
        return Table(headers=(head("cell"), head("rows", numeric=True)),
                     rows=tuple((Cell(k), num(fmt_count(v))) for k, v in confusion.items()), caption=f"Counts{at}")

    def row(label: str, predicted_positive: int, predicted_negative: int, positive: bool) -> tuple[Cell, ...]:
        return (Cell(label), num(fmt_count(predicted_positive), mark="good" if positive else "bad"),
                num(fmt_count(predicted_negative), mark="bad" if positive else "good"))

    tp, fp, fn, tn = (int(found[k] or 0) for k in ("tp", "fp", "fn", "tn"))
    return Table(
        headers=(head(""), head("predicted positive", numeric=True), head("predicted negative", numeric=True)),
        rows=(row("actual positive", tp, fn, True), row("actual negative", fp, tn, False)),
        caption=f"Confusion matrix{at}", compact=True,
        note=f"{fmt_count(tp)} true positives, {fmt_count(fp)} false positives, {fmt_count(fn)} false negatives, "
             f"{fmt_count(tn)} true negatives.",
    )
