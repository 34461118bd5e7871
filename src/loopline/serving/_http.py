"""What goes over the wire: request and response bodies, error answers, and the outermost middleware.

Every error answer is JSON ``{"error": ..., "field": ..., "request_id": ...}`` and never holds a
traceback. :func:`handle_errors` maps loopline's errors to statuses (``InputError`` and pydantic's
validation errors 422, naming the field as ``rows[3].tenure``; ``AuthError`` 401/403; other loopline
errors 503) and :class:`Edge`, the outermost layer, gives every request its id (``X-Request-ID``),
refuses bodies over the limit with 413 before they are parsed, counts requests and latencies, and
answers anything unexpected with 500 and the request id only, logging the traceback under that id.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopline._errors import InputError, LooplineError, ServingError
from loopline._names import NAME_PATTERN
from loopline.serving._auth import AuthError
from loopline.serving._metrics import ServingMetrics

log = logging.getLogger("loopline.serving")


def request_id(request: Request) -> str:
    """The id :class:`Edge` gave this request."""
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value is not None else uuid.uuid4().hex


Body = TypeVar("Body", bound=BaseModel)


def parse_body(request: Request, model: type[Body]) -> Body:
    """The body :class:`Edge` read, validated as ``model`` straight from the bytes (pydantic's JSON parser:
    no ``json.loads`` into Python objects first); invalid input raises ``RequestValidationError``, answered
    422 by :func:`handle_errors` exactly as FastAPI's own body validation is."""
    body = request.scope.get("state", {}).get("body", b"")
    kind = request.headers.get("content-type", "application/json").partition(";")[0].strip().lower()
    if not body.strip() or not (kind == "application/json" or kind.endswith("+json")):  # as FastAPI decides
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    fast = _plain_body(body, model)
    if fast is not None:
        return fast
    try:  # the strict path: every other body, and every error message
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


_ROW_LISTS = {"PredictRequest": "rows", "RankRequest": "items", "ExplainRequest": "rows"}
_DIGITS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))  # each digit to "0", the rest to " "
_LONG_RUN = b"0" * 19  # any run of 19 digits (even inside a string) takes the strict path


def _plain_body(body: bytes, model: type[Body]) -> Body | None:
    """The common, valid body of a rows or items request, parsed by orjson and checked by hand (half pydantic's
    time on 500 items); None whenever it is anything else, for :func:`parse_body`'s strict path to answer.

    Accepted: a JSON object with only the model's keys; its list (``rows`` or ``items``) non-empty and all
    objects, or for a rank request ``columns`` instead (lists of one positive length, ``item_id`` among them);
    ``unit_id`` absent, null or a string of 1 to 200 characters; ``context`` absent, null or an object. orjson
    refuses NaN and Infinity and would read integers beyond 64 bits as floats: such bodies take the strict path.
    """
    listed = _ROW_LISTS.get(model.__name__)
    if listed is None or _LONG_RUN in body.translate(_DIGITS):  # orjson reads integers beyond 64 bits as floats
        return None
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(raw) is not dict or not raw.keys() <= model.model_fields.keys():
        return None
    if listed == "items" and "columns" in raw:
        if "items" in raw or not _plain_columns(raw["columns"]):
            return None
    else:
        rows = raw.get(listed)
        if type(rows) is not list or not rows or set(map(type, rows)) != {dict}:
            return None
    unit = raw.get("unit_id")
    if unit is not None and not (type(unit) is str and 1 <= len(unit) <= 200):
        return None
    context = raw.get("context")
    if context is not None and type(context) is not dict:
        return None
    return model.model_construct(**raw)


def _plain_columns(columns: Any) -> bool:
    """Whether ``columns`` is a non-empty object of lists, all of one positive length, with an 'item_id' list."""
    if type(columns) is not dict or "item_id" not in columns or set(map(type, columns.values())) != {list}:
        return False
    lengths = set(map(len, columns.values()))
    return len(lengths) == 1 and 0 not in lengths


def json_bytes(content: Any) -> bytes:
    """``content`` as JSON (orjson: numpy arrays and scalars as numbers, NaN and infinity as null)."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json_bytes(content), status_code=status, media_type="application/json", headers=headers)


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of an endpoint that reads its body with :func:`parse_body`."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    if "$defs" in schema:
        raise ValueError(f"{model.__name__} nests models; parse it with FastAPI's own body validation")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# -- request and response bodies ----------------------------------------------------------------

def _id_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Id = Annotated[str, BeforeValidator(_id_text), Field(min_length=1, max_length=200)]
Row = dict[str, Any]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(_Body):
    rows: list[Row] = Field(min_length=1, description="One object per row: feature name -> value (null = missing). "
                                                   "Features of the spec's feature tables may be left out when the "
                                                   "row carries the table's key: the server fills them.")
    unit_id: Id | None = Field(default=None, description="The randomization unit (user, customer) for routing.")


class RankRequest(_Body):
    items: list[Row] | None = Field(default=None, min_length=1,
                                    description="Candidates: each an 'item_id' and its feature values; those of the "
                                                "spec's feature tables may be left out when the item (or the "
                                                "context) carries the table's key. Give 'items' or 'columns'.")
    columns: dict[str, list[Any]] | None = Field(
        default=None, description="The candidates as columns: 'item_id' and each feature name -> one value per "
                                  "candidate, every list the same length (smaller and faster to read than 'items' "
                                  "for hundreds of candidates). Give 'items' or 'columns'.")
    unit_id: Id | None = None
    context: Row | None = Field(default=None, description="Feature values shared by every item (the user's); "
                                                          "an item's own value for a feature wins.")

    @model_validator(mode="after")
    def _one_form(self) -> RankRequest:
        if (self.items is None) == (self.columns is None):
            raise ValueError("give the candidates once: either 'items' (one object per candidate) or 'columns' "
                             "(one list per field, 'item_id' among them)")
        return self

    @property
    def count(self) -> int:
        """How many candidates the request holds (the first column's length for ``columns``)."""
        if self.items is not None:
            return len(self.items)
        return len(next(iter(self.columns.values()), [])) if self.columns else 0


class ExplainRequest(_Body):
    rows: list[Row] = Field(min_length=1)
    unit_id: Id | None = None


class FeedbackEvent(_Body):
    request_id: Id | None = None
    unit_id: Id | None = None
    item_id: Id | None = None
    event: str = Field(pattern=f"^{NAME_PATTERN.pattern}$", description="What happened, e.g. 'click', 'label'.")
    value: float = Field(default=1.0, allow_inf_nan=False, description="How much (a label, revenue); 1 by default.")
    ts: AwareDatetime | None = Field(default=None, description="When it happened (default: when received).")

    @model_validator(mode="after")
    def _names_an_exposure(self) -> FeedbackEvent:
        if self.request_id is None and (self.unit_id is None or self.item_id is None):
            raise ValueError("a feedback event names the exposure it answers: give 'request_id' (from the "
                             "/v1/predict or /v1/rank answer), or both 'unit_id' and 'item_id'")
        return self


class FeedbackRequest(_Body):
    events: list[FeedbackEvent] = Field(min_length=1)


class Prediction(BaseModel):
    score: float
    decision: bool | None = None
    label: str | None = None
    scores: dict[str, float] | None = None


class PredictResponse(BaseModel):
    request_id: str
    model: str
    model_version: int | None
    arm: str
    experiment: str | None
    predictions: list[Prediction]


class RankedItem(BaseModel):
    item_id: str
    score: float | None = Field(description="The score of the ranker that placed the item; null where the ranker "
                                            "did not: the baseline order, the first stage's order below the "
                                            "ranked candidates, or after a latency fallback.")
    position: int = Field(description="0 is the top.")
    team: Literal["A", "B"] | None = Field(default=None, description="Interleaving only: the ranker that placed it.")


class RankResponse(BaseModel):
    request_id: str
    model: str | None
    model_version: int | None
    arm: str
    experiment: str | None
    fallback: str | None = Field(description="Why the unit is not served what its assignment gives it: a kill "
                                             "switch, or 'latency_budget' when the ranker would have answered "
                                             "after the spec's serving.latency_budget_ms and the items come in the "
                                             "first stage's order (the request's order without a first stage); "
                                             "null otherwise.")
    items: list[RankedItem]


class FeedbackResponse(BaseModel):
    request_id: str
    stored: int


class Explained(BaseModel):
    base: float | list[float]
    contributions: dict[str, float | list[float]]


class ExplainResponse(BaseModel):
    request_id: str
    model: str
    model_version: int | None
    arm: str
    features: list[str]
    explanations: list[Explained]


class ModelInfo(BaseModel):
    name: str
    version: int | None
    task: str
    family: str
    backend: str
    features: list[str]
    threshold: float | None
    classes: list[Any] | None


class ErrorBody(BaseModel):
    error: str
    field: str | None = None
    request_id: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 403, 413, 422, 503)}


class Problem(LooplineError):
    """An answer other than 200 decided by a handler (status, message, field)."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field



# -- errors and the outer middleware ------------------------------------------------------------

def _error(status: int, message: str, field: str | None, request: Request,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field, "request_id": request_id(request)}, status_code=status,
                        headers=headers)


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def handle_errors(app: FastAPI) -> None:
    async def validation(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        first = dict(errors[0]) if errors else {}
        if first.get("type") == "json_invalid":
            return _error(422, "the request body is not valid JSON: " + str(first.get("ctx", {}).get("error", "")) +
                          ". Send a JSON object.", None, request)
        field = _field(tuple(first.get("loc", ())))
        if field is None and (first.get("type") == "missing" or isinstance(first.get("input"), bytes | str)):
            return _error(422, "the request needs a JSON object as its body, sent with 'Content-Type: "
                               "application/json' (see /docs for each endpoint's fields).", None, request)
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        got = "" if first.get("type") == "missing" or "input" not in first else f" (got {_preview(first['input'])})"
        more = f"; {len(errors) - 1} more problem(s) in the body" if len(errors) > 1 else ""
        return _error(422, f"{field or 'body'}: {message}{got}{more}.", field, request)

    async def input_error(request: Request, exc: Exception) -> Response:
        return _error(422, str(exc), getattr(exc, "field", None), request)

    async def auth_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status", 401)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return _error(status, str(exc), None, request, headers)

    async def problem(request: Request, exc: Exception) -> Response:
        return _error(getattr(exc, "status", 500), str(exc), getattr(exc, "field", None), request)

    async def loopline_error(request: Request, exc: Exception) -> Response:
        log.error("request %s refused: %s", request_id(request), exc)
        return _error(503, str(exc), None, request)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", "") or "error"
        hint = {404: " See /docs for the endpoints.", 405: " See /docs for the methods each endpoint takes."}
        return _error(status, f"{detail}: {request.method} {request.url.path}.{hint.get(status, '')}", None, request,
                      getattr(exc, "headers", None))

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(InputError, input_error)
    app.add_exception_handler(AuthError, auth_error)
    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(ServingError, loopline_error)
    app.add_exception_handler(LooplineError, loopline_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Edge:
    """The outermost layer of the app: request ids, the body limit (413), counts and latency, and the
    catch-all that answers 500 with only a request id (the traceback goes to the server log)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: ServingMetrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"], state["t0"] = rid, started
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = int(message["status"]), True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            if scope.get("method") in _BODY_METHODS:
                body = await self._body(scope, receive)
                if body is None:
                    limit = self.max_body_bytes
                    await _send_json(send_with_id, 413, {
                        "error": f"the request body is larger than the server's limit of {limit} bytes "
                                 "(LOOPLINE_SERVE_MAX_BODY_BYTES). Send fewer rows per request.",
                        "field": None, "request_id": rid})
                    return
                state["body"] = body  # parse_body reads it from here; FastAPI's own parsing from receive
                receive = _replay(body, receive)
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request %s (%s %s) failed", rid, scope.get("method"), scope.get("path"))
            status = 500
            if not response_started:
                await _send_json(send_with_id, 500, {
                    "error": f"internal error; the server log has the details under request id {rid}.",
                    "field": None, "request_id": rid})
        finally:
            self._count(scope, status, time.perf_counter() - started)

    async def _body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it is over the limit (declared or counted)."""
        limit = self.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > limit:
                        return None
                except ValueError:
                    pass
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _count(self, scope: Scope, status: int, elapsed_s: float) -> None:
        route = scope.get("route")
        endpoint = getattr(route, "path", None) or "other"
        metrics = self.metrics
        metrics.requests.labels(endpoint=endpoint, status=str(status)).inc()
        if status >= 400:
            metrics.errors.labels(endpoint=endpoint, kind=_KINDS.get(status, "internal" if status >= 500
                                                                     else "client")).inc()
        labels = scope.get("state", {}).get("labels")
        if labels is not None and status < 400:
            metrics.latency.labels(endpoint, *labels).observe(elapsed_s)


_KINDS = {401: "auth", 403: "auth", 404: "not_found", 405: "not_found", 413: "too_large", 422: "input",
          400: "input", 503: "unavailable"}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    response = JSONResponse(content, status_code=status)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
