"""The continual-learning report: thirty days of a loop that meets a drift, retrains, promotes, rolls a canary back
and recovers, drawn offline with a JSON twin equal to its input."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import plotly.offline
import pytest
from markupsafe import escape as html_escape

from loopline._errors import LoopError
from loopline.reports import ReportPaths, render_backtest

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 30
BUNDLE = plotly.offline.get_plotlyjs()
REASONS = {
    "trigger": "log-loss 0.236 over the last 1d is 0.035 above the champion's 0.201 (limit 0.010)",
    "judge_failed": "v3 log-loss 0.229 is not better than the champion's 0.227 by 0.002 on the last 2d",
    "canary": "v4 canary error rate 4.1% over 30m is above the limit 2.0%",
}


def _at(day: float) -> str:
    return (T0 + timedelta(days=day)).isoformat()


def thirty_days() -> dict[str, Any]:
    """A month of the demo's loop: a drift on day 10 that the retrained model recovers from on day 14 (3 days of
    gates after its promotion on day 11), a second drift on day 20, a challenger failing the judge, one failing its
    canary (rolled back), and one promoted on day 24. Numbers are made by hand, smooth with a little wobble."""
    wobble = [0.0012 * math.sin(1.7 * d) for d in range(DAYS)]
    truth = [0.198 if d < 10 else 0.203 if d < 20 else 0.207 for d in range(DAYS)]
    champion = [t + 0.003 + (0.031 if d >= 10 else 0.0) + (0.012 if d >= 20 else 0.0) + w
                for d, (t, w) in enumerate(zip(truth, wobble, strict=True))]
    policy = [c if d < 14 else (truth[d] + 0.006 + wobble[d] if d < 20 else
                                truth[d] + 0.024 + wobble[d] if d < 27 else truth[d] + 0.005 + wobble[d])
              for d, c in enumerate(champion)]
    version = ["champion" if d < 14 else "retrain 1" if d < 27 else "retrain 3" for d in range(DAYS)]
    periods = [{"start": _at(d), "end": _at(d + 1), "rows": 4_000 + 37 * d, "version": version[d],
                "policy": round(policy[d], 5), "champion": round(champion[d], 5)} for d in range(DAYS)]
    actions = [
        {"at": _at(11), "stage": "trigger", "status": "fired", "version": "champion", "reason": REASONS["trigger"]},
        {"at": _at(11), "stage": "retrain", "status": "finished", "version": "retrain 1",
         "reason": "warm_start retrain on data up to 2026-03-12: 2 candidates, best lightgbm"},
        {"at": _at(11), "stage": "judge", "status": "passed", "version": "retrain 1",
         "reason": "v2 log-loss 0.209 beats the champion's 0.234 by 0.025 on the last 2d"},
        {"at": _at(11), "stage": "promote", "status": "done", "version": "retrain 1",
         "reason": "v2 is champion: it passed the judge (gates taken to pass in 3d)"},
        {"at": _at(21), "stage": "trigger", "status": "fired", "version": "retrain 1",
         "reason": "drift: 4 of 9 features drifted (interest_sports, creator_age, ...)"},
        {"at": _at(21), "stage": "retrain", "status": "finished", "version": "retrain 2",
         "reason": "warm_start retrain on data up to 2026-03-22"},
        {"at": _at(21), "stage": "judge", "status": "failed", "version": "retrain 2",
         "reason": REASONS["judge_failed"]},
        {"at": _at(22), "stage": "retrain", "status": "finished", "version": "retrain 3",
         "reason": "stateless retrain on data up to 2026-03-23"},
        {"at": _at(22), "stage": "judge", "status": "passed", "version": "retrain 3",
         "reason": "v4 log-loss 0.212 beats the champion's 0.231 by 0.019 on the last 2d"},
        {"at": _at(22), "stage": "canary", "status": "started", "version": "retrain 3",
         "reason": "v4 enters the canary gate"},
        {"at": _at(22.5), "stage": "canary", "status": "failed", "version": "retrain 3", "reason": REASONS["canary"]},
        {"at": _at(22.5), "stage": "rollback", "status": "done", "version": "retrain 1",
         "reason": "v4 failed the canary gate; the deployment is back as it was"},
        {"at": _at(24), "stage": "promote", "status": "done", "version": "retrain 3",
         "reason": "v4 is champion: it passed canary, ab"},
    ]
    return {
        "model": "feed-ctr", "metric": "log_loss", "start": _at(0), "end": _at(DAYS), "every": "1d",
        "gate_time": "3d", "policy": 0.2161, "champion": 0.2387, "improvement": 0.0226, "retrains": 3,
        "promotions": 2, "periods": periods, "actions": actions,
        "truth": [{"start": _at(d), "end": _at(d + 1), "value": truth[d]} for d in range(DAYS)],
        "events": [{"at": _at(10), "label": "drift: interest shift"}, {"at": _at(20), "label": "drift: new creators"}],
        "notes": ["The metric is measured on logged data: rows the serving policy chose to show."],
        "facts": {"simulator seed": "7", "retrain mode": "warm_start"},
    }


def _small(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": "churn", "metric": "roc_auc", "start": _at(0), "end": _at(3), "every": "1d", "gate_time": "0s",
        "policy": 0.81, "champion": 0.79, "improvement": 0.02, "retrains": 1, "promotions": 0,
        "periods": [{"start": _at(d), "end": _at(d + 1), "rows": 100, "version": "champion", "policy": 0.8,
                     "champion": 0.79} for d in range(3)],
        "actions": []}
    return {**data, **changes}


def _read(paths: ReportPaths) -> tuple[str, Any]:
    return paths.html.read_text(encoding="utf-8"), json.loads(paths.json.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    return render_backtest(thirty_days(), tmp_path_factory.mktemp("loop"), title="feed-ctr: 30 days")


def test_files_are_written_side_by_side_and_nothing_comes_from_a_network(month: ReportPaths) -> None:
    assert (month.html.name, month.json.name) == ("backtest.html", "backtest.json")
    assert sorted(p.name for p in month.html.parent.iterdir()) == ["backtest.html", "backtest.json"]
    html, _ = _read(month)
    assert html.count(BUNDLE) == 1 and html.index(BUNDLE) < html.index("Plotly.newPlot")
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, flags=re.I)
    rest = html.replace(BUNDLE, "")
    assert "cdn.plot.ly" not in rest and "http://" not in rest and "https://" not in rest


def test_the_json_twin_is_the_input(month: ReportPaths) -> None:
    _, twin = _read(month)
    assert twin == json.loads(json.dumps(thirty_days()))


def test_the_headline_comes_first_with_the_numbers(month: ReportPaths) -> None:
    html, _ = _read(month)
    begin = html.index('<section class="summary better"')
    summary = html[begin:html.index("</section>", begin)]
    assert html.index(summary) < html.index('<nav class="toc"') < html.index('id="fig-backtest"')
    assert ("With retraining, log-loss 0.216 vs 0.239 without retraining (counterfactual): better by 0.023; "
            "3 retrains, 2 promotions.") in summary
    assert "log-loss: lower is better; 30 periods of 1d." in summary
    assert "The metric is measured on logged data" in html[html.index("</section>", begin):html.index("<nav")]


def test_the_figure_draws_both_lines_the_truth_the_events_and_the_promotions(month: ReportPaths) -> None:
    html, _ = _read(month)
    assert re.findall(r'<h2 id="([^"]+)"', html) == ["warnings", "metric", "steps", "facts"]
    script = html[html.index('id="fig-backtest"'):]
    for name in ("with retraining", "without retraining (counterfactual)", "best reachable (truth)", "promotion",
                 "rollback", "event in the world", "drift: interest shift", "drift: new creators"):
        assert f'"{name}"' in script, name
    assert script.count('"dash":"dash","width":1.5},"type":"line"') == 2  # one dashed vertical line per event
    # promotions sit on the policy's line: day 11 holds the champion's value, day 24 the second retrain's
    periods = thirty_days()["periods"]
    promoted = re.search(r'"name":"promotion".*?"y":\[([^\]]*)\]', script, flags=re.S)
    assert promoted is not None
    assert [float(v) for v in promoted.group(1).split(",")] == [periods[11]["policy"], periods[24]["policy"]]


def test_every_step_is_listed_in_order_with_its_reason_and_coloured_status(month: ReportPaths) -> None:
    html, _ = _read(month)
    table = html[html.index('id="steps"'):html.index('id="facts"')]
    rows = re.findall(r"<tr([^>]*)><td>([^<]*)</td><td>([^<]*)</td><td class=\"status ([a-z]+)\">", table)
    assert [(r[2], r[3]) for r in rows] == [(a["stage"], a["status"]) for a in thirty_days()["actions"]]
    assert rows[3][0] == ' class="current"' and rows[11][0] == ' class="worst"'
    assert rows[0][1] == "2026-03-12" and rows[10][1] == "2026-03-23 12:00"
    for reason in REASONS.values():
        assert html_escape(reason) in table


def test_the_facts_table_holds_the_run_and_the_callers_facts(month: ReportPaths) -> None:
    html, _ = _read(month)
    facts = html[html.index('id="facts"'):]
    for key, value in (("metric", "log-loss (lower is better)"), ("gate time", "3d"), ("retrains", "3"),
                       ("improvement (positive: retraining better)", "0.023"), ("simulator seed", "7")):
        assert f"<td>{key}</td><td>{value}</td>" in facts, key


def test_nan_periods_empty_actions_and_no_options(tmp_path: Path) -> None:
    periods = _small()["periods"]
    periods[1] = {**periods[1], "rows": 0, "policy": float("nan"), "champion": None}
    data = _small(periods=periods, improvement=float("nan"), policy=float("nan"))
    paths = render_backtest(data, tmp_path, title="churn", name="loop-churn")
    html, twin = _read(paths)
    assert paths.html.name == "loop-churn.html"
    assert twin["periods"][1]["policy"] is None and twin["improvement"] is None and twin["periods"][0]["policy"] == 0.8
    assert "With retraining, ROC AUC n/a vs 0.790 without retraining (counterfactual); 1 retrain, 0 promotions." in html
    assert "ROC AUC: higher is better; 3 periods of 1d." in html and '<section class="summary "' in html
    assert "The loop took no step in this span" in html
    assert '"event in the world"' not in html and '"best reachable (truth)"' not in html and '"promotion"' not in html


def test_worse_with_retraining_reads_worse_and_labels_can_be_renamed(tmp_path: Path) -> None:
    data = _small(policy=0.77, improvement=-0.02, policy_label="retrain every day", champion_label="never",
                  events=[{"at": _at(1), "label": "new <b>catalog</b>"}],
                  actions=[{"at": _at(2), "stage": "rollback", "status": "done", "version": "champion",
                            "reason": "error rate 3% > 2% & p99 < budget"}])
    html, _ = _read(render_backtest(data, tmp_path, title="churn"))
    assert '<section class="summary worse"' in html
    assert "Retrain every day, ROC AUC 0.770 vs 0.790 never: worse by 0.020; 1 retrain, 0 promotions." in html
    assert '"retrain every day"' in html and '"never"' in html
    # Plotly reads <...> as markup: the figure gets the label and the reason escaped, so they show as written
    figure = html[html.index('id="fig-backtest"'):html.index('id="steps"')]
    assert "new &lt;b&gt;catalog&lt;\\u002fb&gt;" in figure and "error rate 3% &gt; 2% &amp; p99 &lt; budget" in figure


@pytest.mark.parametrize(("data", "message"), [
    (_small(periods=None) | {"periods": []} | {"metric": "roc_auc"}, None),
    ({k: v for k, v in _small().items() if k not in ("policy", "actions")}, "data has no 'policy', 'actions'"),
    (_small(periods=[{"start": "yesterday", "end": _at(1)}]), "periods[0].start: expected an ISO 8601 time"),
    (_small(actions=[{"stage": "promote"}]), "actions[0] has no 'at'"),
    (_small(actions="promote"), "data['actions'] must be a list"),
    (_small(periods=[{"start": _at(0), "end": _at(1), "policy": "0.8"}]), "periods[0].policy: expected a number"),
])
def test_bad_data_is_refused_naming_the_field(tmp_path: Path, data: dict[str, Any], message: str | None) -> None:
    if message is None:  # no periods at all still renders
        assert render_backtest(data, tmp_path, title="empty").html.is_file()
        return
    with pytest.raises(LoopError, match=re.escape(message)):
        render_backtest(data, tmp_path, title="bad")
    assert not any(tmp_path.iterdir())


def test_a_run_other_than_a_backtest_describes_its_own_lines(tmp_path: Path) -> None:
    data = {**thirty_days(), "description": "The true click-through rate of what each run served."}
    html = render_backtest(data, tmp_path, title="t").html.read_text()
    assert "The true click-through rate of what each run served." in html
    assert "the gates' least time" not in html and ">gate time<" not in html
