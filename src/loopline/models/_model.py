"""``Model``: one trained model, the same wrapper for baselines and candidates.

A model is a *scorer* (what one family learned, giving a raw score) followed by post-processing that
is the same for every family:

1. the link: ``logistic`` (binary, and ranking on 0/1 relevance with a logistic model) turns log-odds
   into a probability, ``softmax`` turns class margins into probabilities, ``identity`` keeps the value;
2. the downsampling correction (binary, when train negatives were sampled; see
   :func:`loopline.data.correct_for_downsampling`), which adds ``ln(negative_rate)`` to the log-odds;
3. the calibrator kept on validation (probabilities only);
4. the decision threshold (binary only), used by callers, not by ``predict``.

Each scorer's state is plain JSON plus, for LightGBM, the booster's text model, so a model is stored
and reloaded without pickle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from loopline.data import correct_for_downsampling
from loopline.models._calibration import Calibrator
from loopline.models._types import Explanation, ModelFamily
from loopline.spec import Task

Link = Literal["logistic", "softmax", "identity"]
LINKS: tuple[Link, ...] = ("logistic", "softmax", "identity")
TASK_LINKS: dict[Task, Link] = {"binary": "logistic", "multiclass": "softmax", "regression": "identity",
                                "ranking": "identity"}


class Scorer(Protocol):
    """What one model family learned.

    ``margin`` is the raw score: log-odds (logistic link), class margins of shape (n, classes)
    (softmax link) or the prediction itself (identity link). ``explain`` is on the same scale.
    """

    @property
    def family(self) -> ModelFamily: ...

    def margin(self, frame: pd.DataFrame) -> np.ndarray: ...

    def explain(self, frame: pd.DataFrame) -> Explanation | None: ...

    def importance(self) -> dict[str, float] | None: ...

    def state(self) -> dict[str, Any]: ...

    def files(self) -> dict[str, bytes]: ...


@dataclass(frozen=True, eq=False)
class Fitted:
    """A candidate's scorer straight from fitting, with its raw score on the validation rows."""

    scorer: Scorer
    link: Link
    params: dict[str, Any]
    valid_margin: np.ndarray


@dataclass(eq=False)
class Model:
    """A trained model meeting :class:`~loopline.models.TrainedModel`."""

    name: str
    task: Task
    features: tuple[str, ...]
    scorer: Scorer
    link: Link
    is_baseline: bool = False
    classes: tuple[Any, ...] | None = None
    threshold: float | None = None
    calibrator: Calibrator | None = None
    negative_rate: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0
    fixed: dict[str, Any] = field(default_factory=dict)
    """Features held at these values in every prediction (``features.fixed_at_serving``); fitting, calibration and
    the threshold saw their logged values."""

    @property
    def family(self) -> ModelFamily:
        return self.scorer.family

    @property
    def calibration(self) -> str | None:
        return None if self.calibrator is None else self.calibrator.method

    @property
    def offset(self) -> float:
        """What the downsampling correction adds to the log-odds: ``ln(negative_rate)``, else 0."""
        if self.link != "logistic" or self.negative_rate is None:
            return 0.0
        return math.log(self.negative_rate)

    def held(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the :attr:`fixed` features set to their values (a copy; ``frame`` itself when none)."""
        if not self.fixed:
            return frame
        return frame.assign(**{name: [value] * len(frame) for name, value in self.fixed.items()})

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """The score explanations add up to: corrected log-odds before calibration, class margins
        (multiclass) or the prediction (regression, ranking with a ranking objective)."""
        margin = self.scorer.margin(self.held(frame))
        return margin + self.offset if self.offset else margin

    def from_margin(self, margin: np.ndarray) -> np.ndarray:
        """The uncalibrated output for the scorer's ``margin``: the link, then the downsampling correction."""
        if self.link == "identity":
            return margin
        if self.link == "softmax":
            probabilities: np.ndarray = softmax(margin, axis=1)
            return probabilities
        p: np.ndarray = expit(margin)
        if self.link == "logistic" and self.negative_rate is not None:
            p = correct_for_downsampling(p, self.negative_rate)
        return p

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.from_margin(self.scorer.margin(self.held(frame)))
        return p if self.calibrator is None else self.calibrator.apply(p)

    def explain(self, frame: pd.DataFrame) -> Explanation | None:
        found = self.scorer.explain(self.held(frame))
        if found is None or not self.offset:
            return found
        return Explanation(features=found.features, contributions=found.contributions, base=found.base + self.offset)

    def importance(self) -> dict[str, float] | None:
        return self.scorer.importance()


def source_map(sources: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """The distinct source columns in order, and the (inputs, sources) 0/1 matrix mapping inputs to them."""
    order = list(dict.fromkeys(sources))
    index = {s: i for i, s in enumerate(order)}
    mapping = np.zeros((len(sources), len(order)), dtype=np.float64)
    mapping[np.arange(len(sources)), [index[s] for s in sources]] = 1.0
    return tuple(order), mapping


def group_by_source(values: Any, sources: list[str],
                    weights: np.ndarray | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """Sum the columns of ``values`` (one per model input, dense or sparse), each times its ``weights``
    entry when given, over the inputs that come from the same source column.

    >>> names, grouped = group_by_source(np.array([[1.0, 2.0, 4.0]]), ["a", "b", "a"])
    >>> names, grouped.tolist()
    (('a', 'b'), [[5.0, 2.0]])
    """
    names, mapping = source_map(sources)
    if weights is not None:
        mapping = mapping * np.asarray(weights, dtype=np.float64)[:, None]
    grouped = np.asarray(values @ mapping, dtype=np.float64)
    return names, grouped


def normalised(weights: dict[str, float]) -> dict[str, float]:
    """``weights`` scaled to sum to 1 (all zeros stay zeros)."""
    total = float(sum(weights.values()))
    return {k: (float(v) / total if total > 0 else 0.0) for k, v in weights.items()}
