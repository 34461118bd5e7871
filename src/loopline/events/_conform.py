"""Checking a table against the event-log contract and casting it, losslessly, to the contract types.

A table conforms when every contract column of its kind is present with a compatible type. Compatible
means the same family (text, integer, number, boolean, timestamp) and a cast that loses nothing:
``int64`` positions become ``int32`` when they fit, ``timestamp[ns, Europe/Berlin]`` becomes
``timestamp[us, UTC]`` when no nanoseconds would be dropped. Extra columns (inline feature values,
for instance) are kept as they are, after the contract columns. The columns of
:data:`~loopline.events._schema.REQUIRED` may not hold nulls, and a feedback row must name its exposure
(``request_id``, or ``unit_id`` and ``item_id``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc

from loopline._errors import EventLogError
from loopline.events._schema import REQUIRED, SCHEMAS

EventKind = Literal["exposures", "feedback", "assignments"]
KINDS: tuple[EventKind, ...] = get_args(EventKind)


def check_kind(kind: str) -> EventKind:
    """Return ``kind`` if it names an event kind, else raise :class:`EventLogError` with a hint."""
    if kind in KINDS:
        return kind
    hint = difflib.get_close_matches(str(kind), KINDS, n=1, cutoff=0.6)
    fix = f"did you mean '{hint[0]}'?" if hint else "use one of those."
    raise EventLogError(f"unknown event kind {kind!r}; expected one of {', '.join(KINDS)}: {fix}")


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_text(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


_FAMILY: dict[str, tuple[str, Callable[[pa.DataType], bool]]] = {
    "string": ("text (str)", _is_text),
    "int32": ("an integer", _is_number),
    "double": ("a number", _is_number),
    "bool": ("a boolean", pa.types.is_boolean),
}


def conform(kind: EventKind, table: pa.Table) -> pa.Table:
    """Return ``table`` with the contract columns of ``kind`` first, cast to their contract types.

    Raises :class:`EventLogError` naming the first missing, incompatible or wrongly null column and
    the fix.

    >>> import pyarrow as pa
    >>> from datetime import datetime, timezone
    >>> t = pa.table({"ts": [datetime(2026, 1, 1, tzinfo=timezone.utc)], "deployment": ["d"],
    ...               "experiment": ["e"], "unit_id": ["u1"], "arm": ["a"], "extra": [1]})
    >>> conform("assignments", t).column_names
    ['ts', 'deployment', 'experiment', 'unit_id', 'arm', 'extra']
    """
    schema = SCHEMAS[kind]
    names = table.column_names
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise EventLogError(f"{kind}: column {duplicated[0]!r} appears more than once; keep one of them.")
    columns: dict[str, pa.ChunkedArray] = {}
    for field in schema:
        if field.name not in names:
            raise EventLogError(
                f"{kind}: contract column {field.name!r} ({field.type}) is missing; got columns "
                f"{', '.join(names) or '(none)'}. Add it (with nulls where it does not apply)."
            )
        columns[field.name] = _cast(kind, field, table.column(field.name))
    _check_required(kind, columns)
    for name in names:
        if name not in columns:
            columns[name] = table.column(name)
    return pa.table(columns)


def _cast(kind: str, field: pa.Field, column: pa.ChunkedArray) -> pa.ChunkedArray:
    got = column.type
    if got == field.type:
        return column
    if field.name == "ts" or pa.types.is_timestamp(field.type):
        return _cast_ts(kind, field, column)
    if pa.types.is_null(got):
        return column.cast(field.type)
    family, accepts = _FAMILY[str(field.type)]
    if not accepts(got):
        raise EventLogError(
            f"{kind}: contract column {field.name!r} must be {family} ({field.type}), got {got}. "
            f"Convert the column to {field.type} before writing."
        )
    try:
        return column.cast(field.type, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EventLogError(
            f"{kind}: contract column {field.name!r} cannot be cast from {got} to {field.type} without "
            f"losing values ({exc}). Fix the values or convert the column yourself."
        ) from None


def _cast_ts(kind: str, field: pa.Field, column: pa.ChunkedArray) -> pa.ChunkedArray:
    got = column.type
    if not pa.types.is_timestamp(got):
        raise EventLogError(
            f"{kind}: contract column {field.name!r} must be a UTC timestamp ({field.type}), got {got}. "
            "Parse it first, e.g. pd.to_datetime(df['ts'], utc=True)."
        )
    if got.tz is None:
        raise EventLogError(
            f"{kind}: contract column {field.name!r} is a timestamp without a time zone ({got}); the event "
            "log stores UTC instants. Localise it first, e.g. df['ts'].dt.tz_localize('UTC')."
        )
    try:
        return column.cast(field.type, safe=True)
    except pa.ArrowInvalid as exc:
        raise EventLogError(
            f"{kind}: contract column {field.name!r} cannot be stored as {field.type} without losing "
            f"precision ({exc}). Round it to microseconds first, e.g. df['ts'].dt.floor('us')."
        ) from None


_WHY = {
    "ts": "every record needs the UTC time it happened",
    "deployment": "every record names the deployment that wrote it",
    "request_id": "every exposure belongs to a request",
    "unit_id": "every record names its randomization unit",
    "event": "every feedback record says what happened (e.g. 'click')",
    "experiment": "every assignment names its experiment",
    "arm": "every assignment names its arm",
}


def _check_required(kind: EventKind, columns: dict[str, pa.ChunkedArray]) -> None:
    for name in REQUIRED[kind]:
        column = columns[name]
        if column.null_count:
            first = _first_true(column.is_null())
            raise EventLogError(
                f"{kind}: contract column {name!r} has {column.null_count} null value(s) (first at row {first}); "
                f"{_WHY[name]}. Fill or drop those rows."
            )
    if kind == "feedback":
        orphan = pc.and_(columns["request_id"].is_null(),
                         pc.or_(columns["unit_id"].is_null(), columns["item_id"].is_null()))
        count = pc.sum(orphan).as_py() or 0
        if count:
            raise EventLogError(
                f"feedback: {count} row(s) have neither a 'request_id' nor both 'unit_id' and 'item_id' (first at "
                f"row {_first_true(orphan)}); feedback must name the exposure it answers. Fill request_id, or "
                "unit_id and item_id."
            )


def _first_true(mask: pa.ChunkedArray) -> int:
    index: int = pc.index(mask, True).as_py()
    return index
