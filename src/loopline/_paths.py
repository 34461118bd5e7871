"""One rule for paths read from data (a database row, a manifest): they stay inside their root.

A stored path is relative to a root the caller knows (the artifact root, a model folder). It is
refused when it is absolute, climbs out with ``..``, is empty, or reaches outside the root through a
symbolic link. Only then is it joined to the root.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     root = Path(folder).resolve()
...     resolve_inside(root, "models/churn/abc", what="artifact path") == root / "models/churn/abc"
True
"""

from __future__ import annotations

from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from loopline._errors import LooplineError

_FIX = "The stored value was changed, or written by something other than loopline; restore it from a backup."


def _refuse(error: type[LooplineError], what: str, value: object, root: Path, why: str, fix: str) -> LooplineError:
    return error(f"{what} {str(value)!r} is refused: {why}; it must be a relative path inside {root}. {fix}")


def resolve_inside(root: Path, relative: str | PurePath, *, what: str,
                   error: type[LooplineError] = LooplineError, fix: str = _FIX) -> Path:
    """``root / relative`` once ``relative`` is known to stay inside ``root``; ``error`` otherwise.

    ``what`` names the value in the message (e.g. ``"artifact path of churn v3"``), ``fix`` says what
    to do about it.
    """
    text = str(relative)
    if not isinstance(relative, str | PurePath) or not text.strip() or "\x00" in text:
        raise _refuse(error, what, relative, root, "it is empty or not a path", fix)
    posix, windows = PurePosixPath(text), PureWindowsPath(text)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root:
        raise _refuse(error, what, relative, root, "it is an absolute path", fix)
    parts = windows.parts  # splits on both '/' and '\'
    if ".." in parts:
        raise _refuse(error, what, relative, root, "it climbs out of its folder with '..'", fix)
    if all(part == "." for part in posix.parts):
        raise _refuse(error, what, relative, root, "it names the root folder itself", fix)
    joined = root.joinpath(*parts)
    base = root.resolve()
    if not joined.resolve().is_relative_to(base):
        raise _refuse(error, what, relative, root, f"it leads to {joined.resolve()} through a symbolic link", fix)
    return joined


def relative_inside(root: Path, path: Path, *, what: str, error: type[LooplineError] = LooplineError,
                    fix: str = _FIX) -> str:
    """``path`` (absolute, inside ``root``) as the POSIX-style relative text to store; ``error`` otherwise."""
    try:
        relative = Path(path).resolve().relative_to(root.resolve())
    except ValueError:
        raise _refuse(error, what, path, root, "it lies outside the root", fix) from None
    text = relative.as_posix()
    resolve_inside(root, text, what=what, error=error, fix=fix)
    return text
