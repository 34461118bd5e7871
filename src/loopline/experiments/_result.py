"""JSON-ready results of the experiments package: one conversion, loopline._json's (non-finite numbers as None)."""

from __future__ import annotations

from typing import Any

from loopline._json import to_plain


class ResultDict:
    """Mixin giving a frozen result dataclass a JSON-ready ``to_dict()`` (tuples become lists)."""

    def to_dict(self) -> dict[str, Any]:
        """The result as plain Python values: dicts, lists, str, int, float, bool and None."""
        plain = to_plain(self)
        if not isinstance(plain, dict):  # pragma: no cover - every subclass is a dataclass
            raise TypeError(f"{type(self).__name__} is not a dataclass")
        return plain
