"""Plain-data conversion shared by every result of the experiments package."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    return value


class ResultDict:
    """Mixin giving a frozen result dataclass a JSON-ready ``to_dict()`` (tuples become lists)."""

    def to_dict(self) -> dict[str, Any]:
        """The result as plain Python values: dicts, lists, str, int, float, bool and None."""
        plain = _plain(self)
        if not isinstance(plain, dict):  # pragma: no cover - every subclass is a dataclass
            raise TypeError(f"{type(self).__name__} is not a dataclass")
        return plain
