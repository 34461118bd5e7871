"""A tiny progress seam: stages report long work through it; the CLI draws it with Rich.

Computation never imports Rich. A stage takes ``progress: Progress = SILENT`` and calls
``progress.start("simulating days", total=14)``, ``progress.advance()`` and ``progress.finish()``.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, task: str, total: float | None = None) -> None: ...

    def advance(self, amount: float = 1.0) -> None: ...

    def finish(self) -> None: ...


class _Silent:
    def start(self, task: str, total: float | None = None) -> None:
        return None

    def advance(self, amount: float = 1.0) -> None:
        return None

    def finish(self) -> None:
        return None


SILENT: Progress = _Silent()
