"""The ``loopline`` command line (Typer + Rich)."""

from __future__ import annotations

from loopline.cli._app import app, main

__all__ = ["app", "main"]
