"""What a report page is made of, already formatted: sections of tables, figures and text.

The templates only lay these out; every number in them is a string made by ``_format``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from markupsafe import Markup


@dataclass(frozen=True)
class Cell:
    """One table cell. ``numeric`` cells are right-aligned; ``note`` is shown smaller after the text
    (an interval); ``bar`` in [0, 1] draws a small bar of that relative length (``mark`` gives its sign
    or the cell's highlight: ``best``, ``pos``, ``neg``)."""

    text: str
    numeric: bool = False
    note: str = ""
    mark: str = ""
    bar: float | None = None
    title: str = ""

    @property
    def css(self) -> str:
        """The cell's CSS classes."""
        return " ".join(c for c in ("num" if self.numeric else "", self.mark) if c)


@dataclass(frozen=True)
class Table:
    kind: Literal["table"] = field(default="table", init=False)
    headers: tuple[Cell, ...] = ()
    rows: tuple[tuple[Cell, ...], ...] = ()
    row_marks: tuple[str, ...] = ()  # one css class per row, "" for none
    caption: str = ""
    note: str = ""
    compact: bool = False


@dataclass(frozen=True)
class Figure:
    html: Markup
    kind: Literal["figure"] = field(default="figure", init=False)


@dataclass(frozen=True)
class Text:
    kind: Literal["text"] = field(default="text", init=False)
    text: str = ""
    muted: bool = False


@dataclass(frozen=True)
class Subheading:
    kind: Literal["subheading"] = field(default="subheading", init=False)
    text: str = ""


@dataclass(frozen=True)
class Grid:
    """Blocks side by side (two per row on a wide screen, one on a narrow one)."""

    kind: Literal["grid"] = field(default="grid", init=False)
    blocks: tuple[Block, ...] = ()


Block = Table | Figure | Text | Subheading | Grid


@dataclass(frozen=True)
class Section:
    """A titled part of the page; built only when it has something to show."""

    id: str
    title: str
    blocks: tuple[Block, ...]
    intro: str = ""


def num(text: str, *, note: str = "", mark: str = "", bar: float | None = None, title: str = "") -> Cell:
    """A right-aligned cell."""
    return Cell(text, numeric=True, note=note, mark=mark, bar=bar, title=title)


def head(text: str, *, numeric: bool = False, title: str = "") -> Cell:
    return Cell(text, numeric=numeric, title=title)
