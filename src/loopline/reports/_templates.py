"""The Jinja2 environment of the report templates, read from the installed package (autoescaped)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import jinja2

_PACKAGE = "loopline.reports"


def _load(name: str) -> str:
    template = resources.files(_PACKAGE).joinpath("templates", name)
    if not template.is_file():
        raise jinja2.TemplateNotFound(name)
    return template.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Templates under ``loopline/reports/templates``; every value is escaped unless marked safe."""
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_load),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_template(name: str, **context: object) -> str:
    """Render the template ``name`` (e.g. ``evaluation.html``) with ``context``."""
    return environment().get_template(name).render(**context)
