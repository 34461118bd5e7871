"""The ranking part of the evaluation report: what the ranking metrics rest on.

From ``Evaluation.ranking`` and the split summaries, nothing computed here: the queries counted and left out,
the queries per split, NDCG at each cut-off per scorer, the distributions of per-query NDCG and of query sizes,
and the paired per-query differences against each baseline and candidate.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from markupsafe import Markup

from loopline.data import SplitSummary
from loopline.evaluation import Evaluation, RankingSummary
from loopline.reports._format import fmt_count, fmt_interval, fmt_number, fmt_rate, fmt_signed, is_number, metric_label
from loopline.reports._plotly import MODEL_COLOR, REFERENCE_COLOR, base_layout, plotly_figure_html
from loopline.reports._tables import ROLE_LABEL, best_names, ordered_scores
from loopline.reports._view import Block, Cell, Figure, Grid, Section, Table, head, num

_LEFT_OUT_OF_ALL = ("single item", "all equal relevance")


def excluded_sentence(summary: RankingSummary, split: str) -> str:
    """E.g. "12 of 101 test queries excluded: single item (9), all equal relevance (3); map and mrr also leave
    out 4 with nothing relevant (relevance >= 3)." """
    reasons = [(r, summary.excluded.get(r, 0)) for r in _LEFT_OUT_OF_ALL]
    left_out = sum(n for _, n in reasons)
    given = [(r, n) for r, n in reasons if n]
    if not given:
        text = f"All {fmt_count(summary.queries)} {split} queries count for NDCG."
    elif len(given) == 1:
        text = f"{fmt_count(left_out)} of {fmt_count(summary.queries)} {split} queries excluded: {given[0][0]}."
    else:
        text = (f"{fmt_count(left_out)} of {fmt_count(summary.queries)} {split} queries excluded: "
                + ", ".join(f"{r} ({fmt_count(n)})" for r, n in given) + ".")
    nothing = summary.excluded.get("nothing relevant", 0)
    if nothing:
        text += (f" map and mrr also leave out {fmt_count(nothing)} with nothing relevant "
                 f"(relevance >= {summary.relevant_at:g}).")
    return text


def ranking_sections(evaluation: Evaluation, splits: Sequence[SplitSummary] = ()) -> list[Section]:
    """The "Ranking" and "Paired differences" sections; none when the evaluation is not of a ranking task."""
    summary = evaluation.ranking
    if summary is None:
        return []
    gain = "2^rel - 1" if summary.gain == "exponential" else "rel"
    intro = (f"{excluded_sentence(summary, evaluation.split)} A query with one item, or whose items all have the "
             "same relevance, says nothing about a ranking and is left out of every ranking metric rather than "
             f"scored 1. NDCG's gain is {gain}; map and mrr count an item as relevant at relevance >= "
             f"{summary.relevant_at:g}. Tied scores count in expectation over their random orders, so the "
             "constant and random baselines score what a random order scores on average.")
    blocks: list[Block] = [_ndcg_table(evaluation, summary),
                           Grid((_figure(_ndcg_histogram(summary, evaluation), "fig-query-ndcg"),
                                 _figure(_size_histogram(summary), "fig-query-sizes")))]
    per_split = _queries_table(splits, evaluation.split)
    if per_split is not None:
        blocks.append(per_split)
    sections = [Section("ranking", "Ranking", tuple(blocks), intro=intro)]
    paired = _differences_table(evaluation, summary)
    if paired is not None:
        metric = summary.differences[0].metric
        sections.append(Section("paired", "Paired differences by query", (paired,), intro=(
            f"{metric_label(metric, evaluation.metric_labels)} of {evaluation.model} minus the other scorer's, "
            f"query by query on the {fmt_count(summary.differences[0].queries)} queries that count, with a 95% "
            "bootstrap interval over queries. Queries differ far more from each other than close rankers differ "
            "on one query, so only this paired comparison separates them on a few hundred queries.")))
    return sections


def _figure(fig: go.Figure, div_id: str) -> Figure:
    return Figure(html=Markup(plotly_figure_html(fig, div_id=div_id)))


def _queries_table(splits: Sequence[SplitSummary], current: str) -> Table | None:
    counted = [s for s in splits if s.queries is not None]
    if not counted:
        return None
    rows = tuple((Cell(s.name), num(fmt_count(s.queries)), num(fmt_count(s.rows)),
                  num(f"{s.rows / s.queries:.1f}" if s.queries else "n/a")) for s in counted)
    return Table(headers=(head("split"), head("queries", numeric=True), head("items", numeric=True),
                          head("items per query", numeric=True)), rows=rows,
                 row_marks=tuple("current" if s.name == current else "" for s in counted), compact=True,
                 caption="Queries per split")


def _ndcg_table(evaluation: Evaluation, summary: RankingSummary) -> Table:
    keys = ["ndcg" if i == 0 else f"ndcg@{k}" for i, k in enumerate(summary.ks)]
    roles = {s.name: s.role for s in evaluation.scores}
    names = [s.name for s in ordered_scores(evaluation) if s.name in summary.ndcg_at_k]
    best = [best_names("ndcg", {n: summary.ndcg_at_k[n][j] for n in names}) for j in range(len(keys))]
    rows = []
    for name in names:
        cells = [Cell(name, title=ROLE_LABEL.get(roles.get(name, ""), "")), Cell(ROLE_LABEL.get(roles.get(name, ""),
                                                                                               roles.get(name, "")))]
        cells += [num(fmt_number(v), mark="best" if name in best[j] else "")
                  for j, v in enumerate(summary.ndcg_at_k[name])]
        rows.append(tuple(cells))
    headers = (head("scorer"), head("role"), *(head(metric_label(k, evaluation.metric_labels), numeric=True)
                                               for k in keys))
    return Table(headers=headers, rows=tuple(rows), compact=True, caption="NDCG at each cut-off",
                 note=f"Means over the {fmt_count(summary.evaluated.get('ndcg'))} queries that count; the best of "
                      "each column is bold.")


def _ndcg_histogram(summary: RankingSummary, evaluation: Evaluation) -> go.Figure:
    label = metric_label("ndcg", evaluation.metric_labels)
    fig = go.Figure(go.Histogram(x=summary.query_ndcg, xbins={"start": 0.0, "end": 1.0001, "size": 0.05},
                                 marker={"color": MODEL_COLOR}, name=evaluation.model,
                                 hovertemplate=f"{label} %{{x}}<br>queries %{{y}}<extra></extra>"))
    shown = len(summary.query_ndcg)
    sample = "" if shown == summary.query_ndcg_total else f" (an even sample of {fmt_count(shown)})"
    fig.update_layout(base_layout(title=f"Per-query {label}{sample}", x_title=label,
                                  y_title="queries"), bargap=0.05, showlegend=False)
    fig.update_xaxes(range=[0, 1.0001])
    return fig


def _size_histogram(summary: RankingSummary) -> go.Figure:
    sizes = [s for s, _ in summary.query_sizes]
    counts = [c for _, c in summary.query_sizes]
    fig = go.Figure(go.Bar(x=sizes, y=counts, marker={"color": REFERENCE_COLOR},
                           hovertemplate="%{x} items<br>%{y} queries<extra></extra>"))
    fig.update_layout(base_layout(title="Query sizes", x_title="items in the query", y_title="queries"),
                      bargap=0.1, showlegend=False)
    return fig


def _differences_table(evaluation: Evaluation, summary: RankingSummary) -> Table | None:
    if not summary.differences:
        return None
    rows = []
    for d in summary.differences:
        surely = is_number(d.low) and is_number(d.high) and (d.low > 0 or d.high < 0)  # type: ignore[operator]
        mark = "" if not surely else ("pos" if d.mean > 0 else "neg")
        rows.append((Cell(d.other), Cell(ROLE_LABEL.get(d.role, d.role)), num(fmt_signed(d.mean), mark=mark,
                                                                                note=fmt_interval(d.low, d.high)),
                     num(fmt_rate(d.won)), num(fmt_rate(d.tied)), num(fmt_rate(d.lost)), num(fmt_count(d.queries))))
    headers = (head("against"), head("role"), head("mean difference", numeric=True), head("won", numeric=True),
               head("tied", numeric=True), head("lost", numeric=True), head("queries", numeric=True))
    return Table(headers=headers, rows=tuple(rows), note=(
        "Positive means the evaluated model ranks better. Won, tied and lost are shares of the queries; the "
        "difference is coloured when its interval excludes 0."))

