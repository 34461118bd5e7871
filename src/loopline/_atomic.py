"""Atomic writes: every file and artifact folder loopline writes appears whole or not at all.

Each writer puts the new content under a hidden temporary name in the destination's own folder
(``.<name>.<random>.tmp``), flushes and fsyncs it, renames it over the destination with
:func:`os.replace`, then fsyncs the folder so the rename itself survives a crash. A reader (or a
restart after a power cut) sees the old content or the new, never a mix; if anything raises on the
way, the temporary file or folder is removed and the old content stays. Missing parent folders are
created, and each new folder is synced into its own parent.

File mode, one rule for everything loopline writes: ``0o644`` with the process umask's bits removed
(``rw-r--r--`` under the usual umask 022, ``rw-------`` under 077), which is what a plain
``open(path, "w")`` gives under umask 022; loopline never makes a file group- or world-writable.
Folders get ``0o755`` minus the umask the same way.

>>> import pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as root:
...     path = write_text(pathlib.Path(root) / "notes" / "a.txt", "hello")
...     path.read_text(encoding="utf-8"), sorted(p.name for p in path.parent.iterdir())
('hello', ['a.txt'])
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o644
DIR_MODE = 0o755
_NO_DIR_SYNC = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically and durably; return the path."""
    with writing(path) as handle:
        handle.write(data)
    return Path(path)


def write_text(path: Path | str, text: str) -> Path:
    """Replace ``path`` with ``text`` as UTF-8 (newlines written as given) atomically and durably."""
    return write_bytes(path, text.encode("utf-8"))


@contextmanager
def writing(path: Path | str) -> Iterator[BinaryIO]:
    """A binary handle on a temporary file that replaces ``path`` when the block ends without an error.

    For writers that produce the bytes themselves, such as ``pyarrow.parquet.write_table(table, handle)``.
    """
    final = Path(path)
    make_dirs(final.parent)
    temporary = _temporary_name(final)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_dir(final.parent)


@contextmanager
def replace_dir(final: Path | str) -> Iterator[Path]:
    """A new empty temporary folder to fill; when the block ends without an error it becomes ``final``.

    Every file and folder inside gets the module's modes, is fsynced, and the folder is renamed to
    ``final`` (which must not exist, or be an empty folder) and its parent synced. On an error the
    temporary folder and everything in it is removed.
    """
    target = Path(final)
    make_dirs(target.parent)
    temporary = _temporary_name(target)
    os.mkdir(temporary, DIR_MODE)
    try:
        yield temporary
        _settle_tree(temporary)
        os.replace(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    sync_dir(target.parent)


def make_dirs(folder: Path | str) -> None:
    """Create ``folder`` and its missing parents (mode ``0o755`` minus the umask), syncing each new
    entry into its parent folder. Another process creating the same folders at the same time is fine."""
    missing: list[Path] = []
    current = Path(folder)
    while not current.is_dir() and current != current.parent:
        missing.append(current)
        current = current.parent
    for created in reversed(missing):
        try:
            os.mkdir(created, DIR_MODE)
        except FileExistsError:
            if not created.is_dir():
                raise
        sync_dir(created.parent)


def sync_dir(folder: Path | str) -> None:
    """fsync ``folder`` so the names created or renamed in it are durable.

    A no-op where folders cannot be opened (Windows) or the file system does not support it.
    """
    if os.name != "posix":  # pragma: no cover - folders cannot be opened on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIR_SYNC:
            raise
    finally:
        os.close(fd)


def _temporary_name(final: Path) -> Path:
    return final.with_name(f".{final.name[:200]}.{uuid.uuid4().hex}.tmp")


def _settle_tree(root: Path) -> None:
    """Apply the modes to everything under ``root`` and fsync it, files first, then folders bottom-up."""
    umask_free_file, umask_free_dir = FILE_MODE & ~_umask(), DIR_MODE & ~_umask()
    folders = [root]
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            continue
        if path.is_dir():
            os.chmod(path, umask_free_dir)
            folders.append(path)
        elif path.is_file():
            os.chmod(path, umask_free_file)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    os.chmod(root, umask_free_dir)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        sync_dir(folder)


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - not Linux
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover
