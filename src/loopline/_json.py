"""JSON encoding, one rule for everything loopline writes.

:func:`to_plain` turns a value into plain JSON types: mappings (keys as strings), lists (tuples too;
sets sorted), dataclasses (as dicts), enums (their value), dates and datetimes (ISO 8601), paths
(strings), pydantic models (their ``model_dump(mode="json")``), numpy and pandas scalars and arrays
(Python numbers and lists), ``pd.NA`` and ``NaT`` (null). Anything else raises :class:`TypeError`
naming where it sits (``$.model.weights``) unless a ``default`` converts it.

Non-finite floats (NaN, +-infinity), two rules:

- ``nonfinite="null"`` (the default): they become ``null``. Used for every document written for
  people or other programs (report JSON twins, ``--json`` output of the CLI, ``model.json``), since
  bare ``NaN`` is not JSON and breaks ``jq``, browsers and strict parsers.
- ``nonfinite="keep"``: they are written as Python's ``NaN``, ``Infinity`` and ``-Infinity`` tokens.
  Used only by the registry's own text columns, which only loopline reads back (through
  :func:`json.loads`, which accepts them), because a NaN metric there (AUC of a one-class split)
  must come back as a float NaN, not as a missing value. Whatever leaves the registry for people is
  encoded again with the ``null`` rule.

>>> dumps({"auc": 0.9, "ece": float("nan")})
'{"auc": 0.9, "ece": null}'
>>> dumps({"auc": float("nan")}, nonfinite="keep")
'{"auc": NaN}'
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any, Literal

NonFinite = Literal["null", "keep"]


def dumps(value: Any, *, nonfinite: NonFinite = "null", indent: int | None = None, sort_keys: bool = False,
          default: Callable[[Any], Any] | None = None, ascii_only: bool = False) -> str:
    """``value`` as JSON text (see the module docstring for the conversions and the NaN rule).

    Non-ASCII characters are written as they are (for UTF-8 files), or escaped with ``ascii_only``.
    """
    plain = to_plain(value, nonfinite=nonfinite, default=default)
    return json.dumps(plain, indent=indent, sort_keys=sort_keys, ensure_ascii=ascii_only,
                      allow_nan=nonfinite == "keep")


def to_plain(value: Any, *, nonfinite: NonFinite = "null", default: Callable[[Any], Any] | None = None,
             where: str = "$") -> Any:
    """``value`` made of plain JSON types only (dict, list, str, int, float, bool, None)."""
    if nonfinite not in ("null", "keep"):
        raise ValueError(f"nonfinite: expected 'null' or 'keep', got {nonfinite!r}")
    return _plain(value, nonfinite, default, where)


def _plain(value: Any, nonfinite: NonFinite, default: Callable[[Any], Any] | None, where: str) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if nonfinite == "keep" or math.isfinite(value) else None
    if isinstance(value, Enum):
        return _plain(value.value, nonfinite, default, where)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, nonfinite, default, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_plain(v, nonfinite, default, f"{where}[{i}]") for i, v in enumerate(items)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, nonfinite, default, where)
    if _is_missing(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    dump = getattr(value, "model_dump", None)  # pydantic models (specs): their JSON form
    if callable(dump):
        return _plain(dump(mode="json"), nonfinite, default, where)
    kind = type(value).__module__.split(".")[0]
    if kind == "numpy" and type(value).__name__ == "datetime64":
        return str(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return _plain(item(), nonfinite, default, where)
    tolist = getattr(value, "tolist", None)  # numpy arrays, pandas series
    if callable(tolist):
        return _plain(tolist(), nonfinite, default, where)
    if default is not None:
        return _plain(default(value), nonfinite, None, where)
    raise TypeError(
        f"{where}: a {type(value).__name__} is not JSON. Convert it to a number, string, list or dict first "
        "(for example with its to_dict() method)."
    )


def _is_missing(value: Any) -> bool:
    """pandas' ``NA`` and ``NaT`` and numpy's ``NaT``: missing values that are not floats."""
    name = type(value).__name__
    if name in ("NAType", "NaTType"):
        return True
    return name in ("datetime64", "timedelta64") and str(value) == "NaT"
