"""Which encoder each feature gets, from its kind and cardinality in the schema, and in what order.

The output is laid out in blocks, always in this order: numeric, boolean, timestamp, low-cardinality
categorical, high-cardinality categorical, text; within a block, columns follow the schema.

=====================  ===============================  ==================================
kind                   linear                           tree
=====================  ===============================  ==================================
numeric                median fill, indicator, scaled   raw, NaN kept
boolean                0/1, mode fill, indicator        0/1, NaN kept
timestamp              sin/cos of hour and weekday      hour, weekday
categorical (low)      one-hot, rare pooled             integer codes (categorical)
categorical (high)     target mean out of fold (binary, regression, ranking), else hashed
text                   hashed TF-IDF (sparse)           hashed TF-IDF (sparse)
=====================  ===============================  ==================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from loopline._errors import FeatureError
from loopline.data import Column, Kind, Schema
from loopline.features._categories import CodeEncoder, OneHotEncoder
from loopline.features._encoder import Encoder, Mode
from loopline.features._hashing import HashEncoder
from loopline.features._numeric import NumericEncoder
from loopline.features._target import TargetEncoder
from loopline.features._text import TextEncoder
from loopline.features._time import TimeEncoder
from loopline.spec import FeaturesSpec, Task

_TARGET_TASKS = ("binary", "regression", "ranking")


def check_features(schema: Schema, features: Sequence[str]) -> list[Column]:
    """The schema columns of ``features``, refusing an empty list, duplicates and unknown names."""
    if isinstance(features, str):
        raise FeatureError(f"features must be a list of column names, got the string {features!r}; "
                           f"write [{features!r}]")
    names = list(features)
    if not names:
        raise FeatureError("no features to preprocess: give at least one column name (see features.include "
                           "in loopline.yaml)")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise FeatureError(f"features list {duplicated} more than once; give each column once")
    unknown = [n for n in names if n not in schema]
    if unknown:
        raise FeatureError(f"features {unknown} are not in the schema; known columns: {list(schema.names())}. "
                           "Fix the feature list or the data")
    return [c for c in schema.columns if c.name in set(names)]


def _block(column: Column, spec: FeaturesSpec) -> int:
    order = {Kind.NUMERIC: 0, Kind.BOOLEAN: 1, Kind.TIMESTAMP: 2, Kind.CATEGORICAL: 3, Kind.TEXT: 5}
    try:
        block = order[Kind(column.kind)]
    except (KeyError, ValueError) as exc:
        raise FeatureError(f"feature '{column.name}' has kind {column.kind!r}; expected one of "
                           f"{[k.value for k in Kind]}. Set features.types.{column.name} in loopline.yaml") from exc
    return 4 if block == 3 and column.n_unique > spec.high_cardinality else block


def plan_encoders(schema: Schema, features: Sequence[str], *, spec: FeaturesSpec, task: Task, mode: Mode,
                  seed: int, text_features: int, smoothing: float, min_frequency: int,
                  folds: int) -> list[Encoder]:
    """Unfitted encoders for ``features``, in output order."""
    if mode not in ("linear", "tree"):
        raise FeatureError(f"for_model must be 'linear' or 'tree', got {mode!r}")
    columns = sorted(check_features(schema, features), key=lambda c: _block(c, spec))
    encoders: list[Encoder] = []
    for column in columns:
        block, name = _block(column, spec), column.name
        if block in (0, 1):
            encoders.append(NumericEncoder(name, mode=mode, boolean=block == 1))
        elif block == 2:
            encoders.append(TimeEncoder(name, mode=mode))
        elif block == 3:
            encoders.append(OneHotEncoder(name, mode=mode, min_frequency=min_frequency) if mode == "linear"
                            else CodeEncoder(name, mode=mode))
        elif block == 4 and spec.high_cardinality_encoding == "target" and task in _TARGET_TASKS:
            encoders.append(TargetEncoder(name, mode=mode, smoothing=smoothing, folds=folds, seed=seed))
        elif block == 4:
            encoders.append(HashEncoder(name, mode=mode, buckets=spec.hash_buckets))
        else:
            encoders.append(TextEncoder(name, mode=mode, n_features=text_features))
    return encoders


_FROM_STATE: dict[str, Callable[[dict[str, Any]], Encoder]] = {
    "numeric": NumericEncoder.from_state,
    "boolean": NumericEncoder.from_state,
    "timestamp": TimeEncoder.from_state,
    "onehot": OneHotEncoder.from_state,
    "codes": CodeEncoder.from_state,
    "target": TargetEncoder.from_state,
    "hash": HashEncoder.from_state,
    "text": TextEncoder.from_state,
}


def encoder_from_state(state: dict[str, Any]) -> Encoder:
    kind = state.get("type")
    if kind not in _FROM_STATE:
        raise FeatureError(f"preprocessor state: unknown encoder type {kind!r}; expected one of "
                           f"{sorted(_FROM_STATE)}. Was it saved by a newer loopline?")
    return _FROM_STATE[str(kind)](state)
