"""``render_backtest``: the continual-learning loop's results over time as a self-contained HTML page and its JSON
twin, for a backtest (``loopline loop --backtest``) or a live run of the loop (the demo's 30 days).

The page says first what retraining bought (the metric over all rows with and without it, the retrains and the
promotions), then draws the metric per period for the policy and for the never-retrained champion, with the truth
when known, the world's events as dashed lines and the promotions and rollbacks on the policy's line; then the
loop's steps in order, then the facts.

Rendering only: every number drawn or printed is one ``data`` holds (``Backtest.to_dict()`` or the same keys); the
only arithmetic is the size of the difference named in the headline.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from loopline import __version__
from loopline._errors import LoopError, SpecError
from loopline.reports._evaluation import ReportPaths
from loopline.reports._format import fmt_count, fmt_number, is_number, metric_label
from loopline.reports._plotly import (
    ACCENT_COLOR,
    MODEL_COLOR,
    REFERENCE_COLOR,
    base_layout,
    plotly_figure_html,
    plotly_js,
)
from loopline.reports._templates import render_template
from loopline.reports._view import Block, Cell, Figure, Section, Table, Text, head
from loopline.reports._write import write_html, write_json
from loopline.spec import describe_direction

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
REQUIRED = ("model", "metric", "start", "end", "every", "gate_time", "policy", "champion", "improvement", "retrains",
            "promotions", "periods", "actions")
"""The keys ``data`` must hold (``Backtest.to_dict()`` has them all)."""
POLICY_LABEL, CHAMPION_LABEL = "with retraining", "without retraining (counterfactual)"
TRUTH_COLOR, EVENT_COLOR, PROMOTE_COLOR = "#059669", "#d97706", "#047857"
_MARKERS = {"promote": ("promotion", "triangle-up", PROMOTE_COLOR), "rollback": ("rollback", "x", ACCENT_COLOR)}


def render_backtest(data: Mapping[str, Any], directory: Path, *, title: str, name: str = "backtest") -> ReportPaths:
    """Write ``<directory>/<name>.html`` (self-contained, works offline) and ``<directory>/<name>.json``.

    ``data`` is plain JSON with the keys of :data:`REQUIRED` (as ``Backtest.to_dict()`` writes them) and optionally
    ``truth`` (``[{start, end, value}]``, the best reachable metric per period), ``events`` (``[{at, label}]``,
    things that happened in the world), ``policy_label`` and ``champion_label`` (the two lines' names), ``notes``
    (strings shown under the headline) and ``facts`` (a str -> str mapping added to the facts table). The JSON
    twin is ``data`` itself, NaN written as ``null``. Both files are written atomically; the folder is created.

    >>> import json, pathlib, tempfile
    >>> data = {"model": "ctr", "metric": "log_loss", "start": "2026-03-01T00:00:00+00:00",
    ...         "end": "2026-03-03T00:00:00+00:00", "every": "1d", "gate_time": "0s", "policy": 0.201,
    ...         "champion": 0.214, "improvement": 0.013, "retrains": 1, "promotions": 1, "actions": [],
    ...         "periods": [{"start": "2026-03-01T00:00:00+00:00", "end": "2026-03-02T00:00:00+00:00",
    ...                      "rows": 10, "version": "champion", "policy": 0.21, "champion": float("nan")}]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     paths = render_backtest(data, pathlib.Path(folder), title="ctr: backtest")
    ...     json.loads(paths.json.read_text())["periods"][0]["champion"], paths.html.name
    (None, 'backtest.html')
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"report name must be a plain file name (letters, digits, '.', '-', '_'), got {name!r}; "
                         "pass the folder as directory and a name such as 'backtest'")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise LoopError(f"backtest report: data has no {', '.join(map(repr, missing))}; pass Backtest.to_dict() "
                        f"or a mapping with all of {', '.join(REQUIRED)}")
    metric = str(data["metric"])
    periods = [_entry(p, f"periods[{i}]", ("start", "end")) for i, p in enumerate(_list(data, "periods"))]
    actions = [_entry(a, f"actions[{i}]", ("at",)) for i, a in enumerate(_list(data, "actions"))]
    truth = [_entry(t, f"truth[{i}]", ("start", "end")) for i, t in enumerate(_list(data, "truth"))]
    events = [_entry(e, f"events[{i}]", ("at",)) for i, e in enumerate(_list(data, "events"))]
    labels = (str(data.get("policy_label") or POLICY_LABEL), str(data.get("champion_label") or CHAMPION_LABEL))
    directory = Path(directory)
    html_path, json_path = directory / f"{name}.html", directory / f"{name}.json"
    sentence, good = headline(data)
    figure = _metric_figure(metric, periods, actions, truth, events, labels)
    sections = [
        Section("metric", f"{metric_label(metric)} per period", (Figure(Markup(plotly_figure_html(
            figure, div_id="fig-backtest"))),), intro=_figure_intro(data, labels)),
        Section("steps", "The loop's steps", (_steps_table(actions),)),
        Section("facts", "Facts", (_facts_table(data, labels),)),
    ]
    page = render_template(
        "loop.html", title=title, model=str(data["model"]), metric=metric_label(metric),
        window=f"{_moment(_time(data['start'], 'start'))} to {_moment(_time(data['end'], 'end'))}",
        every=str(data["every"]), periods=_plural(len(periods), "period"), sentence=sentence, good=good,
        direction=_direction(metric),
        notes=[str(n) for n in _list(data, "notes")], sections=sections, plotly_js=Markup(plotly_js()),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"), json_name=json_path.name, version=__version__)
    write_json(data, json_path)
    write_html(page, html_path)
    return ReportPaths(html=html_path, json=json_path)


def headline(data: Mapping[str, Any]) -> tuple[str, bool | None]:
    """The page's first sentence, and whether retraining did better (None when the two cannot be compared).

    >>> sentence, good = headline({"metric": "log_loss", "policy": 0.201, "champion": 0.214, "improvement": 0.013,
    ...                            "retrains": 2, "promotions": 1, "champion_label": "without"})
    >>> print(sentence); good
    With retraining, log-loss 0.201 vs 0.214 without: better by 0.013; 2 retrains, 1 promotion.
    True
    """
    policy_label = str(data.get("policy_label") or POLICY_LABEL)
    champion_label = str(data.get("champion_label") or CHAMPION_LABEL)
    gain = _number(data.get("improvement"), "improvement")
    if gain is None:
        verdict, good = "", None
    elif gain == 0:
        verdict, good = ": no difference", None
    else:
        verdict, good = f": {'better' if gain > 0 else 'worse'} by {fmt_number(abs(gain))}", gain > 0
    counts = f"{_plural(data.get('retrains'), 'retrain')}, {_plural(data.get('promotions'), 'promotion')}"
    return (f"{policy_label[:1].upper()}{policy_label[1:]}, {metric_label(str(data['metric']))} "
            f"{fmt_number(_number(data.get('policy'), 'policy'))} vs "
            f"{fmt_number(_number(data.get('champion'), 'champion'))} {champion_label}{verdict}; {counts}.", good)


# -- the figure -------------------------------------------------------------------------------------------------

def _metric_figure(metric: str, periods: Sequence[Mapping[str, Any]], actions: Sequence[Mapping[str, Any]],
                   truth: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]],
                   labels: tuple[str, str]) -> go.Figure:
    fig = go.Figure()
    xs = [_time(p["start"], f"periods[{i}].start") for i, p in enumerate(periods)]
    hover = [f"{_moment(x)} to {_moment(_time(p['end'], f'periods[{i}].end'))}<br>{fmt_count(p.get('rows'))} rows; "
             f"model in force: {_literal(p.get('version', 'n/a'))}"
             for i, (x, p) in enumerate(zip(xs, periods, strict=True))]
    policy = [_number(p.get("policy"), f"periods[{i}].policy") for i, p in enumerate(periods)]
    for key, ys, label, style in (
            ("truth", [_number(t.get("value"), f"truth[{i}].value") for i, t in enumerate(truth)], "best reachable "
             "(truth)", {"color": TRUTH_COLOR, "dash": "dot", "width": 2}),
            ("champion", [_number(p.get("champion"), f"periods[{i}].champion") for i, p in enumerate(periods)],
             labels[1], {"color": REFERENCE_COLOR, "dash": "dash", "width": 2}),
            ("policy", policy, labels[0], {"color": MODEL_COLOR, "width": 3})):
        if key == "truth" and not truth:
            continue
        x = [_time(t["start"], f"truth[{i}].start") for i, t in enumerate(truth)] if key == "truth" else xs
        fig.add_trace(go.Scatter(
            x=x, y=ys, mode="lines+markers", name=label, line=style, marker={"size": 5 if key != "policy" else 7},
            customdata=hover if key != "truth" else None, hovertemplate=(
                f"{label}: %{{y:.4f}}<br>%{{customdata}}<extra></extra>" if key != "truth"
                else f"{label}: %{{y:.4f}}<extra></extra>")))
    for stage, (label, symbol, color) in _MARKERS.items():
        chosen = [a for a in actions if a.get("stage") == stage]
        if chosen:
            times = [_time(a["at"], f"{stage} at") for a in chosen]
            fig.add_trace(go.Scatter(
                x=times, y=[_on_line(t, xs, policy) for t in times], mode="markers", name=label,
                marker={"symbol": symbol, "size": 15, "color": color, "line": {"color": "#ffffff", "width": 1.5}},
                customdata=[f"{_moment(t)} · {_literal(a.get('version') or '')}<br>"
                            f"{_wrap(_literal(a.get('reason', '')))}"
                            for t, a in zip(times, chosen, strict=True)],
                hovertemplate=f"<b>{label}</b> %{{customdata}}<extra></extra>"))
    for i, e in enumerate(events):
        at = _time(e["at"], f"events[{i}].at")
        fig.add_shape(type="line", xref="x", yref="paper", x0=at, x1=at, y0=0, y1=1,
                      line={"color": EVENT_COLOR, "dash": "dash", "width": 1.5})
        fig.add_annotation(x=at, y=1, xref="x", yref="paper", text=_literal(e.get("label", "")), showarrow=False,
                           xanchor="left", yanchor="bottom", xshift=2, yshift=2 + 14 * (i % 3),
                           font={"size": 11, "color": EVENT_COLOR}, bgcolor="rgba(255,255,255,0.8)")
    if events:  # one legend entry for the dashed lines
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="event in the world",
                                 line={"color": EVENT_COLOR, "dash": "dash", "width": 1.5}, hoverinfo="skip"))
    direction = _direction(metric)
    fig.update_layout(**base_layout(title="", x_title="period start (UTC)", height=460,
                                    y_title=metric_label(metric) + (f" ({direction})" if direction else "")))
    # the events' labels sit above the plot, in up to three rows so that close events do not overlap
    fig.update_layout(margin={"l": 64, "r": 24, "t": 20 + 14 * min(len(events), 3), "b": 48}, hovermode="closest")
    return fig


def _on_line(at: datetime, xs: Sequence[datetime], ys: Sequence[float | None]) -> float | None:
    """The policy's value in the period holding ``at`` (or the last earlier one with a value), so the marker sits on
    the line; the first value when none is earlier."""
    known = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    earlier = [y for x, y in known if x <= at]
    return earlier[-1] if earlier else (known[0][1] if known else None)


# -- tables and words -------------------------------------------------------------------------------------------

def _steps_table(actions: Sequence[Mapping[str, Any]]) -> Block:
    if not actions:
        return Text("The loop took no step in this span: no trigger fired, so nothing was retrained or promoted.",
                    muted=True)
    rows = tuple((Cell(_moment(_time(a["at"], f"actions[{i}].at"))), Cell(str(a.get("stage", ""))),
                  Cell(str(a.get("status", "")), mark=f"status {a.get('status', '')}"),
                  Cell("" if a.get("version") is None else str(a["version"])), Cell(str(a.get("reason", ""))))
                 for i, a in enumerate(actions))
    marks = tuple({"promote": "current", "rollback": "worst"}.get(str(a.get("stage")), "") for a in actions)
    return Table(headers=(head("time (UTC)"), head("stage"), head("status"), head("version"), head("reason")),
                 rows=rows, row_marks=marks, note="In the order the loop took them. Promotions are highlighted in "
                                                  "blue, rollbacks in red.")


def _facts_table(data: Mapping[str, Any], labels: tuple[str, str]) -> Table:
    metric = str(data["metric"])
    facts = [("model", str(data["model"])), ("metric", f"{metric_label(metric)} ({_direction(metric) or metric})"),
             ("from", _moment(_time(data["start"], "start"))), ("to", _moment(_time(data["end"], "end"))),
             ("period", str(data["every"])),
             *((("gate time", str(data["gate_time"])),) if not data.get("description") else ()),
             (f"{metric_label(metric)} {labels[0]}", fmt_number(_number(data["policy"], "policy"))),
             (f"{metric_label(metric)} {labels[1]}", fmt_number(_number(data["champion"], "champion"))),
             ("improvement (positive: retraining better)", fmt_number(_number(data["improvement"], "improvement"))),
             ("retrains", fmt_count(data["retrains"])), ("promotions", fmt_count(data["promotions"])),
             *((str(k), str(v)) for k, v in (data.get("facts") or {}).items())]
    return Table(headers=(head("fact"), head("value")), rows=tuple((Cell(k), Cell(v)) for k, v in facts),
                 compact=True)


def _figure_intro(data: Mapping[str, Any], labels: tuple[str, str]) -> str:
    if data.get("description"):  # a run other than a backtest says what its lines are
        return str(data["description"]) + (" Dashed lines mark events in the world." if data.get("events") else "")
    return (f"The metric of the model in force in each period ({labels[0]}) beside the original champion scored on "
            f"the same rows ({labels[1]}). Triangles mark promotions and crosses rollbacks, at the time the loop "
            f"decided; a promoted model serves {data['gate_time']} later (the gates' least time). Hover a marker for "
            "its reason." + (" Dashed lines mark events in the world." if data.get("events") else ""))


def _direction(metric: str) -> str:
    try:
        return describe_direction(metric)
    except SpecError:
        return ""


def _plural(count: Any, word: str) -> str:
    return f"{fmt_count(count)} {word}{'' if count == 1 else 's'}"


def _literal(value: Any) -> str:
    """Text shown as written in a figure: Plotly reads ``<...>`` as markup, so ``<``, ``>`` and ``&`` are escaped."""
    return html.escape(str(value), quote=False)


def _wrap(text: str, width: int = 80) -> str:
    """Hover text broken into lines of about ``width`` characters."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + len(word) < width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


# -- checking data ----------------------------------------------------------------------------------------------

def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    found = data.get(key)
    if found is None:
        return []
    if not isinstance(found, Sequence) or isinstance(found, str):
        raise LoopError(f"backtest report: data[{key!r}] must be a list, got {type(found).__name__}")
    return list(found)


def _entry(value: Any, where: str, times: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise LoopError(f"backtest report: {where} must be a mapping with {', '.join(times)}, got "
                        f"{type(value).__name__}")
    for key in times:
        if key not in value:
            raise LoopError(f"backtest report: {where} has no {key!r}; give it as an ISO 8601 time like "
                            "'2026-03-01T00:00:00+00:00'")
        _time(value[key], f"{where}.{key}")
    return value


def _time(value: Any, where: str) -> datetime:
    """``value`` (an ISO 8601 string or a datetime) as a naive UTC datetime, which Plotly draws as given."""
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise LoopError(f"backtest report: {where}: expected an ISO 8601 time like '2026-03-01T00:00:00+00:00', "
                        f"got {value!r}") from None
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo is not None else at


def _number(value: Any, where: str) -> float | None:
    """A metric value, or None when missing or NaN."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LoopError(f"backtest report: {where}: expected a number or null, got {value!r}")
    return float(value) if is_number(value) else None


def _moment(at: datetime) -> str:
    return at.strftime("%Y-%m-%d" if (at.hour, at.minute, at.second) == (0, 0, 0) else "%Y-%m-%d %H:%M")
