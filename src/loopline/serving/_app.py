"""``create_app``: the HTTP API of a served model (settings in ``_server``, wire formats in ``_http``).

Endpoints, under ``/v1`` (OpenAPI at ``/openapi.json``, docs at ``/docs``):

=====================  ===========  =====================================================================
endpoint               scope        answer
=====================  ===========  =====================================================================
``POST /predict``      predict      per row the score, the decision at the threshold (binary), the class
                                    (multiclass); the model version, arm and request id
``POST /rank``         predict      the items ordered by score, best first, with scores and positions; the
                                    candidates as ``items`` (objects) or ``columns`` (one list per field)
``POST /feedback``     predict      outcome events; 200 only once they are durably in the event log
``POST /explain``      predict      per row additive contributions (not the fast path)
``GET /models``        predict      the loaded models
``GET /metrics``       admin        Prometheus text (see :mod:`loopline.serving._metrics`)
``GET /health``        none         200 while the process runs
``GET /ready``         none         200 once the models are loaded and the logger runs, else 503
=====================  ===========  =====================================================================

Every error is JSON ``{"error": ..., "field": ..., "request_id": ...}``: 401/403 for a missing, bad or
under-scoped API key, 413 for a body over ``max_body_bytes`` or more than ``max_rows`` rows, 422 for
input that does not fit the model (the field named), 503 when nothing can answer, 500 (the request id
only; the traceback goes to the server log) for anything unexpected. Every served and shadow score is
logged as an exposure (:mod:`loopline.serving._exposures`); shadows are scored on a background
thread after the answer is built, never delaying it. Without a ``unit_id`` a request is its own unit
(its exposures carry the request id, or each row's value of the spec's unit/entity column).

Online features (:mod:`loopline.serving._online`): a row of ``/predict`` or ``/explain``, or an item of
``/rank`` (after ``context`` is merged in), that lacks the columns of one of the spec's feature tables but
carries that table's key (e.g. only ``customer_id``) gets them from the online store loaded at start-up
(``ServeSettings.online``: the snapshot of ``loopline materialize`` by default when one exists, or Redis),
the latest value per key with the table's ``max_age`` applied at the request's time, missing (imputed as in
training) for an unknown key. A value sent inline, even null, wins over the stored one (for ``columns``, a
column sent is kept whole and only the columns the request lacks are filled).

Until deployments exist, :class:`ChampionRouter` routes every request to one alias (``champion``) of
one model; ``create_app(..., router=...)`` takes any object with the same three methods.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline

import loopline
from loopline._errors import EventLogError
from loopline.events import team_draft
from loopline.registry import Registry
from loopline.serving._admin import add_admin_routes
from loopline.serving._auth import Scope as KeyScope
from loopline.serving._candidates import Candidates, candidate_columns, column_item_ids, size, take
from loopline.serving._funnel import Funneled, spread
from loopline.serving._http import (
    ERRORS,
    Edge,
    ErrorBody,
    ExplainRequest,
    ExplainResponse,
    FeedbackRequest,
    FeedbackResponse,
    ModelInfo,
    PredictRequest,
    PredictResponse,
    Problem,
    RankRequest,
    RankResponse,
    body_schema,
    handle_errors,
    json_response,
    parse_body,
    request_id,
)
from loopline.serving._metrics import CONTENT_TYPE
from loopline.serving._scorer import Scorer
from loopline.serving._server import ServeSettings
from loopline.serving._service import (  # noqa: F401 - ChampionRoute: tests build routes with it
    ChampionRoute,
    ChampionRouter,
    Route,
    Router,
    _item_ids,
    _labels,
    _ms,
    _scored,
    _Service,
    _started,
    _units,
)
from loopline.workspace import Workspace

log = logging.getLogger("loopline.serving")
EXPLORE_SEED = 0x5EED  # mixed with the request id: the random order differs from interleaving's coin flips
_BEARER = HTTPBearer(auto_error=False, description="An API key from 'loopline keys create NAME'.")


# -- the app ------------------------------------------------------------------------------------

def create_app(workspace: Workspace, *, model: str, settings: ServeSettings, router: Router | None = None) -> FastAPI:
    """The HTTP API serving ``model`` (its ``settings.alias`` version, or whatever ``router`` routes to).

    Loads the model now (a missing model or alias fails here, before any request), and refuses to build
    an app that requires API keys when none exist. The app's lifespan writes the buffered exposures at
    shutdown.
    """
    registry = Registry(workspace, create=False)
    svc = _Service(workspace, model=model, settings=settings, router=router, registry=registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        try:
            yield
        finally:
            svc.close()

    # The API docs (/docs) load Swagger UI from the installed package, not a CDN: servers may be offline.
    app = FastAPIOffline(title=f"loopline: {model}", version=loopline.__version__, lifespan=lifespan, redoc_url=None,
                         description="Predictions, rankings and feedback for a model registered with loopline.")
    app.state.service = svc

    def needs(scope: KeyScope) -> Any:
        async def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
            # async: a hash and a stat, cheaper than a hop to the thread pool
            if svc.settings.auth_required:
                svc.keys.verify(None if credentials is None else credentials.credentials, scope=scope)

        return Depends(check)

    predict_scope, admin_scope = [needs("predict")], [needs("admin")]

    def fast(body: type[PredictRequest | RankRequest]) -> dict[str, Any]:
        """The OpenAPI of an endpoint that parses its own body and checks the key inline (same as Depends)."""
        return {**body_schema(body), "security": [{"HTTPBearer": []}]}

    # The two hot endpoints read their bodies with parse_body (pydantic's JSON parser on the bytes), check the
    # key inline and answer through orjson: FastAPI's dependency and body machinery cost more than scoring.
    @app.post("/v1/predict", response_model=PredictResponse, responses=ERRORS, openapi_extra=fast(PredictRequest))
    async def predict(request: Request) -> Response:
        svc.authorize(request, "predict")
        body = parse_body(request, PredictRequest)
        rid, started = request_id(request), _started(request)
        svc.limit(len(body.rows), "rows")
        route = svc.router.route(body.unit_id)
        svc.count_fallback(route)
        scorer = route.scorer
        _labels(request, scorer, route)
        if scorer is None:
            raise Problem(503, f"no model serves {svc.model!r} for this request (arm {route.arm!r}"
                               f"{': ' + route.fallback if route.fallback else ''}). /v1/rank answers with the "
                               "baseline order meanwhile.")
        rows = svc.fill(body.rows)
        checked, scores = _scored(route, svc, started, lambda: _check_and_score(scorer, rows))
        n = len(body.rows)
        decisions = scorer.decide(scores)
        extra: dict[str, Any] = {}
        if scores.ndim == 2:
            best = np.argmax(scores, axis=1)
            names = [str(c) for c in (scorer.classes or range(scores.shape[1]))]
            labels = [names[i] for i in best.tolist()]
            top = scores[np.arange(n), best]
            predictions = [{"score": s, "label": lab, "scores": dict(zip(names, row, strict=True))}
                           for s, lab, row in zip(top.tolist(), labels, scores.tolist(), strict=True)]
            extra["predicted_label"] = labels  # not "label": the default name of the label built from feedback
        else:
            top = scores
            flags = decisions.tolist() if decisions is not None else [None] * n
            predictions = [{"score": s, "decision": d} for s, d in zip(scores.tolist(), flags, strict=True)]
            if decisions is not None:
                extra["decision"] = decisions
        units = _units(body.unit_id, body.rows, svc.unit_column, rid)
        ts = svc.log_scores(rid, route, scorer, units=units, scores=top, served=True, latency_ms=_ms(started),
                            rows=n, features=checked, extra=extra)
        svc.log_assignment(route, body.unit_id or rid, ts)
        _shadow(svc, rid, route, rows, units, None)
        return json_response({"request_id": rid, "model": scorer.name, "model_version": scorer.version,
                              "arm": route.arm, "experiment": route.experiment, "predictions": predictions})

    @app.post("/v1/rank", response_model=RankResponse, responses=ERRORS, openapi_extra=fast(RankRequest))
    async def rank(request: Request) -> Response:
        svc.authorize(request, "predict")
        body = parse_body(request, RankRequest)
        rid, started = request_id(request), _started(request)
        listed = "items" if body.items is not None else "columns.item_id"
        svc.limit(body.count, listed)
        svc.funnel.limit(body.count, listed)
        rows: Candidates
        if body.items is not None:
            ids = _item_ids(body.items)
            rows = svc.fill(body.items if not body.context else [{**body.context, **item} for item in body.items])
        else:
            rows = svc.fill_columns(candidate_columns(body.columns or {}, body.context))
            ids = column_item_ids(rows)
        route = svc.router.route(body.unit_id)
        svc.count_fallback(route)
        scorer = route.scorer
        _labels(request, scorer, route)
        fallback, shortlist = route.fallback, np.arange(len(ids))
        if scorer is None:  # the baseline order: the items as sent
            ranked = _Ranked(None, np.arange(len(ids)), [None] * len(ids), None, None)
        else:  # the funnel: the first stage's best K ranked within the latency budget, else its order
            other = route.interleave_with
            funneled = await svc.funnel.rank(
                rows, lambda given: _scored(route, svc, started, lambda: _rank(rid, scorer, other, given)),
                started=started, key=(scorer.name, scorer.version, None if other is None else (other.name,
                                                                                                 other.version)))
            ranked, shortlist = _widen(funneled, len(ids)), funneled.shortlist
            fallback = "; ".join(why for why in (route.fallback, funneled.fallback) if why) or None
            if route.explore and funneled.fallback is None:
                ranked = _explored(ranked, rid)
        pairs = zip(ranked.order.tolist(), ranked.scores, strict=True)
        answered: list[dict[str, Any]] = [{"item_id": ids[i], "score": s, "position": p}
                                          for p, (i, s) in enumerate(pairs)]
        if ranked.teams is not None:
            for item, team in zip(answered, ranked.teams, strict=True):
                item["team"] = team
        k = min(len(ids), svc.log_top)
        unit = body.unit_id or rid
        top = ranked.order[:k]
        extra: dict[str, Any] | None = None if ranked.teams is None else {
            "team": ranked.teams[:k], "model_version": ranked.versions[:k] if ranked.versions is not None else None}
        if fallback != route.fallback:
            extra = {**(extra or {}), "fallback": fallback}
        if route.explore:
            extra = {**(extra or {}), "explore": True}
        ts = svc.log_scores(rid, route, scorer, units=unit, scores=ranked.scores[:k], served=True,
                       latency_ms=_ms(started), rows=k, item_ids=[ids[i] for i in top.tolist()],
                       features=None if ranked.checked is None else {n: v[top] for n, v in ranked.checked.items()},
                       positions=np.arange(k, dtype=np.int32), extra=extra)
        svc.log_assignment(route, unit, ts)
        _shadow(svc, rid, route, take(rows, shortlist), unit, [ids[i] for i in shortlist.tolist()])
        return json_response({"request_id": rid, "model": None if scorer is None else scorer.name,
                              "model_version": None if scorer is None else scorer.version, "arm": route.arm,
                              "experiment": route.experiment, "fallback": fallback, "items": answered})

    @app.post("/v1/feedback", response_model=FeedbackResponse, dependencies=predict_scope, responses=ERRORS)
    def feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
        """Store outcome events; the answer comes only after they are durably written (fsynced) to the log.

        If the write fails the answer is 503 and the events should be sent again; a retry after such a
        failure may store an event twice (at-least-once)."""
        rid = request_id(request)
        svc.limit(len(body.events), "events")
        now = datetime.now(UTC)
        events = body.events
        table = pa.table({
            "ts": pa.array([e.ts or now for e in events], pa.timestamp("us", tz="UTC")),
            "deployment": pa.array([svc.deployment] * len(events), pa.string()),
            "request_id": pa.array([e.request_id for e in events], pa.string()),
            "unit_id": pa.array([e.unit_id for e in events], pa.string()),
            "item_id": pa.array([e.item_id for e in events], pa.string()),
            "event": pa.array([e.event for e in events], pa.string()),
            "value": pa.array([e.value for e in events], pa.float64()),
            "received_request_id": pa.array([rid] * len(events), pa.string()),
        })
        try:
            svc.feedback.append("feedback", table)
            svc.feedback.flush()
        except EventLogError as exc:
            log.error("feedback not stored (request %s): %s", rid, exc)
            raise Problem(503, f"the feedback could not be stored ({exc}); nothing was acknowledged. Send the "
                                "events again.") from None
        return FeedbackResponse(request_id=rid, stored=len(events))

    @app.post("/v1/explain", response_model=ExplainResponse, dependencies=predict_scope, responses=ERRORS)
    def explain(body: ExplainRequest, request: Request) -> Response:
        rid, started = request_id(request), _started(request)
        svc.limit(len(body.rows), "rows")
        route = svc.router.route(body.unit_id)
        scorer = route.scorer
        _labels(request, scorer, route)
        if scorer is None:
            raise Problem(503, f"no model serves {svc.model!r} for this request (arm {route.arm!r}).")
        found = _scored(route, svc, started, lambda: scorer.explain(svc.fill(body.rows)))
        if found is None:
            raise Problem(400, f"{scorer.family} models give no explanations; /v1/explain needs a linear or "
                                "LightGBM model.")
        names = list(found.features)
        contributions = np.asarray(found.contributions).tolist()
        base = np.asarray(found.base, dtype=np.float64)
        bases = base.tolist() if base.ndim and len(base) == len(contributions) else [base.tolist()] * len(contributions)
        out = [{"base": b, "contributions": dict(zip(names, row, strict=True))}
               for b, row in zip(bases, contributions, strict=True)]
        return JSONResponse({"request_id": rid, "model": scorer.name, "model_version": scorer.version,
                             "arm": route.arm, "features": names, "explanations": out})

    @app.get("/v1/models", response_model=list[ModelInfo], dependencies=predict_scope, responses=ERRORS)
    async def models() -> list[ModelInfo]:
        return [ModelInfo(name=s.name, version=s.version, task=s.task, family=s.family, backend=s.backend,
                          features=list(s.features), threshold=s.threshold,
                          classes=None if s.classes is None else list(s.classes)) for s in svc.router.scorers()]

    @app.get("/v1/metrics", dependencies=admin_scope, responses=ERRORS,
             response_class=Response)
    async def metrics() -> Response:
        svc.show_kill_switches()
        return Response(svc.metrics.render(), media_type=CONTENT_TYPE)

    add_admin_routes(app, registry, admin_scope)

    @app.get("/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/v1/ready", responses={503: {"model": ErrorBody}})
    async def ready() -> Response:
        loaded = svc.router.scorers()
        if not loaded or not svc.exposures.alive:
            why = "no model is loaded" if not loaded else "the exposure logger is not running"
            return JSONResponse({"error": f"not ready: {why}.", "field": None}, status_code=503)
        return JSONResponse({"ready": True, "models": [{"name": s.name, "version": s.version} for s in loaded]})

    handle_errors(app)
    app.add_middleware(Edge, max_body_bytes=settings.max_body_bytes, metrics=svc.metrics)
    return app


def _check_and_score(scorer: Scorer, rows: Candidates) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The checked columns (logged with the exposures) and the scores, checking the rows once."""
    checked = scorer.check(rows)
    return checked, np.asarray(scorer.score_checked(checked, size(rows)), dtype=np.float64)


def _rankable(scorer: Scorer, scores: np.ndarray) -> None:
    if scores.ndim != 1:
        raise Problem(400, f"model {scorer.name!r} is {scorer.task}: it gives class probabilities, not one score "
                           "per item, so it cannot rank. Rank with a binary, regression or ranking model, or use "
                           "/v1/predict.")


@dataclass(frozen=True)
class _Ranked:
    checked: Mapping[str, np.ndarray] | None  # the served scorer's checked columns (team A's when interleaved)
    order: np.ndarray                         # item indices, best first
    scores: list[float | None]                # the score of each item shown, in that order
    teams: list[str | None] | None            # "A"/"B" per item when interleaved (None below the ranked K)
    versions: list[str | None] | None         # the model version behind each item when interleaved


def _rank(request_id: str, scorer: Scorer, other: Scorer | None, rows: Candidates) -> _Ranked:
    """Order the items by ``scorer``, or team-draft interleave ``scorer`` (A) with ``other`` (B), the coin flips
    seeded by the request id."""
    checked, scores = _check_and_score(scorer, rows)
    _rankable(scorer, scores)
    order = np.argsort(-scores, kind="stable")
    if other is None:
        return _Ranked(checked, order, scores[order].tolist(), None, None)
    _, other_scores = _check_and_score(other, rows)
    _rankable(other, other_scores)
    rng = np.random.default_rng(int(request_id[:16], 16))
    merged, teams = team_draft(order.tolist(), np.argsort(-other_scores, kind="stable").tolist(), rng)
    shown = [float(scores[i] if t == "A" else other_scores[i]) for i, t in zip(merged, teams, strict=True)]
    versions = [_version(scorer if t == "A" else other) for t in teams]
    return _Ranked(checked, np.asarray(merged, dtype=np.int64), list(shown), list(teams), versions)


def _widen(funneled: Funneled[_Ranked], n: int) -> _Ranked:
    """The ranked shortlist placed among all ``n`` candidates: the rest follow in the first stage's order,
    without scores, teams or checked columns (the ranker never saw them)."""
    ranked, order = funneled.ranked, funneled.order
    if ranked is None:
        return _Ranked(None, order, [None] * n, None, None)
    rest = [None] * (n - len(funneled.shortlist))
    checked = None if ranked.checked is None else {
        name: spread(values, funneled.shortlist, n) for name, values in ranked.checked.items()}
    return _Ranked(checked, order, [*ranked.scores, *rest], None if ranked.teams is None else [*ranked.teams, *rest],
                   None if ranked.versions is None else [*ranked.versions, *rest])


def _explored(ranked: _Ranked, request_id: str) -> _Ranked:
    """The same scored items shown in an order drawn at random, seeded by the request id (the deployment's
    exploration share): each keeps its score; the positions are the random order's."""
    by_item = dict(zip(ranked.order.tolist(), ranked.scores, strict=True))
    order = np.random.default_rng([int(request_id[:16], 16), EXPLORE_SEED]).permutation(len(ranked.order))
    return _Ranked(ranked.checked, order, [by_item[i] for i in order.tolist()], None, None)


def _version(scorer: Scorer) -> str | None:
    return None if scorer.version is None else str(scorer.version)


def _shadow(svc: _Service, request_id: str, route: Route, rows: Candidates, units: Any,
            item_ids: list[str] | None) -> None:
    """Score ``rows`` with each shadow on the shadow thread, and log what it would have served with
    ``served=false`` (for a ranking, its own top ``log_top`` with positions)."""
    for shadow in route.shadows:
        def job(shadow: Scorer = shadow) -> None:
            try:
                started = time.perf_counter()
                checked, scores = _check_and_score(shadow, rows)
                if item_ids is None:
                    top = scores.max(axis=1) if scores.ndim == 2 else scores
                    svc.log_scores(request_id, route, shadow, units=units, scores=top, served=False,
                                   latency_ms=_ms(started), rows=size(rows), features=checked)
                    return
                _rankable(shadow, scores)
                k = min(len(item_ids), svc.log_top)
                order = np.argsort(-scores, kind="stable")[:k]
                svc.log_scores(request_id, route, shadow, units=units, scores=scores[order], served=False,
                               latency_ms=_ms(started), rows=k, features={n: v[order] for n, v in checked.items()},
                               item_ids=[item_ids[i] for i in order.tolist()],
                               positions=np.arange(k, dtype=np.int32))
            except Exception as exc:  # a shadow never fails a request; counted in loopline_shadow_errors_total
                svc.shadow_failed(shadow, exc)

        svc.shadows.submit(job)
