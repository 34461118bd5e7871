"""schemathesis against the server's own OpenAPI document: no request it can generate gets a 5xx."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from loopline.serving._app import create_app
from loopline.serving._server import ServeSettings
from loopline.workspace import Workspace

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extra: pip install '.[test]'")

pytestmark = pytest.mark.slow


def _fuzz(operation: object, tried: dict[str, int]) -> None:
    label: str = operation.label  # type: ignore[attr-defined]

    @given(case=operation.as_strategy())  # type: ignore[attr-defined]
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def call(case: object) -> None:
        response = case.call()  # type: ignore[attr-defined]
        tried[label] = tried.get(label, 0) + 1
        assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:500]}"

    call()


def test_no_generated_request_gets_a_server_error(served_ws: Workspace) -> None:
    app = create_app(served_ws, model="churn", settings=ServeSettings(require_auth=False))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tried: dict[str, int] = {}
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            _fuzz(operation, tried)
    finally:
        app.state.service.close()
    assert {"POST /v1/predict", "POST /v1/rank", "POST /v1/feedback", "POST /v1/explain"} <= set(tried)
    assert sum(tried.values()) > 100
