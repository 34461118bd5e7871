"""The values the registry hands out: runs, model versions and alias changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

RunStatus = Literal["running", "finished", "failed", "abandoned"]


@dataclass(frozen=True)
class Run:
    """One training run: what went in (spec, data, params, code) and what came out.

    ``status`` is ``abandoned`` for a run whose process stopped without finishing it (killed, or
    the machine went down): its heartbeat (``heartbeat_at``, refreshed by
    :meth:`Registry.heartbeat <loopline.registry.Registry.heartbeat>`) is older than its timeout.
    """

    run_id: str
    spec_name: str
    spec_hash: str
    data_fingerprint: str
    params: dict[str, Any]
    code_version: str
    status: RunStatus
    metrics: dict[str, dict[str, float]]
    timings: dict[str, float]
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime | None = None


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version (numbered 1, 2, 3, ... per model name) with its lineage.

    ``metrics`` maps split -> metric -> value; ``aliases`` are the alias names that point at this
    version now. ``artifact_path`` is the folder holding ``model.json`` (whose sha256 is ``sha256``)
    and the generated ``MODEL_CARD.md`` (``card_path``); both are stored relative to the workspace's
    artifact root and handed out resolved inside it.
    """

    name: str
    version: int
    run_id: str
    artifact_path: Path
    sha256: str
    family: str
    task: str
    features: tuple[str, ...]
    metrics: dict[str, dict[str, float]]
    baselines_beaten: tuple[str, ...]
    spec_hash: str
    data_fingerprint: str
    code_version: str
    created_at: datetime
    card_path: Path
    report_path: str | None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class AliasChange:
    """One move of an alias, as kept in the alias history (``from_version`` is None the first time)."""

    name: str
    alias: str
    from_version: int | None
    to_version: int
    reason: str
    actor: str
    ts: datetime
