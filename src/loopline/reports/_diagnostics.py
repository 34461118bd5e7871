"""Where the model fails: slices, fairness by group, per-row explanations and confident mistakes.

Formatting and ordering only; the rows shown are the ones the evaluation chose (mistakes are capped
at a handful so a report never carries raw data beyond them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from loopline.evaluation import FairnessSummary, Mistake, RowExplanation, SliceRow
from loopline.reports._format import (
    fmt_count,
    fmt_interval,
    fmt_label,
    fmt_number,
    fmt_rate,
    fmt_signed,
    is_number,
    metric_label,
)
from loopline.reports._view import Block, Cell, Subheading, Table, Text, head, num

MAX_SLICES = 40
MAX_MISTAKES = 10
MAX_EXPLANATIONS = 6
MAX_CONTRIBUTIONS = 8
TOO_SMALL = "too small to judge"
NOT_TOP = "not among this row's top features"


def _slice_metrics(slices: Sequence[SliceRow], primary: str) -> list[str]:
    names = list(dict.fromkeys(m for s in slices for m in s.metrics))
    return ([primary] if primary in names else []) + [m for m in names if m != primary][:3]


def _by_gap(slices: Sequence[SliceRow]) -> list[SliceRow]:
    """Judged slices by the low end of their gap's interval (the gap they surely have), largest first; then
    judged ones without an interval, then those too small to judge, each by their point gap."""
    def key(s: SliceRow) -> tuple[int, float]:
        if s.judged and s.gap_low is not None and is_number(s.gap_low):
            return (0, -s.gap_low)
        return (1 if s.judged else 2, -s.gap if is_number(s.gap) else math.inf)
    return sorted(slices, key=key)


def slice_table(slices: Sequence[SliceRow], *, primary: str, task: str, worst: Sequence[SliceRow] = (),
                limit: int = MAX_SLICES, caption: str = "") -> Table:
    """Slices ranked by the low end of their gap's 95% interval (worst first), the worst slices highlighted;
    slices too small to judge come last and say so."""
    metrics = _slice_metrics(slices, primary)
    rate = "mean label" if task == "regression" else "label rate"
    with_rate = any(s.label_rate is not None for s in slices)  # multiclass slices have none
    headers = (head("column"), head("value"), head("rows", numeric=True),
               *((head(rate, numeric=True),) if with_rate else ()),
               *(head(metric_label(m), numeric=True) for m in metrics),
               head("gap", numeric=True, title="how much worse than overall, in the primary metric's units, "
                                               "with its 95% bootstrap interval"),
               head("verdict"))
    flagged = {(s.column, s.value) for s in worst}
    ordered = _by_gap(slices)
    shown = ordered[:limit]
    rows, marks = [], []
    for s in shown:
        label = fmt_number(s.label_rate) if task == "regression" else fmt_rate(s.label_rate)
        interval = fmt_interval(s.gap_low, s.gap_high)
        surely_worse = s.judged and s.gap_low is not None and is_number(s.gap_low) and s.gap_low > 0
        rows.append((Cell(s.column), Cell(s.value), num(fmt_count(s.rows)), *((num(label),) if with_rate else ()),
                     *(num(fmt_number(s.metrics.get(m))) for m in metrics),
                     num(fmt_signed(s.gap), note=interval, mark="neg" if surely_worse else ""),
                     Cell(_verdict(s), mark="muted" if not s.judged else "")))
        marks.append("worst" if (s.column, s.value) in flagged else "")
    hidden = len(ordered) - len(shown)
    note = f"{hidden} more slices with smaller gaps are in the JSON twin." if hidden > 0 else ""
    return Table(headers=headers, rows=tuple(rows), row_marks=tuple(marks), caption=caption, note=note)


def _verdict(s: SliceRow) -> str:
    if not s.judged:
        return TOO_SMALL
    if s.gap_low is None or s.gap_high is None or not (is_number(s.gap_low) and is_number(s.gap_high)):
        return "no interval"
    if s.gap_low > 0:
        return "worse than overall"
    if s.gap_high < 0:
        return "better than overall"
    return "within noise"


def slice_blocks(slices: Sequence[SliceRow], worst: Sequence[SliceRow], *, primary: str, task: str) -> list[Block]:
    blocks: list[Block] = []
    if worst:
        blocks.append(slice_table(worst, primary=primary, task=task, worst=worst, caption="Worst slices"))
    if slices:
        blocks.append(slice_table(slices, primary=primary, task=task, worst=worst, caption="All slices"))
    return blocks


def fairness_blocks(summaries: Sequence[FairnessSummary], *, threshold: float | None) -> list[Block]:
    """Per sensitive attribute: the two differences, then each group's rates."""
    blocks: list[Block] = []
    at = "" if threshold is None else f" at the decision threshold {fmt_number(threshold)}"
    for summary in summaries:
        blocks.append(Subheading(summary.attribute))
        eo = summary.equalized_odds_difference
        blocks.append(Text(
            f"Demographic parity difference {fmt_number(summary.demographic_parity_difference)}"
            + ("" if eo is None else f" · equalized odds difference {fmt_number(eo)}") + at + "."))
        blocks.append(Table(
            headers=(head("group"), head("rows", numeric=True), head("selection rate", numeric=True),
                     head("true positive rate", numeric=True), head("false positive rate", numeric=True),
                     head("calibration ratio", numeric=True, title="mean prediction / observed rate")),
            rows=tuple((Cell(g.group), num(fmt_count(g.rows)), num(fmt_rate(g.selection_rate)),
                        num(fmt_rate(g.true_positive_rate)), num(fmt_rate(g.false_positive_rate)),
                        num(fmt_number(g.calibration_ratio))) for g in summary.groups),
        ))
    return blocks


def explanation_tables(explanations: Sequence[RowExplanation], *, limit: int = MAX_EXPLANATIONS) -> list[Table]:
    """One small table per explained row: its largest signed contributions, with bars to compare."""
    tables = []
    for e in explanations[:limit]:
        top = [(f, c) for f, c in e.contributions if is_number(c)][:MAX_CONTRIBUTIONS]
        widest = max((abs(c) for _, c in top), default=0.0)
        label = "" if e.label is None else f" · label {fmt_label(e.label)}"
        rows = tuple(
            (Cell(feature), num(fmt_signed(c), mark="pos" if c >= 0 else "neg", bar=abs(c) / widest if widest else 0.0))
            for feature, c in top)
        tables.append(Table(headers=(head("feature"), head("contribution", numeric=True)), rows=rows, compact=True,
                            caption=f"Row {e.row} · prediction {fmt_number(e.prediction)}{label}"))
    return tables


def mistakes_table(mistakes: Sequence[Mistake], *, limit: int = MAX_MISTAKES, entity: str = "") -> Table:
    """The most confident mistakes: the row's entity id (``entity`` names its column) or index, the prediction,
    the label and the values of the features that contributed most to that row; a feature outside one
    row's top contributions reads "not among this row's top features"."""
    shown = list(mistakes[:limit])
    columns = list(dict.fromkeys(k for m in shown for k in m.values))
    numeric = {c: all(_is_numeric_text(m.values[c]) for m in shown if c in m.values) for c in columns}
    with_entity = any(m.entity is not None for m in shown)
    who = head(entity or "entity") if with_entity else head("row", numeric=True)
    headers = (who, head("prediction", numeric=True), head("label", numeric=True),
               *(head(c, numeric=numeric[c]) for c in columns))
    rows = tuple(
        ((Cell(m.entity if m.entity is not None else f"row {m.row}", title=f"row {m.row} of the split")
          if with_entity else num(str(m.row))),
         num(fmt_number(m.prediction)), num(fmt_label(m.label)),
         *(Cell(m.values[c], numeric=numeric[c]) if c in m.values else Cell(NOT_TOP, mark="muted") for c in columns))
        for m in shown)
    hidden = len(mistakes) - len(shown)
    return Table(headers=headers, rows=rows, note=f"{hidden} more in the JSON twin." if hidden > 0 else "")


def _is_numeric_text(text: str) -> bool:
    """Whether a shown value reads as a number (such columns are right-aligned); blanks count as numbers."""
    if text.strip() in ("", "nan", "None", "<NA>"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True
