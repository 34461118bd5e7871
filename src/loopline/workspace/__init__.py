"""The workspace: metadata database URL, artifact root, event-log root and reports folder."""

from __future__ import annotations

from loopline.workspace._workspace import (
    ENV_ARTIFACTS,
    ENV_DB_URL,
    ENV_EVENTS,
    ENV_WORKSPACE,
    Secret,
    Workspace,
)

__all__ = ["ENV_ARTIFACTS", "ENV_DB_URL", "ENV_EVENTS", "ENV_WORKSPACE", "Secret", "Workspace"]
