"""Admin endpoints: kill switches over HTTP, the same switch ``loopline kill`` throws.

A switch is stored in the registry; every worker of every server following it picks it up within a
second (``serving._control.Controls``). Admin scope only.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from loopline._errors import RegistryError
from loopline.registry import Registry
from loopline.serving._http import ERRORS, Problem


class KillRequest(BaseModel):
    """Turn a kill switch on (or off again with ``undo``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The model, experiment or deployment to turn off.", min_length=1, max_length=100)
    kind: Literal["model", "experiment", "deployment"] | None = Field(
        default=None, description="What the name is; needed only when the name is ambiguous.")
    version: int | str | None = Field(default=None, description="One version (number or alias) of a model.")
    reason: str = Field(description="Why; kept in the kill-switch history.", min_length=1, max_length=2000)
    undo: bool = Field(default=False, description="Turn the switch off again.")


class KillResponse(BaseModel):
    kind: str
    name: str
    version: int | None
    killed: bool
    reason: str


def add_admin_routes(app: FastAPI, registry: Registry, scope: list[Any]) -> None:
    """``POST /v1/admin/kill`` on ``app``, guarded by ``scope`` (the admin dependency)."""

    @app.post("/v1/admin/kill", response_model=KillResponse, dependencies=scope,
              responses={**ERRORS, 404: ERRORS[422]})
    def kill(body: KillRequest) -> KillResponse:
        try:
            control = registry.set_killed(body.kind, body.name, not body.undo, body.reason, version=body.version,
                                          actor="api")
        except RegistryError as exc:
            raise Problem(404, str(exc), field="name") from None
        return KillResponse(kind=control.kind, name=control.name, version=control.version, killed=control.killed,
                            reason=control.reason)
