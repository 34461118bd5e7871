"""``render_evaluation``: an :class:`Evaluation` as a self-contained HTML page and its JSON twin.

Sections appear in a fixed order and only when the evaluation has data for them (no fairness for a
regression, no curves when none were computed). Every number drawn or printed comes from the
evaluation, the split summaries or the caller's facts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from loopline import __version__
from loopline.data import SplitSummary
from loopline.evaluation import Curve, Evaluation
from loopline.reports import _figures as figures
from loopline.reports._diagnostics import (
    explanation_tables,
    fairness_blocks,
    mistakes_table,
    slice_blocks,
)
from loopline.reports._format import fmt_count, is_number, metric_label
from loopline.reports._headline import headline
from loopline.reports._plotly import plotly_figure_html, plotly_js
from loopline.reports._ranking import ranking_sections
from loopline.reports._tables import (
    confusion_table,
    facts_table,
    lift_table,
    metrics_table,
    ordered_scores,
    splits_table,
)
from loopline.reports._templates import render_template
from loopline.reports._view import Block, Figure, Grid, Section
from loopline.reports._write import write_html, write_json

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KNOWN_CURVES = ("roc", "pr", "reliability", "cost", "predicted_actual")
_OTHER_PREFIXES = ("roc:", "pr:")  # the other scorers' ROC and PR curves, drawn with the model's


@dataclass(frozen=True)
class ReportPaths:
    """Where a report was written: the HTML page and its JSON twin."""

    html: Path
    json: Path


def render_evaluation(evaluation: Evaluation, directory: Path, *, title: str, splits: Sequence[SplitSummary] = (),
                      warnings: Sequence[str] = (), facts: Mapping[str, str] | None = None,
                      name: str = "evaluation") -> ReportPaths:
    """Write ``<directory>/<name>.html`` (self-contained, works offline) and ``<directory>/<name>.json``.

    The JSON twin is ``evaluation.to_dict()`` plus ``title``, ``splits``, ``warnings``, ``facts`` and
    ``generated_at`` (UTC, ISO 8601). Both files are written atomically; the folder is created.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"report name must be a plain file name (letters, digits, '.', '-', '_'), got {name!r}; "
            "pass the folder as directory and a name such as 'evaluation'"
        )
    facts = dict(facts or {})
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    directory = Path(directory)
    html_path, json_path = directory / f"{name}.html", directory / f"{name}.json"
    page = evaluation_html(evaluation, title=title, splits=splits, warnings=warnings, facts=facts,
                           generated_at=generated_at, json_name=json_path.name)
    twin: dict[str, Any] = {
        **evaluation.to_dict(), "title": title, "splits": [asdict(s) for s in splits],
        "warnings": [str(w) for w in warnings], "facts": {str(k): str(v) for k, v in facts.items()},
        "generated_at": generated_at,
    }
    write_json(twin, json_path)
    write_html(page, html_path)
    return ReportPaths(html=html_path, json=json_path)


def evaluation_html(evaluation: Evaluation, *, title: str, splits: Sequence[SplitSummary] = (),
                    warnings: Sequence[str] = (), facts: Mapping[str, str] | None = None,
                    generated_at: str = "", json_name: str = "") -> str:
    """The report page as a string (what :func:`render_evaluation` writes)."""
    facts_block = facts_table(evaluation, dict(facts or {}))
    return render_template(
        "evaluation.html",
        title=title,
        evaluation=evaluation,
        rows=fmt_count(evaluation.rows),
        primary=metric_label(evaluation.primary_metric, evaluation.metric_labels),
        headline=headline(evaluation),
        warnings=[str(w) for w in warnings],
        facts=facts_block,
        sections=evaluation_sections(evaluation, splits),
        plotly_js=Markup(plotly_js()),
        generated_at=generated_at,
        json_name=json_name,
        version=__version__,
    )


def _figure(fig: Any, div_id: str) -> Figure:
    return Figure(html=Markup(plotly_figure_html(fig, div_id=div_id)))


def _base_rate(evaluation: Evaluation, splits: Sequence[SplitSummary]) -> float | None:
    """The label rate of the evaluated split: from its summary, else the PR curve's end at recall 1
    (where every row is predicted positive, so precision is the label rate)."""
    for s in splits:
        if s.name == evaluation.split and s.label_rate is not None and is_number(s.label_rate):
            return s.label_rate
    pr = evaluation.curves.get("pr")
    if pr is not None and pr.x and pr.y and pr.x[-1] == 1.0 and is_number(pr.y[-1]):
        return pr.y[-1]
    return None


def _curve_sections(evaluation: Evaluation, splits: Sequence[SplitSummary]) -> list[Section]:
    curves: Mapping[str, Curve] = {k: c for k, c in evaluation.curves.items() if c.x and c.y}
    own = next((s.metrics for s in evaluation.scores if s.name == evaluation.model), {})
    value = {m: v.value for m, v in own.items()}
    out: list[Section] = []
    pair: list[Block] = []
    if "roc" in curves:
        pair.append(_figure(figures.roc_figure(curves["roc"], model=evaluation.model, auc=value.get("roc_auc"),
                                               others=_other_curves(evaluation, curves, "roc")), "fig-roc"))
    if "pr" in curves:
        pair.append(_figure(figures.pr_figure(curves["pr"], model=evaluation.model,
                                              base_rate=_base_rate(evaluation, splits), pr_auc=value.get("pr_auc"),
                                              others=_other_curves(evaluation, curves, "pr")), "fig-pr"))
    if pair:
        out.append(Section("curves", "ROC and precision-recall", (Grid(tuple(pair)),),
                           intro="The evaluated model's curves (thick blue) beside those of the other models scored "
                                 "on the same rows: the champion and candidates in colour, baselines grey and dotted, "
                                 "references dash-dotted. The PR plot's dashed line is the label rate (no skill)."
                           if any(k.startswith(_OTHER_PREFIXES) for k in curves) else ""))
    if "reliability" in curves:
        out.append(Section("reliability", "Calibration", (
            _figure(figures.reliability_figure(curves["reliability"], model=evaluation.model), "fig-reliability"),
        ), intro="Observed positive rate against the mean prediction in bins of equal row counts (so a rare "
                 "positive class still gives many points); points on the diagonal are calibrated. Error bars are "
                 "each bin's 95% (Jeffreys) interval; hover for the rows in a bin, also shown by the bars below."))
    threshold: list[Block] = []
    if "cost" in curves:
        threshold.append(_figure(figures.cost_figure(curves["cost"], threshold=evaluation.threshold), "fig-cost"))
    confusion = confusion_table(evaluation.confusion or {}, threshold=evaluation.threshold)
    if confusion is not None:
        threshold.append(confusion)
    if threshold:
        out.append(Section("threshold", "Decision threshold", (Grid(tuple(threshold)),) if len(threshold) > 1
                           else tuple(threshold)))
    if "predicted_actual" in curves:
        points = curves["predicted_actual"]
        out.append(Section("residuals", "Predicted vs actual", (Grid((
            _figure(figures.predicted_actual_figure(points), "fig-predicted-actual"),
            _figure(figures.residuals_figure(points), "fig-residuals"))),),
            intro=f"Each dot is a row of the {evaluation.split} split (a seeded random sample of at most "
                  f"{figures.MAX_SCATTER:,} rows): on the diagonal the prediction is exact; residuals should "
                  "scatter evenly around 0 at every predicted value."))
    others = [k for k in curves if k not in _KNOWN_CURVES and not k.startswith(_OTHER_PREFIXES)]
    if others:
        out.append(Section("other-curves", "Other curves", (Grid(tuple(
            _figure(figures.curve_figure(k, curves[k]), f"fig-curve-{i}") for i, k in enumerate(others))),)))
    return out


def _other_curves(evaluation: Evaluation, curves: Mapping[str, Curve], kind: str) -> list[figures.OtherCurve]:
    """The other scorers' curves of ``kind`` (``roc`` or ``pr``) with their roles, in the metrics table's order."""
    roles = {s.name: s.role for s in evaluation.scores}
    order = {s.name: i for i, s in enumerate(ordered_scores(evaluation))}
    found = [(key.split(":", 1)[1], curve) for key, curve in curves.items() if key.startswith(f"{kind}:")]
    found.sort(key=lambda item: order.get(item[0], len(order)))
    return [(name, roles.get(name, "other"), curve) for name, curve in found]


def evaluation_sections(evaluation: Evaluation, splits: Sequence[SplitSummary] = ()) -> list[Section]:
    """The page's sections after the summary, in order, leaving out those with nothing to show."""
    primary = evaluation.primary_metric
    sections: list[Section] = []
    if evaluation.scores:
        sections.append(Section("metrics", "Metrics", (metrics_table(evaluation),)))
    lift = lift_table(evaluation)
    if lift is not None:
        sections.append(Section("lift", "Lift over baselines", (lift,)))
    split_table = splits_table(splits, task=evaluation.task, current=evaluation.split)
    if split_table is not None:
        sections.append(Section("splits", "Splits", (split_table,)))
    sections += ranking_sections(evaluation, splits)
    sections += _curve_sections(evaluation, splits)
    if evaluation.slices or evaluation.worst_slices:
        sections.append(Section("slices", "Slices", tuple(slice_blocks(
            evaluation.slices, evaluation.worst_slices, primary=primary, task=evaluation.task)),
            intro=f"{metric_label(primary)} on each slice. The gap is how much worse than the whole split (positive "
                  "is worse) with its 95% bootstrap interval; slices are ranked by the low end of that interval, "
                  "so a slice ranks high only when it is surely worse. Slices of fewer than 100 rows are too small "
                  "to judge and come last. The worst slices (surely worse) are highlighted."))
    if evaluation.fairness:
        sections.append(Section("fairness", "Fairness", tuple(fairness_blocks(
            evaluation.fairness, threshold=evaluation.threshold))))
    if evaluation.importance:
        sections.append(Section("importance", "Feature importance", (
            _figure(figures.importance_figure(evaluation.importance), "fig-importance"),)))
    if evaluation.coefficients:
        sections.append(Section("coefficients", "Coefficients", (
            _figure(figures.coefficients_figure(evaluation.coefficients), "fig-coefficients"),),
            intro="The linear model's signed coefficients on the inputs it was fitted on: numeric inputs "
                  "standardized (per standard deviation), each category its own 0/1 input. Blue raises the raw "
                  "score (log-odds for a classifier), red lowers it."))
    if evaluation.explanations:
        tables = explanation_tables(evaluation.explanations)
        sections.append(Section("explanations", "Explanations", (Grid(tuple(tables)),),
                                intro="The largest signed contributions to the model's score of a few rows "
                                      "(positive pushes the score up)."))
    if evaluation.mistakes:
        sections.append(Section("mistakes", "Most confident mistakes", (mistakes_table(evaluation.mistakes),),
                                intro="Rows the model got most confidently wrong (by entity id when the spec names "
                                      "one), with the values of the features that contributed most to each row."))
    if evaluation.over_time:
        own = next((s.metrics for s in evaluation.scores if s.name == evaluation.model), {})
        overall = own[primary].value if primary in own else None
        sections.append(Section("over-time", "Over time", (
            _figure(figures.over_time_figure(evaluation.over_time, metric=primary, overall=overall), "fig-over-time"),
        ), intro="The primary metric per day (per week beyond 60 days) with its 95% bootstrap interval; periods of "
                 "fewer than 100 rows are merged with the next ones (hover for the dates and rows of each point)."))
    return sections

