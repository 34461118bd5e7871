"""Models trained once per task and shared by the tests that only read them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from loopline.data import Splits
from loopline.models import TrainedModel, train_baselines, train_candidates
from loopline.spec import ProblemSpec
from tests.models.samples import make_spec, make_splits

RULES = {"binary": "x1 + CASE WHEN colour = 'red' THEN 1 ELSE 0 END", "regression": "x1 + 0.5 * x2",
         "multiclass": "x1 + CASE WHEN colour = 'red' THEN 1 ELSE 0 END", "ranking": "x1"}


@dataclass(frozen=True)
class Trained:
    splits: Splits
    spec: ProblemSpec
    models: dict[str, TrainedModel]


@pytest.fixture(scope="session")
def trained() -> Callable[[str], Trained]:
    """``trained(task)``: every baseline and candidate for ``task`` on the sample splits."""
    cache: dict[str, Trained] = {}

    def get(task: str) -> Trained:
        if task not in cache:
            splits, spec = make_splits(task), make_spec(task, baseline={"rule": RULES[task]})
            models = [*train_baselines(splits, spec), *train_candidates(splits, spec)]
            cache[task] = Trained(splits, spec, {m.name: m for m in models})
        return cache[task]

    return get
