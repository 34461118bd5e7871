"""A rank request's candidates in either form the API accepts: rows (a list of objects) or columns.

``/v1/rank`` takes ``items`` (one object per candidate) or ``columns`` (one list per field, ``item_id``
among them). Rows stay rows; columns become one object array per field, the ``context`` broadcast into
the columns it names and the request lacks (a candidate's own value wins, as for rows). Either form goes
to the scorers as it is (:meth:`Scorer.check` reads rows and column mappings alike), and :func:`take`
cuts a shortlist out of either, so the funnel, the shadows and interleaving never convert between them.

>>> batch = candidate_columns({"item_id": ["a", "b", "c"], "x": [1, 2, 3]}, {"country": "fr"})
>>> size(batch), take(batch, [2, 0])["x"].tolist(), batch["country"].tolist()
(3, [3, 1], ['fr', 'fr', 'fr'])
>>> column_item_ids(batch)
['a', 'b', 'c']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from loopline._errors import InputError

Row = dict[str, Any]
Candidates = list[Row] | dict[str, np.ndarray]


def candidate_columns(columns: Mapping[str, Sequence[Any]], context: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    """The request's ``columns`` as object arrays of one length, with ``context`` filling the fields they lack;
    an InputError naming ``columns.<field>`` when a list is missing, empty or of another length."""
    if "item_id" not in columns:
        raise InputError("columns: give the candidates' ids as a list under 'item_id', beside one list per feature.",
                         field="columns.item_id")
    n = len(columns["item_id"])
    if n == 0:
        raise InputError("columns.item_id: give at least one candidate.", field="columns.item_id")
    out: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        if len(values) != n:
            raise InputError(f"columns.{name}: {len(values)} values for {n} candidates (the length of "
                             "columns.item_id); give every column one value per candidate, null where missing.",
                             field=f"columns.{name}")
        array = np.empty(n, dtype=object)
        array[:] = values  # an object array of the values themselves: a list value stays one (refused later)
        out[name] = array
    for name, value in (context or {}).items():
        if name not in out:
            filled = np.empty(n, dtype=object)
            filled.fill(value)
            out[name] = filled
    return out


def column_item_ids(columns: Mapping[str, np.ndarray]) -> list[str]:
    """The candidates' ids as strings (integers allowed), each non-empty and unique; else an InputError naming
    ``columns.item_id[i]``."""
    ids: list[Any] = columns["item_id"].tolist()
    if set(map(type, ids)) == {str} and len(set(ids)) == len(ids) and "" not in ids:
        return ids
    seen: set[str] = set()
    out: list[str] = []
    for i, value in enumerate(ids):
        where = f"columns.item_id[{i}]"
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise InputError(f"{where}: every candidate needs an id (a string or an integer), got {value!r}.",
                             field=where)
        text = str(value)
        if text in seen:
            raise InputError(f"{where}: {text!r} appears more than once; send each candidate once.", field=where)
        seen.add(text)
        out.append(text)
    return out


def size(batch: Candidates) -> int:
    """How many candidates ``batch`` holds."""
    if isinstance(batch, dict):
        return len(next(iter(batch.values()))) if batch else 0
    return len(batch)


def take(batch: Candidates, index: np.ndarray | Sequence[int]) -> Candidates:
    """The candidates at ``index``, in that order, in the form ``batch`` has."""
    if isinstance(batch, dict):
        at = np.asarray(index, dtype=np.intp)
        return {name: values[at] for name, values in batch.items()}
    return [batch[i] for i in np.asarray(index).tolist()]
