"""``serve``: run the HTTP API with uvicorn; ``ServeSettings``: the server's one settings object.

``serve(workspace_path, model=..., host=..., port=..., workers=...)`` starts uvicorn on
``loopline.serving._server:app_factory`` (a factory, so that ``workers > 1`` works: each worker
process builds its own app). The parent hands everything to the workers through environment
variables, read in one place, :func:`read_env`:

===============================  ===================================================================
variable                         meaning (default)
===============================  ===================================================================
``LOOPLINE_WORKSPACE``           the workspace folder (read by :class:`~loopline.workspace.Workspace`)
``LOOPLINE_SERVE_MODEL``         the registered model to serve (required)
``LOOPLINE_SERVE_ALIAS``         the alias or version number served (``champion``)
``LOOPLINE_SERVE_HOST``          the address to bind (``127.0.0.1``)
``LOOPLINE_SERVE_PORT``          the port (8000)
``LOOPLINE_SERVE_WORKERS``       worker processes (1)
``LOOPLINE_SERVE_DEPLOYMENT``    a deployment stored with ``loopline deploy`` to route by (and the name written in
                                event records); unset: the model's champion, under the model's name
``LOOPLINE_SERVE_REQUIRE_AUTH``  ``true``/``false``; unset: required unless the host is loopback
``LOOPLINE_SERVE_MAX_BODY_BYTES``  the largest request body accepted, else 413 (4,000,000)
``LOOPLINE_SERVE_MAX_ROWS``      the most rows, items or events in one request, else 413 (1,000)
``LOOPLINE_SERVE_LOG_QUEUE``     requests whose records may wait to be logged; beyond, dropped and counted (10,000)
``LOOPLINE_SERVE_LOG_INTERVAL_S``  seconds between exposure-log writes: what a hard crash may lose (1.0)
``LOOPLINE_SERVE_LOG_MAX_ROWS``  rows buffered before a write regardless of time (50,000)
``LOOPLINE_SERVE_LOG_TOP``       ranked items logged per request (the spec's ``serving.log_top``, else 50)
``LOOPLINE_SERVE_LOG_FEATURES``  log feature values with exposures (``true``)
``LOOPLINE_SERVE_ONLINE``        online features: ``snapshot``, ``redis`` or ``off`` (unset: the snapshot if one exists)
===============================  ===================================================================

``python -m loopline.serving --workspace WS --model NAME [--host H] [--port P] [--workers N]``
runs the same thing from a shell.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline._errors import ServingError
from loopline._names import NAME_PATTERN

if TYPE_CHECKING:
    from fastapi import FastAPI

    from loopline.serving._auth import ApiKeys

ENV_PREFIX = "LOOPLINE_SERVE_"
ENV_MODEL = "LOOPLINE_SERVE_MODEL"
DEFAULT_LOG_TOP = 50


# -- settings -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServeSettings:
    """How the server runs; each field also reads from ``LOOPLINE_SERVE_<FIELD>`` (:meth:`from_env`).

    ``require_auth`` None means: required unless ``host`` is a loopback address. ``log_top`` None
    takes the spec's ``serving.log_top``, else 50. ``log_interval_s`` bounds what a hard crash loses
    of the exposure log.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    alias: str = "champion"
    deployment: str | None = None
    require_auth: bool | None = None
    max_body_bytes: int = 4_000_000
    max_rows: int = 1_000
    log_queue: int = 10_000
    log_interval_s: float = 1.0
    log_max_rows: int = 50_000
    log_top: int | None = None
    log_features: bool = True
    online: str | None = None  # see serving._online_fill.open_store

    def __post_init__(self) -> None:
        for name, low in (("port", 0), ("workers", 1), ("max_body_bytes", 1), ("max_rows", 1), ("log_queue", 1),
                          ("log_max_rows", 1), ("log_top", 0)):
            value = getattr(self, name)
            if value is not None and value < low:
                raise ServingError(f"serve setting {name} ({ENV_PREFIX}{name.upper()}) must be at least {low}, "
                                   f"got {value}.")
        if self.port > 65535:
            raise ServingError(f"serve setting port ({ENV_PREFIX}PORT) must be at most 65535, got {self.port}.")
        if not (self.log_interval_s > 0 and math.isfinite(self.log_interval_s)):
            raise ServingError(f"serve setting log_interval_s ({ENV_PREFIX}LOG_INTERVAL_S) must be a positive "
                               f"number of seconds, got {self.log_interval_s}.")
        if self.online not in (None, "snapshot", "redis", "off"):
            raise ServingError(f"serve setting online ({ENV_PREFIX}ONLINE) must be 'snapshot', 'redis' or 'off', "
                               f"got {self.online!r}.")
        for name in ("alias", "deployment"):
            value = getattr(self, name)
            if value is not None and not NAME_PATTERN.fullmatch(value):
                raise ServingError(f"serve setting {name} ({ENV_PREFIX}{name.upper()}): {value!r} is not a name "
                                   "(letters, digits, '_', '.' or '-').")

    @property
    def auth_required(self) -> bool:
        """Whether requests need an API key: as set, else unless the server binds to loopback only."""
        return self.require_auth if self.require_auth is not None else not is_loopback(self.host)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServeSettings:
        """Settings from ``LOOPLINE_SERVE_*`` variables (unset ones keep their defaults)."""
        given: dict[str, Any] = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            given[f.name] = _parse(name, raw, getattr(cls, f.name))
        return cls(**given)

    def to_env(self) -> dict[str, str]:
        """The ``LOOPLINE_SERVE_*`` variables that rebuild these settings in another process."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[ENV_PREFIX + f.name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


def read_env(env: Mapping[str, str]) -> tuple[str, ServeSettings]:
    """The served model (``LOOPLINE_SERVE_MODEL``) and the settings: what a server worker reads at start."""
    model = env.get(ENV_MODEL, "")
    if not model:
        raise ServingError(f"{ENV_MODEL} is not set: name the registered model to serve (e.g. 'churn').")
    return model, ServeSettings.from_env(env)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (``localhost``, ``127.x.x.x``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse(name: str, raw: str, default: Any) -> Any:
    kind = {"port": int, "workers": int, "max_body_bytes": int, "max_rows": int, "log_queue": int,
            "log_max_rows": int, "log_top": int, "log_interval_s": float, "require_auth": bool,
            "log_features": bool}.get(name[len(ENV_PREFIX):].lower(), str)
    try:
        if kind is bool:
            word = raw.strip().lower()
            if word not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return word in ("true", "1", "yes")
        return kind(raw)
    except ValueError:
        raise ServingError(f"{name}={raw!r}: expected {kind.__name__ if kind is not bool else 'true or false'}"
                           f" (default {default!r}).") from None



# -- running ------------------------------------------------------------------------------------

APP_FACTORY = "loopline.serving._server:app_factory"


def serve(workspace_path: str | Path | None, *, model: str, host: str = "127.0.0.1", port: int = 8000,
          workers: int = 1, settings: ServeSettings | None = None, log_level: str = "info") -> None:
    """Serve ``model`` from the workspace until stopped (Ctrl-C or SIGTERM finish in-flight requests and
    write the buffered exposures). ``host``, ``port`` and ``workers`` override ``settings``, which default
    to the ``LOOPLINE_SERVE_*`` variables (:meth:`ServeSettings.from_env`).

    Checks before binding: the workspace and the model's alias exist, and when authentication is
    required (binding beyond loopback), at least one API key exists. This sets the variables of
    :func:`read_env` in this process's environment, which the workers inherit.
    """
    from loopline.registry import Registry
    from loopline.serving._auth import ApiKeys
    from loopline.workspace import ENV_WORKSPACE, Workspace

    base = settings if settings is not None else ServeSettings.from_env(os.environ)
    chosen = replace(base, host=host, port=port, workers=workers)
    ws = Workspace.open(workspace_path, create=False)
    Registry(ws, create=False).get_version(model, chosen.alias)
    if chosen.auth_required:
        require_keys(ApiKeys.for_workspace(ws), chosen)
    for name in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        del os.environ[name]
    os.environ.update({ENV_WORKSPACE: str(ws.root), ENV_MODEL: model, **chosen.to_env()})
    import uvicorn

    uvicorn.run(APP_FACTORY, factory=True, host=chosen.host, port=chosen.port, workers=chosen.workers,
                log_level=log_level, access_log=False, timeout_graceful_shutdown=30)


def require_keys(keys: ApiKeys, settings: ServeSettings) -> None:
    """Refuse to start an authenticated server that no key could call."""
    if not keys.list():
        raise ServingError(
            f"the server would bind to {settings.host}, so API keys are required, but {keys.path} holds none. "
            "Create one with 'loopline keys create NAME', bind to 127.0.0.1, or turn authentication off "
            f"explicitly ({ENV_PREFIX}REQUIRE_AUTH=false / --no-auth) behind a gateway that checks callers."
        )


def app_factory() -> FastAPI:
    """The app a uvicorn worker runs, built from the environment :func:`serve` prepared."""
    from loopline.serving._app import create_app
    from loopline.workspace import Workspace

    model, settings = read_env(os.environ)
    return create_app(Workspace.open(None, create=False), model=model, settings=settings)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m loopline.serving``: parse the flags and :func:`serve`."""
    import sys

    from loopline._errors import LooplineError

    parser = argparse.ArgumentParser(prog="python -m loopline.serving", description=serve.__doc__)
    parser.add_argument("--workspace", default=None, help="workspace folder (default: $LOOPLINE_WORKSPACE)")
    parser.add_argument("--model", required=True, help="registered model to serve")
    parser.add_argument("--alias", default=None, help="alias or version to serve (default: champion)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--auth", dest="require_auth", action="store_true", default=None,
                        help="require API keys even on loopback")
    parser.add_argument("--no-auth", dest="require_auth", action="store_false",
                        help="no API keys, even beyond loopback (behind a gateway that checks callers)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    try:
        settings = ServeSettings.from_env(os.environ)
        if args.alias is not None:
            settings = replace(settings, alias=args.alias)
        if args.require_auth is not None:
            settings = replace(settings, require_auth=args.require_auth)
        serve(args.workspace, model=args.model, host=args.host, port=args.port, workers=args.workers,
              settings=settings, log_level=args.log_level)
    except LooplineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0

