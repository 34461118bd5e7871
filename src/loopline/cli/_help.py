"""How ``--help`` reads: flags listed without a value type, and the command's example at the end.

Typer prints a type beside every option, ``<bool>`` beside a flag too (``--json <bool>``), which reads as if the
flag took a value. The command and group classes here give each flag an empty metavar, which Typer prints instead
of the type; flags take no value, so nothing else shows a flag's metavar.

Every command's example goes in its epilog, which Typer prints after the options: ``--help`` ends with it.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup


def _untyped_flags(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """A Typer command whose ``--help`` shows no type beside its flags (``--help`` itself included)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


class Group(TyperGroup):
    """A Typer group whose ``--help`` shows no type beside its flags (``--version``, ``--help``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


def example(*lines: str) -> str:
    """The epilog of a command: its example command line, or several, one a line (Typer removes any indent).

    >>> example("loopline train --spec loopline.yaml --promote")
    'Example: loopline train --spec loopline.yaml --promote'
    >>> print(example("loopline models list", "loopline models list churn --json"))
    Examples:
    loopline models list
    loopline models list churn --json
    """
    if len(lines) == 1:
        return f"Example: {lines[0]}"
    return "\n".join(["Examples:", *lines])
