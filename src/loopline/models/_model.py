"""``Model``: one trained model, the same wrapper for baselines and candidates.

A model is a *scorer* (what the family learned) followed by the same post-processing for every
family: the downsampling correction (binary, when train negatives were sampled), then the
calibrator kept on validation, then the decision threshold. Each scorer's state is plain JSON plus,
for LightGBM, the booster's text model, so a model is stored and reloaded without pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from loopline.models._calibration import Calibrator
from loopline.models._types import Explanation, ModelFamily
from loopline.spec import Task


class Scorer(Protocol):
    """What one model family learned. ``raw`` is on the task's output scale before calibration:
    binary, the positive-class probability; multiclass, class probabilities; regression, the value;
    ranking, a score."""

    family: ModelFamily

    def raw(self, frame: pd.DataFrame) -> np.ndarray: ...

    def explain(self, frame: pd.DataFrame) -> Explanation | None: ...

    def importance(self) -> dict[str, float] | None: ...

    def state(self) -> dict[str, Any]: ...

    def files(self) -> dict[str, bytes]: ...


@dataclass
class Model:
    """A trained model meeting :class:`~loopline.models.TrainedModel`."""

    name: str
    task: Task
    features: tuple[str, ...]
    scorer: Scorer
    is_baseline: bool = False
    classes: tuple[Any, ...] | None = None
    threshold: float | None = None
    calibrator: Calibrator | None = None
    negative_rate: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0

    @property
    def family(self) -> ModelFamily:
        return self.scorer.family

    @property
    def calibration(self) -> str | None:
        return None if self.calibrator is None else self.calibrator.method

    def uncalibrated(self, frame: pd.DataFrame) -> np.ndarray:
        """The scorer's output with the downsampling correction, before calibration."""
        raw = self.scorer.raw(frame)
        if self.negative_rate is not None and self.task == "binary":
            raw = raw / (raw + (1.0 - raw) / self.negative_rate)
        return raw

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.uncalibrated(frame)
        return p if self.calibrator is None else self.calibrator.apply(p)

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        return self.scorer.explain(frame)

    def importance(self) -> dict[str, float] | None:
        return self.scorer.importance()


def group_by_source(values: np.ndarray, names: list[str], sources: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """Sum the columns of ``values`` (one per model input) that come from the same source column."""
    order = list(dict.fromkeys(sources))
    index = {s: i for i, s in enumerate(order)}
    columns = np.array([index[s] for s in sources], dtype=np.int64)
    grouped = np.zeros((values.shape[0], len(order)))
    for j in range(values.shape[1]):
        grouped[:, columns[j]] += values[:, j]
    return tuple(order), grouped
