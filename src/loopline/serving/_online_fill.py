"""Requests meet the online store: which store a server opens, and rows or columns filled from it (inline
values win; a row without a table's key is left alone).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from loopline.serving._online import OnlineStore, Row, Snapshot
from loopline.workspace import Workspace


def open_store(workspace: Workspace, spec: str, choice: str | None) -> OnlineStore | None:
    """The server's online store: ``'snapshot'`` (required), ``'redis'``, ``'off'``, or None: the snapshot
    when one exists, else none."""
    if choice == "off" or (choice is None and not Snapshot.exists(workspace, spec)):
        return None
    if choice == "redis":
        from loopline.serving._online_redis import RedisStore

        return RedisStore(spec)
    return Snapshot.load(workspace, spec)


_KEYS = operator.methodcaller("keys")


def fill_rows(store: OnlineStore, rows: list[Row], *, at: datetime | None = None) -> list[Row]:
    """``rows`` with the columns of each feature table filled from ``store`` where a row lacks them and carries
    the table's key(s); a value sent inline (even null) wins over the stored one. Rows that need nothing are
    returned as they are (the same objects)."""
    extra: list[Row | None] = [None] * len(rows)
    for table in store.tables:
        wanted = frozenset(table.columns)
        keys = table.keys
        complete = list(map(operator.ge, map(_KEYS, rows), repeat(wanted)))  # rows sent with every column
        if all(complete):
            continue
        need = [i for i, (row, has) in enumerate(zip(rows, complete, strict=True))
                if not has and all(row.get(k) is not None for k in keys)]
        if not need:
            continue
        found = store.lookup({k: [rows[i][k] for i in need] for k in keys}, at=at, tables=[table.name])
        columns = [_python(found[c], table.kinds[c]) for c in table.columns]
        for i, values in zip(need, zip(*columns, strict=True), strict=True):
            added = extra[i]
            if added is None:
                extra[i] = dict(zip(table.columns, values, strict=True))
            else:
                added.update(zip(table.columns, values, strict=True))
    for added, row in zip(extra, rows, strict=True):
        if added is not None:
            added.update(row)  # inline values win
    return [row if added is None else added for row, added in zip(rows, extra, strict=True)]


def fill_columns(store: OnlineStore, columns: Mapping[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
    """``columns`` (name -> array) with the stored columns it lacks, for the tables whose key columns it has."""
    n = len(next(iter(columns.values()))) if columns else 0
    found = store.lookup({k: columns[k] for k in columns}, at=at)
    out: dict[str, Any] = dict(columns)
    for name, values in found.items():
        if name not in out and len(values) == n:
            out[name] = values
    return out


def _python(values: np.ndarray, kind: str) -> list[Any]:
    if kind == "time":
        return [None if np.isnat(v) else pd.Timestamp(v, tz="UTC") for v in values]
    out: list[Any] = values.tolist()
    return out
