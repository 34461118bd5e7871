"""Serving: registered models scored in batch and online, with routing, kill switches and the event log.

- :class:`Scorer`: a loaded model compiled once into a function on arrays (the preprocessing state applied
  with numpy, LightGBM's booster or a compiled tree model), equal to ``Model.predict``; the one scoring
  path of batch prediction and the server.
- :func:`predict_table`: batch prediction from CSV, Parquet, globs or a sandboxed ``sql:`` query into a
  Parquet file, in chunks, with constant memory.
- :func:`create_app` / :func:`serve`: the FastAPI server (``/v1/predict``, ``/rank``, ``/feedback``,
  ``/explain``, ``/models``, ``/health``, ``/ready``, ``/metrics``, ``/admin/kill``), API keys with scopes
  (:class:`ApiKeys`), exposures and assignments logged through a bounded queue (:class:`ExposureLogger`).
- :class:`DeploymentSpec` / :func:`deploy`: arms with weights (A/B), shadows, a canary with automatic
  rollback, a holdout and interleaving, stored in the registry with history; :class:`Router` assigns units
  with ``events.assign`` and :class:`Controls` follows promotions and kill switches within a second.
- :func:`materialize` / :class:`Snapshot` / :class:`RedisStore`: the latest feature values per entity from
  the spec's feature tables (the training join's own rules), so requests may carry entity ids only.
"""

from __future__ import annotations

from loopline.serving._app import create_app
from loopline.serving._auth import ApiKey, ApiKeys, AuthError
from loopline.serving._batch import BatchResult, predict_table
from loopline.serving._columns import columns_from_rows
from loopline.serving._control import Controls
from loopline.serving._deployment import CANARY_ARM, EXPLORE_ARM, HOLDOUT_ARM, DeploymentSpec, deploy
from loopline.serving._exposures import ExposureLogger
from loopline.serving._online import Snapshot, materialize
from loopline.serving._online_fill import fill_columns, fill_rows
from loopline.serving._online_redis import RedisStore
from loopline.serving._router import Route, Router
from loopline.serving._scorer import Scorer
from loopline.serving._server import ServeSettings, serve

__all__ = [
    "CANARY_ARM",
    "EXPLORE_ARM",
    "HOLDOUT_ARM",
    "ApiKey",
    "ApiKeys",
    "AuthError",
    "BatchResult",
    "Controls",
    "DeploymentSpec",
    "ExposureLogger",
    "RedisStore",
    "Route",
    "Router",
    "Scorer",
    "ServeSettings",
    "Snapshot",
    "columns_from_rows",
    "create_app",
    "deploy",
    "fill_columns",
    "fill_rows",
    "materialize",
    "predict_table",
    "serve",
]
