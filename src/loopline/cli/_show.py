"""How results look in the terminal (Rich tables) and as ``--json``.

The stages' types are named for the type checker only, and the few values needed from them are imported in
the function that uses them: ``loopline models list`` imports this module, and importing ``loopline.data`` or
``loopline.loop`` would pull in pandas, scikit-learn and LightGBM to print a table of registry rows.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from loopline.cli._console import fmt, make_table, out

if TYPE_CHECKING:
    from loopline.data import Prepared
    from loopline.loop import DemoOutcome, ServedDemo, TrainingOutcome
    from loopline.registry import AliasChange, ModelVersion


_LABEL_MEAN = {"regression": "mean label", "ranking": "mean relevance"}


def label_heading(task: str) -> str:
    """What a split's mean label is called for ``task``: a share of positives for classes, a mean otherwise.

    >>> label_heading("binary"), label_heading("regression"), label_heading("ranking")
    ('label rate', 'mean label', 'mean relevance')
    """
    return _LABEL_MEAN.get(task, "label rate")


def show_prepared(prepared: Prepared, *, task: str) -> None:
    v = prepared.validation
    columns = make_table("column", "kind", "missing", "unique", title=rows_title(prepared))
    for col in prepared.schema.columns:
        columns.add_row(col.name, col.kind.value, f"{col.missing_share:.1%}", str(col.n_unique))
    out.print(columns)
    for issue in v.issues:
        colour = "red" if issue.severity == "error" else "yellow"
        out.print(f"[{colour}]{issue.severity}:[/] {escape(issue.message)}")
    for finding in prepared.findings:
        out.print(f"[yellow]leakage warning:[/] {escape(finding.message)}")
    _show_splits(prepared.splits.summaries, task=task)
    out.print(f"{len(prepared.splits.features)} features: {', '.join(prepared.splits.features)}")


def rows_title(prepared: Prepared) -> str:
    """How many rows the statistics describe, and how many were read when some were dropped on the way."""
    checked, read = prepared.validation.rows, prepared.source_rows
    if checked == read:
        return f"{read:,} rows"
    return f"{checked:,} rows checked, of {read:,} read (the notes below say which were dropped and why)"


def _show_splits(summaries: Any, *, task: str) -> None:
    queries = any(getattr(s, "queries", None) is not None for s in summaries)  # ranking: queries per split
    splits = make_table("split", "rows", *(["queries"] if queries else []), "from", "to", label_heading(task),
                        title="time-based split")
    for s in summaries:
        counted = [fmt(getattr(s, "queries", None))] if queries else []
        splits.add_row(s.name, str(s.rows), *counted, s.start.replace("T", " "), s.end.replace("T", " "),
                       fmt(s.label_rate))
    out.print(splits)


def training_json(outcome: TrainingOutcome) -> dict[str, Any]:
    return {
        "run_id": outcome.run_id,
        "model": outcome.model_name,
        "best": outcome.best,
        "version": outcome.version.version,
        "promoted": outcome.promoted,
        "beats_baselines": outcome.beats_baselines,
        "champion": outcome.version.version if outcome.promoted else None,
        "promotion_refused": outcome.refused,
        "models": {m.name: {"family": m.family, "baseline": m.is_baseline, "valid": m.valid, "test": m.test}
                   for m in outcome.models},
        "metric_labels": outcome.evaluation.metric_labels,
        "ranking": None if outcome.evaluation.ranking is None else {
            "queries": outcome.evaluation.ranking.queries, "excluded": outcome.evaluation.ranking.excluded},
        "splits": [asdict(s) for s in outcome.splits],
        "warnings": outcome.warnings,
        "report": str(outcome.report.html),
        "report_json": str(outcome.report.json),
        "timings": outcome.timings,
    }


def show_training(outcome: TrainingOutcome) -> None:
    """The split, then every model on the test split; for a binary task the decision threshold each model's
    accuracy was counted at stands beside it."""
    from loopline.spec import describe_direction

    task = outcome.evaluation.task
    _show_splits(outcome.splits, task=task)
    primary = outcome.evaluation.primary_metric
    keys = [primary, *[k for k in ("roc_auc", "pr_auc", "ece", "rmse", "mae", "r2", "ndcg", "map", "mrr", "accuracy",
                                   "macro_f1") if k != primary]]
    keys = [k for k in keys if any(k in m.test for m in outcome.models)][:5]
    threshold_at = keys.index("accuracy") + 1 if task == "binary" and "accuracy" in keys else None
    headers = [*keys[:threshold_at], "threshold", *keys[threshold_at:]] if threshold_at is not None else keys
    labels = outcome.evaluation.metric_labels  # what a ranking metric exactly is: ndcg@10 (exp gain)
    models = make_table("model", "role", *(labels.get(h, h) for h in headers), title="models on the test split")
    order = sorted(outcome.models, key=lambda m: (m.is_baseline, m.name != outcome.best))
    for m in order:
        role = "baseline" if m.is_baseline else ("best" if m.name == outcome.best else "candidate")
        cells = [fmt(m.test.get(k)) for k in keys]
        if threshold_at is not None:
            cells.insert(threshold_at, _threshold(outcome, m.name))
        models.add_row(m.name, role, *cells)
    out.print(models)
    if outcome.evaluation.ranking is not None:
        from loopline.reports._ranking import excluded_sentence

        out.print(excluded_sentence(outcome.evaluation.ranking, outcome.evaluation.split))
    for w in outcome.warnings:
        out.print(f"[yellow]warning:[/] {escape(w)}")
    status = ("[green]champion[/]" if outcome.promoted else
              "[red]registered, promotion refused: a leak warning stands[/]" if outcome.refused else
              "registered (not promoted)")
    out.print(f"{outcome.model_name} v{outcome.version.version} ({outcome.best}) {status}; "
              f"primary metric {labels.get(primary, primary)} ({describe_direction(primary)})")
    out.print(f"report: {outcome.report.html}")


def _threshold(outcome: TrainingOutcome, name: str) -> str:
    """The decision threshold ``name``'s accuracy was counted at: its own, else 0.5 (the metrics' default, which
    the baselines use); "-" when the outcome no longer holds the model."""
    model = outcome.trained.get(name)
    if model is None:
        return "-"
    return fmt(0.5 if model.threshold is None else model.threshold)


def demo_json(outcome: DemoOutcome) -> dict[str, Any]:
    from loopline.loop import TRUTH, TRUTH_BLIND

    data = training_json(outcome.training)
    truth = outcome.training.evaluation.scores_of(TRUTH).metrics
    blind = outcome.training.evaluation.scores_of(TRUTH_BLIND).metrics
    data.update({
        "workspace": str(outcome.workspace),
        "spec": str(outcome.spec_path),
        "simulation": {"impressions": outcome.simulation.impressions, "clicks": outcome.simulation.clicks},
        "truth": {k: v.value for k, v in truth.items()},
        "truth_position_blind": {k: v.value for k, v in blind.items()},
        "experiment": None if outcome.experiment is None else experiment_json(outcome.experiment),
        "served": None if outcome.served is None else served_json(outcome.served),
        "monitoring": None if outcome.monitoring is None else outcome.monitoring.to_dict(),
        "continual": None if outcome.continual is None else continual_json(outcome.continual),
    })
    return data


def continual_json(demo: Any) -> dict[str, Any]:
    return {"model": demo.model, "spec": str(demo.spec_path), "drift_day": demo.drift_day, "retrains": demo.retrains,
            "promotions": demo.promotions, "days": demo.days, "steps": demo.actions, "seconds": demo.seconds,
            "feedback_loops": demo.feedback,
            "report": {"html": str(demo.report.html), "json": str(demo.report.json)}}


def show_continual_demo(demo: Any) -> None:
    """The loop's steps in a few lines, the served log-loss and true CTR before and after, the report."""
    out.print("")
    out.print(f"[bold]continual learning[/]: the feed drifted on day {demo.drift_day}; the loop retrained "
              f"{demo.retrains} time(s) and promoted {demo.promotions} challenger(s)")
    for step in demo.actions:
        if step["stage"] in ("judge", "promote", "rollback") or step["status"] == "failed":
            out.print(f"  {step['at'][:10]} {step['stage']} {step['status']}: {escape(step['reason'])}")
    after = [d for d in demo.days if d["drifted"]]
    for label, key in (("with the loop", "with"), ("without retraining", "without")):
        losses = [d[key]["log_loss"] for d in after if d[key]["log_loss"] is not None]
        ctr = [d[key]["ctr_true"] for d in after]
        if losses:
            out.print(f"  after the drift, {label}: served log-loss {sum(losses) / len(losses):.4f}, true CTR "
                      f"{sum(ctr) / len(ctr):.4f}")
    effect = demo.feedback.get("total_effect") or {}
    if effect.get("measured_relative") is not None:
        low, high = effect["measured_ci"]
        out.print(f"  the system's total effect on CTR against the {effect['holdout_units']:,}-unit holdout: "
                  f"{effect['measured_relative']:+.1%} (95% CI {low:+.1%} to {high:+.1%}); the simulator's truth "
                  f"{effect['true_relative']:+.1%}")
    curves = demo.feedback.get("positions") or {}
    if curves.get("explore") and curves["explore"][4] is not None and curves["served"][4] is not None:
        out.print(f"  clicks at position 5 relative to position 1: {curves['explore'][4]:.2f} among exploring units "
                  f"(random order), {curves['served'][4]:.2f} in served feeds; true examination "
                  f"{curves['truth'][4]:.2f}")
    debiased = demo.feedback.get("debiased") or {}
    if debiased:
        out.print("  rank correlation with the true engagement on the last day: " + "; ".join(
            f"{label} {found['spearman']:.3f}" for label, found in debiased.items()))
    out.print(f"continual-learning report: {demo.report.html}")


def show_demo(outcome: DemoOutcome) -> None:
    from loopline.loop import TRUTH, TRUTH_BLIND

    sim = outcome.simulation
    out.print(f"simulated {sim.impressions:,} impressions and {sim.clicks:,} clicks into {outcome.workspace}")
    show_training(outcome.training)
    ev = outcome.training.evaluation
    truth = ev.scores_of(TRUTH).metrics
    blind = ev.scores_of(TRUTH_BLIND).metrics
    if "roc_auc" in truth:
        out.print(f"test AUC: model {ev.metrics['roc_auc']:.4f}; the simulator's true probabilities "
                  f"{truth['roc_auc'].value:.4f} (the best any model could do), "
                  f"{blind['roc_auc'].value:.4f} without the feed position (the best a model that, like this one, "
                  "does not see the position could do)")
    out.print(f"spec: {outcome.spec_path}")
    if outcome.experiment is not None:
        show_experiment_demo(outcome.experiment)
    if outcome.served is not None:
        show_served_demo(outcome.served)
    if outcome.monitoring is not None:
        show_demo_monitoring(outcome.monitoring)
    if outcome.continual is not None:
        show_continual_demo(outcome.continual)


def show_demo_monitoring(run: Any) -> None:
    """Three lines: drift and quality of the served day, its performance (realised and estimated), the report."""
    found = run.findings
    drifted = [c.name for c in found.drift.features if c.drifted]
    out.print("")
    out.print(f"[bold]monitoring[/] of the control arm's {found.rows:,} served exposures against v{found.version}'s "
              f"training reference: " + (f"drift detected in {', '.join(drifted)}" if found.drift_detected else
                                         f"no dataset drift ({len(drifted)} of {len(found.drift.features)} features "
                                         "drifted)") + f"; {len(found.quality.issues)} data-quality issue(s); "
              f"{len(run.alerts)} alert(s)")
    measured = found.performance
    if measured is not None and measured.overall.realised.get("roc_auc") is not None:
        realised = measured.overall.realised["roc_auc"]
        estimated = measured.overall.estimated.get("roc_auc")
        shown = "n/a" if estimated is None else f"{estimated:.4f}"
        out.print(f"served AUC from the posted clicks {realised.value:.4f} [{realised.low:.4f}, {realised.high:.4f}]; "
                  f"estimated from the scores alone {shown}")
    if run.report is not None:
        out.print(f"monitoring report: {run.report.html}")


def experiment_json(demo: Any) -> dict[str, Any]:
    o = demo.outcome
    return {"name": o.analysis.experiment, "spec": str(demo.spec_path), "decision": o.decision.to_dict(),
            "effects": [e.to_dict() for e in o.analysis.effects], "valid": o.analysis.validity.valid,
            "true_effect": demo.truth, "interleaving": demo.interleaving.to_dict(),
            "interleaving_truth": demo.interleaving_truth,
            "promoted": None if o.promoted is None else o.promoted.to_version, "report": str(o.report.html)}


def show_experiment_demo(demo: Any) -> None:
    from loopline.cli._experiment import show_analysis
    from loopline.loop._experiment import true_ctr_effect

    out.print("")
    out.print("[bold]A/B test[/] of champion (control) against challenger (treatment) over the simulated days after "
              "training:")
    show_analysis(demo.outcome)
    primary = demo.outcome.analysis.spec.primary
    for e in demo.outcome.analysis.effects:
        if e.metric != primary or e.effect.relative is None:
            continue
        true = true_ctr_effect(demo.truth, e.arm)
        shown = "n/a" if true is None else f"{true:+.2%} (population effect)"
        out.print(f"{primary} of {e.arm}: estimated {e.effect.relative:+.2%}; the simulator's true effect {shown}")
    ilv = demo.interleaving
    out.print(f"interleaving of the same two rankers: {ilv.wins_a:,} sessions prefer A (champion), {ilv.wins_b:,} "
              f"prefer B (challenger), p = {ilv.p_value:.3g}; preferred: {ilv.preferred_name or 'neither'}")


def served_json(served: ServedDemo) -> dict[str, Any]:
    o = served.outcome
    return {"name": o.analysis.experiment, "deployment": served.deployment, "versions": served.versions,
            "shadow": served.shadow, "events": str(served.events_root), "spec": str(served.spec_path),
            "decision": o.decision.to_dict(), "effects": [e.to_dict() for e in o.analysis.effects],
            "valid": o.analysis.validity.valid, "true_effect": served.truth, "units": served.units,
            "requests": served.requests, "feedback_events": served.feedback_events,
            "feedback_requests": served.feedback_requests,
            "latency_ms": {"p50": served.latency_p50_ms, "p99": served.latency_p99_ms},
            "seconds": served.seconds, "report": str(o.report.html)}


def show_served_demo(served: ServedDemo) -> None:
    o = served.outcome
    versions = ", ".join(f"{arm} v{v}" for arm, v in served.versions.items())
    out.print("")
    out.print(f"[bold]served A/B test[/] {o.analysis.experiment} through a real server on 127.0.0.1 (deployment "
              f"{served.deployment}: {versions}, shadow v{served.shadow}):")
    out.print(f"{served.requests:,} /v1/rank requests from {served.units:,} users, {served.feedback_events:,} clicks "
              f"and likes in {served.feedback_requests:,} /v1/feedback requests; latency seen by the client "
              f"p50 {served.latency_p50_ms:.1f} ms, p99 {served.latency_p99_ms:.1f} ms ({served.seconds:.0f} s in all)")
    primary = o.analysis.spec.primary
    for e in o.analysis.effects:
        if e.metric != primary or e.effect.relative is None:
            continue
        true = served.truth.get("effects", {}).get(e.arm, {}).get("ctr_relative")
        shown = "n/a" if true is None else f"{true:+.2%}"
        out.print(f"{primary} of {e.arm} from the served log: estimated {e.effect.relative:+.2%}; the simulator's true "
                  f"effect on the replayed sessions {shown}")
    out.print(f"decision: {o.decision.recommendation}; report: {o.report.html}")


def version_json(v: ModelVersion) -> dict[str, Any]:
    data = asdict(v)
    data["created_at"] = v.created_at.isoformat()
    return data


def alias_json(c: AliasChange) -> dict[str, Any]:
    data = asdict(c)
    for key, value in data.items():
        if hasattr(value, "isoformat"):
            data[key] = value.isoformat()
    return data


def show_versions(versions: list[ModelVersion]) -> None:
    listed = make_table("model", "version", "family", "aliases", "created", "test metrics", title="registered models")
    for v in versions:
        test = v.metrics.get("test", {})
        shown = ", ".join(f"{k}={fmt(val)}" for k, val in list(test.items())[:3])
        listed.add_row(v.name, str(v.version), v.family, ", ".join(v.aliases), v.created_at.isoformat()[:19], shown)
    out.print(listed)


def show_version(v: ModelVersion, history: list[AliasChange]) -> None:
    fields = make_table("field", "value", title=f"{v.name} v{v.version}")
    for key in ("family", "task", "sha256", "spec_hash", "data_fingerprint", "code_version", "run_id",
                "artifact_path", "card_path", "report_path"):
        if hasattr(v, key):
            fields.add_row(key, escape(str(getattr(v, key))))
    fields.add_row("aliases", ", ".join(v.aliases) or "-")
    fields.add_row("baselines beaten", ", ".join(v.baselines_beaten) or "-")
    out.print(fields)
    for split, metrics in v.metrics.items():
        out.print(f"{split}: " + ", ".join(f"{k}={fmt(val)}" for k, val in metrics.items()))
    if history:
        hist = make_table("when", "alias", "from", "to", "reason", title="alias history")
        for h in history:
            hist.add_row(str(h.ts)[:19], h.alias, fmt(h.from_version), str(h.to_version), escape(h.reason))
        out.print(hist)
