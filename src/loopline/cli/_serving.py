"""``loopline predict | serve | deploy | kill | keys``: parse, call the serving stage, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from loopline.cli._console import BarProgress, fmt, handled, make_table, out, print_json
from loopline.cli._help import Command, Group, example
from loopline.workspace import Workspace

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
WorkspaceDir = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: $LOOPLINE_WORKSPACE or ./.loopline)."),
]
keys_app = typer.Typer(no_args_is_help=True, cls=Group, help="API keys of the server (stored hashed, with scopes).",
                       epilog=example("loopline keys create mobile-app --scope predict"))


def _existing(path: Path | None) -> Workspace:
    """An existing workspace: these commands never create one (a mistyped -w is an error)."""
    return Workspace.open(path, create=False)


def predict(
    model: Annotated[str, typer.Argument(help="The registered model.")],
    source: Annotated[str, typer.Option("--input", "-i", help="CSV or Parquet path or glob, or 'sql:SELECT ...' "
                                                                "over --table inputs.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The Parquet file to write.")],
    version: Annotated[str, typer.Option("--version", "-v", help="Version number or alias.")] = "champion",
    table: Annotated[list[str] | None, typer.Option("--table", help="NAME=PATH for a sql: input (repeat).")] = None,
    keep: Annotated[str, typer.Option(help="Input columns to copy to the output, comma-separated (ids).")] = "",
    chunk_rows: Annotated[int, typer.Option(help="Rows scored at a time (memory stays constant).", min=1)] = 100_000,
    trees: Annotated[str, typer.Option(help="Tree evaluation: auto, lightgbm or lleaves.")] = "auto",
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Score a file (or a sandboxed SQL query) with a registered model into Parquet, in chunks."""
    from loopline import DataError
    from loopline.registry import Registry
    from loopline.serving import Scorer, predict_table

    with handled(as_json=as_json, debug=debug):
        tables: dict[str, str] = {}
        for item in table or []:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise DataError(f"--table {item!r}: expected NAME=PATH, e.g. --table events=events/*.parquet.")
            tables[name] = path
        ws = _existing(workspace)
        scorer = Scorer.load(Registry(ws, create=False), model, version, trees=trees)
        result = predict_table(scorer, source, output, keep=[c for c in keep.split(",") if c],
                               tables=tables or None, chunk_rows=chunk_rows, progress=BarProgress(enabled=not as_json))
        if as_json:
            print_json({"output": str(result.output), "rows": result.rows, "chunks": result.chunks,
                        "columns": list(result.columns), "seconds": result.seconds, "model": model,
                        "version": scorer.version, "backend": scorer.backend})
            return
        out.print(f"scored {result.rows:,} rows with {model} v{scorer.version} ({scorer.backend}) in "
                  f"{result.seconds:.2f} s: {result.output}")


def serve(
    model: Annotated[str, typer.Option("--model", "-m", help="The registered model to serve.")],
    workspace: WorkspaceDir = None,
    host: Annotated[str, typer.Option(help="Address to bind (API keys are required beyond loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    alias: Annotated[str, typer.Option(help="Alias or version to serve when no deployment is given.")] = "champion",
    deployment: Annotated[str | None, typer.Option(help="Serve a deployment (arms, shadows, canary) instead of "
                                                        "one alias.")] = None,
    auth: Annotated[bool | None, typer.Option("--auth/--no-auth", help="Require API keys (default: beyond "
                                                                       "loopback only).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    debug: Debug = False,
) -> None:
    """Serve a model over HTTP (FastAPI + uvicorn) until stopped; OpenAPI at /docs."""
    import os
    from dataclasses import replace

    from loopline.serving import ServeSettings
    from loopline.serving import serve as run

    with handled(as_json=False, debug=debug):
        settings = replace(ServeSettings.from_env(os.environ), alias=alias, deployment=deployment,
                           require_auth=auth)
        run(workspace, model=model, host=host, port=port, workers=workers, settings=settings, log_level=log_level)


def deploy(
    spec: Annotated[Path, typer.Argument(help="The deployment YAML.")],
    reason: Annotated[str, typer.Option(help="Why; kept in the deployment history.")] = "deployed from the CLI",
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Store a deployment (arms, shadows, canary, holdout) as its next revision; servers follow within a second."""
    from loopline.registry import Registry
    from loopline.serving import deploy as store

    with handled(as_json=as_json, debug=debug):
        found = store(Registry(_existing(workspace), create=False), spec, actor="cli",
                      reason=reason)
        if as_json:
            print_json({"deployment": found.name, "revision": found.revision, "spec": found.spec})
            return
        out.print(f"deployment {found.name} revision {found.revision} stored; servers following it switch within "
                  "a second")


def kill(
    name: Annotated[str, typer.Argument(help="The model, experiment or deployment to turn off.")],
    reason: Annotated[str, typer.Option(help="Why; kept in the kill-switch history.")],
    kind: Annotated[str | None, typer.Option(help="model, experiment or deployment (when the name is "
                                                  "ambiguous).")] = None,
    version: Annotated[str | None, typer.Option("--version", "-v", help="One version of a model (number or "
                                                                        "alias).")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Turn the switch off again.")] = False,
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Turn a model, an experiment or a deployment off at once in every server (or on again with --undo)."""
    from loopline import ServingError
    from loopline.registry import Registry

    with handled(as_json=as_json, debug=debug):
        if kind not in (None, "model", "experiment", "deployment"):
            raise ServingError(f"--kind must be model, experiment or deployment, got {kind!r}.")
        chosen: Literal["model", "experiment", "deployment"] | None = kind  # type: ignore[assignment]
        control = Registry(_existing(workspace), create=False).set_killed(
            chosen, name, not undo, reason, version=version, actor="cli")
        if as_json:
            print_json({"target": control.target, "killed": control.killed, "reason": control.reason})
            return
        state = "[red]killed[/]" if control.killed else "[green]back on[/]"
        out.print(f"{control.target}: {state} ({control.reason}); servers follow within a second")


@keys_app.command("create", cls=Command, epilog=example("loopline keys create mobile-app --scope predict"))
def keys_create(
    name: Annotated[str, typer.Argument(help="A name for the key (who or what uses it).")],
    scope: Annotated[list[str] | None, typer.Option(help="predict (predict, rank, feedback, explain) or admin "
                                                         "(everything). Repeat for several.")] = None,
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Create an API key; its token is printed once and only its hash is stored."""
    from loopline.serving import ApiKeys

    with handled(as_json=as_json, debug=debug):
        key, token = ApiKeys.for_workspace(_existing(workspace)).create(
            name, scopes=scope or ["predict"])
        if as_json:
            print_json({"id": key.key_id, "name": key.name, "scopes": list(key.scopes), "token": token.reveal()})
            return
        out.print(f"key {key.name} ({key.key_id}, scopes {', '.join(key.scopes)}). Token, shown this once:")
        out.print(token.reveal(), soft_wrap=True)


@keys_app.command("list", cls=Command, epilog=example("loopline keys list --all --json"))
def keys_list(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """List API keys (names, scopes, dates; never tokens)."""
    from loopline.serving import ApiKeys

    with handled(as_json=as_json, debug=debug):
        keys = ApiKeys.for_workspace(_existing(workspace)).list(include_revoked=all_keys)
        if as_json:
            print_json([{"id": k.key_id, "name": k.name, "scopes": list(k.scopes), "created_at": k.created_at,
                         "revoked_at": k.revoked_at} for k in keys])
            return
        listed = make_table("id", "name", "scopes", "created", "revoked", title="API keys")
        for k in keys:
            listed.add_row(k.key_id, k.name, ", ".join(k.scopes), fmt(k.created_at), fmt(k.revoked_at))
        out.print(listed)


@keys_app.command("revoke", cls=Command, epilog=example("loopline keys revoke mobile-app"))
def keys_revoke(
    name: Annotated[str, typer.Argument(help="The key's name or id.")],
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Revoke an API key; a running server refuses it from its next request."""
    from loopline.serving import ApiKeys

    with handled(as_json=as_json, debug=debug):
        key = ApiKeys.for_workspace(_existing(workspace)).revoke(name)
        if as_json:
            print_json({"id": key.key_id, "name": key.name, "revoked_at": key.revoked_at})
            return
        out.print(f"key {key.name} ({key.key_id}) revoked")


def materialize(
    spec: Annotated[Path, typer.Option("--spec", "-s", help="The spec whose feature_tables are served.")] = Path(
        "loopline.yaml"),
    store: Annotated[str, typer.Option(help="snapshot (workspace files) or redis (LOOPLINE_REDIS_URL).")] = "snapshot",
    as_of: Annotated[str | None, typer.Option("--as-of", help="ISO instant of the values (default: now).")] = None,
    workspace: WorkspaceDir = None, as_json: Json = False, debug: Debug = False,
) -> None:
    """Write the latest feature values per entity for online lookups (requests may then carry ids only)."""
    from loopline import ServingError
    from loopline.serving import materialize as write
    from loopline.spec import ProblemSpec

    with handled(as_json=as_json, debug=debug):
        if store not in ("snapshot", "redis"):
            raise ServingError(f"--store must be snapshot or redis, got {store!r}.")
        snapshot = write(ProblemSpec.load(spec), _existing(workspace), as_of=as_of,
                         store="redis" if store == "redis" else "snapshot")
        tables = {table.name: len(snapshot.arrays(table.name)[1]) for table in snapshot.tables}
        if as_json:
            print_json({"as_of": snapshot.as_of.isoformat(), "store": store, "tables": tables})
            return
        out.print(f"materialised {', '.join(f'{n} ({r:,} keys)' for n, r in tables.items()) or 'nothing'} as of "
                  f"{snapshot.as_of} into the {store} store")
