"""The demo's continual learning: a feed that drifts, watched and retrained by the loop, beside a run that is not.

``loopline demo --days N`` (N beyond the :data:`HISTORY_DAYS` of history the first model trains on) simulates the
same feed from day 0 with two scheduled changes of the world two days into the remaining days: an interest shift
(most users move most of their interest to one topic, their declared top topic going stale) and a new topic. From
day :data:`HISTORY_DAYS` on, the feed is served by the registry's deployment through the real router
(:class:`~loopline.loop._routed_plan.RoutedPlan`), and after every simulated day the loop runs
(:func:`~loopline.loop.run_loop`, the clock at the day's end): monitoring's drift and decay triggers, a warm-started
challenger judged on the freshest day, then the shadow, the canary and an A/B test, each read from the log the
simulated days wrote, and promotion or rollback. A second run on the same seed serves every day after the history
with the first champion, never retrained: the counterfactual.

The report draws, per day, the true click-through rate of what each run served (the mean of the simulator's true
click probability over its impressions: what a better ranking buys), with the drift and the loop's steps; each
run's served log-loss and its excess over the true probability's log-loss on the same impressions are kept too.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import log_loss

from loopline import _atomic
from loopline._progress import SILENT, Progress
from loopline.events import EventLog
from loopline.loop._backtest import copy_champion
from loopline.loop._continual import run_loop
from loopline.loop._demo_spec import demo_spec
from loopline.loop._demo_workspace import clear_demo_folders, require_demo_workspace
from loopline.loop._feedback_loops import debiased_training, position_curves, total_effect
from loopline.loop._routed_plan import RoutedPlan
from loopline.loop._train import train
from loopline.registry import Registry
from loopline.reports import ReportPaths, render_backtest
from loopline.serving import EXPLORE_ARM, DeploymentSpec, deploy
from loopline.simulate import DaySummary, Drift, FeedSimulator, SimConfig
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace

HISTORY_DAYS = 14
"""Days of history the first champion trains on; the loop runs on the days after them, and the world drifts two
days into them."""
MODEL = "feed-continual"
DEPLOYMENT = "feed-continual"
FROZEN_WORKSPACE = "continual-frozen"
"""The counterfactual's own registry (inside the demo's workspace): a copy of the first champion, never moved."""
LOOP_EVENTS = "continual-events"
FROZEN_EVENTS = "continual-frozen-events"
REPORT = ("reports", "continual")
GUARDS = {"holdout": 0.05, "explore": 0.03}
"""The deployments' holdout (the baseline order, to measure the system's total effect) and exploration share."""
SHIFT = 0.8
"""The share of users whose interest moves to one topic at the drift."""
NEW_TOPIC = 0.5
"""The new topic's share of new posts, and of users who like it."""


@dataclass(frozen=True)
class ContinualDemo:
    spec_path: Path
    model: str
    drift_day: int
    days: list[dict[str, Any]]
    """Per day after the history: ``with`` and ``without`` retraining (true CTR, impressions, served log-loss and the
    true probability's on the same impressions), and the version serving most of the loop run's traffic."""
    actions: list[dict[str, Any]]
    promotions: int
    retrains: int
    report: ReportPaths
    seconds: float
    feedback: dict[str, Any] = dataclasses.field(default_factory=dict)
    """What the feedback-loop guards buy (:mod:`loopline.loop._feedback_loops`): ``total_effect`` (the holdout),
    ``positions`` (exploration) and ``debiased`` (position-debiased training)."""


def continual_spec(log: EventLog) -> dict[str, Any]:
    """The demo's spec with a ``retrain:`` block: drift and decay triggers, warm starts, three gates."""
    spec = demo_spec(log, name=MODEL)
    spec["models"] = {"candidates": ["lightgbm"]}
    spec["monitoring"] = {"window": "1d"}
    spec["retrain"] = {
        "deployment": DEPLOYMENT,
        # Items' features drift with whatever the ranking chooses to show (ids by construction), and the simulator
        # logs age_bucket in the clear where the server logs its digest: none of them says the world changed.
        "triggers": {"drift": True, "drift_ignore": ["item_id", "author_id", "post_age_hours", "author_followers",
                                                     "post_quality_score", "age_bucket"],
                     "decay": {"metric": "log_loss", "drop": 0.005}},
        "mode": "warm_start", "warm_start_rounds": 200, "window": "7d", "min_interval": "1d",
        # Half a day each to judge and to validate: the challenger trains on data up to a day ago, so a retrain soon
        # after a drift already sees some of it.
        "judge": {"window": "12h", "valid": "12h", "n_boot": 100},
        "gates": {"shadow": {"duration": "1d", "min_rows": 1000},
                  "canary": {"share": 0.1, "duration": "1d", "min_requests": 100},
                  "ab": {"share": 0.5, "min_duration": "2d", "max_duration": "3d",
                         "experiment": {"mde_relative": 0.1}}},
    }
    return spec


def run_continual_demo(workspace: Workspace, *, config: SimConfig, days: int,
                       progress: Progress = SILENT) -> ContinualDemo:
    """Simulate ``days`` days (more than :data:`HISTORY_DAYS`) with the loop and without it (see the module
    docstring), and write the report under ``reports/continual``."""
    require_demo_workspace(workspace)
    clock = time.perf_counter()
    drift_day = HISTORY_DAYS + min(2, days - HISTORY_DAYS - 1)
    world = dataclasses.replace(config, days=days, experiment=None, drift=(
        Drift(day=drift_day, kind="interest_shift", strength=SHIFT), Drift(day=drift_day, kind="new_topic",
                                                                           strength=NEW_TOPIC)))
    log, frozen_log = EventLog(workspace.root / LOOP_EVENTS), EventLog(workspace.root / FROZEN_EVENTS)
    clear_demo_folders(workspace, [log.root, frozen_log.root, workspace.root / FROZEN_WORKSPACE])
    frozen_registry = Registry(Workspace.open(workspace.root / FROZEN_WORKSPACE, env={}, create=True))
    spec_path = workspace.root / "continual.yaml"
    _atomic.write_text(spec_path, "# Written by 'loopline demo --days N': the continual-learning run's spec. Its "
                       f"steps: loopline loop --spec {spec_path} --workspace {workspace.root} --history\n"
                       + yaml.safe_dump(continual_spec(log), sort_keys=False))
    spec = ProblemSpec.load(spec_path)
    registry = Registry(workspace)
    first: list[int] = []
    summaries: dict[str, list[DaySummary]] = {"with": [], "without": []}
    progress.start("continual learning: simulated days", total=2 * days)

    def with_loop(day: int, summary: DaySummary) -> None:
        summaries["with"].append(summary)
        if day == HISTORY_DAYS - 1:
            outcome = train(spec, workspace, promote=True, until=summary.end, n_boot=0)
            first.append(outcome.version.version)
            champion = registry.get_version(MODEL, "champion").version
            deploy(registry, DeploymentSpec.from_dict({"name": DEPLOYMENT, "model": MODEL, **GUARDS}),
                   actor="loopline demo", reason="the continual demo's deployment: the champion, a holdout served the "
                   "baseline order, a share explored in random order")
            # The counterfactual serves the same deployment (so the same units fall in its holdout and exploration)
            # from a registry of its own that holds only this champion, which nothing moves.
            copy_champion(registry, frozen_registry, spec, champion)
            deploy(frozen_registry, DeploymentSpec.from_dict({"name": DEPLOYMENT, "model": MODEL, **GUARDS}),
                   actor="loopline demo", reason="the counterfactual: the first champion, never retrained")
        elif day >= HISTORY_DAYS:
            run_loop(spec, workspace, now=summary.end, log=log)
        progress.advance()

    FeedSimulator(world).run(log, plan=RoutedPlan(registry, DEPLOYMENT, first_day=HISTORY_DAYS),
                             after_day=with_loop)
    frozen = FeedSimulator(world).run(frozen_log, plan=RoutedPlan(frozen_registry, DEPLOYMENT,
                                                                  first_day=HISTORY_DAYS),
                                      after_day=_collect(summaries["without"], progress))
    progress.finish()
    truth_with = pd.read_parquet(log.root / "_simulation" / "truth.parquet",
                                 columns=["request_id", "item_id", "true_p"])
    truth_without = pd.read_parquet(frozen.truth_path, columns=["request_id", "item_id", "true_p"])
    measured = {"with": _daily(log, truth_with, DEPLOYMENT), "without": _daily(frozen_log, truth_without, DEPLOYMENT)}
    steps = registry.loop_steps(MODEL)
    actions = [{"at": s.at.isoformat(), "stage": s.stage, "status": s.status, "version": s.version,
                "reason": s.reason} for s in steps]
    rows = _table(summaries, measured, drift_day)
    served_from = world.start + timedelta(days=HISTORY_DAYS)
    feedback = {
        "total_effect": total_effect(log, DEPLOYMENT, summaries["with"], since=served_from),
        "positions": position_curves(log, DEPLOYMENT, world, since=served_from),
        "debiased": debiased_training(continual_spec(log), spec,
                                      pd.read_parquet(log.root / "_simulation" / "truth.parquet",
                                                      columns=["request_id", "item_id", "p_engage"]),
                                      end=world.start + timedelta(days=days), seed=spec.seed),
    }
    data = _report_data(rows, actions, world, drift_day, first[0] if first else None)
    data["facts"].update(_feedback_facts(feedback))
    report = render_backtest(data, workspace.root.joinpath(*REPORT),
                             title="Continual learning: a drifting feed, with and without the loop")
    return ContinualDemo(spec_path=spec_path, model=MODEL, drift_day=drift_day, days=rows, actions=actions,
                         promotions=sum(s.stage == "promote" for s in steps),
                         retrains=sum(s.stage == "retrain" for s in steps), report=report,
                         seconds=time.perf_counter() - clock, feedback=feedback)


def _feedback_facts(feedback: dict[str, Any]) -> dict[str, str]:
    facts: dict[str, str] = {}
    effect = feedback.get("total_effect") or {}
    if effect.get("measured_relative") is not None:
        low, high = effect["measured_ci"]
        facts["total effect of the system on CTR (holdout)"] = (
            f"{effect['measured_relative']:+.1%} (95% CI {low:+.1%} to {high:+.1%}); "
            f"true {effect['true_relative']:+.1%}")
    curves = feedback.get("positions") or {}
    if curves.get("explore") and len(curves["explore"]) > 4 and curves["explore"][4] is not None:
        facts["click rate at position 5 / position 1"] = (
            f"exploration {curves['explore'][4]:.2f}, served traffic {curves['served'][4]:.2f}; true examination "
            f"{curves['truth'][4]:.2f}")
    debiased = feedback.get("debiased") or {}
    if debiased:
        facts["rank correlation with the true engagement (last day)"] = "; ".join(
            f"{label} {found['spearman']:.3f}" for label, found in debiased.items())
    return facts


def _collect(into: list[DaySummary], progress: Progress) -> Callable[[int, DaySummary], None]:
    def collect(day: int, summary: DaySummary) -> None:
        into.append(summary)
        progress.advance()

    return collect


def _daily(log: EventLog, truth: pd.DataFrame, deployment: str) -> pd.DataFrame:
    """Per served day: the served model's log-loss on its labelled impressions, the true probability's, the
    version that served most impressions."""
    exposures = log.read("exposures", columns=["ts", "deployment", "request_id", "item_id", "score", "served",
                                               "model_version"])
    exposures = exposures[(exposures["deployment"] == deployment) & exposures["served"].fillna(True).astype(bool)
                          & ~exposures["model_version"].isin([EXPLORE_ARM, "baseline"])]  # scores of no model
    clicks = log.read("feedback", columns=["request_id", "item_id", "event"])
    clicked = clicks[clicks["event"] == "click"][["request_id", "item_id"]].drop_duplicates().assign(clicked=1)
    frame = (exposures.merge(clicked, on=["request_id", "item_id"], how="left")
             .merge(truth, on=["request_id", "item_id"], how="left"))
    frame["clicked"] = frame["clicked"].fillna(0).astype(int)
    frame["day"] = frame["ts"].dt.floor("D")
    out = []
    for day, part in frame.groupby("day", sort=True):
        y, p = part["clicked"].to_numpy(), np.clip(part["score"].to_numpy(dtype=float), 1e-6, 1 - 1e-6)
        true_p = np.clip(part["true_p"].to_numpy(dtype=float), 1e-6, 1 - 1e-6)
        both = len(np.unique(y)) == 2
        out.append({"day": day, "log_loss": log_loss(y, p, labels=[0, 1]) if both else np.nan,
                    "truth": log_loss(y, true_p, labels=[0, 1]) if both else np.nan,
                    "version": str(part["model_version"].mode().iloc[0])})
    return pd.DataFrame(out)


def _table(summaries: dict[str, list[DaySummary]], measured: dict[str, pd.DataFrame],
           drift_day: int) -> list[dict[str, Any]]:
    rows = []
    for with_day, without_day in zip(summaries["with"], summaries["without"], strict=True):
        if with_day.day < HISTORY_DAYS:
            continue
        stamp = pd.Timestamp(with_day.start)
        found = {k: v[v["day"] == stamp] for k, v in measured.items()}
        rows.append({
            "day": with_day.day, "start": with_day.start.isoformat(), "end": with_day.end.isoformat(),
            "drifted": with_day.day >= drift_day,
            "with": {"ctr_true": with_day.true_p, "impressions": with_day.impressions,
                     "log_loss": _first(found["with"], "log_loss"), "truth_log_loss": _first(found["with"], "truth"),
                     "version": _first(found["with"], "version")},
            "without": {"ctr_true": without_day.true_p, "impressions": without_day.impressions,
                        "log_loss": _first(found["without"], "log_loss"),
                        "truth_log_loss": _first(found["without"], "truth")},
        })
    return rows


def _first(frame: pd.DataFrame, column: str) -> Any:
    return frame[column].iloc[0] if len(frame) else None


def _report_data(rows: list[dict[str, Any]], actions: list[dict[str, Any]], world: SimConfig, drift_day: int,
                 first: int | None) -> dict[str, Any]:
    """The report's data: the true click-through rate of what each run served, per day (what a better ranking buys),
    with the served model's excess log-loss (its log-loss minus the true probability's, on the same impressions:
    how far it is from the truth whatever it chose to show) in the facts."""
    promoted = [a["at"] for a in actions if a["stage"] == "promote"]
    since = promoted[0] if promoted else None

    def mean(values: list[Any]) -> float:
        found = [v for v in values if v is not None and np.isfinite(v)]
        return float(np.mean(found)) if found else float("nan")

    def excess(part: str, days: list[dict[str, Any]]) -> float:
        return mean([r[part]["log_loss"] - r[part]["truth_log_loss"] for r in days
                     if r[part]["log_loss"] is not None and r[part]["truth_log_loss"] is not None])

    after = [r for r in rows if since is not None and r["start"] >= since]
    drifted = [r for r in rows if r["drifted"]]
    judged = after or drifted
    policy = mean([r["with"]["ctr_true"] for r in judged])
    champion = mean([r["without"]["ctr_true"] for r in judged])
    span = "after the first promotion" if after else "after the drift"
    return {
        "model": MODEL, "metric": "true_ctr", "start": rows[0]["start"] if rows else "",
        "end": rows[-1]["end"] if rows else "", "every": "1d", "gate_time": "-",
        "policy": policy, "champion": champion, "improvement": policy - champion,
        "retrains": sum(a["stage"] == "retrain" for a in actions),
        "promotions": sum(a["stage"] == "promote" for a in actions),
        "periods": [{"start": r["start"], "end": r["end"], "rows": r["with"]["impressions"],
                     "version": r["with"]["version"], "policy": r["with"]["ctr_true"],
                     "champion": r["without"]["ctr_true"]} for r in rows],
        "events": [{"at": (world.start + timedelta(days=drift_day)).isoformat(),
                    "label": "drift: interest shift and a new topic"}],
        "actions": actions,
        "policy_label": "with the loop", "champion_label": f"without retraining (v{first} throughout)",
        "description": "The true click-through rate of what each run served, per simulated day: with the loop "
                       "(retraining, gates, promotions as they happened) and without it (the first champion "
                       "throughout). Triangles mark promotions and crosses rollbacks, at the time the loop decided; "
                       "the promoted model serves from the next day. Hover a marker for its reason.",
        "notes": [f"True CTR: the mean of the simulator's true click probability over the impressions each run served "
                  f"that day (higher is better); the headline averages the days {span}.",
                  "Both runs simulate the same world on the same seed; they differ from the first day a ranking "
                  "differs, so day-to-day noise is not an effect: the A/B test inside the loop's run measures that."],
        "facts": {"excess log-loss after the drift, with the loop": f"{excess('with', drifted):.4f}",
                  "excess log-loss after the drift, without": f"{excess('without', drifted):.4f}",
                  "drift day": str(drift_day), "users": str(world.n_users)},
    }
