"""Every name a spec refers to, checked against the table a run actually sees, before the run starts.

A typo in ``slices`` used to surface only at evaluation, after training and with a failed run row
left behind. :func:`check_references` runs inside :func:`loopline.data.prepare`, right after the
table is assembled (loaded, labelled, feature tables joined), so ``loopline validate`` and
``loopline train`` both stop there, before anything is written.

Checked: ``slices``, ``sensitive``, ``features.include``, ``features.exclude``,
``features.known_after``, ``features.reviewed`` and the keys of ``features.types`` must be columns of that table (a
``known_after`` name must exist too: a misspelt one would silently leave the leaking column among
the features); ``baseline.rule`` is evaluated over the table in the SQL sandbox (so an unknown
column, a type error or a statement is caught) and may not use the label; the names in
``models.lightgbm`` must be LightGBM parameters or their aliases. Every problem found is reported at
once, each with its key path and a did-you-mean suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from loopline._errors import SpecError
from loopline.data._sql import close_match, evaluate_expression, referenced_columns
from loopline.spec import ProblemSpec

SHOWN_COLUMNS = 40


def check_references(spec: ProblemSpec, frame: pd.DataFrame) -> None:
    """Raise :class:`SpecError` naming every spec key that refers to something ``frame`` or LightGBM lacks."""
    columns = [str(c) for c in frame.columns]
    problems = [*_missing_columns(spec, columns), *_unknown_parameters(spec)]
    if problems:
        raise SpecError("\n".join(problems) + f"\nThe table has columns {_shown(columns)}.")
    if spec.baseline.rule:
        _check_rule(spec, spec.baseline.rule, frame)


def _missing_columns(spec: ProblemSpec, columns: Sequence[str]) -> list[str]:
    fs = spec.features
    named: list[tuple[str, Iterable[str]]] = [
        ("slices", spec.slices), ("sensitive", spec.sensitive), ("features.include", fs.include or []),
        ("features.exclude", fs.exclude), ("features.known_after", fs.known_after),
        ("features.reviewed", fs.reviewed),
    ]
    present = set(columns)
    problems = []
    for key, names in named:
        for i, name in enumerate(names):
            if name not in present:
                problems.append(f"{spec.source_name}, {key}[{i}]: no column '{name}'{_hint(name, columns)}")
    for name in fs.types:
        if name not in present:
            problems.append(f"{spec.source_name}, features.types.{name}: no column '{name}'{_hint(name, columns)}")
    return problems


def _check_rule(spec: ProblemSpec, rule: str, frame: pd.DataFrame) -> None:
    key = f"{spec.source_name}, baseline.rule"
    label = spec.label.target
    if referenced_columns(rule, [label]):
        raise SpecError(f"{key} {rule!r} uses the label column '{label}'; a baseline may only use what is known at "
                        "prediction time. Remove the label from the rule.")
    values = evaluate_expression(rule, frame, key=key, error=SpecError)
    if len(values) and not np.isfinite(values).any():
        raise SpecError(f"{key} {rule!r} is null (or infinite) in every row of the table; check the columns it uses "
                        "and their missing values.")


def _unknown_parameters(spec: ProblemSpec) -> list[str]:
    given = spec.models.lightgbm
    if not given:
        return []
    known = _lightgbm_parameters()
    if not known:
        return []
    problems = []
    for name in given:
        if name not in known:
            hint = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            fix = f"did you mean '{hint[0]}'?" if hint else "see LightGBM's parameter list for the names it knows."
            problems.append(f"{spec.source_name}, models.lightgbm.{name}: not a LightGBM parameter; {fix}")
    return problems


def _lightgbm_parameters() -> frozenset[str]:
    """Every LightGBM parameter name and alias, as LightGBM itself lists them (empty when it cannot say)."""
    try:
        from lightgbm.basic import _ConfigAliases

        aliases = _ConfigAliases._get_all_param_aliases()
    except (ImportError, AttributeError):  # pragma: no cover - a LightGBM without the alias table
        return frozenset()
    return frozenset(aliases) | frozenset(a for names in aliases.values() for a in names)


def _hint(name: str, columns: Sequence[str]) -> str:
    found = close_match(name, columns)
    return f"; did you mean '{found}'?" if found else ""


def _shown(columns: Sequence[str]) -> str:
    head = ", ".join(columns[:SHOWN_COLUMNS])
    return head + (f", ... ({len(columns)} in all)" if len(columns) > SHOWN_COLUMNS else "")
