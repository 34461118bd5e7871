"""``analyze`` and ``unit_table``: the DuckDB extraction against pandas, effects against the statistics core."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loopline import ExperimentError
from loopline.events import EventLog
from loopline.experiments import (
    ExperimentAnalysis,
    ExperimentSpec,
    adjust_pvalues,
    analyze,
    compare_means,
    compare_proportions,
    compare_ratios,
    cuped,
    msprt,
    unit_table,
)
from loopline.registry import Registry
from loopline.workspace import Workspace
from tests.experiments.logs import Logs, Plan, build
from tests.registry.conftest import make_artifact, register

NULL_ITEM = "\0null"
ARMS = {"control": 0.5, "treatment": 0.5}


def reference_units(logs: Logs, spec: ExperimentSpec) -> pd.DataFrame:
    """The per-unit table computed naively in pandas, following the rules in ``_frames``' docstring."""
    a = logs.assignments[logs.assignments["experiment"] == spec.name]
    if spec.deployment is not None:
        a = a[a["deployment"] == spec.deployment]
    a = a.sort_values(["ts", "arm"], kind="stable")
    grouped = a.groupby("unit_id")
    units = pd.DataFrame({"arm": grouped["arm"].first(), "assigned": grouped["ts"].min(),
                          "arms": grouped["arm"].nunique()}).sort_index()
    start = units["assigned"].min()
    pre_start = start - timedelta(days=spec.cuped.pre_days) if spec.cuped is not None else start
    e = logs.exposures[logs.exposures["served"] & logs.exposures["unit_id"].isin(units.index)].copy()
    e["assigned"] = units.loc[e["unit_id"], "assigned"].to_numpy()
    e["window"] = (e["ts"] >= start) & (e["ts"] >= e["assigned"])
    e["pre"] = (e["ts"] >= pre_start) & (e["ts"] < start)
    e = e[e["window"] | e["pre"]].reset_index(drop=True)
    e["item_key"] = e["item_id"].fillna(NULL_ITEM)
    f = logs.feedback[logs.feedback["event"].isin(spec.events)].reset_index(drop=True)
    f = f.assign(item_key=f["item_id"].fillna(NULL_ITEM), fid=np.arange(len(f)))
    m = f.merge(e[["request_id", "item_key", "ts", "pre"]], on=["request_id", "item_key"], suffixes=("", "_exp"))
    m = m[m["ts"] >= m["ts_exp"]]
    m = m.loc[m.groupby("fid")["ts_exp"].idxmax()]
    m = m[~m["pre"] | (m["ts"] < start)]
    out = units.copy()
    win = e[e["window"]]
    out["first_exposure"] = win.groupby("unit_id")["ts"].min().reindex(out.index)
    out["exposures"] = win.groupby("unit_id").size().reindex(out.index, fill_value=0)
    for pre in [False] + ([True] if spec.cuped is not None else []):
        prefix = "pre_" if pre else ""
        if pre:
            out["pre_exposures"] = e[e["pre"]].groupby("unit_id").size().reindex(out.index, fill_value=0)
        rows = m[m["pre"] == pre]
        for event in spec.events:
            hit = rows[rows["event"] == event].groupby("unit_id")["value"]
            out[f"{prefix}{event}_count"] = hit.size().reindex(out.index, fill_value=0)
            out[f"{prefix}{event}_sum"] = hit.sum().reindex(out.index, fill_value=0.0)
    return out.rename_axis("unit").reset_index()


@dataclass(frozen=True)
class Built:
    log: EventLog
    logs: Logs
    spec: ExperimentSpec
    analysis: ExperimentAnalysis


def make_spec(**over: Any) -> ExperimentSpec:
    return ExperimentSpec.from_dict({"name": "exp1", "arms": ARMS, **over})


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A planted 20% lift, three days of pre-period, and every kind of record the analysis must ignore."""
    log = EventLog(tmp_path_factory.mktemp("noisy"))
    logs = build(log, Plan(units={"control": 1500, "treatment": 1500}, click_p={"control": 0.05, "treatment": 0.06},
                           pre_days=3, noise=True, seed=3))
    spec = make_spec(cuped={"pre_days": 3}, sequential=True)
    return Built(log, logs, spec, analyze(log, spec))


def test_unit_table_matches_the_pandas_reference(noisy: Built) -> None:
    metrics = [{"name": "ctr", "kind": "ratio", "event": "click"},
               {"name": "like_value", "kind": "mean", "event": "like", "value": "sum"}]
    spec = make_spec(metrics=metrics, primary="ctr", cuped={"pre_days": 3})
    got = unit_table(noisy.log, spec)
    want = reference_units(noisy.logs, spec)
    assert list(got.columns) == list(want.columns)
    assert got["unit"].tolist() == want["unit"].tolist()
    for column in want.columns:
        if column.endswith("_sum"):
            np.testing.assert_allclose(got[column].to_numpy(float), want[column].to_numpy(float), rtol=1e-12)
        else:
            assert got[column].tolist() == want[column].tolist(), column
    # the noise is really there: one unit in two arms, a like worth 2.5, a click on a null-item prediction
    assert got["arms"].max() == 2
    assert got["like_sum"].sum() == 2.5
    assert got["pre_click_count"].sum() > 0


def test_deployment_filter_applies_to_assignments(noisy: Built) -> None:
    assert len(unit_table(noisy.log, make_spec(deployment="web"))) == 3000
    with pytest.raises(ExperimentError, match=r"arm\(s\) \w+ have no units"):
        unit_table(noisy.log, make_spec(deployment="elsewhere"))  # holds one re-logged assignment
    with pytest.raises(ExperimentError, match=r"has no assignments with deployment='nowhere'"):
        unit_table(noisy.log, make_spec(deployment="nowhere"))


def _arrays(frame: pd.DataFrame, arm: str, column: str) -> np.ndarray:
    return frame.loc[frame["arm"] == arm, column].to_numpy(dtype=float)


def test_effects_match_the_statistics_core_on_reference_units(noisy: Built) -> None:
    ref = reference_units(noisy.logs, noisy.spec)
    clicks = {a: _arrays(ref, a, "click_count") for a in ARMS}
    exposures = {a: _arrays(ref, a, "exposures") for a in ARMS}
    pre = {a: _arrays(ref, a, "pre_click_count") for a in ARMS}
    got = {e.metric: e for e in noisy.analysis.effects}
    engaged = {a: (int((clicks[a] > 0).sum()), clicks[a].size) for a in ARMS}
    assert got["engagement"].effect == compare_proportions(engaged["control"], engaged["treatment"],
                                                           metric="engagement")
    mean = compare_means(clicks["control"], clicks["treatment"], metric="clicks_per_user")
    assert got["clicks_per_user"].effect.absolute == pytest.approx(mean.absolute, rel=1e-12)
    assert got["clicks_per_user"].effect.p_value == pytest.approx(mean.p_value, rel=1e-9)
    welch = stats.ttest_ind(clicks["treatment"], clicks["control"], equal_var=False)
    assert got["clicks_per_user"].effect.p_value == pytest.approx(welch.pvalue, abs=1e-6)
    assert got["clicks_per_user"].effect.statistic == pytest.approx(welch.statistic, abs=1e-6)
    ratio = compare_ratios((clicks["control"], exposures["control"]), (clicks["treatment"], exposures["treatment"]),
                           metric="ctr")
    assert got["ctr"].effect.absolute == pytest.approx(ratio.absolute, rel=1e-12)
    assert got["ctr"].effect.absolute_ci == pytest.approx(ratio.absolute_ci, rel=1e-9)
    adjusted = cuped(clicks["control"], clicks["treatment"], pre_control=pre["control"],
                     pre_treatment=pre["treatment"], metric="clicks_per_user")
    found = got["clicks_per_user"].cuped
    assert found is not None
    assert found.adjusted.p_value == pytest.approx(adjusted.adjusted.p_value, rel=1e-9)
    assert found.theta == pytest.approx(adjusted.theta, rel=1e-9)
    family = adjust_pvalues([got[m].p_value for m in ("engagement", "clicks_per_user", "ctr")], method="holm")
    assert [got[m].adjusted_p_value for m in ("engagement", "clicks_per_user", "ctr")] == \
        pytest.approx(list(family.adjusted))


def test_arm_summaries_are_the_reference_means(noisy: Built) -> None:
    ref = reference_units(noisy.logs, noisy.spec)
    for summary in noisy.analysis.arms:
        rows = ref[ref["arm"] == summary.arm]
        assert summary.units == len(rows)
        assert summary.exposures == rows["exposures"].sum()
        assert summary.metrics["ctr"] == pytest.approx(rows["click_count"].sum() / rows["exposures"].sum())
        assert summary.metrics["engagement"] == pytest.approx((rows["click_count"] > 0).mean())


def test_daily_series_ends_at_the_final_effect_and_each_look_uses_data_to_that_day(noisy: Built) -> None:
    series = noisy.analysis.daily[0]
    final = noisy.analysis.effect("treatment", "ctr").effect
    assert series.absolute[-1] == pytest.approx(final.absolute, rel=1e-9)
    assert series.ci_high[-1] == pytest.approx(final.absolute_ci[1], rel=1e-9)
    assert series.n_control[-1] == final.n_control
    # look 3: units assigned by the end of that day, with exposures and clicks before that day's end
    day_end = pd.Timestamp(series.days[2], tz="UTC") + pd.Timedelta(days=1)
    cut = Logs(noisy.logs.assignments, noisy.logs.exposures[noisy.logs.exposures["ts"] < day_end],
               noisy.logs.feedback[noisy.logs.feedback["ts"] < day_end], noisy.logs.propensity)
    ref = reference_units(cut, noisy.spec)
    ref = ref[ref["assigned"] < day_end]
    look = compare_ratios(*[(_arrays(ref, a, "click_count"), _arrays(ref, a, "exposures")) for a in ARMS])
    assert series.absolute[2] == pytest.approx(look.absolute, rel=1e-9)
    assert series.ci_low[2] == pytest.approx(look.absolute_ci[0], rel=1e-9)


def test_sequential_is_msprt_over_the_daily_looks(noisy: Built) -> None:
    series = noisy.analysis.daily[0]
    assert series.sequential is not None
    tau2 = (0.05 * series.control[0]) ** 2  # fixed at the first look, never re-estimated
    want = msprt(series.absolute, [((h - lo) / 2 / stats.norm.isf(0.025)) ** 2
                                   for lo, h in zip(series.ci_low, series.ci_high, strict=True)],
                 mixing_variance=tau2, metric="ctr")
    assert series.sequential.p_values == pytest.approx(want.p_values, rel=1e-6)
    assert "first look whose always-valid p-value is below alpha" in series.sequential.rule
    stop = series.sequential.stop_look
    assert series.stop_day == (None if stop is None else series.days[stop - 1])


def test_result_serialises_to_json(noisy: Built) -> None:
    data = noisy.analysis.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["spec"]["name"] == "exp1"
    assert data["effects"][0]["effect"]["metric"] == "engagement"


@pytest.mark.parametrize(("treatment_p", "significant"), [(0.065, True), (0.05, False)])
def test_planted_effect_is_found_and_an_equal_one_is_not(tmp_path: Path, treatment_p: float,
                                                         significant: bool) -> None:
    log = EventLog(tmp_path)
    build(log, Plan(units={"control": 3000, "treatment": 3000}, click_p={"control": 0.05, "treatment": treatment_p},
                    seed=11))
    result = analyze(log, make_spec())
    primary = result.effect("treatment", "ctr")
    assert primary.significant is significant
    if significant:
        assert primary.direction == "better"
        relative = primary.effect.relative_ci
        assert relative is not None and relative[0] < 0.3 < relative[1]


def test_cuped_reduces_variance_when_behaviour_before_correlates(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    build(log, Plan(units={"control": 2000, "treatment": 2000}, click_p={"control": 0.2, "treatment": 0.2},
                    pre_days=7, seed=0))
    result = analyze(log, make_spec(cuped={"pre_days": 7}))
    for metric in ("clicks_per_user", "ctr"):
        found = result.effect("treatment", metric).cuped
        assert found is not None
        assert found.correlation > 0.4
        assert found.variance_reduction > 0.2
        assert found.adjusted.absolute_se < found.unadjusted.absolute_se


def test_offline_online_gap_reads_the_registry(noisy: Built, tmp_path: Path) -> None:
    registry = Registry(Workspace.open(tmp_path / "ws", env={}))
    v1 = register(registry, make_artifact(tmp_path / "a1"), name="feed")
    register(registry, make_artifact(tmp_path / "a2", {"family": "linear", "coef": [1.0]}), name="feed",
             metrics={"test": {"roc_auc": 0.83, "log_loss": 0.40}})
    result = analyze(noisy.log, noisy.spec, registry=registry, model_name="feed")
    control, treatment = result.offline_online
    assert (control.model_version, treatment.model_version) == ("v1", "v2")
    assert control.offline == v1.metrics["test"]
    assert treatment.offline_delta == pytest.approx({"roc_auc": 0.04, "log_loss": -0.04})
    assert treatment.online_effect == result.effect("treatment", "ctr").effect.absolute
    assert control.online == result.arms[0].metrics["ctr"]
    unknown = analyze(noisy.log, noisy.spec, registry=registry, model_name="nope")
    assert unknown.offline_online[0].offline == {}
    assert "not in the registry as 'nope'" in (unknown.offline_online[0].note or "")


# bad input -------------------------------------------------------------------------------------------


def test_unknown_experiment_names_those_found(noisy: Built) -> None:
    with pytest.raises(ExperimentError, match=r"unknown experiment 'exp2'.*holds exp1, other"):
        analyze(noisy.log, make_spec(name="exp2"))


def test_arm_without_units_is_named(noisy: Built) -> None:
    spec = make_spec(arms={"control": 1, "treatment": 1, "bigger": 1})
    with pytest.raises(ExperimentError, match=r"arm\(s\) bigger have no units"):
        analyze(noisy.log, spec)


def test_unconfigured_arm_is_named(noisy: Built) -> None:
    with pytest.raises(ExperimentError, match=r"arm\(s\) treatment that the spec does not configure"):
        analyze(noisy.log, make_spec(arms={"control": 1, "variant": 1}))


def test_metric_without_events_lists_the_events_present(noisy: Built) -> None:
    spec = make_spec(metrics=[{"name": "buys", "kind": "proportion", "event": "purchase"}])
    with pytest.raises(ExperimentError, match=r"metric 'buys': no 'purchase' feedback .*events in the feedback "
                                              r"log: click, like"):
        analyze(noisy.log, spec)


def test_zero_variance_names_the_metric(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    ts = pd.Timestamp("2026-03-02", tz="UTC") + pd.to_timedelta(np.arange(20), unit="h")
    units = [f"u{i}" for i in range(20)]
    log.write("assignments", pd.DataFrame({"ts": ts, "deployment": "web", "experiment": "exp1", "unit_id": units,
                                           "arm": ["control", "treatment"] * 10}))
    log.write("exposures", pd.DataFrame({
        "ts": ts, "deployment": "web", "request_id": units, "unit_id": units, "item_id": "p1", "arm": "x",
        "model_version": "v1", "score": 0.5, "served": True, "position": np.int32(0), "latency_ms": 1.0}))
    log.write("feedback", pd.DataFrame({"ts": ts + pd.Timedelta(seconds=5), "deployment": "web", "request_id": units,
                                        "unit_id": units, "item_id": "p1", "event": "click", "value": 1.0}))
    spec = make_spec(metrics=[{"name": "per_view", "kind": "ratio", "event": "click"}])
    with pytest.raises(ExperimentError, match=r"treatment vs control: metric 'per_view' has zero variance"):
        analyze(log, spec)


def test_no_assignments_log(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r"has no assignments log"):
        analyze(EventLog(tmp_path), make_spec())


def test_missing_unit_column_is_named(noisy: Built) -> None:
    with pytest.raises(ExperimentError, match=r"no column 'user_id'.*Set 'unit:'"):
        analyze(noisy.log, make_spec(unit="user_id"))
