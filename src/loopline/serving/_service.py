"""What the HTTP handlers share: the router (with the protocols the app needs of one), the exposure
and feedback logs, the keys, the metrics, the online store and the funnel; and small request helpers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
from fastapi import Request

from loopline._errors import InputError, LooplineError
from loopline.events import EventLog, EventWriter
from loopline.registry import Registry
from loopline.serving._auth import ApiKeys
from loopline.serving._auth import Scope as KeyScope
from loopline.serving._control import Controls
from loopline.serving._exposures import ExposureLogger, ShadowRunner
from loopline.serving._funnel import load_funnel
from loopline.serving._http import Problem, Row
from loopline.serving._metrics import ServingMetrics
from loopline.serving._online import OnlineStore
from loopline.serving._online_fill import fill_rows, open_store
from loopline.serving._router import Router as LiveRouter
from loopline.serving._scorer import Scorer
from loopline.serving._server import DEFAULT_LOG_TOP, ServeSettings, require_keys
from loopline.workspace import Workspace

log = logging.getLogger("loopline.serving")


# -- routing: what the app needs of a router -----------------------------------------------------------

class Route(Protocol):
    """Where one request goes (see the design of ``serving._router``)."""

    @property
    def arm(self) -> str: ...
    @property
    def experiment(self) -> str | None: ...
    @property
    def scorer(self) -> Scorer | None: ...
    @property
    def shadows(self) -> tuple[Scorer, ...]: ...
    @property
    def interleave_with(self) -> Scorer | None: ...
    @property
    def first_exposure(self) -> bool: ...
    @property
    def fallback(self) -> str | None: ...
    @property
    def explore(self) -> bool: ...


class Router(Protocol):
    """What the app needs of a router: ``serving._router.Router`` has it, and so has :class:`ChampionRouter`."""

    def route(self, unit_id: str | None) -> Route: ...
    def record(self, route: Any, *, latency_ms: float, error: bool) -> None: ...  # the route route() gave
    def scorers(self) -> list[Scorer]: ...


@dataclass(frozen=True)
class ChampionRoute:
    arm: str
    scorer: Scorer | None
    experiment: str | None = None
    shadows: tuple[Scorer, ...] = ()
    interleave_with: Scorer | None = None
    first_exposure: bool = False
    fallback: str | None = None
    explore: bool = False


class ChampionRouter:
    """Every request to one scorer (the alias's version, loaded once), the arm named after the alias."""

    def __init__(self, scorer: Scorer, *, arm: str = "champion") -> None:
        self._route = ChampionRoute(arm=arm, scorer=scorer)

    def route(self, unit_id: str | None) -> Route:
        return self._route

    def record(self, route: Any, *, latency_ms: float, error: bool) -> None:
        return None

    def scorers(self) -> list[Scorer]:
        return [] if self._route.scorer is None else [self._route.scorer]


# -- the service behind the endpoints -----------------------------------------------------------

class _Service:
    """What the handlers share: the router, the logs, the keys, the metrics and the settings."""

    def __init__(self, workspace: Workspace, *, model: str, settings: ServeSettings, router: Router | None,
                 registry: Registry) -> None:
        self.model = model
        self.settings = settings
        self.deployment = settings.deployment or model
        self.metrics = ServingMetrics()
        self.keys = ApiKeys.for_workspace(workspace)
        if settings.auth_required:
            require_keys(self.keys, settings)
        self.controls: Controls | None = None
        if router is None and (settings.deployment is not None or settings.alias == "champion"):
            # Follows the registry: promotions, rollbacks, deployments and kill switches within a second.
            live = LiveRouter(registry, settings.deployment or model)
            self.controls = Controls(live).start()
            router = live
        if router is None:  # a pinned alias other than champion: that version, as loaded now
            router = ChampionRouter(Scorer.load(registry, model, settings.alias), arm=settings.alias)
        self.router = router
        self._killed_shown: set[str] = set()
        spec = _trained_spec(registry, model, router)
        self.unit_column: str | None = spec.get("unit") or spec.get("entity")
        try:
            self.online: OnlineStore | None = open_store(workspace, str(spec.get("name") or model), settings.online)
        except Exception:
            if self.controls is not None:
                self.controls.stop()
            raise
        serving: dict[str, Any] = spec.get("serving") or {}
        top = settings.log_top if settings.log_top is not None else serving.get("log_top", DEFAULT_LOG_TOP)
        self.log_top = int(top)
        # serving.first_stage, first_stage_k, candidates and latency_budget_ms (see serving._funnel)
        self.funnel = load_funnel(registry, serving, on_fallback=lambda why: self.metrics.fallbacks.labels(
            reason=why).inc())
        events = EventLog.for_workspace(workspace)
        self.exposures = ExposureLogger(
            EventWriter(events, max_rows=settings.log_max_rows, max_interval_s=settings.log_interval_s),
            max_queue=settings.log_queue, sensitive=spec.get("sensitive") or (), on_drop=self.metrics.count_dropped)
        self.metrics.watch_queue(lambda: self.exposures.depth)
        self.feedback = EventWriter(events, max_rows=1_000_000, max_interval_s=3600.0)
        self.shadows = ShadowRunner(on_skip=lambda: self.metrics.count_dropped("exposures", "shadow_busy", 1))

    def close(self) -> None:
        if self.controls is not None:
            self.controls.stop()
        self.shadows.close()
        close_online = getattr(self.online, "close", None)
        if callable(close_online):
            close_online()
        self.funnel.close()
        self.exposures.close()
        self.feedback.close()

    def show_kill_switches(self) -> None:
        """Set the kill-switch gauge from the router's switches in force (at each scrape)."""
        killed = getattr(self.router, "killed", None)
        now = set(killed()) if callable(killed) else set()
        for target in now | self._killed_shown:
            self.metrics.set_killed(target, target in now)
        self._killed_shown |= now

    def authorize(self, request: Request, scope: KeyScope) -> None:
        """The request's bearer key checked for ``scope`` when the server requires keys (as the ``Depends`` of
        the other endpoints does: a header that is not 'Bearer ...' counts as no key)."""
        if not self.settings.auth_required:
            return
        header = request.headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        self.keys.verify(token.strip() if scheme.lower() == "bearer" else None, scope=scope)

    def limit(self, count: int, field: str) -> None:
        if count > self.settings.max_rows:
            raise Problem(413, f"{field}: {count} in one request, more than the server's limit of "
                                f"{self.settings.max_rows} (LOOPLINE_SERVE_MAX_ROWS). Split the request.", field=field)

    def fill(self, rows: list[Row]) -> list[Row]:
        """``rows`` with the feature-table columns they lack filled from the online store (by their keys)."""
        return rows if self.online is None else fill_rows(self.online, rows, at=datetime.now(UTC))

    def fill_columns(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``columns`` with the feature-table columns they lack filled from the online store, for the tables whose
        key columns they hold (a column sent in the request is never replaced)."""
        if self.online is None:
            return columns
        lacking = [t.name for t in self.online.tables if not set(t.columns) <= columns.keys()]
        if not lacking:
            return columns
        found = self.online.lookup(columns, at=datetime.now(UTC), tables=lacking)
        return {**{k: v for k, v in found.items() if k not in columns}, **columns}

    def count_fallback(self, route: Route) -> None:
        """Count a route that a kill switch diverted (not a designed holdout)."""
        if route.fallback is not None:
            self.metrics.fallbacks.labels(reason="kill_switch").inc()

    def shadow_failed(self, shadow: Scorer, exc: BaseException) -> None:
        name = f"{shadow.name or 'unregistered'}:{shadow.version}"
        self.metrics.shadow_errors.labels(model=name).inc()
        log.warning("shadow %s failed: %s", name, exc)

    # -- exposures ------------------------------------------------------------------------------

    def log_scores(self, request_id: str, route: Route, scorer: Scorer | None, *, units: Any, scores: Any,
                   served: bool, latency_ms: float, rows: int, features: Mapping[str, np.ndarray] | None = None,
                   item_ids: list[str] | None = None, positions: np.ndarray | None = None,
                   extra: Mapping[str, Any] | None = None) -> datetime:
        """Queue the exposures of one scoring; returns their ``ts`` (a first exposure's assignment carries it)."""
        ts = datetime.now(UTC)
        columns: dict[str, Any] = {
            "ts": ts, "deployment": self.deployment, "request_id": request_id, "unit_id": units,
            "item_id": item_ids, "arm": route.arm,
            "model_version": None if scorer is None or scorer.version is None else str(scorer.version),
            "score": scores, "served": served, "position": positions, "latency_ms": float(latency_ms),
        }
        if route.experiment is not None:
            columns["experiment"] = route.experiment
        if features is not None and self.settings.log_features:
            for name, values in features.items():
                columns[name if name not in columns else f"feature_{name}"] = values
        if extra:
            columns.update(extra)
        self.exposures.submit("exposures", columns, rows)
        return ts

    def log_assignment(self, route: Route, unit: str, ts: datetime) -> None:
        """The unit's assignment, at ``ts``: its first exposure's time (analysis counts exposures from there)."""
        if route.first_exposure and route.experiment is not None:
            self.exposures.submit("assignments", {"ts": ts, "deployment": self.deployment,
                                                  "experiment": route.experiment, "unit_id": unit,
                                                  "arm": route.arm}, 1)


def _trained_spec(registry: Registry, model: str, router: Router) -> dict[str, Any]:
    """The spec the served model was trained from (its run's parameters), for ``sensitive``, the unit and
    ``serving``; empty when unknown."""
    for scorer in router.scorers():
        if scorer.name == model and scorer.version is not None:
            try:
                run_id = registry.get_version(model, scorer.version).run_id
                spec = registry.get_run(run_id).params.get("spec")
            except LooplineError:
                return {}
            return spec if isinstance(spec, dict) else {}
    return {}


def _scored(route: Route, svc: _Service, started: float, call: Any) -> Any:
    """``call()`` with the router told how it went (client input errors do not count as errors)."""
    try:
        result = call()
    except InputError:
        svc.router.record(route, latency_ms=_ms(started), error=False)
        raise
    except Exception:
        svc.router.record(route, latency_ms=_ms(started), error=True)
        raise
    svc.router.record(route, latency_ms=_ms(started), error=False)
    return result


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _started(request: Request) -> float:
    value = request.scope.get("state", {}).get("t0")
    return float(value) if value is not None else time.perf_counter()


def _labels(request: Request, scorer: Scorer | None, route: Route) -> None:
    name = "none" if scorer is None else (scorer.name or "unregistered")
    version = "" if scorer is None or scorer.version is None else str(scorer.version)
    request.scope.setdefault("state", {})["labels"] = (name, version, route.arm)


def _units(unit_id: str | None, rows: list[Row], column: str | None, request_id: str) -> Any:
    """The unit of each logged row: the request's, else the row's value of the spec's unit column, else the
    request id (a request without a unit is its own unit)."""
    if unit_id is not None:
        return unit_id
    if column is not None and any(column in row for row in rows):
        return [request_id if row.get(column) is None else str(row[column]) for row in rows]
    return request_id


def _item_ids(items: list[Row]) -> list[str]:
    """The items' ids as strings (integers allowed), each non-empty and unique, else an InputError naming it."""
    ids = [item.get("item_id") for item in items]
    try:
        unique: set[Any] | None = set(ids)
    except TypeError:  # an unhashable id (a list, an object): the loop below names it
        unique = None
    if unique is not None and len(unique) == len(ids) and "" not in unique and set(map(type, unique)) == {str}:
        return ids  # type: ignore[return-value]  # all checked to be str just above
    seen: set[str] = set()
    out: list[str] = []
    for i, value in enumerate(ids):
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise InputError(f"items[{i}].item_id: every item needs an 'item_id' (a string or an integer), got "
                             f"{value!r}.", field=f"items[{i}].item_id")
        text = str(value)
        if text in seen:
            raise InputError(f"items[{i}].item_id: {text!r} appears more than once; send each candidate once.",
                             field=f"items[{i}].item_id")
        seen.add(text)
        out.append(text)
    return out
