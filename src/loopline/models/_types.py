"""The contract every trained model meets, baselines and candidates alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from loopline.spec import Task

ModelFamily = Literal["constant", "random", "heuristic", "linear", "lightgbm"]


@dataclass(frozen=True)
class Explanation:
    """Per-row additive contributions: ``base + contributions.sum(axis=1)`` is the raw score.

    For binary models the scale is log-odds before calibration; ``features`` names the columns of
    ``contributions`` (model inputs after preprocessing, grouped back to source columns when
    possible).
    """

    features: tuple[str, ...]
    contributions: np.ndarray
    base: np.ndarray


@runtime_checkable
class TrainedModel(Protocol):
    """A fitted model, ready to score a frame with the source columns named in ``features``.

    ``predict`` returns, by task: binary, the calibrated probability of the positive class, shape
    (n,); multiclass, probabilities of shape (n, len(classes)); regression, the prediction (n,);
    ranking, a score (n,) where larger ranks higher (a probability when trained on binary relevance).
    """

    name: str
    task: Task
    features: tuple[str, ...]
    is_baseline: bool
    classes: tuple[Any, ...] | None
    threshold: float | None
    params: dict[str, Any]
    fit_seconds: float

    @property
    def family(self) -> ModelFamily: ...

    @property
    def calibration(self) -> str | None:
        """``'isotonic'``, ``'platt'`` or None (uncalibrated)."""
        ...

    def predict(self, frame: pd.DataFrame) -> np.ndarray: ...

    def explain(self, frame: pd.DataFrame) -> Explanation | None: ...

    def importance(self) -> dict[str, float] | None: ...
