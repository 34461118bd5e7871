"""The demo writes and clears only inside a workspace it created, whatever LOOPLINE_* names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loopline import WorkspaceError
from loopline.cli import app
from loopline.loop import DEMO_MARKER, open_demo_workspace, require_demo_workspace, run_demo
from loopline.loop._demo_workspace import clear_demo_folders
from loopline.simulate import SimConfig
from loopline.workspace import Workspace

runner = CliRunner()


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_new_folder_is_created_and_marked_and_reused(tmp_path: Path) -> None:
    ws = open_demo_workspace(tmp_path / "demo")
    assert (ws.root / DEMO_MARKER).is_file()
    assert json.loads((ws.root / DEMO_MARKER).read_text(encoding="utf-8"))["created_by"] == "loopline demo"
    assert ws.db_url.reveal() == f"sqlite:///{ws.root / 'loopline.db'}"
    assert ws.events_root.is_relative_to(ws.root) and ws.artifact_root.is_relative_to(ws.root)
    assert open_demo_workspace(tmp_path / "demo").root == ws.root


def test_a_folder_the_demo_did_not_create_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "events" / "exposures").mkdir(parents=True)
    (mine / "events" / "exposures" / "part.parquet").write_bytes(b"precious")
    before = _tree_digest(mine)
    with pytest.raises(WorkspaceError, match=r"was not created by 'loopline demo'.*--workspace"):
        open_demo_workspace(mine)
    assert _tree_digest(mine) == before
    result = runner.invoke(app, ["demo", "-w", str(mine), "--days", "3", "--users", "100"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert _tree_digest(mine) == before


def test_run_demo_refuses_a_workspace_that_is_not_its_own(tmp_path: Path) -> None:
    plain = Workspace.open(tmp_path / "plain", env={})
    with pytest.raises(WorkspaceError, match="not created by 'loopline demo'"):
        run_demo(plain, config=SimConfig(days=3, n_users=100))
    marked = open_demo_workspace(tmp_path / "marked")
    elsewhere = Workspace.open(marked.root, env={"LOOPLINE_EVENTS_ROOT": str(tmp_path / "shared-events")})
    with pytest.raises(WorkspaceError, match="event log"):
        require_demo_workspace(elsewhere)


def test_only_folders_inside_the_demo_workspace_are_cleared(tmp_path: Path) -> None:
    ws = open_demo_workspace(tmp_path / "demo")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(WorkspaceError, match="only clears folders inside"):
        clear_demo_folders(ws, [ws.root / ".." / "outside"])
    with pytest.raises(WorkspaceError, match="only clears folders inside"):
        clear_demo_folders(ws, [ws.root])
    assert (outside / "keep.txt").read_text(encoding="utf-8") == "keep"
    inside = ws.events_root / "exposures"
    inside.mkdir(parents=True)
    clear_demo_folders(ws, [inside])
    assert not inside.exists()


@pytest.mark.slow
def test_the_demo_leaves_the_users_event_log_and_database_untouched(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "user"
    events = user / "events"
    for kind in ("exposures", "feedback", "assignments"):
        (events / kind / "date=2024-01-01").mkdir(parents=True)
        pd.DataFrame({"ts": [1, 2], "unit_id": ["a", "b"]}).to_parquet(events / kind / "date=2024-01-01" / "p.parquet")
    db = user / "registry.db"
    Workspace.open(user / "ws", env={})  # a user workspace beside them
    from loopline.registry import Registry

    Registry(Workspace.open(user / "ws", env={"LOOPLINE_DB_URL": f"sqlite:///{db}"}))  # a database with tables
    before = _tree_digest(user)
    monkeypatch.setenv("LOOPLINE_EVENTS_ROOT", str(events))
    monkeypatch.setenv("LOOPLINE_DB_URL", f"sqlite:///{db}")
    monkeypatch.setenv("LOOPLINE_ARTIFACT_ROOT", str(user / "artifacts"))
    demo = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "-w", str(demo), "--days", "4", "--users", "300", "--json"])
    assert result.exit_code == 0, result.output
    assert _tree_digest(user) == before
    assert not (user / "artifacts").exists()
    body = json.loads(result.stdout)
    assert Path(body["report"]).is_relative_to(demo.resolve())
    assert (demo / "loopline.db").is_file() and any((demo / "events" / "exposures").rglob("*.parquet"))
    assert any((demo / "served-events" / "exposures").rglob("*.parquet"))  # the served replay stays inside too
