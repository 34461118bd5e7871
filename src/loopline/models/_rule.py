"""The spec's ``baseline.rule``: a DuckDB SQL expression over the columns of a frame.

>>> frame = pd.DataFrame({"followers": [0, 9], "quality": [0.5, None]})
>>> evaluate_rule("ln(1 + followers) + quality", frame).round(3).tolist()
[0.5, nan]
>>> referenced_columns('ln(1 + followers) + "quality" * 2', ["followers", "quality", "other"])
('followers', 'quality')
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from loopline._errors import ModelError

_IDENTIFIER = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_]*)')
_STRING = re.compile(r"'(?:[^']|'')*'")


def evaluate_rule(rule: str, frame: pd.DataFrame) -> np.ndarray:
    """The value of ``rule`` for each row of ``frame`` as float64 (NaN where it is null).

    Only the columns the rule mentions are handed to DuckDB, as an Arrow table (which also accepts
    frames that are views with reversed or strided rows).
    """
    used = list(referenced_columns(rule, [str(c) for c in frame.columns]))
    table = pa.Table.from_pandas(frame[used] if used else pd.DataFrame({"_row": np.zeros(len(frame))}),
                                 preserve_index=False)
    con = duckdb.connect()
    try:
        con.register("frame", table)
        found = con.execute(f"SELECT CAST(({rule}) AS DOUBLE) AS score FROM frame").fetchnumpy()["score"]
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0].rstrip(".!")
        raise ModelError(
            f"baseline.rule {rule!r} cannot be evaluated: {message}. The rule is a DuckDB SQL expression that must "
            f"give a number per row, over the columns {[str(c) for c in frame.columns]}; fix baseline.rule in "
            "loopline.yaml."
        ) from exc
    finally:
        con.close()
    values: np.ndarray = np.ma.filled(np.ma.asarray(found, dtype=np.float64), np.nan)
    return values


def referenced_columns(rule: str, columns: Sequence[str]) -> tuple[str, ...]:
    """The names in ``columns`` that ``rule`` mentions (bare or double-quoted), in ``columns`` order.

    String literals are ignored, so ``plan = 'pro'`` references ``plan`` but not a column ``pro``.
    """
    text = _STRING.sub("''", rule)
    named = {quoted.replace('""', '"') if quoted else bare for quoted, bare in _IDENTIFIER.findall(text)}
    lowered = {n.lower() for n in named}
    return tuple(c for c in columns if c in named or c.lower() in lowered)
