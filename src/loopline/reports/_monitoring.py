"""``render_monitoring``: a timeline of monitoring :class:`~loopline.monitoring.Findings` as a self-contained
HTML page and its JSON twin.

The page says first whether anything is wrong (the headline, over the overall window), then shows drift over
the periods (each feature's effect size, the share of drifted features, the prediction's drift) with the
overall window's statistics and verdicts, data quality, performance (realised with intervals, the estimate
from the scores beside it, the calibration ratio), system health, and the alerts that fired.

Rendering only: every number drawn or printed is one the findings hold; the only arithmetic is counting
(features drifted, issues, alerts) and each arm's share of the requests. No raw value of a window reaches the
page: findings keep statistics, and the page names at most :data:`MAX_EXAMPLES` example new categories per
column, as the findings keep them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from loopline import __version__
from loopline._json import to_plain
from loopline.monitoring import ColumnDrift, Findings, QualityIssue
from loopline.reports._evaluation import ReportPaths
from loopline.reports._format import fmt_count, fmt_interval, fmt_number, fmt_rate, is_number, metric_label
from loopline.reports._monitoring_figures import (
    _EFFECT,
    _calibration_figure,
    _effect_name,
    _effects_figure,
    _fallback_figure,
    _issues_figure,
    _latency_figure,
    _metric_figure,
    _prediction_figure,
    _share_figure,
    _traffic_figure,
)
from loopline.reports._plotly import (
    plotly_figure_html,
    plotly_js,
)
from loopline.reports._templates import render_template
from loopline.reports._view import Block, Cell, Figure, Grid, Section, Table, Text, head, num
from loopline.reports._write import write_html, write_json

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_EXAMPLES = 5
"""Example new categories named per column: the few the findings keep, never the window's values wholesale."""
_RATES = {"missing", "out_of_range", "new_categories"}


@dataclass(frozen=True)
class Point:
    """One line of the headline: what a check found, ``bad``, ``good`` or ``info``."""

    status: str
    text: str


@dataclass(frozen=True)
class MonitoringHeadline:
    verdict: str            # "Needs attention" or "Nothing looks wrong"
    sentence: str           # what is wrong (or what was checked), in one sentence
    good: bool
    points: tuple[Point, ...]


def render_monitoring(timeline: Sequence[Findings], overall: Findings, directory: Path, *, title: str,
                      alerts: Sequence[Any] = (), name: str = "monitoring") -> ReportPaths:
    """Write ``<directory>/<name>.html`` (self-contained, works offline) and ``<directory>/<name>.json``.

    ``timeline`` holds one :class:`Findings` per period (in time order), ``overall`` those of the whole span (or
    of the window the alerts were judged on): the headline and the tables are about ``overall``, the charts about
    the periods. A gap between periods (a period without rows, left out of the timeline) is named at the top.
    ``alerts`` are the alerts that fired (``loopline.monitoring`` ``Alert`` objects, or their ``to_dict()``).
    The JSON twin holds ``overall`` and every period as ``Findings.to_dict()``, the alerts, the headline,
    ``title`` and ``generated_at`` (UTC, ISO 8601). Both files are written atomically; the folder is created.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"report name must be a plain file name (letters, digits, '.', '-', '_'), got {name!r}; "
                         "pass the folder as directory and a name such as 'monitoring'")
    periods = _checked(timeline, overall)
    records = [_alert_record(a, i) for i, a in enumerate(alerts)]
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    directory = Path(directory)
    html_path, json_path = directory / f"{name}.html", directory / f"{name}.json"
    top = headline(overall, records)
    start, end = _span(periods, overall)
    versions = ", ".join(dict.fromkeys(str(f.version) for f in [*periods, overall]))
    notes = list(dict.fromkeys([*_gaps(periods), *overall.notes, *(n for f in periods for n in f.notes)]))
    page = render_template(
        "monitoring.html", title=title, model=overall.model, versions=versions, deployment=overall.deployment,
        window=f"{_moment(start)} to {_moment(end)}" if start is not None and end is not None else "",
        rows=fmt_count(overall.rows), periods=_periods_text(periods), headline=top, notes=notes,
        sections=monitoring_sections(periods, overall, records), plotly_js=Markup(plotly_js()),
        generated_at=generated_at, json_name=json_path.name, version=__version__)
    twin: dict[str, Any] = {
        "title": title, "model": overall.model, "version": overall.version, "deployment": overall.deployment,
        "start": start, "end": end, "headline": asdict(top), "overall": overall.to_dict(),
        "periods": [f.to_dict() for f in periods], "alerts": records, "generated_at": generated_at}
    write_json(twin, json_path)
    write_html(page, html_path)
    return ReportPaths(html=html_path, json=json_path)


def _checked(timeline: Sequence[Findings], overall: Findings) -> list[Findings]:
    if not isinstance(overall, Findings):
        raise TypeError(f"overall: expected the Findings of the overall window (loopline.monitoring.check), got "
                        f"{type(overall).__name__}")
    for i, f in enumerate(timeline):
        if not isinstance(f, Findings):
            raise TypeError(f"timeline[{i}]: expected Findings (one loopline.monitoring.check per period), got "
                            f"{type(f).__name__}")
        if f.model != overall.model:
            raise ValueError(f"timeline[{i}] is about model {f.model!r}, the overall findings about "
                             f"{overall.model!r}: a monitoring report covers one model; render one per model")
    return list(timeline)


def _alert_record(alert: Any, i: int) -> dict[str, Any]:
    to_dict = getattr(alert, "to_dict", None)
    if callable(to_dict):
        record = to_dict()
    elif isinstance(alert, Mapping):
        record = dict(alert)
    else:
        raise TypeError(f"alerts[{i}]: expected a fired alert (loopline.monitoring Alert, or its to_dict()), got "
                        f"{type(alert).__name__}")
    plain: dict[str, Any] = to_plain(record, where=f"alerts[{i}]")
    return plain


# -- headline ---------------------------------------------------------------------------------------------------

def headline(overall: Findings, alerts: Sequence[Mapping[str, Any]] = ()) -> MonitoringHeadline:
    """Whether anything is wrong in the overall window, in words: drift, quality, alerts, then performance and
    health for context."""
    d = overall.drift
    drifted = [c.name for c in d.features if c.drifted]
    tested = len(d.features)
    share = "" if d.share is None else f" ({fmt_rate(d.share)})"
    names = f": {', '.join(drifted[:6])}{f' and {len(drifted) - 6} more' if len(drifted) > 6 else ''}" if drifted \
        else ""
    problems: list[str] = []
    points: list[Point] = []
    if d.drift_detected and not drifted:
        problems.append("drift detected by the multivariate check")
        points.append(Point("bad", f"Drift detected by the multivariate check, though none of the {tested} tested "
                                   "features drifted on its own."))
    elif d.drift_detected:
        problems.append(f"drift detected in {len(drifted)} of {tested} features{share}")
        points.append(Point("bad", f"Drift detected: {len(drifted)} of {tested} tested features drifted{share}"
                                   f"{names}."))
    elif drifted:
        problems.append(f"{len(drifted)} of {tested} features drifted")
        points.append(Point("bad", f"No dataset drift, but {len(drifted)} of {tested} tested features drifted"
                                   f"{share}{names}."))
    else:
        points.append(Point("good", f"No drift: none of the {tested} tested features drifted."))
    if d.domain is not None and d.domain.drifted:
        problems.append("the domain classifier tells the window from training")
        points.append(Point("bad", f"Multivariate drift: {d.domain.reason}."))
    if d.prediction is not None:
        if d.prediction.drifted:
            problems.append("the prediction drifted")
        points.append(Point("bad" if d.prediction.drifted else "good",
                            f"The prediction {'drifted' if d.prediction.drifted else 'did not drift'} "
                            f"({_effect_text(d.prediction)})."))
    issues = overall.quality.issues
    if issues:
        problems.append(f"{_plural(len(issues), 'data-quality issue')}")
        checks = ", ".join(dict.fromkeys(i.check.replace("_", " ") for i in issues))
        points.append(Point("bad", f"{_plural(len(issues), 'data-quality issue')} ({checks})."))
    else:
        points.append(Point("good", "No data-quality issue."))
    if alerts:
        problems.append(f"{_plural(len(alerts), 'alert')} fired")
        severities = ", ".join(f"{n} {s}" for s, n in _count(str(a.get("severity", "warning")) for a in alerts))
        points.append(Point("bad", f"{_plural(len(alerts), 'alert')} fired ({severities})."))
    else:
        points.append(Point("good", "No alert fired."))
    points.append(Point("info", _performance_text(overall.performance)))
    if overall.health is not None:
        h = overall.health
        fallback = "" if h.fallback_share is None else f"; fallback share {fmt_rate(h.fallback_share)}"
        points.append(Point("info", f"{fmt_count(h.requests)} requests; latency p50 {_ms(h.latency_ms.get('p50'))}, "
                                    f"p99 {_ms(h.latency_ms.get('p99'))}{fallback}."))
    if problems:
        sentence = problems[0][0].upper() + problems[0][1:] + "".join(f"; {p}" for p in problems[1:]) + "."
        return MonitoringHeadline("Needs attention", sentence, False, tuple(points))
    return MonitoringHeadline("Nothing looks wrong", f"No drift in {tested} tested features, no data-quality issue "
                                                     "and no alert.", True, tuple(points))


def _performance_text(performance: Any) -> str:
    if performance is None:
        return "No labels yet: no performance for this span."
    whole, label = performance.overall, metric_label(performance.metric)
    realised = whole.realised.get(performance.metric)
    estimate = whole.estimated.get(performance.metric)
    guess = f"estimated {fmt_number(estimate)} from the scores" if is_number(estimate) else ""
    if whole.labelled == 0:
        return f"No labels yet{'; ' + label + ' ' + guess if guess else ''}."
    if realised is None:
        return (f"{label} cannot be computed on the {fmt_count(whole.labelled)} labelled exposures (one class only?)"
                f"{'; ' + guess if guess else ''}.")
    ci = fmt_interval(realised.low, realised.high)
    return (f"{label} {fmt_number(realised.value)}{' ' + ci if ci else ''} on {fmt_count(whole.labelled)} labelled "
            f"exposures{'; ' + guess if guess else ''}.")


# -- sections ---------------------------------------------------------------------------------------------------

def monitoring_sections(timeline: Sequence[Findings], overall: Findings,
                        alerts: Sequence[Mapping[str, Any]] = ()) -> list[Section]:
    """The page's sections after the headline, in order."""
    sections = [_drift_section(timeline, overall), _quality_section(timeline, overall),
                _performance_section(timeline, overall), _health_section(timeline, overall)]
    if alerts:
        sections.append(Section("alerts", "Alerts", (_alerts_table(alerts),)))
    return sections




def _figure(fig: go.Figure, div_id: str) -> Figure:
    return Figure(Markup(plotly_figure_html(fig, div_id=div_id)))


def _xs(timeline: Sequence[Findings]) -> list[str]:
    """The periods' labels on the charts' x axis: their starts, or 'period N' when a start is unknown."""
    return [_moment(f.start) if f.start is not None else f"period {i + 1}" for i, f in enumerate(timeline)]




def _effect_text(c: ColumnDrift) -> str:
    v = c.verdict
    if v.effect_value is None:
        return v.reason.rstrip(".")
    return f"{_EFFECT.get(v.effect, v.effect)} {fmt_number(v.effect_value)}"


def _drift_section(timeline: Sequence[Findings], overall: Findings) -> Section:
    blocks: list[Block] = []
    if timeline:
        xs = _xs(timeline)
        by_period = [{c.name: c for c in f.drift.features} for f in timeline]
        names = list(dict.fromkeys([*(c.name for c in overall.drift.features), *(n for p in by_period for n in p)]))
        for key, title, div in (("wasserstein_norm", "Numeric features: Wasserstein distance / reference std",
                                 "fig-drift-numeric"),
                                ("jensen_shannon", "Categorical features: Jensen-Shannon distance",
                                 "fig-drift-categorical")):
            group = [n for n in names if any(n in p and _effect_name(p[n]) == key for p in by_period)]
            if group:
                blocks.append(_figure(_effects_figure(xs, by_period, group, key, title), div))
        pair: list[Block] = [_figure(_share_figure(xs, timeline), "fig-drift-share")]
        if any(f.drift.prediction is not None for f in timeline):
            pair.append(_figure(_prediction_figure(xs, timeline), "fig-drift-prediction"))
        else:
            pair.append(Text("The prediction was not tested: the reference profile holds no prediction, or the "
                             "windows have no score column.", muted=True))
        blocks.append(Grid(tuple(pair)))
    blocks.append(_drift_table(overall))
    d = overall.drift
    if d.domain is not None:
        blocks.append(Text(f"Multivariate check (a classifier telling the window's rows from training's): "
                           f"{'drifted' if d.domain.drifted else 'not drifted'}; {d.domain.reason}."))
    if d.skipped:
        blocks.append(Text("Not tested: " + "; ".join(f"{k} ({why})" for k, why in d.skipped.items()) + ".",
                           muted=True))
    return Section("drift", "Drift", tuple(blocks), intro=(
        "Each feature against the model version's training reference. A feature drifts when its test is "
        "significant and its effect size is large enough. Diamonds mark the periods where a feature (or the "
        "prediction) drifted; red bars the periods where the dataset drifted."))










def _drift_table(overall: Findings) -> Table:
    d = overall.drift
    columns = sorted(d.features, key=lambda c: not c.drifted)
    extra = [c for c in (d.prediction, d.label) if c is not None]
    rows, marks = [], []
    for c in [*columns, *extra]:
        v = c.verdict
        test = "KS" if v.test == "ks" else v.test.replace("_", "-")
        verdict = "drifted" if v.drifted else ("no verdict" if v.p_value is None else "not drifted")
        effect = num(fmt_number(v.effect_value), note=_EFFECT.get(v.effect, v.effect))
        rows.append((Cell(c.name), Cell(c.kind), num(fmt_count(c.rows)), num(_p(v.p_value), note=test), effect,
                     num(fmt_number(c.statistics.get("psi"))), Cell(verdict, mark="neg" if v.drifted else ""),
                     Cell(v.reason)))
        marks.append("worst" if v.drifted else ("current" if c in extra else ""))
    share = "n/a" if d.share is None else fmt_rate(d.share)
    return Table(headers=(head("feature"), head("kind"), head("rows", numeric=True), head("test p", numeric=True),
                          head("effect size", numeric=True), head("PSI", numeric=True), head("verdict"), head("why")),
                 rows=tuple(rows), row_marks=tuple(marks),
                 caption=f"Overall window: {'drift detected' if d.drift_detected else 'no dataset drift'} "
                         f"({share} of {len(d.features)} tested features drifted)",
                 note="Drifted features first; the prediction and label (when tested) last. The test's p-value and "
                      "the effect size that decided each verdict; PSI for reference.")


# -- quality ----------------------------------------------------------------------------------------------------

def _quality_section(timeline: Sequence[Findings], overall: Findings) -> Section:
    q = overall.quality
    blocks: list[Block] = []
    if q.issues:
        blocks.append(_issues_table(q.issues))
    else:
        blocks.append(Text("No data-quality issue in the overall window."))
    if len(timeline) > 1 and any(f.quality.issues for f in timeline):
        blocks.append(_figure(_issues_figure(_xs(timeline), timeline), "fig-quality"))
    if q.columns:
        rows = tuple((Cell(c.name), num(fmt_count(c.rows)),
                      num(fmt_rate(c.missing_share), note=f"training {fmt_rate(c.reference_missing_share)}"),
                      num(fmt_count(c.invalid)), num(_share(c.out_of_range_share)), num(_share(c.new_share)),
                      Cell(", ".join(c.new_categories[:MAX_EXAMPLES])))
                     for c in q.columns)
        blocks.append(Table(
            headers=(head("column"), head("rows", numeric=True), head("missing", numeric=True),
                     head("not a number", numeric=True), head("out of range", numeric=True),
                     head("new categories", numeric=True), head("e.g. (most frequent new)")),
            rows=rows, caption="Per column, overall window",
            note="Out of range: outside the training [min, max] (numbers). New categories: values training never "
                 f"saw (categories, when training listed them all); at most {MAX_EXAMPLES} examples are named."))
    return Section("quality", "Data quality", tuple(blocks))


def _issue_value(check: str, value: float | None) -> str:
    if value is None or not is_number(value):
        return ""
    if check in _RATES:
        return fmt_rate(value)
    if check == "freshness":
        return _duration(value)
    return f"{value:,.0f}"


def _issues_table(issues: Sequence[QualityIssue]) -> Table:
    rows = tuple((Cell(i.check.replace("_", " ")), Cell(i.column or "(window)"),
                  num(_issue_value(i.check, i.value)), num(_issue_value(i.check, i.threshold)), Cell(i.message))
                 for i in issues)
    return Table(headers=(head("check"), head("column"), head("value", numeric=True), head("threshold", numeric=True),
                          head("what")), rows=rows, caption=f"{_plural(len(issues), 'issue')} in the overall window")




# -- performance ------------------------------------------------------------------------------------------------

def _performance_section(timeline: Sequence[Findings], overall: Findings) -> Section:
    title = "Performance"
    perf = overall.performance or next((f.performance for f in timeline if f.performance is not None), None)
    if perf is None:
        return Section("performance", title, (Text(
            "No labels yet: these findings hold no performance, realised or estimated. Labels arrive once the "
            "spec's label window has closed; the estimate needs the model's scores in the window.", muted=True),))
    metric, label = perf.metric, metric_label(perf.metric)
    known = [(x, f.performance.overall) for x, f in zip(_xs(timeline), timeline, strict=True) if f.performance]
    if not known and overall.performance is not None and len(overall.performance.periods) > 1:
        known = [(_moment(p.start), p) for p in overall.performance.periods]
    blocks: list[Block] = []
    if not any(p.labelled for _, p in known) and not (overall.performance and overall.performance.overall.labelled):
        estimated = any(is_number(p.estimated.get(metric)) for _, p in known)
        blocks.append(Text("No labels yet: no exposure's label window has closed, so " + (
            f"only the {label} estimated from the scores is shown." if estimated
            else f"there is no {label} to show (and no estimate from the scores for this task).")))
    if known:
        pair: list[Block] = [_figure(_metric_figure(known, metric), "fig-performance")]
        if any(p.calibration_ratio is not None for _, p in known):
            pair.append(_figure(_calibration_figure(known), "fig-calibration"))
        blocks.append(Grid(tuple(pair)) if len(pair) > 1 else pair[0])
    rows = [(str(x), p) for x, p in known]
    if overall.performance is not None:
        rows.append(("overall window", overall.performance.overall))
    blocks.append(Table(
        headers=(head("period"), head("exposures", numeric=True), head("labelled", numeric=True),
                 head(f"{label} (realised)", numeric=True), head(f"{label} (estimate)", numeric=True),
                 head("calibration ratio", numeric=True, title="sum of scores / sum of labels")),
        rows=tuple((Cell(name), num(fmt_count(p.rows)), num(fmt_count(p.labelled)),
                    _interval_cell(p.realised.get(metric)), num(fmt_number(p.estimated.get(metric))),
                    _interval_cell(p.calibration_ratio)) for name, p in rows),
        row_marks=tuple("current" if name == "overall window" else "" for name, _ in rows),
        note="Realised: on the labelled exposures, with bootstrap 95% intervals. Estimate: from the scores of every "
             "exposure, assuming they are calibrated probabilities (trust it while the calibration ratio's interval "
             "holds 1)."))
    blocks += [Text(n, muted=True) for n in perf.notes]
    return Section("performance", title, tuple(blocks))


def _interval_cell(value: Any) -> Cell:
    if value is None:
        return num("n/a")
    return num(fmt_number(value.value), note=fmt_interval(value.low, value.high))








# -- health -----------------------------------------------------------------------------------------------------

def _health_section(timeline: Sequence[Findings], overall: Findings) -> Section:
    known = [(x, f.health) for x, f in zip(_xs(timeline), timeline, strict=True) if f.health is not None]
    h = overall.health
    if not known and h is None:
        return Section("health", "Health", (Text(
            "No health data: these findings were not read from a loopline server's event log (latency, fallbacks "
            "and traffic per arm come from its exposures).", muted=True),))
    figures: list[Block] = []
    if known:
        figures.append(_figure(_latency_figure(known), "fig-latency"))
        if any(hp.fallback_share is not None for _, hp in known):
            figures.append(_figure(_fallback_figure(known), "fig-fallback"))
        figures.append(_figure(_traffic_figure(known), "fig-traffic"))
    if h is not None:
        total = sum(h.traffic.values())
        facts = [("requests", fmt_count(h.requests)), ("served exposures", fmt_count(h.exposures)),
                 *((f"latency {k}", _ms(v)) for k, v in h.latency_ms.items()),
                 ("fallback share", fmt_rate(h.fallback_share)),
                 ("shadow exposures per served", fmt_number(h.shadow_share)),
                 *((("server error rate", fmt_rate(h.error_rate)),) if h.error_rate is not None else ()),
                 *((("log records dropped", fmt_rate(h.dropped_share)),) if h.dropped_share is not None else ()),
                 *((f"arm {arm}", f"{fmt_count(n)} ({fmt_rate(n / total)})") for arm, n in h.traffic.items() if total)]
        figures.append(Table(headers=(head("overall window"), head("value", numeric=True)),
                             rows=tuple((Cell(k), num(v)) for k, v in facts), compact=True))
    blocks: list[Block] = [Grid(tuple(figures)) if len(figures) > 1 else figures[0]]
    if h is not None:
        blocks += [Text(n, muted=True) for n in h.notes]
    return Section("health", "Health", tuple(blocks))








# -- alerts -----------------------------------------------------------------------------------------------------

def _alerts_table(alerts: Sequence[Mapping[str, Any]]) -> Table:
    rows, marks = [], []
    for a in alerts:
        found = a.get("rule")
        rule: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        metric = str(a.get("metric") or rule.get("metric", ""))
        threshold = rule.get("threshold")
        severity = str(a.get("severity") or rule.get("severity", "warning"))
        fired = a.get("fired_at")
        when = _moment(datetime.fromisoformat(fired)) if isinstance(fired, str) else str(fired or "")
        limit = f"{threshold:g}" if isinstance(threshold, int | float) else ""
        rows.append((Cell(f"{metric} {rule.get('op', '')} {limit}".strip()), num(fmt_number(a.get("value"))),
                     num(limit),
                     Cell(severity, mark="neg" if severity == "critical" else ""), Cell(when),
                     Cell(str(a.get("message", "")))))
        marks.append("worst" if severity == "critical" else "")
    return Table(headers=(head("rule"), head("value", numeric=True), head("threshold", numeric=True),
                          head("severity"), head("fired at (UTC)"), head("message")),
                 rows=tuple(rows), row_marks=tuple(marks))


# -- small formatting -------------------------------------------------------------------------------------------

def _span(timeline: Sequence[Findings], overall: Findings) -> tuple[datetime | None, datetime | None]:
    starts = [f.start for f in timeline if f.start is not None]
    ends = [f.end for f in timeline if f.end is not None]
    return overall.start or min(starts, default=None), overall.end or max(ends, default=None)


def _periods_text(timeline: Sequence[Findings]) -> str:
    if not timeline:
        return "no periods"
    first, last = timeline[0].start, timeline[-1].end
    span = f" from {_moment(first)} to {_moment(last)}" if first is not None and last is not None else ""
    return f"{_plural(len(timeline), 'period')}{span}"


def _gaps(timeline: Sequence[Findings]) -> list[str]:
    """The stretches between consecutive periods that no period covers (periods without rows are left out)."""
    return [f"No rows from {_moment(a.end)} to {_moment(b.start)}: the periods between are missing from the charts."
            for a, b in pairwise(timeline)
            if a.end is not None and b.start is not None and a.end < b.start]


def _moment(value: datetime | None) -> str:
    if value is None:
        return "n/a"
    at = value.astimezone(UTC) if value.tzinfo is not None else value
    return at.strftime("%Y-%m-%d" if (at.hour, at.minute, at.second) == (0, 0, 0) else "%Y-%m-%d %H:%M")


def _share(value: float | None) -> str:
    """A share, or a dash where the check does not apply (out of range for categories, new ones for numbers)."""
    return "—" if value is None else fmt_rate(value)


def _p(value: float | None) -> str:
    return "n/a" if value is None or not is_number(value) else f"{value:.3g}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None or not is_number(value) else f"{fmt_number(value)} ms"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172_800 else f"{seconds / 86_400:.1f} days"


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _count(items: Any) -> list[tuple[str, int]]:
    found: dict[str, int] = {}
    for item in items:
        found[item] = found.get(item, 0) + 1
    return sorted(found.items(), key=lambda kv: -kv[1])
