"""The spec's ``baseline.rule``: a DuckDB SQL expression over the columns of a frame, run in the sandbox.

The rule is user code that is stored in ``model.json`` and runs again at every prediction, so it is
always evaluated by :func:`loopline.data.evaluate_expression`: one expression, on a connection that
holds only the rows being scored and can neither touch files nor change its settings.

>>> frame = pd.DataFrame({"followers": [0, 9], "quality": [0.5, None]})
>>> evaluate_rule("ln(1 + followers) + quality", frame).round(3).tolist()
[0.5, nan]
>>> referenced_columns('ln(1 + followers) + "quality" * 2', ["followers", "quality", "other"])
('followers', 'quality')
>>> evaluate_rule("(SELECT count(*) FROM read_text('/etc/passwd'))", frame)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
loopline._errors.ModelError: baseline.rule "(SELECT count(*) FROM read_text('/etc/passwd'))" is refused: ...
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopline._errors import ModelError
from loopline.data import check_expression, evaluate_expression, referenced_columns

KEY = "baseline.rule"

__all__ = ["check_rule", "evaluate_rule", "referenced_columns"]


def evaluate_rule(rule: str, frame: pd.DataFrame) -> np.ndarray:
    """The value of ``rule`` for each row of ``frame`` as float64 (NaN where it is null), computed in the sandbox."""
    return evaluate_expression(rule, frame, key=KEY, error=ModelError)


def check_rule(rule: str) -> None:
    """Refuse ``rule`` unless it parses as one SQL expression (no statements, no ``;`` outside strings)."""
    check_expression(rule, key=KEY, error=ModelError)
