from __future__ import annotations

from pathlib import Path

import pytest

from loopline import WorkspaceError
from loopline.workspace import Secret, Workspace


def test_embedded_defaults(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", env={})
    assert ws.db_url.reveal() == f"sqlite:///{tmp_path / 'ws' / 'loopline.db'}"
    for folder in (ws.artifact_root, ws.events_root, ws.reports_root):
        assert folder.is_dir()


def test_environment_overrides(tmp_path: Path) -> None:
    env = {"LOOPLINE_DB_URL": "postgresql+psycopg://me:hunter2@127.0.0.1/x",
           "LOOPLINE_ARTIFACT_ROOT": str(tmp_path / "art")}
    ws = Workspace.open(tmp_path / "ws", env=env)
    assert ws.artifact_root == tmp_path / "art"
    assert "hunter2" not in repr(ws) and "hunter2" not in str(ws.db_url)
    assert "hunter2" in ws.db_url.reveal()


def test_bad_db_url_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="LOOPLINE_DB_URL="):
        Workspace.open(tmp_path, env={"LOOPLINE_DB_URL": "not a url"})


def test_workspace_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x", encoding="utf-8")
    with pytest.raises(WorkspaceError, match="is a file"):
        Workspace.open(f, env={})


def test_secret_masks_itself() -> None:
    s = Secret("postgresql://u:pw@h/db")
    assert repr(s) == "Secret('***')"
    assert str(s) == "postgresql://u:***@h/db"


def test_opening_without_create_refuses_a_missing_folder_and_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    with pytest.raises(WorkspaceError, match=rf"no workspace at {typo}: the folder does not exist\. Check the "
                                             r"--workspace path \(or LOOPLINE_WORKSPACE\); to create a workspace, run "
                                             r"'loopline train' or 'loopline demo'"):
        Workspace.open(typo, env={}, create=False)
    assert not typo.exists()
    made = Workspace.open(tmp_path / "ws", env={})
    assert Workspace.open(made.root, env={}, create=False) == made
