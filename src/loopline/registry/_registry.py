"""``Registry``: runs, model versions, aliases and their history, over the workspace's metadata database."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from loopline._errors import RegistryError, WorkspaceError
from loopline.registry import _alerts, _aliases, _controls, _deployments, _loop_steps, _runs
from loopline.registry._alerts import StoredAlert
from loopline.registry._controls import Control, ControlKind
from loopline.registry._deployments import Deployment, ExperimentRecord
from loopline.registry._engine import create_registry_engine, read_connection
from loopline.registry._heartbeat import HEARTBEAT_INTERVAL_S
from loopline.registry._heartbeat import heartbeat as _heartbeat
from loopline.registry._lookup import fetch_versions, model_names, require_model, resolve
from loopline.registry._loop_steps import LoopStep
from loopline.registry._migrate import upgrade
from loopline.registry._schema import model_versions
from loopline.registry._types import AliasChange, ModelVersion, Run
from loopline.registry._versions import register
from loopline.workspace import ENV_DB_URL, Workspace

if TYPE_CHECKING:
    from loopline.models import TrainedModel


def __getattr__(name: str) -> Any:
    """``load_model`` (:func:`loopline.models.load_model`), imported on first use.

    Loading is the only thing the registry needs from :mod:`loopline.models`, and importing that pulls in
    LightGBM, scikit-learn and SciPy: a process that only lists versions (``loopline models list``) should
    not pay for them. The name stays reachable (and replaceable) as ``loopline.registry._registry.load_model``.
    """
    if name == "load_model":
        from loopline.models import load_model

        globals()["load_model"] = load_model
        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _model_loader() -> Callable[..., TrainedModel]:
    """The module's ``load_model``: the one set on the module if any (a test's stand-in), else the real one."""
    loader: Callable[..., TrainedModel] = globals().get("load_model") or __getattr__("load_model")
    return loader


class Registry:
    """The model registry of a workspace.

    Opening it connects to the metadata database (``workspace.db_url``: the workspace's SQLite file,
    or PostgreSQL) and upgrades its schema to the newest migration. Artifacts are stored under
    ``workspace.artifact_root / "models" / <name> / <uuid>`` and recorded relative to the artifact
    root. Every method is one transaction, safe to call from several processes at once.

    With ``create=False`` (what read-only commands use) a workspace whose SQLite database does not
    exist yet is a :class:`~loopline.WorkspaceError`, and no file is created.
    """

    def __init__(self, workspace: Workspace, *, create: bool = True) -> None:
        self.workspace = workspace
        self._engine = create_registry_engine(workspace.db_url.reveal(), create=create)
        try:
            upgrade(self._engine, artifact_root=workspace.artifact_root)
        except sa.exc.OperationalError as exc:
            reason = (str(exc.orig).strip().splitlines() or ["no reason given"])[0]
            raise WorkspaceError(
                f"cannot open the metadata database {workspace.db_url} ({reason}). Check {ENV_DB_URL}, that the "
                "server is running and the file or database is writable."
            ) from None

    def __repr__(self) -> str:
        return f"Registry(db={str(self.workspace.db_url)!r}, artifacts={str(self.workspace.artifact_root)!r})"

    # runs ---------------------------------------------------------------------------------------

    def start_run(self, *, spec_name: str, spec_hash: str, data_fingerprint: str, params: dict[str, Any],
                  code_version: str) -> Run:
        """Record the start of a training run; register its model versions with the returned ``run_id``."""
        return _runs.start_run(self._engine, spec_name=spec_name, spec_hash=spec_hash,
                               data_fingerprint=data_fingerprint, params=params, code_version=code_version)

    def finish_run(self, run_id: str, *, status: Literal["finished", "failed"],
                   metrics: dict[str, dict[str, float]], timings: dict[str, float], error: str | None = None) -> Run:
        """Close a running run with its outcome (split -> metric -> value) and timings in seconds."""
        return _runs.finish_run(self._engine, run_id, status=status, metrics=metrics, timings=timings, error=error)

    def get_run(self, run_id: str) -> Run:
        """One run; ``abandoned`` when its heartbeat has been silent for longer than its timeout."""
        return _runs.get_run(self._engine, run_id)

    def runs(self, limit: int = 50) -> list[Run]:
        """The latest ``limit`` runs, newest first."""
        return _runs.list_runs(self._engine, limit)

    @contextmanager
    def heartbeat(self, run_id: str, *, interval_s: float = HEARTBEAT_INTERVAL_S) -> Iterator[None]:
        """Keep ``run_id`` alive while the block runs: a daemon thread refreshes its heartbeat every
        ``interval_s`` seconds. If the process dies, the run is reported ``abandoned`` once it has been
        silent for 3 intervals (90 s by default)::

            with registry.heartbeat(run.run_id):
                ...  # train
        """
        with _heartbeat(self._engine, run_id, interval_s=interval_s):
            yield

    # versions -----------------------------------------------------------------------------------

    def register_model(self, *, name: str, run_id: str, artifact_dir: Path, sha256: str, family: str, task: str,
                       features: list[str], metrics: dict[str, dict[str, float]], baselines_beaten: list[str],
                       spec_hash: str, data_fingerprint: str, code_version: str, profile: dict[str, Any] | None,
                       report_path: str | None = None, card_context: dict[str, Any] | None = None,
                       alias: str | None = None, reason: str | None = None, actor: str = "loop") -> ModelVersion:
        """Store the saved model in ``artifact_dir`` as the next version of ``name``.

        The folder is copied under the artifact root, its ``model.json`` checked against ``sha256``
        (:class:`~loopline.IntegrityError` otherwise), ``MODEL_CARD.md`` written into it, and the
        version row inserted with the next free number (1, 2, 3, ...). With ``alias`` (and the
        ``reason`` kept in the alias history) the new version also becomes that alias, e.g.
        ``champion``, in the same transaction: either both happen or neither does.
        """
        return register(
            self._engine, self.workspace.artifact_root, name=name, run_id=run_id,
            artifact_dir=artifact_dir, sha256=sha256, family=family, task=task, features=features, metrics=metrics,
            baselines_beaten=baselines_beaten, spec_hash=spec_hash, data_fingerprint=data_fingerprint,
            code_version=code_version, profile=profile, report_path=report_path, card_context=card_context,
            alias=alias, reason=reason, actor=actor,
        )

    def get_version(self, name: str, version: int | str) -> ModelVersion:
        """One version, by number (``3``, ``"3"``, ``"v3"``) or alias (``"champion"``)."""
        with read_connection(self._engine) as conn:
            number = resolve(conn, name, version)
            return fetch_versions(conn, self.workspace.artifact_root, name, number)[0]

    def list_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version (of one model, or of all), ordered by model name and version number."""
        with read_connection(self._engine) as conn:
            if name is not None:
                require_model(conn, name)
            return fetch_versions(conn, self.workspace.artifact_root, name)

    def list_models(self) -> list[str]:
        """Names of the registered models, sorted."""
        with read_connection(self._engine) as conn:
            return model_names(conn)

    def profile(self, name: str, version: int | str) -> dict[str, Any] | None:
        """The reference profile recorded with a version (what monitoring compares live data against)."""
        with read_connection(self._engine) as conn:
            number = resolve(conn, name, version)
            query = sa.select(model_versions.c.profile).where(
                model_versions.c.name == name, model_versions.c.version == number)
            found: dict[str, Any] | None = conn.execute(query).scalar_one()
            return found

    def load(self, name: str, version_or_alias: int | str) -> TrainedModel:
        """Load a version's model after checking its artifact against the recorded sha256."""
        found = self.get_version(name, version_or_alias)
        if not (found.artifact_path / "model.json").is_file():
            raise RegistryError(
                f"the artifact of {name} v{found.version} is missing: {found.artifact_path / 'model.json'} does not "
                f"exist. Restore the folder from a backup or register the model again (artifact root: "
                f"{self.workspace.artifact_root})."
            )
        model: TrainedModel = _model_loader()(found.artifact_path, sha256=found.sha256)
        return model

    # aliases ------------------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, reason: str, actor: str = "cli") -> AliasChange:
        """Point ``alias`` at ``version`` (one transaction; the move is appended to the alias history)."""
        return _aliases.set_alias(self._engine, name, alias, version, reason=reason, actor=actor)

    def promote(self, name: str, version: int, *, alias: str = "champion", reason: str,
                actor: str = "cli") -> AliasChange:
        """Make ``version`` the ``champion`` (or another alias); same as :meth:`set_alias`."""
        return self.set_alias(name, alias, version, reason=reason, actor=actor)

    def rollback(self, name: str, *, alias: str = "champion", reason: str, actor: str = "cli") -> AliasChange:
        """Point ``alias`` back at the version it held before its last change.

        Rolling back is itself a change, so a second rollback undoes the first. Raises
        :class:`~loopline.RegistryError` when the alias has no earlier version.
        """
        return _aliases.rollback(self._engine, name, alias=alias, reason=reason, actor=actor)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Every alias move of ``name`` (or of one alias), oldest first."""
        return _aliases.history(self._engine, name, alias)

    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version number for ``name``."""
        return _aliases.current_aliases(self._engine, name)

    # deployments, experiments and kill switches --------------------------------------------------

    def deploy(self, spec: Mapping[str, Any], *, actor: str, reason: str = "deployed") -> Deployment:
        """Store a deployment spec (plain JSON values, validated by ``loopline.serving.DeploymentSpec``) as
        the next revision of its deployment, the active one; the revisions before it stay in the history.

        Every version it names (in ``arms``, ``shadows``, ``canary``) must exist. Its ``experiment``, if
        any, is recorded with each arm's version and share (see :meth:`experiment`); a revision that
        drops the experiment ends it. One transaction: either all of it is stored or nothing.
        """
        return _deployments.deploy(self._engine, spec, actor=actor, reason=reason)

    def deployment(self, name: str) -> Deployment:
        """The active revision of deployment ``name``; a :class:`~loopline.RegistryError` lists the known ones."""
        return _deployments.deployment(self._engine, name)

    def find_deployment(self, name: str) -> Deployment | None:
        """The active revision of deployment ``name``, or None when there is none."""
        return _deployments.find_deployment(self._engine, name)

    def deployment_history(self, name: str) -> list[Deployment]:
        """Every revision of deployment ``name``, oldest first."""
        return _deployments.history(self._engine, name)

    def end_canary(self, name: str, revision: int, *, reason: str, actor: str = "router") -> Deployment | None:
        """Store a revision of ``name`` without its canary when ``revision`` is still active and has one
        (what serving does when a canary fails its limits); None, writing nothing, when another worker
        or a person changed the deployment first."""
        return _deployments.end_canary(self._engine, name, revision, reason=reason, actor=actor)

    def experiment(self, name: str) -> ExperimentRecord:
        """An online experiment as deployed: its deployment, model, arms with versions and shares, start and end."""
        return _deployments.experiment(self._engine, name)

    def set_killed(self, kind: ControlKind | None, name: str, killed: bool, reason: str, *,
                   version: int | str | None = None, actor: str = "cli") -> Control:
        """Turn a kill switch on (``killed=True``) or off again; every serving worker follows within a second.

        ``kind`` is ``model`` (every version, or one with ``version``: a number or an alias, pinned to
        the number it points at now), ``experiment`` or ``deployment``; None finds ``name`` among them.
        The target must exist. The switch is appended to the control history.
        """
        return _controls.set_killed(self._engine, kind, name, killed, reason, version=version, actor=actor)

    def controls(self, *, history: bool = False) -> list[Control]:
        """The current state of every kill switch ever used (or, with ``history``, every switch, oldest first)."""
        return _controls.current(self._engine, history=history)

    # alerts -------------------------------------------------------------------------------------

    def record_alert(self, *, model: str, version: int | None, rule: Mapping[str, Any], value: float, message: str,
                     fired_at: datetime, cooldown: timedelta) -> StoredAlert | None:
        """Store an alert that fired (``rule`` as plain JSON with at least ``metric`` and ``severity``), unless
        the same rule fired for the same model and version within ``cooldown`` of ``fired_at``, before or
        after: then nothing is written and None comes back (one incident, one alert). The model (and the
        version, when given) must exist. One transaction, under a lock, so concurrent recorders of one
        incident store it once."""
        return _alerts.record_alert(self._engine, model=model, version=version, rule=rule, value=value,
                                    message=message, fired_at=fired_at, cooldown=cooldown)

    def alerts(self, model: str, *, since: datetime | None = None) -> list[StoredAlert]:
        """The alerts stored for ``model`` (fired at or after ``since``, a timezone-aware time), oldest first."""
        return _alerts.history(self._engine, model, since=since)

    # the continual-learning loop's history ------------------------------------------------------

    def record_step(self, *, model: str, stage: str, status: str, reason: str, at: datetime,
                    version: int | None = None, deployment: str | None = None,
                    details: Mapping[str, Any] | None = None, actor: str = "loop") -> LoopStep:
        """Append one step of the continual-learning loop to ``model``'s history, with its reason.

        ``stage`` (``retrain``, ``shadow``, ``canary``, ...) and ``status`` (``started``, ``passed``,
        ``rolled_back``, ...) are short plain words (1-32 lowercase letters or ``_``); ``version`` the
        version concerned (it must exist, like the model), ``deployment`` the deployment touched, ``details``
        plain JSON (NaN kept), ``at`` a timezone-aware time. One transaction per step."""
        return _loop_steps.record_step(self._engine, model=model, stage=stage, status=status, reason=reason, at=at,
                                       version=version, deployment=deployment, details=details, actor=actor)

    def loop_steps(self, model: str, *, since: datetime | None = None,
                   deployment: str | None = None) -> list[LoopStep]:
        """The loop's steps for ``model`` (at or after ``since``, a timezone-aware time; of one ``deployment``),
        oldest first (by ``at``, then in the order they were stored)."""
        return _loop_steps.history(self._engine, model, since=since, deployment=deployment)
