"""The preprocessor: a column transformer built from the schema whose fitted state is plain JSON.

It follows the scikit-learn contract (``__init__`` only stores its arguments, ``fit`` returns self,
learned attributes end in ``_``, ``clone`` works) and composes one small encoder per feature (see
``_plan.py`` for which). The output is a float64 ``ndarray``, or a ``scipy.sparse.csr_matrix`` when
any block is sparse (text, hashed categories).

``fit_transform`` differs from ``fit(...).transform(...)`` in one place, on purpose: target-encoded
columns of the training rows are encoded out of fold (see ``_target.py``).

>>> import pandas as pd
>>> from loopline.data import Column, Kind, Schema
>>> from loopline.spec import FeaturesSpec
>>> schema = Schema((Column("x", Kind.NUMERIC, "float64", 3, 0.0), Column("c", Kind.CATEGORICAL, "str", 2, 0.0)))
>>> pre = build_preprocessor(schema, ["x", "c"], spec=FeaturesSpec(), task="binary", for_model="tree")
>>> pre.fit_transform(pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})).tolist()
[[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]]
>>> pre.feature_names_out_, pre.categorical_indices_, pre.encodings_
(['x', 'c'], [1], {'x': 'numeric', 'c': 'codes'})

``encodings_`` names the encoding each source column got (see ``_plan.py`` for the rule per learner); the
models record it in their params.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from loopline._errors import FeatureError
from loopline.data import Kind, Schema
from loopline.features._encoder import Encoder, Matrix
from loopline.features._plan import encoder_from_state, encoding_of, plan_encoders, recurring
from loopline.features._state import jsonable
from loopline.features._text import DEFAULT_TEXT_FEATURES
from loopline.spec import FeaturesSpec, Task

STATE_FORMAT = "loopline.features.preprocessor"
STATE_VERSION = 1


class Preprocessor(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Turns a frame's feature columns into a model matrix; build it with :func:`build_preprocessor`."""

    def __init__(self, schema: Schema, features: Sequence[str], *, spec: FeaturesSpec, task: Task,
                 for_model: Literal["linear", "tree"] = "linear", seed: int = 0,
                 text_features: int = DEFAULT_TEXT_FEATURES, smoothing: float = 10.0, min_frequency: int = 5,
                 folds: int = 5) -> None:
        self.schema = schema
        self.features = features
        self.spec = spec
        self.task = task
        self.for_model = for_model
        self.seed = seed
        self.text_features = text_features
        self.smoothing = smoothing
        self.min_frequency = min_frequency
        self.folds = folds

    # -- fitting -------------------------------------------------------------------------------

    def _plan(self, X: pd.DataFrame | None = None) -> list[Encoder]:
        fleeting: frozenset[str] = frozenset()
        if X is not None and self.for_model == "tree":
            fleeting = frozenset(c.name for c in self.schema.columns if c.name in self.features
                                 and Kind(c.kind) == Kind.CATEGORICAL and c.n_unique > self.spec.high_cardinality
                                 and c.name in X.columns and not recurring(X[c.name]))
        return plan_encoders(self.schema, self.features, spec=self.spec, task=self.task, mode=self.for_model,
                             seed=self.seed, text_features=self.text_features, smoothing=self.smoothing,
                             min_frequency=self.min_frequency, folds=self.folds,
                             rows=None if X is None else len(X), fleeting=fleeting)

    def _check_fit_input(self, X: pd.DataFrame, y: np.ndarray | None) -> None:
        self._check_frame(X, self._plan())
        if len(X) == 0:
            raise FeatureError("cannot fit the preprocessor on an empty frame (0 rows); check the training split")
        if y is not None and len(y) != len(X):
            raise FeatureError(f"got {len(y)} labels for {len(X)} rows; pass one label per row of X")

    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> Preprocessor:
        """Fit every encoder on the training frame; ``y`` is needed only for target encoding."""
        self._check_fit_input(X, y)
        encoders = self._plan(X)
        for encoder in encoders:
            encoder.fit(X[encoder.column], y)
        self._set_fitted(encoders)
        return self

    def fit_transform(self, X: pd.DataFrame, y: np.ndarray | None = None) -> Matrix:
        """Fit and transform the training frame; target-encoded columns are encoded out of fold."""
        self._check_fit_input(X, y)
        encoders = self._plan(X)
        blocks = [encoder.fit_transform(X[encoder.column], y) for encoder in encoders]
        self._set_fitted(encoders)
        return _stack(blocks, len(X))

    def _set_fitted(self, encoders: list[Encoder]) -> None:
        self.encoders_ = encoders
        self.feature_names_out_: list[str] = []
        self.source_columns_: list[str] = []
        self.categorical_indices_: list[int] = []
        self.encodings_: dict[str, str] = {encoder.column: encoding_of(encoder) for encoder in encoders}
        for encoder in encoders:
            start = len(self.feature_names_out_)
            names = encoder.names()
            self.feature_names_out_.extend(names)
            self.source_columns_.extend([encoder.column] * len(names))
            self.categorical_indices_.extend(start + i for i in encoder.categorical())
        self.n_features_out_ = len(self.feature_names_out_)

    # -- applying ------------------------------------------------------------------------------

    def transform(self, X: pd.DataFrame) -> Matrix:
        """The model matrix for ``X`` (validation, test or serving rows), from the fitted state."""
        encoders = self._fitted()
        self._check_frame(X, encoders)
        return _stack([encoder.transform(X[encoder.column]) for encoder in encoders], len(X))

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        return np.asarray(self._fitted_names(), dtype=object)

    def _fitted_names(self) -> list[str]:
        self._fitted()
        return self.feature_names_out_

    def _fitted(self) -> list[Encoder]:
        encoders: list[Encoder] | None = getattr(self, "encoders_", None)
        if encoders is None:
            raise FeatureError("this preprocessor is not fitted yet: call fit or fit_transform on the training "
                               "frame first, or load a fitted one with Preprocessor.from_state")
        return encoders

    @staticmethod
    def _check_frame(X: pd.DataFrame, encoders: list[Encoder]) -> None:
        if not isinstance(X, pd.DataFrame):
            raise FeatureError(f"expected a pandas DataFrame with the feature columns, got {type(X).__name__}")
        expected = [e.column for e in encoders]
        absent = [c for c in expected if c not in X.columns]
        if absent:
            raise FeatureError(
                f"the frame is missing feature column(s) {absent}; the preprocessor expects {expected}. "
                "Add the column(s) to the input (the same names as in training)."
            )

    # -- state ---------------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """The complete fitted state as JSON-ready data (``json.dumps`` works on it)."""
        encoders = self._fitted()
        state: dict[str, Any] = jsonable({
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "params": {
                "schema": self.schema.to_dict(),
                "features": list(self.features),
                "spec": self.spec.model_dump(mode="json"),
                "task": self.task,
                "for_model": self.for_model,
                "seed": self.seed,
                "text_features": self.text_features,
                "smoothing": self.smoothing,
                "min_frequency": self.min_frequency,
                "folds": self.folds,
            },
            "encoders": [encoder.get_state() for encoder in encoders],
        })
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Preprocessor:
        """A fitted preprocessor from :meth:`get_state` output; ``transform`` gives identical results."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise FeatureError(f"not a preprocessor state: expected a dict with format {STATE_FORMAT!r}")
        if state.get("version") != STATE_VERSION:
            raise FeatureError(f"preprocessor state version {state.get('version')!r} is not supported "
                               f"(this loopline reads version {STATE_VERSION}); retrain or upgrade loopline")
        params = state["params"]
        pre = cls(Schema.from_dict(params["schema"]), list(params["features"]),
                  spec=FeaturesSpec.model_validate(params["spec"]), task=params["task"],
                  for_model=params["for_model"], seed=int(params["seed"]),
                  text_features=int(params["text_features"]), smoothing=float(params["smoothing"]),
                  min_frequency=int(params["min_frequency"]), folds=int(params["folds"]))
        pre._set_fitted([encoder_from_state(s) for s in state["encoders"]])
        return pre


def _stack(blocks: list[Matrix], n_rows: int) -> Matrix:
    if not blocks:
        return np.empty((n_rows, 0), dtype=np.float64)
    if any(sp.issparse(b) for b in blocks):
        return sp.csr_matrix(sp.hstack([sp.csr_matrix(b) for b in blocks], format="csr", dtype=np.float64))
    return np.ascontiguousarray(np.hstack(blocks), dtype=np.float64)


def build_preprocessor(schema: Schema, features: Sequence[str], *, spec: FeaturesSpec, task: Task,
                       for_model: Literal["linear", "tree"], seed: int = 0,
                       text_features: int = DEFAULT_TEXT_FEATURES) -> Preprocessor:
    """An unfitted :class:`Preprocessor` for ``features``, checked against the schema now.

    ``for_model`` picks the encodings: ``'linear'`` (scaled, one-hot up to ``spec.high_cardinality`` values,
    indicators) or ``'tree'`` (raw values with NaN, native category codes up to ``spec.native_max_levels``
    values, listed in ``categorical_indices_``); categoricals with more values are target-encoded or hashed.
    """
    pre = Preprocessor(schema, list(features), spec=spec, task=task, for_model=for_model, seed=seed,
                       text_features=text_features)
    pre._plan()
    return pre
