"""``loopline experiment design|analyze``: parse, call the experiments stage, print."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape

from loopline._errors import ExperimentError
from loopline._names import check_name
from loopline.cli._console import fmt, make_table, out, print_json


def design_command(*, mde: float, metric: str, baseline: float | None, sigma: float | None, relative: bool,
                   alpha: float, power: float, arms: int, traffic_share: float, daily_units: float | None,
                   event: str, days: float, workspace: Any, as_json: bool, sequential: bool = True,
                   looks: int | None = None) -> None:
    from loopline.events import EventLog
    from loopline.experiments import MeanMetric, Metric, ProportionMetric, design, recent_traffic

    traffic = None
    chosen: Metric
    if baseline is None or daily_units is None or (metric == "mean" and sigma is None) or metric == "ratio":
        traffic, x, y = recent_traffic(EventLog.for_workspace(workspace), event=event, days=days)
    if metric == "proportion":
        chosen = ProportionMetric(baseline) if baseline is not None else traffic.proportion()  # type: ignore[union-attr]
    elif metric == "mean":
        if sigma is not None:
            chosen = MeanMetric(sigma=sigma, mean=baseline)
        else:
            assert traffic is not None
            chosen = traffic.mean()
    elif metric == "ratio":
        assert traffic is not None
        chosen = traffic.ratio(x, y)
    else:
        raise ExperimentError(f"--metric must be proportion, mean or ratio, got {metric!r}.")
    units = daily_units if daily_units is not None else (traffic.daily_units if traffic is not None else None)
    result = design(chosen, mde=mde, relative=relative, alpha=alpha, power=power, arms=arms,
                    traffic_share=traffic_share, daily_units=units, sequential=sequential,
                    looks=looks if sequential else None)
    if as_json:
        print_json({"design": result.to_dict(), "traffic": None if traffic is None else traffic.to_dict()})
        return
    table = make_table("", "value", title=f"design: {result.metric} ({result.kind})")
    rows = [("baseline", fmt(result.baseline)), ("minimum detectable effect (absolute)", fmt(result.mde)),
            ("minimum detectable effect (relative)", fmt(result.mde_relative)),
            ("units per arm", ", ".join(f"{n:,}" for n in result.n_per_arm)),
            ("rule of thumb 16 sigma^2 / delta^2 per arm", f"{result.n_rule_of_thumb:,}"),
            ("total units", f"{result.total_units:,}"), ("achieved power", fmt(result.achieved_power)),
            ("alpha per comparison", fmt(result.alpha_per_comparison)),
            ("days", "-" if result.days is None else str(result.days)),
            ("test", "always-valid (mSPRT), read every day" if result.sequential else "fixed horizon, read once")]
    if result.mixing_variance is not None:
        rows.append(("mixing_variance (for the experiment spec)", f"{result.mixing_variance:.6g}"))
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    if traffic is not None:
        out.print(f"traffic from the log, {traffic.start[:16]} to {traffic.end[:16]}: {traffic.units:,} units "
                  f"({traffic.daily_units:,.0f} a day), {traffic.engaged_share:.2%} with a {event}, "
                  f"{traffic.events_per_exposure:.4f} {event}s per exposure")
    out.print(result.formula)


def analyze_command(workspace: Any, name: str, *, spec: Path | None, model: str | None, ship_version: int | None,
                    as_json: bool) -> None:
    from loopline.experiments import ExperimentSpec
    from loopline.loop import analyze_experiment, experiment_spec_path

    check_name(name, what="experiment", error=ExperimentError, example="ranker-ab")  # before it is used in a path
    path = spec or experiment_spec_path(workspace, name)
    if not Path(path).exists():
        raise ExperimentError(f"no experiment spec at {path}: write one (name, arms with their configured shares, "
                              "metrics) or pass --spec.")
    experiment = ExperimentSpec.load(path)
    if experiment.name != name:
        raise ExperimentError(f"{path} describes experiment '{experiment.name}', not '{name}'.")
    if ship_version is not None and model is None:
        raise ExperimentError("--promote-on-ship needs --model: the registered model whose version ships.")
    outcome = analyze_experiment(workspace, experiment, model_name=model, ship_version=ship_version)
    if as_json:
        print_json({"analysis": outcome.analysis.to_dict(), "decision": outcome.decision.to_dict(),
                    "promoted": None if outcome.promoted is None else outcome.promoted.to_version,
                    "report": str(outcome.report.html), "report_json": str(outcome.report.json)})
        return
    show_analysis(outcome)


def show_analysis(outcome: Any) -> None:
    analysis, decision = outcome.analysis, outcome.decision
    arms = make_table("arm", "share", "units", "exposures", *[m.name for m in analysis.spec.metrics],
                      title=f"experiment {analysis.experiment}")
    for a in analysis.arms:
        arms.add_row(a.arm, f"{a.weight:.0%}", f"{a.units:,}", f"{a.exposures:,}",
                     *[fmt(a.metrics.get(m.name)) for m in analysis.spec.metrics])
    out.print(arms)
    level = f"{1 - analysis.spec.alpha:.0%} CI"
    sequential = any(analysis.always_valid_ci(e.arm, e.metric) is not None for e in analysis.effects)
    effects = make_table("arm", "metric", "relative effect", level, "absolute effect", f"fixed-horizon {level}",
                         *(["always-valid CI"] if sequential else []), "adjusted p", "verdict", title="effects")
    for e in analysis.effects:
        eff = e.tested
        ci = "" if eff.relative_ci is None else f"[{eff.relative_ci[0]:+.2%}, {eff.relative_ci[1]:+.2%}]"
        rel = "n/a" if eff.relative is None else f"{eff.relative:+.2%}"
        valid = analysis.always_valid_ci(e.arm, e.metric)
        always = [] if not sequential else ["" if valid is None else f"[{valid[0]:+.3g}, {valid[1]:+.3g}]"]
        effects.add_row(e.arm, e.metric, rel, ci, f"{eff.absolute:+.3g}",
                        f"[{eff.absolute_ci[0]:+.3g}, {eff.absolute_ci[1]:+.3g}]", *always,
                        f"{e.adjusted_p_value:.3g}", analysis.verdict(e.arm, e.metric))
    out.print(effects)
    for note in analysis.notes:
        out.print(f"[yellow]note:[/] {escape(note)}")
    for issue in analysis.validity.issues:
        out.print(f"[red]invalid:[/] {escape(issue)}")
    for warning in analysis.validity.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    colour = {"ship": "green", "do not ship": "red"}.get(decision.recommendation, "yellow")
    out.print(f"decision: [{colour}]{decision.recommendation}[/]" + (f" ({escape(decision.summary)})"
                                                                      if decision.summary else ""))
    for reason in decision.reasons:
        out.print(f"  - {escape(reason)}")
    if outcome.promoted is not None:
        out.print(f"[green]promoted[/] v{outcome.promoted.to_version} to champion")
    out.print(f"report: {outcome.report.html}")
