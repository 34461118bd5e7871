"""A loaded model compiled once into a function on numpy arrays: no pandas frame per request.

``compile_model(model)`` reads the model's fitted state and returns a :class:`Compiled` whose
``margin(columns, n)`` takes the columns :meth:`Scorer.check` returns and whose ``finish`` applies the
model's own link, downsampling correction and calibrator (``Model.from_margin``,
``Calibrator.apply``, both numpy), so scores equal ``Model.predict``.

Preprocessing: every encoder kind of :mod:`loopline.features` has an array form here, fed by its
JSON state: numeric and boolean (median/mode fill, missing indicator, scaling), timestamps (hour,
minute and weekday from the UTC nanoseconds), one-hot with rare and missing columns, tree codes,
target encoding (unknown = the prior), hashed categories and hashed TF-IDF text (MurmurHash3 as
scikit-learn's ``FeatureHasher``, as triplets, never a dense 2**14-wide row). An encoder kind without
an array form falls back to the encoder's own ``transform`` on a one-column Series, and ``backend``
says so.

Margins: linear models sum ``einsum`` of the dense inputs with the coefficients plus the sparse
triplets' contributions; LightGBM evaluates the float64 matrix (CSR when a block is sparse) with the
booster, or with a model compiled by lleaves (``pip install 'loopline[fast]'``) when that is
installed, agrees with the booster within 1e-6 on probe rows drawn from the model's own feature
ranges and is faster on them (measured at load). Baselines: the constant prior and the seeded random
draws are computed from their state; the heuristic rule keeps running in the data stage's DuckDB
sandbox (a baseline, so not worth a compiler of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import logit
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from loopline.models import TrainedModel
from loopline.serving._trees import TreePredictor, tree_predictor

Columns = Mapping[str, np.ndarray]
EPS = 1e-6  # the baselines' clipping, as in models._baselines
MISSING_KEY = "__missing__"  # what a missing value hashes as, as in features._hashing
_NS_PER_S = 1_000_000_000
ROWS_PER_CALL = 16  # above this many rows, hand text to scikit-learn's hashing loop in one call


class Sparse(NamedTuple):
    """A sparse block as (row, column within the block, value) triplets."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


Block = np.ndarray | Sparse
Encode = Callable[[np.ndarray], Block]


@dataclass(frozen=True)
class Part:
    """One encoder's block of model inputs: where it starts, how wide it is and how to compute it."""

    column: str
    start: int
    width: int
    encode: Encode
    sparse: bool
    native: bool


@dataclass(frozen=True)
class Compiled:
    """``finish(margin(columns, n))`` is the model's prediction for ``n`` checked rows."""

    margin: Callable[[Columns, int], np.ndarray]
    finish: Callable[[np.ndarray], np.ndarray]
    backend: str


# -- encoders -----------------------------------------------------------------------------------

def _lookup(categories: list[str]) -> Callable[[np.ndarray], np.ndarray]:
    """Positions of keys in ``categories`` (-1 when unknown or missing); a dict for few rows, an index for many."""
    table = {c: i for i, c in enumerate(categories)}
    index = pd.Index(categories, dtype=object)

    def find(keys: np.ndarray) -> np.ndarray:
        if len(keys) <= 64:
            return np.fromiter((table.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        found = np.asarray(index.get_indexer(pd.Index(keys, dtype=object)), dtype=np.int64)
        found[_missing_keys(keys)] = -1
        return found

    return find


def _missing_keys(keys: np.ndarray) -> np.ndarray:
    return np.fromiter((k is None for k in keys), dtype=bool, count=len(keys))


def _numeric(state: dict[str, Any]) -> Encode:
    if state["mode"] == "tree":
        return lambda x: x.reshape(-1, 1)
    boolean, fill, mean, scale = state["type"] == "boolean", state["fill"], state["mean"], state["scale"]
    indicator = bool(state["indicator"])

    def encode(x: np.ndarray) -> np.ndarray:
        missing = np.isnan(x)
        filled = np.where(missing, fill, x)
        if not boolean:
            filled -= mean
            filled /= scale
        return np.column_stack([filled, missing.astype(np.float64)]) if indicator else filled.reshape(-1, 1)

    return encode


def calendar(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour, minute and weekday (Monday = 0) of UTC ``datetime64[ns]`` values, NaN where missing."""
    seconds = x.astype("datetime64[ns]").view(np.int64) // _NS_PER_S
    of_day = seconds % 86_400
    parts = [(of_day // 3600).astype(np.float64), (of_day % 3600 // 60).astype(np.float64),
             ((seconds // 86_400 + 3) % 7).astype(np.float64)]  # 1970-01-01 was a Thursday
    missing = np.isnat(x)
    for part in parts:
        part[missing] = np.nan
    return parts[0], parts[1], parts[2]


def _timestamp(state: dict[str, Any]) -> Encode:
    tree, indicator = state["mode"] == "tree", bool(state["indicator"])

    def encode(x: np.ndarray) -> np.ndarray:
        hour, minutes, weekday = calendar(x)
        if tree:
            return np.column_stack([hour, weekday])
        missing = np.isnan(hour)
        day_angle = 2 * np.pi * (hour + minutes / 60.0) / 24.0
        week_angle = 2 * np.pi * (weekday + (hour + minutes / 60.0) / 24.0) / 7.0
        columns = [np.where(missing, 0.0, c) for c in
                   (np.sin(day_angle), np.cos(day_angle), np.sin(week_angle), np.cos(week_angle))]
        if indicator:
            columns.append(missing.astype(np.float64))
        return np.column_stack(columns)

    return encode


def _onehot(state: dict[str, Any]) -> Encode:
    kept, rare, has_missing = list(state["kept"]), list(state["rare"]), bool(state["has_missing"])
    width = len(kept) + bool(rare) + has_missing
    find = _lookup(kept + rare)

    def encode(keys: np.ndarray) -> np.ndarray:
        target = np.minimum(find(keys), len(kept))
        if has_missing:
            target[_missing_keys(keys)] = width - 1
        out = np.zeros((len(keys), width), dtype=np.float64)
        rows = np.flatnonzero(target >= 0)
        out[rows, target[rows]] = 1.0
        return out

    return encode


def _codes(state: dict[str, Any]) -> Encode:
    find = _lookup(list(state["categories"]))

    def encode(keys: np.ndarray) -> np.ndarray:
        found = find(keys)
        return np.where(found >= 0, found, np.nan).reshape(-1, 1)

    return encode


def _target(state: dict[str, Any]) -> Encode:
    find = _lookup(list(state["categories"]))
    values = np.asarray(state["values"], dtype=np.float64)
    prior, spread, missing_value = float(state["prior"]), float(state["spread"]), state["missing_value"]
    linear = state["mode"] == "linear"

    def encode(keys: np.ndarray) -> np.ndarray:
        found = find(keys)
        encoded = np.where(found >= 0, values[np.maximum(found, 0)] if len(values) else prior, prior)
        if missing_value is not None:
            encoded[_missing_keys(keys)] = missing_value
        if linear:
            encoded = (encoded - prior) / spread
        return np.asarray(encoded, dtype=np.float64).reshape(-1, 1)

    return encode


def bucket(key: str, n_features: int) -> int:
    """The column scikit-learn's ``FeatureHasher`` (signed MurmurHash3, seed 0) gives the string ``key``."""
    h = int(murmurhash3_32(key, seed=0, positive=False))
    return (2147483647 - (n_features - 1)) % n_features if h == -2147483648 else abs(h) % n_features


def _hash(state: dict[str, Any]) -> Encode:
    buckets = int(state["buckets"])

    def encode(keys: np.ndarray) -> Sparse:
        cols = np.fromiter((bucket(MISSING_KEY if k is None else k, buckets) for k in keys), dtype=np.int64,
                           count=len(keys))
        return Sparse(np.arange(len(keys), dtype=np.int64), cols, np.ones(len(keys), dtype=np.float64))

    return encode


def _text(state: dict[str, Any]) -> Encode:
    n_features, n_docs = int(state["n_features"]), int(state["n_docs"])
    idf = np.full(n_features, np.log((1.0 + n_docs) / 1.0) + 1.0, dtype=np.float64)
    idf[np.asarray(state["df_index"], dtype=np.int64)] = (
        np.log((1.0 + n_docs) / (1.0 + np.asarray(state["df_count"], dtype=np.float64))) + 1.0)
    vectorizer = HashingVectorizer(n_features=n_features, alternate_sign=False, norm=None)
    analyze = vectorizer.build_analyzer()

    def encode(texts: np.ndarray) -> Sparse:
        if len(texts) > ROWS_PER_CALL:  # scikit-learn's hashing loop wins once its fixed cost is shared
            counts_matrix = sp.csr_matrix(vectorizer.transform(list(texts)), dtype=np.float64)
            rows = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(counts_matrix.indptr))
            return _tfidf(rows, counts_matrix.indices.astype(np.int64), counts_matrix.data, idf, len(texts))
        tokens = [analyze(text) for text in texts]
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), [len(t) for t in tokens])
        cols = np.fromiter((bucket(token, n_features) for found in tokens for token in found), dtype=np.int64,
                           count=len(rows))
        cells, counts = np.unique(rows * n_features + cols, return_counts=True)  # sorted by row, then column
        return _tfidf(cells // n_features, cells % n_features, counts.astype(np.float64), idf, len(texts))

    return encode


def _tfidf(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, idf: np.ndarray, n: int) -> Sparse:
    """Token counts (one triplet per row and bucket) weighted by IDF, each row scaled to unit length."""
    weights = counts * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=n))
    return Sparse(rows, cols, weights / norms[rows])


BUILDERS: dict[str, tuple[Callable[[dict[str, Any]], Encode], bool]] = {
    "numeric": (_numeric, False), "boolean": (_numeric, False), "timestamp": (_timestamp, False),
    "onehot": (_onehot, False), "codes": (_codes, False), "target": (_target, False), "hash": (_hash, True),
    "text": (_text, True),
}


def _fallback(encoder: Any) -> Encode:
    """The encoder's own ``transform`` on a one-column Series, its output as a block."""
    def encode(values: np.ndarray) -> Block:
        out = encoder.transform(pd.Series(values, name=encoder.column))
        if sp.issparse(out):
            coo = sp.coo_matrix(out)
            return Sparse(coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64))
        return np.asarray(out, dtype=np.float64)

    return encode


def compile_preprocessor(preprocessor: Any) -> list[Part]:
    """One :class:`Part` per fitted encoder, in the preprocessor's output order."""
    states = preprocessor.get_state()["encoders"]
    parts: list[Part] = []
    start = 0
    for encoder, state in zip(preprocessor.encoders_, states, strict=True):
        width = len(encoder.names())
        built = BUILDERS.get(str(state["type"]))
        if built is None:
            part = Part(encoder.column, start, width, _fallback(encoder), sparse=True, native=False)
        else:
            part = Part(encoder.column, start, width, built[0](state), sparse=built[1], native=True)
        parts.append(part)
        start += width
    return parts


def _dense(block: Block, n: int, width: int) -> np.ndarray:
    if isinstance(block, Sparse):
        out = np.zeros((n, width), dtype=np.float64)
        out[block.rows, block.cols] = block.values
        return out
    return block


def _triplets(block: Block) -> Sparse:
    if isinstance(block, Sparse):
        return block
    rows, cols = np.nonzero(block)  # NaN is not zero: kept, as in a CSR built from the dense block
    return Sparse(rows.astype(np.int64), cols.astype(np.int64), block[rows, cols])


# -- margins ------------------------------------------------------------------------------------

class LinearMargin:
    """``x @ coef.T + intercept``: dense blocks through one ``einsum``, sparse triplets added per output."""

    def __init__(self, parts: list[Part], coef: np.ndarray, intercept: np.ndarray) -> None:
        self.dense = [p for p in parts if not p.sparse]
        self.sparse = [(p, np.ascontiguousarray(coef[:, p.start:p.start + p.width])) for p in parts if p.sparse]
        columns = np.concatenate([np.arange(p.start, p.start + p.width) for p in self.dense] or [np.zeros(0, int)])
        self.coef = np.ascontiguousarray(coef[:, columns.astype(np.int64)])
        self.intercept = intercept
        self.width = len(columns)

    def __call__(self, columns: Columns, n: int) -> np.ndarray:
        x = np.empty((n, self.width), dtype=np.float64)
        at = 0
        for part in self.dense:
            x[:, at:at + part.width] = _dense(part.encode(columns[part.column]), n, part.width)
            at += part.width
        z: np.ndarray = np.einsum("nd,kd->nk", x, self.coef) + self.intercept
        for part, coef in self.sparse:
            block = _triplets(part.encode(columns[part.column]))
            for k in range(coef.shape[0]):
                z[:, k] += np.bincount(block.rows, weights=block.values * coef[k, block.cols], minlength=n)
        return z[:, 0] if z.shape[1] == 1 else z


class TreeMargin:
    """The model matrix (dense, or CSR when a block is sparse) evaluated by a tree predictor."""

    def __init__(self, parts: list[Part], width: int, predict: TreePredictor) -> None:
        self.parts = parts
        self.width = width
        self.predict = predict
        self.is_sparse = any(p.sparse for p in parts)

    def matrix(self, columns: Columns, n: int) -> np.ndarray | sp.csr_matrix:
        if not self.is_sparse:
            x = np.empty((n, self.width), dtype=np.float64)
            for part in self.parts:
                x[:, part.start:part.start + part.width] = _dense(part.encode(columns[part.column]), n, part.width)
            return x
        blocks = [(part.start, _triplets(part.encode(columns[part.column]))) for part in self.parts]
        rows = np.concatenate([b.rows for _, b in blocks])
        cols = np.concatenate([b.cols + start for start, b in blocks])
        values = np.concatenate([b.values for _, b in blocks])
        order = np.lexsort((cols, rows))  # CSR order, built directly: scipy's COO route costs more than the trees
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return sp.csr_matrix((values[order], cols[order], indptr), shape=(n, self.width))

    def __call__(self, columns: Columns, n: int) -> np.ndarray:
        return self.predict(self.matrix(columns, n))


def _constant(state: dict[str, Any]) -> Callable[[Columns, int], np.ndarray]:
    task, prior = state["task"], [float(v) for v in state["prior"]]
    if task == "multiclass":
        row = np.log(np.clip(prior, EPS, 1.0))
        return lambda columns, n: np.tile(row, (n, 1))
    value = float(logit(np.clip(prior[0], EPS, 1 - EPS))) if task == "binary" else prior[0]
    return lambda columns, n: np.full(n, value, dtype=np.float64)


def _random(state: dict[str, Any]) -> Callable[[Columns, int], np.ndarray]:
    """The random baseline's draws: the generator is seeded by the seed and the row count, as in training."""
    task, seed = state["task"], int(state["seed"])
    prior, quantiles = [float(v) for v in state["prior"]], [float(v) for v in state["quantiles"]]

    def margin(columns: Columns, n: int) -> np.ndarray:
        rng = np.random.default_rng([seed, n])
        if task == "binary":
            p = float(np.clip(prior[0], EPS, 1 - EPS))
            a, b = (2 * p / (1 - p), 2.0) if p < 0.5 else (2.0, 2 * (1 - p) / p)
            out: np.ndarray = logit(np.clip(rng.beta(a, b, n), EPS, 1 - EPS))
            return out
        if task == "multiclass":
            alpha = np.maximum(np.asarray(prior) * len(prior), 0.05)
            return np.log(np.clip(rng.dirichlet(alpha, n), EPS, 1.0))
        if task == "regression":
            drawn: np.ndarray = np.interp(rng.random(n), np.linspace(0, 1, len(quantiles)), quantiles)
            return drawn
        return np.full(n, 0.5)  # ranking: all tied, as models._baselines.RandomScorer (the expectation over orders)

    return margin


def _frame_margin(scorer: Any, features: tuple[str, ...]) -> Callable[[Columns, int], np.ndarray]:
    """The family's own margin on a frame (the heuristic rule, evaluated in the DuckDB sandbox)."""
    def margin(columns: Columns, n: int) -> np.ndarray:
        frame = pd.DataFrame({f: columns[f] for f in features}, index=pd.RangeIndex(n))
        return np.asarray(scorer.margin(frame), dtype=np.float64)

    return margin


def _finish(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    calibrator = model.calibrator

    def finish(margin: np.ndarray) -> np.ndarray:
        p = np.asarray(model.from_margin(margin), dtype=np.float64)
        return p if calibrator is None else np.asarray(calibrator.apply(p), dtype=np.float64)

    return finish


def compile_model(model: TrainedModel, *, trees: str = "auto", cache_dir: Any = None) -> Compiled | None:
    """``model`` as a :class:`Compiled`, or None when it is not a loopline model (score it with ``predict``).

    ``trees`` picks the LightGBM evaluator: ``'auto'`` (lleaves when installed, agreeing and faster),
    ``'lightgbm'`` (the booster) or ``'lleaves'`` (required); ``cache_dir`` keeps compiled trees.
    """
    scorer = getattr(model, "scorer", None)
    if scorer is None or not hasattr(model, "from_margin") or not hasattr(model, "calibrator"):
        return None
    family, finish = model.family, _finish(model)
    if family == "constant":
        return Compiled(_constant(scorer.state()), finish, "numpy")
    if family == "random":
        return Compiled(_random(scorer.state()), finish, "numpy")
    if family == "heuristic":
        return Compiled(_frame_margin(scorer, model.features), finish, "duckdb")
    preprocessor = getattr(scorer, "preprocessor", None)
    if preprocessor is None or family not in ("linear", "lightgbm"):
        return None
    parts = compile_preprocessor(preprocessor)
    if family == "linear":
        margin: Callable[[Columns, int], np.ndarray] = LinearMargin(parts, scorer.coef, scorer.intercept)
        backend = "numpy"
    else:
        width = sum(p.width for p in parts)
        predict = tree_predictor(scorer.booster, trees=trees, sparse=any(p.sparse for p in parts),
                                 cache_dir=cache_dir)
        margin, backend = TreeMargin(parts, width, predict), predict.backend
    fallbacks = [p.column for p in parts if not p.native]
    if fallbacks:
        backend += f" (+{len(fallbacks)} encoder(s) via pandas: {', '.join(fallbacks)})"
    return Compiled(margin, finish, backend)
