"""``Scorer``: a loaded model ready for requests: checked columns in, scores out.

``Scorer.load(registry, "churn", "champion")`` loads a registered version through the registry (its
checksum verified); ``Scorer.from_model(model)`` wraps a model in hand. ``check`` validates and
coerces the input (rows, a dict of arrays, an Arrow table or a pandas frame) against the model's
training schema; ``score`` gives what ``model.predict`` gives on the same rows: the probability of
the positive class (binary), class probabilities (multiclass), the value (regression, ranking).

The model is compiled once, at load (:mod:`loopline.serving._compile`): preprocessing runs on numpy
arrays and the trees in LightGBM or lleaves, never through a pandas frame per request (the heuristic
baseline's SQL rule excepted). ``backend`` says how it scores: ``'numpy'`` (linear models, the
constant and random baselines), ``'lightgbm'`` or ``'lleaves'`` (trees), ``'duckdb'`` (the rule),
``'pandas'`` for a model that is not loopline's own (scored with its ``predict`` on a frame).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopline.models import Explanation, TrainedModel
from loopline.registry import Registry
from loopline.serving._columns import coerce, raw_columns
from loopline.serving._compile import Compiled, compile_model
from loopline.spec import Task

Columns = Mapping[str, np.ndarray]
TREE_CACHE = ("cache", "trees")  # under the workspace root: compiled trees, keyed by model text


def feature_kinds(model: TrainedModel) -> dict[str, str | None]:
    """Each feature's kind in the training schema (None when the model keeps no schema, as for a rule)."""
    preprocessor = getattr(getattr(model, "scorer", None), "preprocessor", None)
    schema = getattr(preprocessor, "schema", None)
    kinds: dict[str, str | None] = {}
    for name in model.features:
        kinds[name] = str(schema[name].kind) if schema is not None and name in schema else None
    return kinds


class Scorer:
    """A model compiled for request-time scoring (see the module docstring)."""

    def __init__(self, model: TrainedModel, *, name: str = "", version: int | None = None, trees: str = "auto",
                 cache_dir: Path | str | None = None) -> None:
        self.model = model
        self.name = name
        self.version = version
        self.task: Task = model.task
        self.fixed: dict[str, Any] = dict(getattr(model, "fixed", None) or {})
        """Features the model holds at a value (``features.fixed_at_serving``): requests need not send them."""
        self.features: tuple[str, ...] = tuple(f for f in model.features if f not in self.fixed)
        self.threshold: float | None = model.threshold
        self.classes: tuple[Any, ...] | None = model.classes
        self.family: str = model.family
        self.kinds = feature_kinds(model)
        self._compiled: Compiled | None = compile_model(model, trees=trees, cache_dir=cache_dir)
        self.backend: str = "pandas" if self._compiled is None else self._compiled.backend

    def __repr__(self) -> str:
        where = f"{self.name} v{self.version}" if self.name else "unregistered"
        return f"Scorer({where}, {self.family}, {self.task}, backend={self.backend!r})"

    @classmethod
    def load(cls, registry: Registry, name: str, version: int | str = "champion", *, trees: str = "auto") -> Scorer:
        """The registered ``version`` (a number or an alias) of model ``name``, checksum verified.

        Trees compiled by lleaves are cached under the workspace's ``cache/trees`` folder.
        """
        number = registry.get_version(name, version).version
        return cls(registry.load(name, number), name=name, version=number, trees=trees,
                   cache_dir=registry.workspace.root.joinpath(*TREE_CACHE))

    @classmethod
    def from_model(cls, model: TrainedModel, *, name: str = "", version: int | None = None, trees: str = "auto",
                   cache_dir: Path | str | None = None) -> Scorer:
        """``model`` compiled for scoring. ``trees``: ``'auto'`` (lleaves when installed, agreeing with the
        booster and faster, else LightGBM), ``'lightgbm'`` or ``'lleaves'``."""
        return cls(model, name=name, version=version, trees=trees, cache_dir=cache_dir)

    def check(self, data: Any, *, offset: int = 0) -> dict[str, np.ndarray]:
        """The feature columns of ``data``, validated and coerced (see :mod:`loopline.serving._columns`).

        Raises :class:`~loopline.InputError` naming the field for a missing feature, a value of the
        wrong type or an infinity; ``offset`` is added to the row numbers in its message.
        """
        return self._checked(data, offset=offset)[0]

    def _checked(self, data: Any, *, offset: int = 0) -> tuple[dict[str, np.ndarray], int]:
        raw, n = raw_columns(data, self.features)
        return {name: coerce(self.kinds[name], name, raw[name], offset=offset) for name in self.features}, n

    def score(self, data: Any) -> np.ndarray:
        """Scores equal to ``model.predict`` on the same rows: (n,) or, for multiclass, (n, classes)."""
        columns, n = self._checked(data)
        return self.score_checked(columns, n)

    def score_checked(self, columns: Columns, n: int) -> np.ndarray:
        """Scores for ``n`` rows of columns :meth:`check` returned."""
        if self.fixed:
            columns = {**columns, **self._held(n)}
        if self._compiled is None:
            return np.asarray(self.model.predict(self.frame(columns, n)), dtype=np.float64)
        return self._compiled.finish(self._compiled.margin(columns, n))

    def _held(self, n: int) -> dict[str, np.ndarray]:
        """The fixed features' columns for ``n`` rows, coerced as a request's would be."""
        return {name: coerce(self.kinds[name], name, np.full(n, value, dtype=object)) for name, value in
                self.fixed.items()}

    def decide(self, scores: np.ndarray) -> np.ndarray | None:
        """The binary decision ``scores >= threshold``; None for other tasks."""
        if self.task != "binary" or self.threshold is None:
            return None
        decided: np.ndarray = np.asarray(scores) >= self.threshold
        return decided

    def explain(self, data: Any) -> Explanation | None:
        """Per-row contributions from the model (not the hot path: builds a frame)."""
        columns, n = self._checked(data)
        return self.model.explain(self.frame(columns, n))

    def frame(self, columns: Columns, n: int) -> pd.DataFrame:
        """Checked columns as the frame ``model.predict`` reads (timestamps labelled UTC)."""
        frame = pd.DataFrame({name: columns[name] for name in self.features}, index=pd.RangeIndex(n))
        for name in self.features:
            if frame[name].dtype.kind == "M":
                frame[name] = frame[name].dt.tz_localize("UTC")
        return frame
