"""``check_model`` passes loopline's models (see the other tests) and names what a broken model gets wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopline.models import Explanation
from loopline.testing import check_model
from tests.evaluation.fakes import FakeModel, binary_frame, good_binary, sigmoid
from tests.models.conftest import Trained


def _consistent() -> FakeModel:
    """Explains itself as coef * x with base 0, so its score has no intercept."""
    return FakeModel("consistent", lambda f: sigmoid(1.2 * f["x1"].to_numpy() - 0.8 * f["x2"].to_numpy()),
                     features=("x1", "x2"), threshold=0.5, coef={"x1": 1.2, "x2": -0.8})


def test_a_well_behaved_fake_passes_without_the_round_trip() -> None:
    check_model(_consistent(), binary_frame(50), round_trip=False)
    # The evaluation tests' fake leaves its intercept (-1) out of its explanation, and is caught.
    with pytest.raises(AssertionError, match=r"model 'good': explanation .* differs from the probability"):
        check_model(good_binary(), binary_frame(50), round_trip=False)


class _Broken(FakeModel):
    def __init__(self, explain: Callable[[pd.DataFrame], Explanation] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._explain = explain

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        return None if self._explain is None else self._explain(frame)


def _margin(f: pd.DataFrame) -> np.ndarray:
    return np.asarray(-1.0 + 1.2 * f["x1"].to_numpy())


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "shape": ({"score": lambda f: np.zeros((len(f), 2))}, r"binary predict must have shape \(40,\), got \(40, 2\)"),
    "range": ({"score": lambda f: f["x1"].to_numpy()}, r"must be probabilities in \[0, 1\]"),
    "nan": ({"score": lambda f: np.full(len(f), np.nan)}, r"NaN or infinite"),
    "threshold": ({"threshold": None}, r"needs a finite decision threshold"),
    "regression threshold": ({"task": "regression", "score": lambda f: f["x1"].to_numpy()},
                             r"only binary models have a threshold"),
    "multiclass sums": ({"task": "multiclass", "threshold": None, "classes": ("a", "b"),
                         "score": lambda f: np.full((len(f), 2), 0.3)}, r"do not sum to 1"),
    "row order": ({"score": lambda f: np.linspace(0.1, 0.9, len(f)) * sigmoid(f["x1"].to_numpy())},
                  r"changes with the other rows"),
    "params": ({"params": {"bad": object()}}, r"params must be JSON-serialisable"),
    "explanation": ({"score": lambda f: sigmoid(_margin(f)), "explain": lambda f: Explanation(
        ("x1",), f[["x1"]].to_numpy() * 1.3, np.full(len(f), -1.0))}, r"differs from the probability by up to"),
    "explanation shape": ({"explain": lambda f: Explanation(("x1", "x2"), np.zeros((len(f), 1)), np.zeros(len(f)))},
                          r"contributions have shape \(40, 1\), expected \(40, 2\)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_model_is_named_with_what_it_breaks(case: str) -> None:
    over, message = CASES[case]
    fields: dict[str, Any] = {"name": f"broken-{case}", "score": lambda f: sigmoid(_margin(f)), "threshold": 0.5,
                              "features": ("x1",), **over}
    with pytest.raises(AssertionError, match=rf"model 'broken-{case}': .*{message}"):
        check_model(_Broken(**fields), binary_frame(40), round_trip=False)


def test_the_round_trip_needs_a_loopline_model(trained: Callable[[str], Trained]) -> None:
    with pytest.raises(AssertionError, match=r"save_model refused it .*pass round_trip=False"):
        check_model(_consistent(), binary_frame(20))
    found = trained("binary")
    check_model(found.models["lightgbm"], found.splits.test.iloc[:30])
