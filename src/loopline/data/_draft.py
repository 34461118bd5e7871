"""``loopline init --data FILE``: a commented ``loopline.yaml`` guessed from a table.

Guesses: the event time is the timestamp column whose name sounds like one (``ts``, ``*_at``,
``*time*``, ``*date*``), else the first timestamp column; the entity is an ``id``-named column with
many distinct values; the label is a column named like one (``label``, ``target``, ``y``,
``churned``, ``clicked``, ``converted``, ...), else the last two-valued column. The task follows from
the label's values. Every guess is marked in a comment so the user checks it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import yaml

from loopline.data._infer import infer_schema
from loopline.data._load import load_table
from loopline.data._types import Kind, Schema

_LABEL_NAMES = re.compile(r"^(label|target|y|outcome|class|churn(ed)?|click(ed)?|convert(ed)?|fraud|is_spam|spam|"
                          r"default(ed)?|purchased?|engaged?)$", re.IGNORECASE)
_TIME_NAMES = re.compile(r"(^ts$|_at$|time|date)", re.IGNORECASE)
_ID_NAMES = re.compile(r"(^id$|_id$|^id_)", re.IGNORECASE)


def draft_spec(path: Path) -> str:
    """YAML text of a spec for the table at ``path``, with the guesses commented."""
    frame = load_table(str(path), what="--data")
    schema = infer_schema(frame)
    time = _guess_time(frame, schema)
    entity = _guess_entity(frame, schema)
    label = _guess_label(frame, schema, exclude={time, entity})
    task = _task(frame[label]) if label else "binary"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-") or "model"
    body: dict[str, object] = {
        "name": name,
        "task": task,
        "data": {"source": str(path)},
        "event_time": time or "CHANGE-ME",
    }
    if entity:
        body["entity"] = entity
    body["label"] = {"column": label or "CHANGE-ME"}
    body["features"] = {"exclude": [], "known_after": []}
    body["split"] = {"fractions": [0.7, 0.15, 0.15]}
    lines = [
        f"# loopline.yaml drafted from {path.name} ({len(frame)} rows, {len(frame.columns)} columns).",
        "# Check every guess marked below, then run: loopline validate",
        "# event_time: " + ("guessed" if time else "no timestamp column found; name the column of when each row "
                            "happened"),
        f"# entity: {'guessed ' + repr(entity) if entity else 'none found (optional)'}",
        f"# label: {'guessed ' + repr(label) if label else 'not found; name the column to predict'}; task {task!r} "
        "follows from its values",
        "# features.known_after: list columns recorded after the event (they must never become features)",
        "# Columns: " + ", ".join(f"{c.name} ({c.kind.value})" for c in schema.columns),
        "",
        yaml.safe_dump(body, sort_keys=False),
    ]
    return "\n".join(lines)


def _guess_time(frame: pd.DataFrame, schema: Schema) -> str | None:
    times = list(schema.names(Kind.TIMESTAMP))
    named = [c for c in times if _TIME_NAMES.search(c)]
    found = named or times
    return found[0] if found else None


def _guess_entity(frame: pd.DataFrame, schema: Schema) -> str | None:
    for col in schema.columns:
        if _ID_NAMES.search(col.name) and col.n_unique >= 0.05 * len(frame):
            return col.name
    return None


def _guess_label(frame: pd.DataFrame, schema: Schema, *, exclude: set[str | None]) -> str | None:
    for col in schema.columns:
        if _LABEL_NAMES.match(col.name) and col.name not in exclude:
            return col.name
    two_valued = [c.name for c in schema.columns if c.n_unique == 2 and c.name not in exclude]
    return two_valued[-1] if two_valued else None


def _task(values: pd.Series) -> str:
    distinct = values.nunique(dropna=True)
    if distinct <= 2:
        return "binary"
    if pd.api.types.is_float_dtype(values.dtype) or (pd.api.types.is_numeric_dtype(values.dtype) and distinct > 20):
        return "regression"
    return "multiclass"
