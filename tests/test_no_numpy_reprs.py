"""Messages show plain values: numpy 2 writes its scalars as ``np.int64(0)`` inside lists and with ``!r``, which a
user reading about their own table should never see. Each case feeds numpy values to a message that names them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopline import LooplineError
from loopline.data._columns import normalize_label
from loopline.features import PredictionProfile
from loopline.features._binning import grid_edges
from loopline.features._coerce import as_bool
from loopline.models._targets import _labels

NUMPY_ZERO: Any = np.int64(0)  # typed as the plain int the signature names; callers pass numpy's too


def _message(call: Callable[[], Any]) -> str:
    with pytest.raises(LooplineError) as caught:
        call()
    return str(caught.value)


CASES: dict[str, tuple[Callable[[], Any], str]] = {
    "a label with one class": (
        lambda: normalize_label(pd.Series(np.array([1, 1, 1])), "binary", column="y", where="t"),
        "has one class (1) in every row"),
    "a float label with one class": (
        lambda: normalize_label(pd.Series(np.array([0.5, 0.5])), "multiclass", column="y", where="t"),
        "has one class (0.5) in every row"),
    "a binary label with three values": (
        lambda: normalize_label(pd.Series(np.array([0, 1, 2])), "binary", column="y", where="t"),
        "has 3 distinct values (0, 1, 2)"),
    "a label.positive given as a numpy number": (
        lambda: normalize_label(pd.Series(np.array([0, 1])), "binary", column="y", where="t",
                                positive=np.int64(5)),
        "label.positive is 5, but"),
    "a boolean feature holding numpy numbers": (
        lambda: as_bool(pd.Series([np.int64(2), "yes", np.float64(0.5)], dtype=object), "flag"),
        "holds values such as [2, 0.5]"),
    "grid cells as a numpy number": (
        lambda: grid_edges(np.array([1.0, 2.0]), cells=NUMPY_ZERO),
        "got 0."),
    "class names from a numpy array": (
        lambda: PredictionProfile.of(np.full((2, 3), 1 / 3), "multiclass", classes=list(np.array([0, 1]))),
        "2 class name(s) [0, 1] for predictions with 3 column(s)"),
    "a label value that is not a train class": (
        lambda: _labels("multiclass", pd.Series(np.array([0, 7]), name="y"), (0, 1)),
        "not train classes [0, 1], such as 7;"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_messages_show_plain_values(case: str) -> None:
    call, expected = CASES[case]
    message = _message(call)
    assert "np." not in message and "numpy" not in message
    assert expected in message
