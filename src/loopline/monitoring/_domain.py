"""The multivariate check: can a classifier tell the window's rows from the reference's?

Per-feature tests miss a shift in how features move together (the same marginals, a new joint). A
domain classifier catches it: the reference sample stored with the profile (``Profile.sample``, up to
1,000 training rows) is labelled 0, as many rows drawn at random from the window are labelled 1, and
a small LightGBM model (:data:`TREES` trees, one thread) scores every row out of fold (:data:`FOLDS`
folds). Its ROC AUC is 0.5 when the two cannot be told apart.

Verdict: drifted when the AUC is at least ``min_auc`` (0.55) *and* significantly above 0.5. Under the
null the out-of-fold scores carry no information about the labels, so the AUC is a Mann-Whitney
statistic with mean 0.5 and variance ``(n0 + n1 + 1) / (12 n0 n1)``; the one-sided p-value comes from
the normal approximation. The features that separate the rows best (LightGBM's gain) are listed, so a
detected shift says where to look.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy.stats import norm
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from loopline._errors import MonitoringError
from loopline.monitoring._window import _VIEW, WindowSource, _quote

TREES = 50
FOLDS = 5
MIN_ROWS = 50  # on either side; below it the check is not run


@dataclass(frozen=True)
class DomainCheck:
    auc: float | None
    p_value: float | None
    drifted: bool
    reason: str
    rows: tuple[int, int] = (0, 0)                               # reference, window
    top_features: list[tuple[str, float]] = field(default_factory=list)  # (feature, share of the gain)


def domain_check(sample: Mapping[str, Sequence[Any]], source: WindowSource, *, numeric: Sequence[str],
                 categorical: Sequence[str], rows: int | None = None, seed: int = 0, alpha: float = 0.05,
                 min_auc: float = 0.55) -> DomainCheck:
    """Run the check (see the module docstring) for the named columns present in both the sample and the window."""
    usable_numeric = [c for c in numeric if c in sample and c in source.types]
    usable_categorical = [c for c in categorical if c in sample and c in source.types]
    columns = [*usable_numeric, *usable_categorical]
    if not columns:
        return DomainCheck(None, None, False, "no feature is in both the reference sample and the window")
    reference_rows = len(sample[columns[0]])
    wanted = rows if rows is not None else reference_rows
    window = _window_rows(source, usable_numeric, usable_categorical, wanted, seed)
    n0, n1 = reference_rows, len(window[columns[0]]) if columns else 0
    if min(n0, n1) < MIN_ROWS:
        return DomainCheck(None, None, False, f"too few rows to train on ({n0} reference, {n1} window; "
                                              f"{MIN_ROWS} needed on each side)", (n0, n1))
    x = _matrix(sample, window, usable_numeric, usable_categorical)
    y = np.r_[np.zeros(n0), np.ones(n1)]
    scores, gains = _out_of_fold(x, y, seed, categorical=list(range(len(usable_numeric), x.shape[1])))
    auc = float(roc_auc_score(y, scores))
    spread = math.sqrt((n0 + n1 + 1) / (12.0 * n0 * n1))
    p_value = float(norm.sf((auc - 0.5) / spread))
    drifted = auc >= min_auc and p_value < alpha
    total = float(gains.sum())
    ranked = sorted(zip(columns, (gains / total if total > 0 else gains).tolist(), strict=True),
                    key=lambda kv: -kv[1])
    if drifted:
        reason = (f"a classifier tells the window's rows from the reference's with AUC {auc:.3f} (p = {p_value:.2g}); "
                  f"it relies most on {', '.join(name for name, _ in ranked[:3])}")
    elif auc >= min_auc:
        reason = f"AUC {auc:.3f} is not significantly above 0.5 (p = {p_value:.2g}) with these few rows"
    else:
        reason = f"AUC {auc:.3f} is below {min_auc}: the rows are hard to tell apart"
    return DomainCheck(auc, p_value, drifted, reason, (n0, n1), [(k, float(v)) for k, v in ranked[:5]])


def _window_rows(source: WindowSource, numeric: Sequence[str], categorical: Sequence[str], rows: int,
                 seed: int) -> dict[str, list[Any]]:
    """``rows`` rows of the window drawn uniformly (DuckDB's reservoir, seeded): numbers as floats, categories
    as text, booleans as 0/1."""
    parts = []
    for name in numeric:
        quoted = _quote(name)
        kind = source.types[name]
        parts.append(f"CASE WHEN {quoted} THEN 1.0 ELSE 0.0 END" if kind == "BOOLEAN" else
                     f"TRY_CAST({quoted} AS DOUBLE)")
    parts += [f"CAST({_quote(n)} AS VARCHAR)" for n in categorical]
    if rows < 1:
        raise MonitoringError(f"the domain check needs at least one window row, got rows={rows}.")
    query = (f"SELECT {', '.join(parts)} FROM {_VIEW} USING SAMPLE reservoir({int(rows)} ROWS) "
             f"REPEATABLE ({int(seed)})")
    found = source.con.sql(query).fetchall()
    names = [*numeric, *categorical]
    return {name: [row[i] for row in found] for i, name in enumerate(names)}


def _matrix(sample: Mapping[str, Sequence[Any]], window: Mapping[str, Sequence[Any]], numeric: Sequence[str],
            categorical: Sequence[str]) -> np.ndarray:
    """Both sides stacked: numbers as they are (missing as NaN), categories as codes of the union of their values
    (missing as NaN; LightGBM splits them as categories)."""
    columns: list[np.ndarray] = []
    for name in numeric:
        values = [*sample[name], *window[name]]
        columns.append(np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64))
    for name in categorical:
        values = [*sample[name], *window[name]]
        codes = {key: i for i, key in enumerate(sorted({str(v) for v in values if v is not None}))}
        columns.append(np.array([np.nan if v is None else codes[str(v)] for v in values], dtype=np.float64))
    return np.column_stack(columns)


def _out_of_fold(x: np.ndarray, y: np.ndarray, seed: int, *, categorical: list[int]) -> tuple[np.ndarray, np.ndarray]:
    scores = np.zeros(len(y))
    gains = np.zeros(x.shape[1])
    params = {"objective": "binary", "num_leaves": 15, "learning_rate": 0.1, "min_data_in_leaf": 20,
              "num_threads": 1, "verbose": -1, "seed": seed, "deterministic": True, "force_col_wise": True}
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for fit, held in folds.split(x, y):
        data = lgb.Dataset(x[fit], y[fit], categorical_feature=categorical or "auto", free_raw_data=False)
        booster = lgb.train(params, data, num_boost_round=TREES)
        scores[held] = booster.predict(x[held])
        gains += booster.feature_importance(importance_type="gain")
    return scores, gains

