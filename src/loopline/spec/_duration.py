"""Durations written the way people write them: ``30m``, ``7d``, ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_WHOLE = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*[smhdw]\s*)+$")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``'30m'``, ``'7d'``, ``'1h30m'`` (or a number of seconds) into a timedelta.

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    >>> parse_duration(90)
    datetime.timedelta(seconds=90)
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like '30m' or '7d', got {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"expected a non-negative duration, got {text!r}")
        return timedelta(seconds=float(text))
    if not isinstance(text, str) or not _WHOLE.match(text.lower()):
        raise ValueError(f"expected a duration like '30m', '12h' or '7d', got {text!r}")
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text.lower()))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling of a duration.

    >>> format_duration(timedelta(minutes=30))
    '30m'
    """
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
"""A pydantic field type: read with :func:`parse_duration`, written back with :func:`format_duration`."""
