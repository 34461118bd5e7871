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
from rich.cells import cell_len
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichBar
from rich.table import Table

from loopline import LooplineError
from loopline._json import dumps

PIPE_WIDTH = 1_000_000
"""The width Rich lays out for when stdout is not a terminal: wider than any line loopline prints."""


class PipeConsole(Console):
    """A Rich console as wide as its terminal, or, when its output is not a terminal (a pipe, a file, a test's
    capture), as wide as :data:`PIPE_WIDTH`: Rich would otherwise wrap at 80 columns, splitting paths and table
    rows that scripts read (``loopline models list | grep champion``).

    The check is made at every print, since the output stream can change after import (a test runner swaps
    ``sys.stdout``). It asks the stream itself, not Rich's ``is_terminal``, which ``FORCE_COLOR`` turns on.
    """

    @property
    def size(self) -> ConsoleDimensions:
        found = super().size
        isatty = getattr(self.file, "isatty", None)
        try:
            piped = isatty is None or not isatty()
        except ValueError:  # a closed stream
            piped = True
        return ConsoleDimensions(PIPE_WIDTH, found.height) if piped else found

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


out = PipeConsole(highlight=False)
err = Console(stderr=True, highlight=False)


def make_table(*columns: str, title: str | None = None) -> Table:
    """A Rich table whose cells are never cut: a value wider than its terminal column folds onto the next line
    (Rich's default would end it with an ellipsis), and on a pipe (:class:`PipeConsole`) nothing folds at all.
    The table is at least as wide as its title, so the title stays on one line too.

    >>> found = make_table("model", "path", title="registered models")
    >>> [c.header for c in found.columns], {c.overflow for c in found.columns}, found.min_width
    (['model', 'path'], {'fold'}, 17)
    """
    found = Table(title=title, min_width=None if title is None else cell_len(title))
    for column in columns:
        found.add_column(column, overflow="fold")
    return found


def print_json(data: Any) -> None:
    """``data`` as standard JSON on stdout (:mod:`loopline._json`: NaN and infinities as null, values the
    encoder does not know as their string), escaped to ASCII so any terminal encoding can carry it."""
    sys.stdout.write(dumps(data, indent=2, default=str, ascii_only=True) + "\n")
    sys.stdout.flush()


def fail(message: str, *, as_json: bool, code: int = 2) -> NoReturn:
    if as_json:
        print_json({"error": message})
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # as written: 'loopline[redis]' stays
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
