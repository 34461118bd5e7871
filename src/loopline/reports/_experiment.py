"""The experiment report: the decision and its reasons, effects with intervals, the cumulative effect
with its always-valid band, enrolment, sample ratio, novelty, guardrails, calibration and the
offline-online gap.

The effects table's verdicts are :meth:`~loopline.experiments.ExperimentAnalysis.verdict`, the words
the decision uses, and the primary metric's always-valid interval sits beside the fixed-horizon one,
so a fixed interval that excludes 0 next to an always-valid one that does not reads "not yet conclusive".
The verdict comes right after the arm and metric, so however wide the table (it scrolls), it is never cut.
Offline metrics sit beside online effects in one table, a row per arm and a column per metric; the
interleaving section names each ranker by the model version it served.

Rendering only: every number comes from :class:`~loopline.experiments.ExperimentAnalysis` (and an
optional interleaving result); nothing is computed here but positions on a chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from loopline import __version__
from loopline.experiments import Decision, ExperimentAnalysis, InterleavingResult
from loopline.reports._evaluation import ReportPaths
from loopline.reports._format import fmt_count, fmt_interval, fmt_number
from loopline.reports._plotly import (
    ACCENT_COLOR,
    MODEL_COLOR,
    REFERENCE_COLOR,
    base_layout,
    plotly_figure_html,
    plotly_js,
)
from loopline.reports._templates import render_template
from loopline.reports._view import Block, Cell, Figure, Section, Table, Text, head, num
from loopline.reports._write import write_html, write_json


def render_experiment(analysis: ExperimentAnalysis, decision: Decision, directory: Path, *, title: str,
                      facts: Mapping[str, str] | None = None, interleaving: InterleavingResult | None = None,
                      name: str = "experiment") -> ReportPaths:
    """Write ``<directory>/<name>.html`` (self-contained) and its JSON twin ``<name>.json``."""
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    directory = Path(directory)
    html_path, json_path = directory / f"{name}.html", directory / f"{name}.json"
    facts = {str(k): str(v) for k, v in (facts or {}).items()}
    validity = analysis.validity
    page = render_template(
        "experiment.html", title=title, analysis=analysis, decision=decision,
        arms=", ".join(analysis.spec.arm_names), start=analysis.start.isoformat()[:16],
        end=analysis.end.isoformat()[:16], warnings=[*validity.issues, *validity.warnings],
        facts=_facts(facts), sections=experiment_sections(analysis, interleaving), plotly_js=Markup(plotly_js()),
        generated_at=generated_at, json_name=json_path.name, version=__version__,
    )
    twin: dict[str, Any] = {"title": title, "analysis": analysis.to_dict(), "decision": decision.to_dict(),
                            "interleaving": None if interleaving is None else interleaving.to_dict(),
                            "facts": facts, "generated_at": generated_at}
    write_json(twin, json_path)
    write_html(page, html_path)
    return ReportPaths(html=html_path, json=json_path)


def experiment_sections(analysis: ExperimentAnalysis, interleaving: InterleavingResult | None = None
                        ) -> list[Section]:
    sections = [
        Section("arms", "Arms", (_arms_table(analysis),)),
        Section("effects", "Effects", (_effects_table(analysis), *(Text(n) for n in analysis.notes),
                                       _figure(_forest(analysis), "fig-effects")),
                intro=_effects_intro(analysis)),
    ]
    daily = [s for s in analysis.daily if s.days]
    if daily:
        sections.append(Section("over-time", "Cumulative effect over time",
                                tuple(_figure(_cumulative(s), f"fig-cumulative-{i}") for i, s in enumerate(daily)),
                                intro="The primary effect at the end of each day. The shaded band is the always-valid "
                                      "confidence sequence: looking every day does not inflate false positives."))
    enrolment = analysis.enrolment
    if enrolment is not None and len(enrolment.days) > 1:
        sections.append(Section("enrolment", "Enrolment", (_figure(_enrolment(enrolment), "fig-enrolment"),),
                                intro="New units per day of first assignment and the fitted curve that says how many "
                                      "more days the experiment needs: returning units are already enrolled, so new "
                                      "units per day fall, and the population can run out."))
    sections.append(Section("srm", "Sample ratio", _srm_blocks(analysis)))
    novelty = [n for n in analysis.validity.novelty if n.ages]
    if novelty:
        sections.append(Section("novelty", "Novelty and primacy",
                                tuple(_figure(_novelty(n), f"fig-novelty-{i}") for i, n in enumerate(novelty)),
                                intro="The primary effect by days since a unit's first exposure; a trend means the "
                                      "effect wears off (novelty) or grows (primacy)."))
    if analysis.guardrails:
        sections.append(Section("guardrails", "Guardrails", (_guardrails_table(analysis),)))
    extra: list[Block] = []
    if analysis.validity.calibration:
        extra.append(_calibration_table(analysis))
    if analysis.offline_online:
        extra.append(_offline_table(analysis))
    if extra:
        sections.append(Section("models", "Models online", tuple(extra)))
    if interleaving is not None:
        a, b = interleaving.name("A"), interleaving.name("B")
        sections.append(Section("interleaving", "Interleaving", (_interleaving_table(interleaving),),
                                intro=f"Every session showed a team-draft merge of the rankings of {a} and {b}; a "
                                      "session is won by the ranker whose items got more clicks."))
    return sections


def _facts(facts: Mapping[str, str]) -> Table | None:
    if not facts:
        return None
    return Table(headers=(head("fact"), head("value")), rows=tuple((Cell(k), Cell(v)) for k, v in facts.items()),
                 compact=True)


def _arms_table(analysis: ExperimentAnalysis) -> Table:
    metrics = [m.name for m in analysis.spec.metrics]
    rows = tuple((Cell(a.arm), num(f"{a.weight:.1%}"), num(fmt_count(a.units)), num(fmt_count(a.exposures)),
                  *[num(fmt_number(a.metrics.get(m))) for m in metrics]) for a in analysis.arms)
    return Table(headers=(head("arm"), head("share", numeric=True), head("units", numeric=True),
                          head("exposures", numeric=True), *[head(m, numeric=True) for m in metrics]), rows=rows)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2%}"


def _effects_intro(analysis: ExperimentAnalysis) -> str:
    spec = analysis.spec
    text = ("Treatment minus control per metric (each arm's value is in the table above) with fixed-horizon "
            f"{1 - spec.alpha:.0%} confidence intervals"
            f"{' (CUPED-adjusted where CUPED ran)' if spec.cuped is not None else ''}; p-values are adjusted across "
            f"metrics ({analysis.adjustment.method}).")
    if any(analysis.always_valid_ci(e.arm, e.metric) is not None for e in analysis.effects):
        text += (f" '{spec.primary}' is decided by the always-valid test, whose interval"
                 f"{' (of the unadjusted effect)' if spec.cuped is not None else ''} is shown beside the fixed one: "
                 "while the fixed interval excludes 0 and the always-valid one does not, the verdict is "
                 "'not yet conclusive', as in the decision.")
    return text


def _effects_table(analysis: ExperimentAnalysis) -> Table:
    rows = []
    marks = []
    sequential = any(analysis.always_valid_ci(e.arm, e.metric) is not None for e in analysis.effects)
    for e in analysis.effects:
        eff = e.tested
        rel_ci = "" if eff.relative_ci is None else f"[{eff.relative_ci[0]:+.2%}, {eff.relative_ci[1]:+.2%}]"
        cuped = [num(f"{e.cuped.variance_reduction:.0%}" if e.cuped is not None else "off (see note)")] \
            if analysis.spec.cuped is not None else []
        verdict = analysis.verdict(e.arm, e.metric)
        valid = analysis.always_valid_ci(e.arm, e.metric)
        always = [num("" if valid is None else fmt_interval(*valid))] if sequential else []
        rows.append((Cell(e.arm), Cell(e.metric), Cell(verdict),
                     num(fmt_number(eff.absolute), note=fmt_interval(*eff.absolute_ci)), *always,
                     num(_pct(eff.relative), note=rel_ci),
                     num(f"{e.adjusted_p_value:.3g}", title=f"unadjusted p = {e.p_value:.3g}"), *cuped))
        marks.append("pos" if verdict == "better" else "neg" if verdict == "worse" else "")
    always_head = [head("always-valid CI", numeric=True,
                        title="interval of the absolute effect valid however often the experiment is looked at "
                              "(mSPRT confidence sequence at the last look)")] if sequential else []
    return Table(headers=(head("arm"), head("metric"), head("verdict", title="in the words the decision uses"),
                          head(f"absolute (fixed {1 - analysis.spec.alpha:.0%} CI)", numeric=True,
                               title="under the estimate, the fixed-horizon interval: valid when the experiment is "
                                     "read once, at its planned end"),
                          *always_head, head("relative effect", numeric=True),
                          head("adjusted p", numeric=True, title="adjusted across metrics; hover a value for the "
                                                                 "unadjusted p"),
                          *([head("CUPED cut", numeric=True, title="variance removed by CUPED")]
                            if analysis.spec.cuped is not None else [])),
                 rows=tuple(rows), row_marks=tuple(marks))


def _forest(analysis: ExperimentAnalysis) -> go.Figure:
    fig = go.Figure()
    labels, values, low, high = [], [], [], []
    for e in analysis.effects:
        eff = e.tested
        if eff.relative is None or eff.relative_ci is None:
            continue
        labels.append(f"{e.metric} · {e.arm}")
        values.append(eff.relative)
        low.append(eff.relative - eff.relative_ci[0])
        high.append(eff.relative_ci[1] - eff.relative)
    fig.add_trace(go.Scatter(x=values, y=labels, mode="markers", marker={"color": MODEL_COLOR, "size": 9},
                             error_x={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
                             name="relative effect", hovertemplate="%{y}: %{x:+.2%}<extra></extra>"))
    fig.add_vline(x=0, line={"color": REFERENCE_COLOR, "dash": "dash"})
    fig.update_layout(**base_layout(title="Relative effects with confidence intervals", x_title="relative effect",
                                    y_title="", height=max(220, 60 + 40 * len(labels))))
    fig.update_xaxes(tickformat="+.0%")
    return fig


def _cumulative(series: Any) -> go.Figure:
    fig = go.Figure()
    seq = series.sequential
    if seq is not None and len(seq.ci_low) == len(series.days):
        fig.add_trace(go.Scatter(x=[*series.days, *reversed(series.days)], y=[*seq.ci_high, *reversed(seq.ci_low)],
                                 fill="toself", fillcolor="rgba(37,99,235,0.12)", line={"width": 0},
                                 name="always-valid confidence sequence", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=list(series.days), y=list(series.ci_high), mode="lines",
                             line={"color": REFERENCE_COLOR, "dash": "dot"}, name="fixed-horizon 95% CI"))
    fig.add_trace(go.Scatter(x=list(series.days), y=list(series.ci_low), mode="lines",
                             line={"color": REFERENCE_COLOR, "dash": "dot"}, showlegend=False))
    fig.add_trace(go.Scatter(x=list(series.days), y=list(series.absolute), mode="lines+markers",
                             line={"color": MODEL_COLOR}, name=f"{series.metric}: {series.arm} - control"))
    fig.add_hline(y=0, line={"color": "#6b7280"})
    if series.stop_day:
        fig.add_vline(x=series.stop_day, line={"color": ACCENT_COLOR, "dash": "dash"})
    title = f"Cumulative effect of {series.arm} on {series.metric}"
    if series.stop_day:
        title += f" (sequential test stops on {series.stop_day})"
    fig.update_layout(**base_layout(title=title, x_title="day", y_title="treatment - control"))
    return fig


def _srm_blocks(analysis: ExperimentAnalysis) -> tuple[Block, ...]:
    srm, exposed = analysis.validity.srm, analysis.validity.srm_exposed
    rows = tuple((Cell(arm), num(f"{share:.1%}"), num(fmt_number(exp)), num(fmt_count(obs)),
                  *([] if exposed is None else [num(fmt_count(exposed.observed[i]))]))
                 for i, (arm, share, exp, obs) in enumerate(zip(srm.arms, srm.shares, srm.expected, srm.observed,
                                                                strict=True)))
    table = Table(headers=(head("arm"), head("configured share", numeric=True), head("expected units", numeric=True),
                           head("assigned units", numeric=True),
                           *([] if exposed is None else [head("units with a served exposure", numeric=True)])),
                  rows=rows)
    verdict = (f"Sample ratio mismatch among assigned units: chi-square p = {srm.p_value:.2g} < {srm.alpha}. The "
               "assignment or the logging is broken; the effects above cannot be trusted." if srm.alarm else
               f"No sample ratio mismatch among assigned units (chi-square p = {srm.p_value:.3g}, alarm below "
               f"{srm.alpha}).")
    blocks: list[Block] = [table, Text(verdict)]
    if exposed is not None:
        blocks.append(Text(
            f"Sample ratio mismatch among exposed units: chi-square p = {exposed.p_value:.2g} < {exposed.alpha}. Some "
            "arm's exposures are being lost; the effects above cannot be trusted." if exposed.alarm else
            f"No sample ratio mismatch among units with a served exposure (chi-square p = {exposed.p_value:.3g})."))
    daily = analysis.validity.srm_by_day
    if daily.days:
        fig = go.Figure(go.Bar(x=list(daily.days), y=[r.p_value for r in daily.by_day], marker_color=MODEL_COLOR,
                               name="p-value of the day's split"))
        fig.add_hline(y=daily.cumulative.alpha, line={"color": ACCENT_COLOR, "dash": "dash"})
        fig.update_layout(**base_layout(title="Sample ratio by day of first exposure", x_title="day",
                                        y_title="chi-square p-value"))
        fig.update_yaxes(type="log")
        blocks.append(_figure(fig, "fig-srm"))
    return tuple(blocks)


def _enrolment(curve: Any) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(curve.days), y=list(curve.new_units), marker_color=MODEL_COLOR,
                           name="new units", hovertemplate="%{x}: %{y:,} new units<extra></extra>"))
    fig.add_trace(go.Scatter(x=list(curve.days), y=list(curve.fitted), mode="lines",
                             line={"color": ACCENT_COLOR, "dash": "dash"}, name="fitted curve (whole days)"))
    fall = "not falling" if curve.decay >= 1 else f"falling {1 - curve.decay:.0%} a day"
    left = "no limit" if curve.remaining is None else f"about {curve.remaining:,.0f} more units to come"
    fig.update_layout(**base_layout(title=f"New units per day ({fall}; {left})", x_title="day of first assignment",
                                    y_title="new units"))
    fig.update_xaxes(type="category")
    return fig


def _novelty(check: Any) -> go.Figure:
    fig = go.Figure(go.Scatter(x=list(check.ages), y=list(check.effects), mode="markers+lines",
                               error_y={"type": "data", "array": [1.96 * s for s in check.ses]},
                               marker={"color": MODEL_COLOR}, name="effect"))
    fig.add_hline(y=0, line={"color": "#6b7280"})
    trend = "" if check.p_value is None else f" (trend p = {check.p_value:.2g})"
    fig.update_layout(**base_layout(title=f"{check.metric}: effect of {check.arm} by days since first exposure{trend}",
                                    x_title="days since the unit's first exposure", y_title="treatment - control"))
    return fig


def _guardrails_table(analysis: ExperimentAnalysis) -> Table:
    rows = tuple((Cell(g.arm), Cell(g.result.metric),
                  num(f"{g.result.margin:g}{' (relative)' if g.result.relative else ''}"),
                  num(fmt_number(g.result.estimate)), num(fmt_number(g.result.worst_bound)),
                  Cell(str(g.result.verdict)), Cell(g.result.message)) for g in analysis.guardrails)
    marks = tuple("neg" if str(g.result.verdict) not in ("pass", "passed", "non-inferior") else ""
                  for g in analysis.guardrails)
    return Table(headers=(head("arm"), head("metric"), head("margin", numeric=True), head("estimate", numeric=True),
                          head("worst bound", numeric=True), head("verdict"), head("detail")), rows=rows,
                 row_marks=marks)


def _calibration_table(analysis: ExperimentAnalysis) -> Table:
    rows = tuple((Cell(c.arm), num(fmt_count(c.scored)), num(fmt_number(c.predicted)), num(fmt_count(c.outcomes)),
                  num(fmt_number(c.ratio)), Cell(c.message)) for c in analysis.validity.calibration)
    return Table(headers=(head("arm"), head("scored", numeric=True), head("sum of predictions", numeric=True),
                          head("outcomes", numeric=True), head("ratio", numeric=True), head("note")), rows=rows,
                 caption="Calibration per arm: predictions over outcomes (1 is calibrated on average)")


OFFLINE_COLUMNS = 4
"""Offline metrics shown as columns (the registry's first ones); the others are named under the table."""


def _offline_table(analysis: ExperimentAnalysis) -> Table:
    """One row per arm: its model version, its online value and effect (as in the effects table), then a column
    per offline test metric of that version in the registry (with its change from control's), "n/a" where the
    registry does not know the version or the metric. The first :data:`OFFLINE_COLUMNS` metrics are columns; the
    rest are named in a note (all are in the JSON twin)."""
    primary = analysis.spec.primary
    known = list(dict.fromkeys(k for o in analysis.offline_online for k in o.offline))
    metrics, rest = known[:OFFLINE_COLUMNS], known[OFFLINE_COLUMNS:]
    notes = any(o.note for o in analysis.offline_online)
    rows = []
    for o in analysis.offline_online:
        effect = next((e.tested for e in analysis.effects if e.arm == o.arm and e.metric == primary), None)
        if effect is None:
            online = [num("control", title="the baseline of every effect")]
        else:
            rel_ci = "" if effect.relative_ci is None else \
                f"[{effect.relative_ci[0]:+.2%}, {effect.relative_ci[1]:+.2%}]"
            online = [num(_pct(effect.relative), note=rel_ci,
                          title=f"absolute {fmt_number(effect.absolute)} {fmt_interval(*effect.absolute_ci)}")]
        offline = []
        for k in metrics:
            value, delta = o.offline.get(k), o.offline_delta.get(k)
            offline.append(num("n/a" if value is None else fmt_number(value),
                               note="" if delta is None else f"{delta:+.3g}"))
        rows.append((Cell(o.arm), Cell(o.model_version or "n/a"), num(fmt_number(o.online)), *online, *offline,
                     *([Cell(o.note or "")] if notes else [])))
    return Table(headers=(head("arm"), head("model version"), head(f"online {primary}", numeric=True),
                          head(f"online effect ({1 - analysis.spec.alpha:.0%} CI)", numeric=True,
                               title=f"relative effect on {primary} against control, as in the effects table"),
                          *[head(f"test {k}", numeric=True, title=f"offline {k} of the registered version on its "
                                                                  "test split; below, the change from control's")
                            for k in metrics], *([head("note")] if notes else [])),
                 rows=tuple(rows), caption="Offline metrics of each arm's model (registry, test split; the change "
                                           "from control's below) beside its online effect",
                 note=f"Also in the registry and in this report's JSON twin: {', '.join(rest)}." if rest else "")


def _interleaving_table(result: InterleavingResult) -> Table:
    a, b = result.name("A"), result.name("B")
    rows = ((Cell("sessions"), num(fmt_count(result.queries))),
            (Cell(f"sessions won by {a}"), num(fmt_count(result.wins_a))),
            (Cell(f"sessions won by {b}"), num(fmt_count(result.wins_b))),
            (Cell("ties (no click, or as many for each)"), num(fmt_count(result.ties))),
            (Cell(f"preference for {a} over {b}", title="(wins of the first - wins of the second) / sessions"),
             num(fmt_number(result.delta), note=fmt_interval(*result.delta_ci))),
            (Cell("sign test p-value"), num(f"{result.p_value:.3g}")),
            (Cell("preferred"), Cell(result.preferred_name or "neither")))
    return Table(headers=(head(f"team-draft interleaving of {a} and {b}"), head("value", numeric=True)), rows=rows,
                 compact=True)


def _figure(fig: go.Figure, div_id: str) -> Figure:
    return Figure(Markup(plotly_figure_html(fig, div_id=div_id)))


