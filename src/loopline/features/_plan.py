"""Which encoder each feature gets, from its kind, its cardinality in the schema and the learner, and in what order.

The output is laid out in blocks, always in this order: numeric, boolean, timestamp, categorical kept as
categories (one-hot or native codes), categorical encoded as a number (target mean or hash), text; within a
block, columns follow the schema.

=====================  ===============================  ==================================
kind                   linear                           tree (LightGBM)
=====================  ===============================  ==================================
numeric                median fill, indicator, scaled   raw, NaN kept
boolean                0/1, mode fill, indicator        0/1, NaN kept
timestamp              sin/cos of hour and weekday      hour, weekday
categorical            one-hot, rare pooled, up to      native category codes, up to
                       ``high_cardinality`` (50)        ``native_max_levels`` (1000)
                       values                           values and one per 20 training
                                                        rows (always up to 50)
categorical, more      target mean out of fold (binary, regression, ranking), else hashed
values than that       (``high_cardinality_encoding: hash`` hashes for every task)
text                   hashed TF-IDF (sparse)           hashed TF-IDF (sparse)
=====================  ===============================  ==================================

Why the learners differ: a linear model needs one weight per category, so past a few dozen categories
one-hot spreads the signal thin and a single smoothed target mean serves it better. LightGBM splits a
categorical feature natively (it orders the categories by their gradient statistics at each node, with
its own regularisation: ``cat_smooth``, ``cat_l2``, ``min_data_per_group``, ``max_cat_threshold``, set in
``models._lightgbm``), which keeps the gain of a column such as a 104-value destination that a single
target mean flattens. With too many values for the rows (past ``native_max_levels``, or fewer than
``ROWS_PER_LEVEL`` = 20 training rows per value on average) each category has too few rows to be split on
(measured: 1,000 values over 7,200 rows lost 0.03 test AUC to target encoding, 300 values over as many rows
won), and out-of-fold target encoding (or hashing) takes over for trees as well; so it does for a column whose
values keep being new (:func:`recurring`: the ids of a feed's posts, whose test rows are mostly posts training
never saw; with native codes the demo's ranker fell to 0.47 test AUC).

Codes are the positions of the training categories in sorted order; a missing value and a category never
seen in training are both NaN, which LightGBM sends to the same side of every categorical split as the
categories it pooled as rare in training, and the serving compiler's array form does the same. The
encoding each column got is :func:`encoding_of` its encoder (recorded in the model's params as
``encodings``): ``numeric``, ``boolean``, ``timestamp``, ``onehot``, ``codes``, ``target``, ``hash``, ``text``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

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
ROWS_PER_LEVEL = 20
RECURRING_SHARE = 0.9
"""Trees get native codes for a column above ``high_cardinality`` values only when its values recur: at least this
share of the last fifth of the training rows (in time order) hold a value seen in the first four fifths. Ids of
things that keep being new (posts, sessions, orders) fail it: LightGBM would learn each one's own rate, which no
later row can use, and lean on that instead of the features that carry over; a smoothed out-of-fold target mean
does not."""
"""Trees get native codes for a column above ``high_cardinality`` values only with this many training rows per
value on average: with fewer, LightGBM's per-category statistics are noise and a smoothed target mean does better."""


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


def category_limit(spec: FeaturesSpec, mode: Mode, rows: int | None = None) -> int:
    """The most values a categorical may have to stay categories for this learner: one-hot columns for linear
    models (``high_cardinality``), native codes for trees (``native_max_levels``, and no more than one value per
    ``ROWS_PER_LEVEL`` training rows when ``rows`` is known, but always up to ``high_cardinality``).

    >>> spec = FeaturesSpec()
    >>> category_limit(spec, "linear"), category_limit(spec, "tree"), category_limit(spec, "tree", rows=6_000)
    (50, 1000, 300)
    """
    if mode == "linear":
        return spec.high_cardinality
    if rows is None:
        return spec.native_max_levels
    return min(spec.native_max_levels, max(spec.high_cardinality, rows // ROWS_PER_LEVEL))


def recurring(values: Any) -> bool:
    """Whether the later fifth of ``values`` (a column in time order) mostly holds values seen before it
    (:data:`RECURRING_SHARE`)."""
    series = pd.Series(values, copy=False)
    cut = int(len(series) * 0.8)
    if cut == 0 or cut == len(series):
        return True
    seen = set(series.iloc[:cut].dropna().unique())
    later = series.iloc[cut:].dropna()
    return later.empty or float(later.isin(seen).mean()) >= RECURRING_SHARE


def _block(column: Column, spec: FeaturesSpec, mode: Mode, rows: int | None = None,
           fleeting: frozenset[str] = frozenset()) -> int:
    order = {Kind.NUMERIC: 0, Kind.BOOLEAN: 1, Kind.TIMESTAMP: 2, Kind.CATEGORICAL: 3, Kind.TEXT: 5}
    try:
        block = order[Kind(column.kind)]
    except (KeyError, ValueError) as exc:
        raise FeatureError(f"feature '{column.name}' has kind {column.kind!r}; expected one of "
                           f"{[k.value for k in Kind]}. Set features.types.{column.name} in loopline.yaml") from exc
    if block == 3 and mode == "tree" and column.name in fleeting and column.n_unique > spec.high_cardinality:
        return 4
    return 4 if block == 3 and column.n_unique > category_limit(spec, mode, rows) else block


def plan_encoders(schema: Schema, features: Sequence[str], *, spec: FeaturesSpec, task: Task, mode: Mode,
                  seed: int, text_features: int, smoothing: float, min_frequency: int,
                  folds: int, rows: int | None = None, fleeting: frozenset[str] = frozenset()) -> list[Encoder]:
    """Unfitted encoders for ``features``, in output order, for ``rows`` training rows (when known); ``fleeting``
    names categorical columns whose values do not recur (see :func:`recurring`)."""
    if mode not in ("linear", "tree"):
        raise FeatureError(f"for_model must be 'linear' or 'tree', got {mode!r}")
    columns = sorted(check_features(schema, features), key=lambda c: _block(c, spec, mode, rows, fleeting))
    encoders: list[Encoder] = []
    for column in columns:
        block, name = _block(column, spec, mode, rows, fleeting), column.name
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


_ENCODINGS: tuple[tuple[type, str], ...] = (
    (OneHotEncoder, "onehot"), (CodeEncoder, "codes"), (TargetEncoder, "target"), (HashEncoder, "hash"),
    (TimeEncoder, "timestamp"), (TextEncoder, "text"),
)


def encoding_of(encoder: Encoder) -> str:
    """The name of the encoding ``encoder`` applies (its state's ``type``), e.g. ``'codes'`` or ``'target'``."""
    if isinstance(encoder, NumericEncoder):
        return "boolean" if encoder.boolean else "numeric"
    for kind, name in _ENCODINGS:
        if isinstance(encoder, kind):
            return name
    return str(encoder.get_state()["type"])


def encoder_from_state(state: dict[str, Any]) -> Encoder:
    kind = state.get("type")
    if kind not in _FROM_STATE:
        raise FeatureError(f"preprocessor state: unknown encoder type {kind!r}; expected one of "
                           f"{sorted(_FROM_STATE)}. Was it saved by a newer loopline?")
    return _FROM_STATE[str(kind)](state)
