"""The demo's own workspace: created by the demo, marked as such, and the only place the demo clears.

``loopline demo`` replaces its simulated event log on every run, registers models and moves
``champion``. Done in a user's workspace, that would delete their event log and promote into their
registry, so the demo keeps everything (SQLite database, artifacts, event log, reports) inside one folder
it created, ignoring ``LOOPLINE_DB_URL``, ``LOOPLINE_ARTIFACT_ROOT`` and ``LOOPLINE_EVENTS_ROOT``. A
marker file records that the demo created the folder; without it the demo refuses to write there, and
it never clears a folder outside a marked workspace.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from loopline import _atomic
from loopline._errors import WorkspaceError
from loopline.workspace import Workspace

MARKER = ".loopline-demo"
"""The file that marks a folder as created by ``loopline demo``."""


def open_demo_workspace(path: str | Path) -> Workspace:
    """The demo workspace at ``path``: created (and marked) when absent or empty, reused when marked.

    A folder that holds anything but was not created by the demo is refused with a
    :class:`~loopline.WorkspaceError` before anything is written.
    """
    root = Path(path).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"the demo's workspace {root} is a file; pass a new folder with --workspace.")
    if not (root / MARKER).is_file():
        if root.is_dir() and any(root.iterdir()):
            raise WorkspaceError(
                f"{root} already holds files and was not created by 'loopline demo' (it has no {MARKER} file); "
                "the demo replaces its event log and promotes models in its workspace, so it only uses a folder "
                "of its own. Pass a new folder with --workspace, e.g. --workspace loopline-demo-2."
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot create the demo's workspace {root}: {exc.strerror}. Pass a writable "
                                 "folder with --workspace.") from None
        note = {"created_by": "loopline demo", "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        _atomic.write_text(root / MARKER, json.dumps(note) + "\n")
    workspace = Workspace.open(root, env={})  # the demo's own database, artifacts and events, whatever is set
    require_demo_workspace(workspace)
    return workspace


def require_demo_workspace(workspace: Workspace) -> None:
    """Refuse a workspace the demo did not create, or one whose database or folders lie outside it."""
    root = workspace.root.resolve()
    if not (root / MARKER).is_file():
        raise WorkspaceError(
            f"{root} was not created by 'loopline demo' (no {MARKER} file), and the demo replaces the event log "
            "and promotes models in its workspace. Open one with loopline.loop.open_demo_workspace(path) on a "
            "new folder."
        )
    outside = [f"{what} {place}" for what, place in (("artifact root", workspace.artifact_root),
                                                      ("event log", workspace.events_root),
                                                      ("reports", workspace.reports_root))
               if not place.resolve().is_relative_to(root)]
    if workspace.db_url.reveal() != f"sqlite:///{root / 'loopline.db'}":
        outside.append(f"database {workspace.db_url}")
    if outside:
        raise WorkspaceError(f"the demo keeps everything inside {root}, but this workspace puts its "
                             f"{', '.join(outside)} elsewhere; open it with loopline.loop.open_demo_workspace.")


def clear_demo_folders(workspace: Workspace, folders: list[Path]) -> None:
    """Delete ``folders`` (simulated logs of an earlier run), each of which must lie inside the demo's workspace."""
    require_demo_workspace(workspace)
    root = workspace.root.resolve()
    for folder in folders:
        resolved = folder.resolve()
        if resolved == root or not resolved.is_relative_to(root):
            raise WorkspaceError(f"the demo only clears folders inside its workspace {root}; refusing {resolved}.")
        if resolved.exists():
            shutil.rmtree(resolved)
