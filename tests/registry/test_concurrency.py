"""Several processes registering the same model at once: numbers 1..N, no gaps, no duplicates."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

import pytest

from loopline.registry import Registry
from loopline.workspace import Workspace
from tests.registry._workers import register_many
from tests.registry.conftest import make_artifact

PROCESSES = 3
EACH = 10


@pytest.mark.slow
def test_concurrent_writers_get_distinct_gapless_versions(workspace: Workspace, tmp_path: Path) -> None:
    source, sha = make_artifact(tmp_path / "saved")
    db_url = None if workspace.db_url.startswith("sqlite") else workspace.db_url.reveal()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [ctx.Process(target=register_many,
                         args=(str(workspace.root), db_url, str(source), sha, EACH, barrier, results))
             for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    results.close()
    results.join_thread()
    errors = [detail for status, detail in outcomes if status == "error"]
    assert not errors, "\n".join(map(str, errors))

    claimed = sorted(n for _, numbers in outcomes for n in numbers)
    total = PROCESSES * EACH
    assert claimed == list(range(1, total + 1))  # every process saw its own numbers, none shared
    versions = Registry(workspace).list_versions("churn")
    assert [v.version for v in versions] == list(range(1, total + 1))
    assert len({v.artifact_path for v in versions}) == total
    for v in versions:
        assert hashlib.sha256((v.artifact_path / "model.json").read_bytes()).hexdigest() == v.sha256 == sha
        assert v.card_path.read_text(encoding="utf-8").startswith(f"# Model card: churn v{v.version}\n")
    assert len(Registry(workspace).runs()) == PROCESSES
