"""Fitted state as plain JSON data: numpy scalars and arrays become Python numbers and lists.

>>> jsonable({"a": np.float64(1.5), "b": (np.int64(2), "x")})
{'a': 1.5, 'b': [2, 'x']}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import Enum
from typing import Any

import numpy as np

from loopline._errors import FeatureError


def jsonable(value: Any, where: str = "state") -> Any:
    """``value`` with every container, number and string made a plain Python value; NaN refused."""
    if isinstance(value, Enum):
        return jsonable(value.value, where)
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            raise FeatureError(f"{where} holds {number}, which JSON cannot store; this is a bug, please report it")
        return number
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise FeatureError(f"{where} holds a {type(value).__name__}, which JSON cannot store; this is a bug, please "
                       "report it")
