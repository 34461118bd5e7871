"""Atomic writes of a report's files: a temporary file in the same folder, fsync, then a rename.

A reader never sees a half-written report, and a failed write leaves no temporary file behind.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import Path, PurePath
from typing import Any


def write_html(html: str, path: Path) -> Path:
    """Write ``html`` to ``path`` atomically (parent folders are created) and return ``path``.

    >>> import pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_html("<p>hi</p>", pathlib.Path(folder) / "r.html").read_text(encoding="utf-8")
    '<p>hi</p>'
    """
    return _write_atomic(Path(path), html)


def write_json(data: Mapping[str, Any], path: Path) -> Path:
    """Write ``data`` as indented JSON atomically; NaN and infinities become ``null``.

    Dataclasses, tuples, paths, dates, enums and numpy scalars are converted to plain JSON values.

    >>> import pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = write_json({"auc": 0.9, "ece": float("nan")}, pathlib.Path(folder) / "r.json")
    ...     json.loads(out.read_text(encoding="utf-8"))
    {'auc': 0.9, 'ece': None}
    """
    text = json.dumps(_jsonable(data, "$"), indent=2, ensure_ascii=False, allow_nan=False)
    return _write_atomic(Path(path), text + "\n")


def _jsonable(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Enum):
        return _jsonable(value.value, where)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(items)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value), where)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return _jsonable(item(), where)
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return _jsonable(tolist(), where)
    raise TypeError(
        f"write_json cannot store {where}: a {type(value).__name__} is not JSON. Convert it to a number, "
        "string, list or dict first (for example with its to_dict() method)."
    )


def _write_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
