"""The ``loopline`` command line: parse, call one function, print. No logic lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loopline.cli import _loop, _monitor, _serving
from loopline.cli._console import BarProgress, fmt, handled, out, print_json

app = typer.Typer(
    name="loopline", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Frame an ML problem once; get leakage-free data, honest baselines, a calibrated, versioned model "
         "and its report.",
)
models_app = typer.Typer(no_args_is_help=True, help="Registered model versions and their aliases.")
app.add_typer(models_app, name="models")
experiment_app = typer.Typer(no_args_is_help=True, help="Design and analyse online experiments (A/B tests).")
app.add_typer(experiment_app, name="experiment")

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
SpecPath = Annotated[Path, typer.Option("--spec", "-s", help="The problem spec.")]
WorkspaceDir = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: $LOOPLINE_WORKSPACE or ./.loopline)."),
]


def _workspace(path: Path | None, *, create: bool = True) -> Any:
    """The workspace at ``path``; commands that only read pass ``create=False``, so a mistyped path is an
    error instead of a new, empty workspace."""
    from loopline.workspace import Workspace

    return Workspace.open(path, create=create)


def _registry(path: Path | None) -> Any:
    """The registry of an existing workspace, without creating the workspace or its database."""
    from loopline.registry import Registry

    return Registry(_workspace(path, create=False), create=False)


@app.command()
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
        text = draft_spec(data.resolve())
        write_text(output, text)
        if as_json:
            print_json({"spec": str(output.resolve())})
        else:
            out.print(text)
            out.print(f"[green]wrote[/] {output}. Check the guesses above, then run: loopline validate --spec {output}")


@app.command()
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
                "spec": problem.name, "rows": prepared.source_rows, "features": list(prepared.splits.features),
                "validation": prepared.validation.to_dict(),
                "findings": [f.__dict__ for f in prepared.findings],
                "splits": [s.__dict__ for s in prepared.splits.summaries],
                "coverage": prepared.coverage,
            })
            return
        from loopline.cli._show import show_prepared

        show_prepared(prepared)


@app.command()
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


@app.command()
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
        table = Table("metric", "value", title=f"{problem.name} {named} on test ({evaluation.rows} rows)")
        for key, value in evaluation.metrics.items():
            table.add_row(key, fmt(value))
        out.print(table)
        for warning in result.warnings:
            out.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        out.print(f"report: {report.html}")


@app.command()
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
    """Simulate a feed, train an engagement model, evaluate, register, promote, report; with --days beyond 14, watch
    the feed drift and the loop retrain, gate and promote.

    Everything goes into the demo's own folder (database, artifacts, event log, reports), whatever LOOPLINE_*
    says; a folder the demo did not create is refused.
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


@models_app.command("list")
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


@models_app.command("show")
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


@models_app.command("promote")
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


@models_app.command("rollback")
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


@experiment_app.command("design")
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
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Sample size per arm, power and duration, from a baseline you give or from the log's recent traffic."""
    from loopline.cli._experiment import design_command

    with handled(as_json=as_json, debug=debug):
        design_command(mde=mde, metric=metric, baseline=baseline, sigma=sigma, relative=not absolute, alpha=alpha,
                       power=power, arms=arms, traffic_share=traffic_share, daily_units=daily_units, event=event,
                       days=days, workspace=None if baseline is not None and daily_units is not None
                       else _workspace(workspace, create=False), as_json=as_json)


@experiment_app.command("analyze")
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


app.command()(_serving.predict)
app.command()(_serving.serve)
app.command()(_serving.deploy)
app.command()(_serving.kill)
app.command()(_serving.materialize)
app.add_typer(_serving.keys_app, name="keys")
app.command()(_monitor.monitor)
app.command()(_loop.loop)


def main() -> None:
    app()
