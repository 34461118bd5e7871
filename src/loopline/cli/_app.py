"""The ``loopline`` command line: parse, call one function, print. No logic lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from loopline.cli import _loop, _monitor, _serving
from loopline.cli._console import BarProgress, fmt, handled, make_table, out, print_json
from loopline.cli._help import Command, Group, example

app = typer.Typer(
    name="loopline", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, cls=Group,
    help="Frame an ML problem once; get leakage-free data, honest baselines, a calibrated, versioned model "
         "and its report.",
    epilog=example("loopline demo", "loopline init --data customers.csv",
                   "loopline train --spec loopline.yaml --promote"),
)
models_app = typer.Typer(no_args_is_help=True, cls=Group, help="Registered model versions and their aliases.",
                         epilog=example("loopline models list -w .loopline"))
app.add_typer(models_app, name="models")
experiment_app = typer.Typer(no_args_is_help=True, cls=Group,
                             help="Design and analyse online experiments (A/B tests).",
                             epilog=example("loopline experiment design --mde 0.02 --baseline 0.05 --daily-units 20000",
                                            "loopline experiment analyze ranker-ab"))
app.add_typer(experiment_app, name="experiment")

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
SpecPath = Annotated[Path, typer.Option("--spec", "-s", help="The problem spec.")]
WorkspaceDir = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: $LOOPLINE_WORKSPACE or ./.loopline)."),
]


def _print_version(value: bool) -> None:
    if value:
        from loopline import __version__

        typer.echo(f"loopline {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print loopline's version and exit.")] = False,
) -> None:
    # loopline's own options, before any command: --version is eager, so it prints and exits while being parsed.
    pass


def _workspace(path: Path | None, *, create: bool = True) -> Any:
    """The workspace at ``path``; commands that only read pass ``create=False``, so a mistyped path is an
    error instead of a new, empty workspace."""
    from loopline.workspace import Workspace

    return Workspace.open(path, create=create)


def _registry(path: Path | None) -> Any:
    """The registry of an existing workspace, without creating the workspace or its database."""
    from loopline.registry import Registry

    return Registry(_workspace(path, create=False), create=False)


@app.command(cls=Command, epilog=example("loopline init --data customers.csv --out loopline.yaml"))
def init(
    data: Annotated[Path, typer.Option("--data", help="A CSV or Parquet table to infer the spec from.")],
    output: Annotated[Path, typer.Option("--out", "-o", help="Where to write the spec.")] = Path("loopline.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing spec.")] = False,
    as_json: Json = False, debug: Debug = False,
) -> None:
    """Write a commented loopline.yaml inferred from a table."""
    from loopline import SpecError
    from loopline._atomic import write_text
    from loopline.data import draft_spec

    with handled(as_json=as_json, debug=debug):
        if output.exists() and not force:
            raise SpecError(f"{output} already exists; pass --force to overwrite it or --out to pick another path.")
        text = draft_spec(data.resolve(), spec_path=output)
        write_text(output, text)
        if as_json:
            print_json({"spec": str(output.resolve())})
        else:
            out.print(text, markup=False)
            out.print(f"[green]wrote[/] {output}. Check the guesses above, then run: loopline validate --spec {output}")


@app.command(cls=Command, epilog=example("loopline validate --spec loopline.yaml"))
def validate(spec: SpecPath = Path("loopline.yaml"), as_json: Json = False, debug: Debug = False) -> None:
    """Load the data, check schema, leakage and coverage, and show the split."""
    from loopline.data import prepare
    from loopline.models import check_params
    from loopline.spec import ProblemSpec

    with handled(as_json=as_json, debug=debug):
        problem = ProblemSpec.load(spec)
        check_params(problem)
        prepared = prepare(problem, progress=BarProgress(enabled=not as_json))
        if as_json:
            print_json({
                "spec": problem.name, "rows": prepared.source_rows, "rows_checked": prepared.validation.rows,
                "features": list(prepared.splits.features),
                "validation": prepared.validation.to_dict(),
                "findings": [f.__dict__ for f in prepared.findings],
                "splits": [s.__dict__ for s in prepared.splits.summaries],
                "coverage": prepared.coverage,
            })
            return
        from loopline.cli._show import show_prepared

        show_prepared(prepared, task=problem.task)


@app.command(cls=Command, epilog=example("loopline train --spec loopline.yaml --promote"))
def train(
    spec: SpecPath = Path("loopline.yaml"), workspace: WorkspaceDir = None,
    promote: Annotated[bool, typer.Option("--promote", help="Make the new version champion if it beats every "
                                                         "baseline on test.")] = False,
    as_json: Json = False, debug: Debug = False,
) -> None:
    """Split, train baselines and candidates, evaluate, register the best and write its report."""
    from loopline.loop import train as run_train
    from loopline.spec import ProblemSpec

    with handled(as_json=as_json, debug=debug):
        problem = ProblemSpec.load(spec)
        outcome = run_train(problem, _workspace(workspace), promote=promote,
                            progress=BarProgress(enabled=not as_json))
        from loopline.cli._show import show_training, training_json

        if as_json:
            print_json(training_json(outcome))
        else:
            show_training(outcome)


@app.command(cls=Command, epilog=example("loopline evaluate --spec loopline.yaml --version champion"))
def evaluate(
    spec: SpecPath = Path("loopline.yaml"), workspace: WorkspaceDir = None,
    version: Annotated[str, typer.Option("--version", "-v", help="Version number or alias.")] = "champion",
    as_json: Json = False, debug: Debug = False,
) -> None:
    """Evaluate a registered version on the spec's test split and write a fresh report."""
    from rich.markup import escape

    from loopline.loop import evaluate_version
    from loopline.spec import ProblemSpec

    with handled(as_json=as_json, debug=debug):
        problem = ProblemSpec.load(spec)
        result = evaluate_version(problem, _workspace(workspace, create=False), version,
                                  progress=BarProgress(enabled=not as_json))
        evaluation, report = result.evaluation, result.report
        if as_json:
            print_json({"version": result.version.version, "metrics": evaluation.metrics,
                        "warnings": list(result.warnings), "report": str(report.html), "json": str(report.json)})
            return
        number = f"v{result.version.version}"
        named = number if version in (number, number[1:]) else f"{number} ({version})"
        metrics = make_table("metric", "value", title=f"{problem.name} {named} on test ({evaluation.rows} rows)")
        for key, value in evaluation.metrics.items():
            metrics.add_row(key, fmt(value))
            if key == "accuracy" and evaluation.task == "binary" and evaluation.threshold is not None:
                metrics.add_row("at threshold", fmt(evaluation.threshold))
        out.print(metrics)
        for warning in result.warnings:
            out.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        out.print(f"report: {report.html}")


@app.command(cls=Command, epilog=example("loopline demo --workspace loopline-demo --days 30"))
def demo(
    workspace: Annotated[
        Path, typer.Option("--workspace", "-w", help="Where to put the demo.")
    ] = Path("loopline-demo"),
    days: Annotated[int, typer.Option(help="Simulated days of feed traffic. The models train on the first 14; more "
                                           "(e.g. 30) add a continual-learning run: the feed drifts, the loop "
                                           "retrains, gates and promotes, beside a run without retraining.",
                                      min=3)] = 14,
    users: Annotated[int, typer.Option(help="Simulated users.", min=100)] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 0,
    served_days: Annotated[int, typer.Option(help="Days replayed through a real server on 127.0.0.1 (0: none).",
                                             min=0)] = 1,
    as_json: Json = False, debug: Debug = False,
) -> None:
    """Simulate a feed, train, evaluate, register, promote, report; with --days beyond 14, watch the loop retrain.

    Everything goes into the demo's own folder (database, artifacts, event log, reports), whatever LOOPLINE_* says.

    A folder the demo did not create is refused.
    """
    from loopline.loop import DEMO_HISTORY_DAYS, open_demo_workspace, run_demo
    from loopline.simulate import SimConfig

    with handled(as_json=as_json, debug=debug):
        history = min(days, DEMO_HISTORY_DAYS)
        outcome = run_demo(open_demo_workspace(workspace), config=SimConfig(days=history, n_users=users, seed=seed),
                           served_days=served_days, continual_days=days if days > history else 0,
                           progress=BarProgress(enabled=not as_json))
        from loopline.cli._show import demo_json, show_demo

        if as_json:
            print_json(demo_json(outcome))
        else:
            show_demo(outcome)


@models_app.command("list", cls=Command, epilog=example("loopline models list churn -w .loopline --json"))
def models_list(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """List registered versions with their aliases and test metrics."""
    with handled(as_json=as_json, debug=debug):
        versions = _registry(workspace).list_versions(name)
        from loopline.cli._show import show_versions, version_json

        if as_json:
            print_json([version_json(v) for v in versions])
        else:
            show_versions(versions)


@models_app.command("show", cls=Command, epilog=example("loopline models show churn champion -w .loopline"))
def models_show(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version number or alias.")] = "champion",
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Show one version: lineage, metrics, card, alias history."""
    with handled(as_json=as_json, debug=debug):
        registry = _registry(workspace)
        found = registry.get_version(name, version)
        history = registry.alias_history(name)
        from loopline.cli._show import alias_json, show_version, version_json

        if as_json:
            print_json({**version_json(found), "alias_history": [alias_json(h) for h in history]})
        else:
            show_version(found, history)


@models_app.command("promote", cls=Command,
                    epilog=example("loopline models promote churn 3 --reason 'beat v2 in the A/B test'"))
def models_promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version number to point the alias at.")],
    alias: Annotated[str, typer.Option(help="Alias to move.")] = "champion",
    reason: Annotated[str, typer.Option(help="Why; kept in the alias history.")] = "promoted from the CLI",
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Point an alias (default champion) at a version."""
    with handled(as_json=as_json, debug=debug):
        change = _registry(workspace).promote(name, version, alias=alias, reason=reason)
        from loopline.cli._show import alias_json

        if as_json:
            print_json(alias_json(change))
        else:
            out.print(f"{name}: {alias} -> v{change.to_version} (was {fmt(change.from_version)})")


@models_app.command("rollback", cls=Command,
                    epilog=example("loopline models rollback churn --reason 'v3 mis-scores new users'"))
def models_rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option(help="Alias to roll back.")] = "champion",
    reason: Annotated[str, typer.Option(help="Why; kept in the alias history.")] = "rolled back from the CLI",
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Point an alias back at the version it held before its last change."""
    with handled(as_json=as_json, debug=debug):
        change = _registry(workspace).rollback(name, alias=alias, reason=reason)
        from loopline.cli._show import alias_json

        if as_json:
            print_json(alias_json(change))
        else:
            out.print(f"{name}: {alias} -> v{change.to_version} (was {fmt(change.from_version)})")


@experiment_app.command("design", cls=Command, epilog=example(
    "loopline experiment design --mde 0.02 --baseline 0.05 --daily-units 20000",
    "loopline experiment design --mde 0.02 --metric ratio -w .loopline"))
def experiment_design(
    mde: Annotated[float, typer.Option(help="Minimum detectable effect (relative unless --absolute).")] = 0.05,
    metric: Annotated[str, typer.Option(help="proportion (share of units with an outcome), mean (outcomes per "
                                             "unit) or ratio (outcomes per exposure).")] = "proportion",
    baseline: Annotated[float | None, typer.Option(help="Baseline rate (proportion) or mean; default: from the "
                                                        "event log's recent traffic.")] = None,
    sigma: Annotated[float | None, typer.Option(help="Standard deviation per unit (mean metric).")] = None,
    absolute: Annotated[bool, typer.Option("--absolute", help="Read --mde as an absolute difference.")] = False,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Target power.")] = 0.8,
    arms: Annotated[int, typer.Option(help="Number of arms, control included.", min=2)] = 2,
    traffic_share: Annotated[float, typer.Option(help="Share of eligible units enrolled.")] = 1.0,
    daily_units: Annotated[float | None, typer.Option(help="Eligible units a day; default: from the log.")] = None,
    event: Annotated[str, typer.Option(help="The outcome event in the log.")] = "click",
    days: Annotated[float, typer.Option(help="Days of recent traffic to read from the log.")] = 7.0,
    sequential: Annotated[bool, typer.Option("--sequential/--fixed-horizon", help="Size for the always-valid test "
                                                                              "read every day (what analyze decides "
                                                                              "with by default), or for one read at "
                                                                              "a fixed horizon.")] = True,
    looks: Annotated[int | None, typer.Option(help="--sequential: how many reads the power counts (default: one "
                                                   "a day).", min=1)] = None,
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Sample size per arm, power and duration, from a baseline you give or from the log's recent traffic."""
    from loopline.cli._experiment import design_command

    with handled(as_json=as_json, debug=debug):
        design_command(mde=mde, metric=metric, baseline=baseline, sigma=sigma, relative=not absolute, alpha=alpha,
                       power=power, arms=arms, traffic_share=traffic_share, daily_units=daily_units, event=event,
                       days=days, workspace=None if baseline is not None and daily_units is not None
                       else _workspace(workspace, create=False), as_json=as_json, sequential=sequential,
                       looks=looks)


@experiment_app.command("analyze", cls=Command, epilog=example(
    "loopline experiment analyze ranker-ab", "loopline experiment analyze ranker-ab --model feed --promote-on-ship 3"))
def experiment_analyze(
    name: Annotated[str, typer.Argument(help="The experiment's name (as in the assignments log).")],
    spec: Annotated[Path | None, typer.Option("--spec", "-s", help="The experiment spec (default: "
                                              "<workspace>/experiments/<name>.yaml).")] = None,
    model: Annotated[str | None, typer.Option(help="Registered model whose versions run in the arms: sets their "
                                                   "offline metrics beside the online effect.")] = None,
    promote_on_ship: Annotated[int | None, typer.Option("--promote-on-ship", help="Version to make champion "
                                                        "when the decision is ship (needs --model).")] = None,
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Analyse an A/B test from the event log: effects, validity checks, sequential test, decision, report."""
    from loopline.cli._experiment import analyze_command

    with handled(as_json=as_json, debug=debug):
        analyze_command(_workspace(workspace, create=False), name, spec=spec, model=model, ship_version=promote_on_ship,
                        as_json=as_json)


app.command(cls=Command, epilog=example(
    "loopline predict churn -i customers.csv -o scores.parquet --keep customer_id",
    "loopline predict churn --version 3 -i 'data/*.parquet' -o scores.parquet"))(_serving.predict)
app.command(cls=Command, epilog=example("loopline serve --model churn --port 8000"))(_serving.serve)
app.command(cls=Command, epilog=example("loopline deploy deployment.yaml --reason 'canary for v4'"))(_serving.deploy)
app.command(cls=Command, epilog=example(
    "loopline kill churn --version 4 --reason 'v4 scores everyone 0'",
    "loopline kill churn --version 4 --undo --reason 'fixed in v5'"))(_serving.kill)
app.command(cls=Command, epilog=example("loopline materialize --spec loopline.yaml --store snapshot"))(
    _serving.materialize)
app.add_typer(_serving.keys_app, name="keys")
app.command(cls=Command, epilog=example("loopline monitor --model churn --window 1d --report reports"))(
    _monitor.monitor)
app.command(cls=Command, epilog=example(
    "loopline loop --spec loopline.yaml",
    "loopline loop --backtest --start 2026-01-01T00:00Z --end 2026-02-01T00:00Z"))(_loop.loop)


def main() -> None:
    app()
