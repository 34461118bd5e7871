"""Printing for the CLI: Rich for people, JSON for machines, errors without tracebacks."""

from __future__ import annotations

import math
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichBar

from loopline import LooplineError
from loopline._json import dumps

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """``data`` as standard JSON on stdout (:mod:`loopline._json`: NaN and infinities as null, values the
    encoder does not know as their string), escaped to ASCII so any terminal encoding can carry it."""
    sys.stdout.write(dumps(data, indent=2, default=str, ascii_only=True) + "\n")
    sys.stdout.flush()


def fail(message: str, *, as_json: bool, code: int = 2) -> NoReturn:
    if as_json:
        print_json({"error": message})
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def handled(*, as_json: bool, debug: bool) -> Iterator[None]:
    """Turn loopline's errors into one clear message and exit code 2; --debug shows the traceback."""
    try:
        yield
    except typer.Exit:
        raise
    except LooplineError as exc:
        if debug:
            traceback.print_exc()
        fail(str(exc), as_json=as_json, code=2)
    except KeyboardInterrupt:
        fail("interrupted", as_json=as_json, code=130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
            raise typer.Exit(1) from None
        fail(f"unexpected {type(exc).__name__}: {exc}. Rerun with --debug to see the traceback, and "
             "please report it.", as_json=as_json, code=1)


@dataclass
class BarProgress:
    """Draws the stages' Progress calls as Rich progress bars on stderr."""

    enabled: bool = True
    _bar: RichBar | None = field(default=None, init=False)
    _task: Any = field(default=None, init=False)

    def start(self, task: str, total: float | None = None) -> None:
        if not self.enabled:
            return
        self.finish()
        self._bar = RichBar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=False)
        self._bar.start()
        self._task = self._bar.add_task(task, total=total)

    def advance(self, amount: float = 1.0) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def finish(self) -> None:
        if self._bar is not None:
            task = self._bar.tasks[0]
            if task.total is not None:
                self._bar.update(self._task, completed=task.total)
            self._bar.stop()
            self._bar = None


def fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.{digits}f}"
    return "-" if value is None else str(value)


Printer = Callable[[], None]
