"""The monitoring report: a week of findings made by the real monitoring pipeline (window aggregation, drift,
quality, health, performance, alerts) on synthetic exposures, rendered offline with a JSON twin holding the
same numbers, and never a raw value of the windows."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.offline
import pytest

from loopline.data import infer_schema
from loopline.features import Profile
from loopline.features._label_profile import PredictionProfile
from loopline.monitoring import Findings, aggregate, drift, health, quality
from loopline.monitoring._alerts import evaluate
from loopline.monitoring._check import _quality_reference
from loopline.monitoring._drift import reference_grid
from loopline.monitoring._performance import performance
from loopline.monitoring._window import WindowSource
from loopline.reports import ReportPaths, render_monitoring
from loopline.spec import AlertRule

T0 = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 5
ROWS = 1_200
NUMERIC = ("tenure", "spend")
CATEGORICAL = ("plan", "city")
CITIES = ("paris", "rome", "oslo", "lima", "kyiv", "baku")
NEW_CITIES = ("nantes", "turin", "bergen", "cusco", "lviv", "ganja")  # day 4: each 1% of the rows
PLANTED = "zq-planted-7f3a1c"  # one row on day 4: a raw value the report must never show
BUNDLE = plotly.offline.get_plotlyjs()


def _rows(n: int, rng: np.random.Generator, *, shift: float = 0.0) -> pd.DataFrame:
    plan_p = [0.6, 0.3, 0.1] if shift == 0 else [0.35, 0.35, 0.3]
    frame = pd.DataFrame({
        "tenure": rng.normal(24.0 + 12.0 * shift, 8.0, n).round(1),
        "spend": rng.lognormal(3.0, 0.5, n).round(2),
        "plan": rng.choice(["free", "pro", "team"], n, p=plan_p),
        "city": rng.choice(CITIES, n),
    })
    frame["score"] = 1.0 / (1.0 + np.exp(-(frame["tenure"] - 24.0) / 8.0 + 1.0))
    return frame


def _reference() -> Profile:
    frame = _rows(4_000, np.random.default_rng(0))
    profile = Profile.from_frame(frame, infer_schema(frame), features=[*NUMERIC, *CATEGORICAL])
    return replace(profile, prediction=PredictionProfile.of(frame["score"].to_numpy(), "binary"))


def _day(day: int) -> pd.DataFrame:
    """One day of served exposures: calm on days 0-2, tenure and plan shifted from day 3, new cities on day 4."""
    rng = np.random.default_rng(7 + day)
    frame = _rows(ROWS, rng, shift=1.0 if day >= 3 else 0.0)
    if day == 4:
        per = ROWS // 100
        frame.loc[: per * len(NEW_CITIES) - 1, "city"] = np.repeat(NEW_CITIES, per)
        frame.loc[ROWS - 1, "city"] = PLANTED
    start = T0 + timedelta(days=day)
    frame["ts"] = [start + timedelta(seconds=float(s)) for s in np.linspace(0, 86_399, ROWS)]
    frame["request_id"] = [f"d{day}-r{i}" for i in range(ROWS)]
    frame["served"] = True
    frame["arm"] = np.where(np.arange(ROWS) % 5 == 0, "challenger", "champion")
    frame["model_version"] = "3"
    frame["latency_ms"] = rng.gamma(2.0, 2.0 + day, ROWS)
    frame["fallback"] = np.where(rng.random(ROWS) < 0.01 * (day + 1), "latency_budget", None)
    frame["label"] = rng.binomial(1, frame["score"]).astype(float) if day < 3 else np.nan  # recent labels not in
    return frame


def _findings(frame: pd.DataFrame, profile: Profile, start: datetime, end: datetime, *, with_labels: bool) -> Findings:
    numeric: dict[str, Any] = {n: reference_grid(profile.features[n]) for n in NUMERIC}
    assert profile.prediction is not None
    binned = profile.prediction.binned()
    assert binned is not None
    numeric["score"] = binned.edges
    with WindowSource.from_table(frame, time_column="ts", start=start, end=end) as source:
        stats = aggregate(source, numeric=numeric, categorical=list(CATEGORICAL))
        found_health = health(source)
    found = performance(frame, frame["label"].to_numpy() if with_labels else None, task="binary", period="1D",
                        metric="roc_auc", metrics=["roc_auc"], n_boot=40, start=start, end=end)
    return Findings(model="churn", version=3, deployment="churn", source=stats.description, start=start, end=end,
                    checked_at=end, rows=stats.rows, drift=drift(profile, stats, prediction="score"),
                    quality=quality(stats, _quality_reference(profile), now=end), health=found_health,
                    performance=found)


@pytest.fixture(scope="module")
def week() -> tuple[list[Findings], Findings, pd.DataFrame]:
    profile = _reference()
    days = [_day(d) for d in range(DAYS)]
    timeline = [_findings(f, profile, T0 + timedelta(days=d), T0 + timedelta(days=d + 1), with_labels=True)
                for d, f in enumerate(days)]
    everything = pd.concat(days, ignore_index=True)
    overall = _findings(everything, profile, T0, T0 + timedelta(days=DAYS), with_labels=True)
    return timeline, overall, everything


@pytest.fixture(scope="module")
def fired(week: tuple[list[Findings], Findings, pd.DataFrame]) -> list[Any]:
    _, overall, _ = week
    rules = [AlertRule(metric="drift.share", op=">=", threshold=0.5, severity="critical"),
             AlertRule(metric="health.latency_p99_ms", op=">", threshold=5.0),
             AlertRule(metric="performance.roc_auc", op="<", threshold=0.5)]
    alerts, _ = evaluate(rules, overall.values(), now=T0 + timedelta(days=DAYS), model="churn", version=3)
    return alerts


@pytest.fixture(scope="module")
def report(week: tuple[list[Findings], Findings, pd.DataFrame], fired: list[Any],
           tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    timeline, overall, _ = week
    return render_monitoring(timeline, overall, tmp_path_factory.mktemp("monitoring"), title="churn: last 5 days",
                             alerts=fired)


def _text(paths: ReportPaths) -> tuple[str, dict[str, Any]]:
    return paths.html.read_text(encoding="utf-8"), json.loads(paths.json.read_text(encoding="utf-8"))


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def test_the_planted_week_is_what_the_report_is_about(week: tuple[list[Findings], Findings, pd.DataFrame]) -> None:
    timeline, overall, _ = week
    assert [f.drift.drift_detected for f in timeline] == [False, False, False, True, True]
    assert {c.name for c in timeline[3].drift.features if c.drifted} == {"tenure", "plan"}
    city = next(c for c in overall.quality.columns if c.name == "city")
    assert set(city.new_categories) <= set(NEW_CITIES) and PLANTED not in city.new_categories


def test_files_are_written_side_by_side_and_nothing_comes_from_a_network(report: ReportPaths) -> None:
    assert report.html.name == "monitoring.html" and report.json.name == "monitoring.json"
    assert sorted(p.name for p in report.html.parent.iterdir()) == ["monitoring.html", "monitoring.json"]
    html, _ = _text(report)
    assert html.count(BUNDLE) == 1 and html.index(BUNDLE) < html.index("Plotly.newPlot")
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, flags=re.I)
    rest = html.replace(BUNDLE, "")
    assert "http://" not in rest and "https://" not in rest and "cdn.plot.ly" not in rest


def test_the_headline_says_what_is_wrong_first(report: ReportPaths,
                                               week: tuple[list[Findings], Findings, pd.DataFrame]) -> None:
    _, overall, _ = week
    html, twin = _text(report)
    begin = html.index('<section class="summary')
    summary = html[begin:html.index("</section>", begin)]
    assert html.index(summary) < html.index('<nav class="toc"')
    drifted = [c.name for c in overall.drift.features if c.drifted]
    tested = len(overall.drift.features)
    assert "Needs attention" in summary
    assert f"Drift detected: {len(drifted)} of {tested} tested features drifted" in summary
    issues = len(overall.quality.issues)
    assert issues > 0 and f"{issues} data-quality issue" in summary
    assert "2 alerts fired (1 critical, 1 warning)" in summary
    assert twin["headline"]["verdict"] == "Needs attention" and twin["headline"]["good"] is False


def test_every_feature_and_section_appears(report: ReportPaths) -> None:
    html, _ = _text(report)
    assert re.findall(r'<h2 id="([^"]+)"', html) == ["drift", "quality", "performance", "health", "alerts"]
    for name in (*NUMERIC, *CATEGORICAL):
        assert f"<td>{name}</td>" in html
    ids = re.findall(r'<div id="(fig-[^"]+)"', html)
    assert ids == ["fig-drift-numeric", "fig-drift-categorical", "fig-drift-share", "fig-drift-prediction",
                   "fig-quality", "fig-performance", "fig-calibration", "fig-latency", "fig-fallback", "fig-traffic"]


def test_the_drift_table_prints_the_overall_verdicts(report: ReportPaths,
                                                    week: tuple[list[Findings], Findings, pd.DataFrame]) -> None:
    _, overall, _ = week
    html, _ = _text(report)
    for c in [*overall.drift.features, overall.drift.prediction]:
        assert c is not None
        row = re.search(rf"<tr[^>]*><td>{c.name}</td>(.*?)</tr>", html, flags=re.S)
        assert row is not None, c.name
        cells = row.group(1)
        assert f"{c.verdict.effect_value:.3f}" in cells or f"{c.verdict.effect_value:.4f}" in cells
        assert (">drifted<" in cells) == c.drifted


def test_the_json_twin_holds_each_periods_statistics_and_verdicts(
        report: ReportPaths, week: tuple[list[Findings], Findings, pd.DataFrame], fired: list[Any]) -> None:
    timeline, overall, _ = week
    _, twin = _text(report)
    assert len(twin["periods"]) == len(timeline)
    for period, f in zip(twin["periods"], timeline, strict=True):
        assert f.start is not None and f.health is not None
        assert period["start"] == f.start.isoformat() and period["rows"] == f.rows == ROWS
        assert period["drift_detected"] == f.drift.drift_detected and period["drift_share"] == f.drift.share
        got = {c["feature"]: c for c in period["features"]}
        assert set(got) == {c.name for c in f.drift.features}
        for c in f.drift.features:
            assert got[c.name]["statistics"] == {k: _plain(v) for k, v in c.statistics.items()}
            assert got[c.name]["verdict"]["drifted"] == c.verdict.drifted
            assert got[c.name]["verdict"]["effect_value"] == _plain(c.verdict.effect_value)
            assert got[c.name]["verdict"]["p_value"] == _plain(c.verdict.p_value)
        assert period["health"]["latency_ms"] == f.health.latency_ms
        assert period["quality"]["issues"] == [asdict(i) for i in f.quality.issues]
    assert twin["overall"]["rows"] == overall.rows == DAYS * ROWS
    assert [a["metric"] for a in twin["alerts"]] == [a.rule.metric for a in fired]
    assert [a["value"] for a in twin["alerts"]] == [a.value for a in fired]


def test_performance_shows_the_realised_metric_its_interval_and_the_estimate(
        report: ReportPaths, week: tuple[list[Findings], Findings, pd.DataFrame]) -> None:
    timeline, _, _ = week
    html, _ = _text(report)
    first = timeline[0].performance.overall
    auc = first.realised["roc_auc"]
    assert f"[{auc.low:.3f}, {auc.high:.3f}]" in html
    assert f"{first.estimated['roc_auc']:.3f}" in html
    last = timeline[-1].performance.overall
    assert last.labelled == 0 and last.realised["roc_auc"] is None
    assert "estimate from the scores" in html


def test_a_timeline_without_labels_or_health_says_so(week: tuple[list[Findings], Findings, pd.DataFrame],
                                                      tmp_path: Path) -> None:
    timeline, overall, _ = week
    bare = [replace(f, performance=None, health=None) for f in timeline]
    paths = render_monitoring(bare, replace(overall, performance=None, health=None), tmp_path, title="bare")
    html, twin = _text(paths)
    assert "No labels yet" in html and "No health data" in html
    assert not re.search(r'id="fig-(performance|calibration|latency|fallback|traffic)"', html)
    assert all(p["performance"] is None and p["health"] is None for p in twin["periods"])
    assert '<h2 id="alerts"' not in html and "No alert fired." in html


def test_scores_without_labels_show_the_estimate_alone(week: tuple[list[Findings], Findings, pd.DataFrame],
                                                       tmp_path: Path) -> None:
    timeline, overall, everything = week

    def unlabelled(f: Findings) -> Findings:
        assert f.start is not None and f.end is not None
        return replace(f, performance=performance(everything, None, task="binary", metric="roc_auc",
                                                  metrics=["roc_auc"], n_boot=0, start=f.start, end=f.end))

    html, twin = _text(render_monitoring([unlabelled(f) for f in timeline], unlabelled(overall), tmp_path,
                                         title="unlabelled"))
    assert "No labels yet: no exposure&#39;s label window has closed, so only the ROC AUC estimated" in html
    assert 'id="fig-performance"' in html and 'id="fig-calibration"' not in html
    for period, f in zip(twin["periods"], timeline, strict=True):
        estimate = period["performance"]["overall"]["estimated"]["roc_auc"]
        assert period["performance"]["overall"]["realised"]["roc_auc"] is None
        cells = ["1,200", "0", "n/a", f"{estimate:.3f}"]
        assert f"<td>{_day_label(f)}</td>" + "".join(f'<td class="num">{c}</td>' for c in cells) in html


def _day_label(f: Findings) -> str:
    assert f.start is not None
    return f.start.strftime("%Y-%m-%d")


def test_a_missing_period_is_named_at_the_top(week: tuple[list[Findings], Findings, pd.DataFrame],
                                             tmp_path: Path) -> None:
    timeline, overall, _ = week
    html, _ = _text(render_monitoring([*timeline[:2], *timeline[3:]], overall, tmp_path, title="gap"))
    notes = html[html.index('<section class="warnings"'):html.index('<nav class="toc"')]
    assert "No rows from 2026-03-04 to 2026-03-05" in notes
    assert "4 periods from 2026-03-02 to 2026-03-07" in html


def test_a_calm_span_reads_as_nothing_wrong(week: tuple[list[Findings], Findings, pd.DataFrame],
                                            tmp_path: Path) -> None:
    timeline, _, everything = week
    calm = timeline[:3]
    overall = _findings(everything, _reference(), T0, T0 + timedelta(days=3), with_labels=True)
    assert not overall.drift.drift_detected and not overall.quality.issues
    html, twin = _text(render_monitoring(calm, overall, tmp_path, title="calm"))
    assert "Nothing looks wrong" in html and "Needs attention" not in html
    assert twin["headline"]["good"] is True


def test_the_report_never_holds_a_raw_value_of_the_window(
        report: ReportPaths, week: tuple[list[Findings], Findings, pd.DataFrame]) -> None:
    _, _, everything = week
    assert (everything["city"] == PLANTED).sum() == 1
    html, _ = _text(report)
    raw = report.json.read_text(encoding="utf-8")
    assert PLANTED not in html and PLANTED not in raw
    shown = [c for c in NEW_CITIES if c in html.replace(BUNDLE, "")]
    assert 0 < len(shown) <= 5  # the handful of examples the findings keep, no more
    assert "request_id" not in html and "d4-r1" not in html and "d4-r1" not in raw


def test_bad_arguments_are_refused_with_a_fix(week: tuple[list[Findings], Findings, pd.DataFrame],
                                             tmp_path: Path) -> None:
    timeline, overall, _ = week
    with pytest.raises(ValueError, match=r"timeline\[1\] is about model 'other', the overall findings about "
                                         r"'churn': a monitoring report covers one model"):
        render_monitoring([timeline[0], replace(timeline[1], model="other")], overall, tmp_path, title="x")
    with pytest.raises(TypeError, match=r"timeline\[0\]: expected Findings .* got dict"):
        render_monitoring([overall.to_dict()], overall, tmp_path, title="x")  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"alerts\[0\]: expected a fired alert .* got int"):
        render_monitoring(timeline, overall, tmp_path, title="x", alerts=[3])
    with pytest.raises(ValueError, match="report name must be a plain file name"):
        render_monitoring(timeline, overall, tmp_path, title="x", name="../escape")
    assert list(tmp_path.iterdir()) == []
