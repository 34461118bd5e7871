"""Where things live: the metadata database, artifacts, the event log and reports.

Settings are read once, here, from the workspace folder and ``LOOPLINE_*`` environment variables,
into one frozen object. Nothing else in loopline reads the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loopline._errors import WorkspaceError

ENV_DB_URL = "LOOPLINE_DB_URL"
ENV_ARTIFACTS = "LOOPLINE_ARTIFACT_ROOT"
ENV_EVENTS = "LOOPLINE_EVENTS_ROOT"
ENV_WORKSPACE = "LOOPLINE_WORKSPACE"


class Secret(str):
    """A string that hides itself in reprs and logs (a database URL with a password, a token)."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        return str.__str__(self)

    def __str__(self) -> str:
        return _mask_password(str.__str__(self))


def _mask_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


@dataclass(frozen=True)
class Workspace:
    """An open workspace. Build it with :meth:`Workspace.open`."""

    root: Path
    db_url: Secret
    artifact_root: Path
    events_root: Path
    reports_root: Path

    @classmethod
    def open(cls, path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
             create: bool = True) -> Workspace:
        """Open (and by default create) the workspace at ``path``.

        With ``create=False`` (read-only commands) a folder that does not exist is a
        :class:`WorkspaceError` and nothing is created.

        ``path`` defaults to ``$LOOPLINE_WORKSPACE`` or ``./.loopline``. ``LOOPLINE_DB_URL`` replaces
        the embedded SQLite database (for example with PostgreSQL), ``LOOPLINE_ARTIFACT_ROOT`` and
        ``LOOPLINE_EVENTS_ROOT`` move artifacts and the event log.
        """
        environ = os.environ if env is None else env
        raw = path if path is not None else environ.get(ENV_WORKSPACE, ".loopline")
        root = Path(raw).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"workspace {root} is a file, not a folder. Pass a folder with --workspace.")
        if create:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(
                    f"cannot create workspace folder {root}: {exc.strerror}. Pass a writable folder "
                    f"with --workspace or set {ENV_WORKSPACE}."
                ) from None
        elif not root.is_dir():
            raise WorkspaceError(
                f"no workspace at {root}: the folder does not exist. Check the --workspace path (or "
                f"{ENV_WORKSPACE}); to create a workspace, run 'loopline train' or 'loopline demo' with it."
            )
        db_url = environ.get(ENV_DB_URL) or f"sqlite:///{root / 'loopline.db'}"
        if "://" not in db_url:
            raise WorkspaceError(
                f"{ENV_DB_URL}={_mask_password(db_url)!r} is not a database URL; expected e.g. "
                "'postgresql+psycopg://user@127.0.0.1:5432/loopline' or 'sqlite:////path/loopline.db'."
            )
        ws = cls(
            root=root,
            db_url=Secret(db_url),
            artifact_root=_dir(environ.get(ENV_ARTIFACTS), root / "artifacts"),
            events_root=_dir(environ.get(ENV_EVENTS), root / "events"),
            reports_root=root / "reports",
        )
        if create:
            for folder in (ws.artifact_root, ws.events_root, ws.reports_root):
                folder.mkdir(parents=True, exist_ok=True)
        return ws


def _dir(value: str | None, default: Path) -> Path:
    return Path(value).expanduser().resolve() if value else default
