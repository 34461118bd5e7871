"""A report's files, written atomically (:mod:`loopline._atomic`): a reader never sees a half-written
report, and a failed write leaves the old file and no temporary file behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopline import _atomic as atomic
from loopline._json import dumps


def write_html(html: str, path: Path) -> Path:
    """Write ``html`` to ``path`` atomically (parent folders are created) and return ``path``.

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_html("<p>hi</p>", pathlib.Path(folder) / "r.html").read_text(encoding="utf-8")
    '<p>hi</p>'
    """
    return atomic.write_text(Path(path), html)


def write_json(data: Mapping[str, Any], path: Path) -> Path:
    """Write ``data`` as indented JSON atomically; NaN and infinities become ``null``.

    Dataclasses, tuples, paths, dates, enums and numpy scalars are converted to plain JSON values
    (:mod:`loopline._json`); anything else raises :class:`TypeError` naming its key.

    >>> import json, pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = write_json({"auc": 0.9, "ece": float("nan")}, pathlib.Path(folder) / "r.json")
    ...     json.loads(out.read_text(encoding="utf-8"))
    {'auc': 0.9, 'ece': None}
    """
    return atomic.write_text(Path(path), dumps(data, indent=2) + "\n")
