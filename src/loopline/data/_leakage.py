"""Leakage checks: features that know the answer, columns written after the event, shared entities.

**Predictive power alone.** Each feature is turned into a one-feature model (its quantile bin or
category, with a bin for missing, mapped to the smoothed mean label of that bin on train) and
scored on validation: ROC AUC for binary labels (as ``max(auc, 1 - auc)``), R² otherwise. A feature
is suspicious when its score alone reaches :data:`ABSOLUTE_AUC` (:data:`ABSOLUTE_R2`), or when it
is strong and its edge over chance is at least :data:`RELATIVE_EDGE` times the next best feature's
while every feature above it is suspicious too: a leak is judged against the honest features, so two
copies of the label at the top do not hide a third, weaker leak below them. Real signals rarely
look like that; a label copied with noise, or a field filled in after the outcome, does.

**Same-period label aggregates.** A feature computed from the outcomes of its own period, such as
"the share of clicks on this category today", includes the row's own label and those of rows
scored at the same time. For each group (every categorical feature, the entity, unit and group
ids, and all rows together) and each period (hour, day, week of the event time), the mean label of
the group in the period, the row included, is compared with each numeric feature on train: the
feature is flagged when it correlates above :data:`AGGREGATE_CORRELATION` with that mean both
overall and across periods within a group. The second condition spares honest features that track a
group's lasting level (yesterday's rate of a large category): only a feature that follows the
period's own ups and downs can pass it.

Findings of these kinds (and of columns recorded after the event) block ``--promote`` unless the
column is listed in ``features.reviewed`` (:attr:`Finding.blocks_promotion`).

**Recorded after the event.** A timestamp column whose values are mostly later than the event time
was written after the prediction would have been made; so is anything derived from it.

**Shared entities.** Test (and validation) rows of entities already seen in an earlier split are
reported whenever the spec names an entity, with their count, share and a few examples (see
:class:`~loopline.data._split.EntityOverlap`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score

from loopline.data._split import EntityOverlap
from loopline.data._types import Kind, Schema

ABSOLUTE_AUC = 0.95
AGGREGATE_CORRELATION = 0.95
PERIODS = {"hour": "h", "day": "D", "week": "W"}
MAX_GROUP_LEVELS = 10_000
BLOCKING = frozenset({"predictive_power", "after_event", "period_aggregate"})
ABSOLUTE_R2 = 0.9
RELATIVE_EDGE = 2.0
RELATIVE_MIN_AUC = 0.85
AFTER_EVENT_SHARE = 0.5
_BINS = 20
_SMOOTHING = 20.0
_MAX_ROWS = 200_000


@dataclass(frozen=True)
class Finding:
    """A leakage warning about one column (or the split, for shared entities)."""

    kind: str
    column: str | None
    message: str
    score: float | None = None
    reviewed: bool = False
    """The column is listed in ``features.reviewed``: reported, but it no longer blocks promotion."""

    @property
    def blocks_promotion(self) -> bool:
        """A leak warning on a feature that nobody has reviewed: ``--promote`` refuses while it stands."""
        return self.kind in BLOCKING and not self.reviewed


def single_feature_scores(train: pd.DataFrame, valid: pd.DataFrame, features: tuple[str, ...], schema: Schema,
                          label: str, *, binary: bool, seed: int = 0) -> dict[str, float]:
    """Each feature's validation score as a one-feature model (see the module docstring)."""
    train = train.sample(_MAX_ROWS, random_state=seed) if len(train) > _MAX_ROWS else train
    valid = valid.sample(_MAX_ROWS, random_state=seed) if len(valid) > _MAX_ROWS else valid
    y_train = pd.to_numeric(train[label], errors="coerce").to_numpy(dtype=float)
    y_valid = pd.to_numeric(valid[label], errors="coerce").to_numpy(dtype=float)
    if np.isnan(y_train).any() or np.isnan(y_valid).any() or len(np.unique(y_valid)) < 2:
        return {}
    prior = float(y_train.mean())
    scores: dict[str, float] = {}
    for name in features:
        kind = schema[name].kind
        if kind in (Kind.TEXT, Kind.TIMESTAMP):
            continue
        codes_train, codes_valid = _codes(train[name], valid[name], numeric=kind == Kind.NUMERIC)
        sums = pd.Series(y_train).groupby(codes_train).agg(["sum", "count"])
        means = (sums["sum"] + _SMOOTHING * prior) / (sums["count"] + _SMOOTHING)
        predicted = pd.Series(codes_valid).map(means).fillna(prior).to_numpy(dtype=float)
        if binary:
            auc = float(roc_auc_score(y_valid, predicted))
            scores[name] = max(auc, 1.0 - auc)
        else:
            scores[name] = float(r2_score(y_valid, predicted))
    return scores


def suspicious(scores: dict[str, float], *, binary: bool) -> list[Finding]:
    """Findings for features whose power alone is too high, absolutely or against the honest features below."""
    if not scores:
        return []
    chance = 0.5 if binary else 0.0
    absolute = ABSOLUTE_AUC if binary else ABSOLUTE_R2
    metric = "ROC AUC" if binary else "R²"
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    findings: list[Finding] = []
    for i, (name, score) in enumerate(ranked):
        runner_up = ranked[i + 1][1] if i + 1 < len(ranked) else chance
        edge, other = score - chance, max(runner_up - chance, 1e-3)
        strong = score >= (RELATIVE_MIN_AUC if binary else 0.5)
        above_all_flagged = len(findings) == i  # every feature ranked above this one is a finding already
        if score >= absolute or (above_all_flagged and strong and edge >= RELATIVE_EDGE * other):
            why = (f"alone it reaches validation {metric} {score:.3f}" if score >= absolute else
                   f"alone it reaches validation {metric} {score:.3f}, far above the next feature ({runner_up:.3f})")
            findings.append(Finding("predictive_power", name,
                                    f"possible leak: feature '{name}' predicts the label suspiciously well ({why}). "
                                    "If it is recorded after the event or derived from the label, add it to "
                                    "features.known_after.", score))
        elif not above_all_flagged:
            break
    return findings


def period_aggregates(frame: pd.DataFrame, features: tuple[str, ...], schema: Schema, label: str, *,
                      event_time: str, ids: tuple[str, ...] = (), seed: int = 0) -> list[Finding]:
    """Numeric features that follow the mean label of their group in their own period (see the module docstring)."""
    if len(frame) > _MAX_ROWS:
        frame = frame.sample(_MAX_ROWS, random_state=seed)
    y = pd.to_numeric(frame[label], errors="coerce").to_numpy(dtype=float)
    if len(frame) < 10 or np.isnan(y).any() or np.nanstd(y) == 0:
        return []
    numeric = [f for f in features if schema[f].kind in (Kind.NUMERIC, Kind.BOOLEAN)]
    values = {f: pd.to_numeric(frame[f], errors="coerce").to_numpy(dtype=float) for f in numeric}
    groups: dict[str, np.ndarray | None] = {"": None}
    for name in (*ids, *(f for f in features if schema[f].kind in (Kind.CATEGORICAL, Kind.BOOLEAN))):
        if name in frame.columns and name not in groups:
            labels, levels = pd.factorize(frame[name])
            if 1 < len(levels) <= MAX_GROUP_LEVELS:
                groups[name] = labels
    times = pd.to_datetime(frame[event_time], utc=True).dt.tz_localize(None)
    found: dict[str, Finding] = {}
    for period, freq in PERIODS.items():
        bucket = pd.factorize(times.dt.to_period(freq))[0]
        for group, codes in groups.items():
            cell = bucket if codes is None else codes.astype(np.int64) * (int(bucket.max()) + 1) + bucket
            inverse = np.unique(cell, return_inverse=True)[1]
            counts = np.bincount(inverse)
            if np.median(counts[inverse]) < 2:
                continue  # one row per cell: the "mean" is the label itself, the predictive check's business
            mean = np.bincount(inverse, weights=y) / counts
            target = mean[inverse]
            for name in numeric:
                if name in found or name == group:
                    continue
                x = values[name]
                overall = _correlation(x, target)
                if overall < AGGREGATE_CORRELATION:
                    continue
                within = overall if codes is None else _correlation(_demeaned(x, codes), _demeaned(target, codes))
                if within >= AGGREGATE_CORRELATION:
                    of = "all rows" if codes is None else f"its '{group}'"
                    found[name] = Finding(
                        "period_aggregate", name,
                        f"possible leak: feature '{name}' follows the mean label of {of} in the same {period}, "
                        f"the row's own label included (correlation {overall:.3f} on train, {within:.3f} across "
                        f"{period}s within a group): it is computed from outcomes not known when the row is "
                        "scored. Compute it from earlier periods only, or add it to features.known_after.",
                        overall)
    return [found[n] for n in numeric if n in found]


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation over the rows where both are finite; 0 when either is constant there."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return 0.0
    a, b = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    scale = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b) / scale if scale > 0 else 0.0


def _demeaned(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``x`` minus its group's mean (NaN stays NaN and is left out of the means)."""
    ok = np.isfinite(x)
    k = int(codes.max()) + 2
    at = np.where(codes < 0, k - 1, codes)
    sums = np.bincount(at[ok], weights=x[ok], minlength=k)
    counts = np.bincount(at[ok], minlength=k)
    return x - np.divide(sums, counts, out=np.zeros(k), where=counts > 0)[at]


def with_power(findings: list[Finding], scores: dict[str, float], *, binary: bool) -> list[Finding]:
    """``findings`` with each column's power alone added to its evidence."""
    metric = "ROC AUC" if binary else "R²"
    return [replace(f, message=f"{f.message} Alone it reaches validation {metric} {scores[f.column]:.3f}.")
            if f.column in scores else f for f in findings]


def reviewed(findings: list[Finding], columns: list[str]) -> list[Finding]:
    """``findings`` with those on ``features.reviewed`` columns marked reviewed, their message saying so."""
    accepted = set(columns)
    return [replace(f, reviewed=True, message=f"{f.message} (reviewed: listed in features.reviewed, so it does not "
                                              "block promotion)")
            if f.kind in BLOCKING and f.column in accepted else f for f in findings]


def recorded_after_event(frame: pd.DataFrame, features: tuple[str, ...], schema: Schema, *,
                         event_time: str) -> list[Finding]:
    """Timestamp features whose values are mostly later than the event time."""
    findings = []
    events = frame[event_time]
    for name in features:
        if schema[name].kind != Kind.TIMESTAMP:
            continue
        values = pd.to_datetime(frame[name], utc=True, errors="coerce", format="ISO8601")
        present = values.notna()
        if not present.any():
            continue
        share = float((values[present] > events[present]).mean())
        if share >= AFTER_EVENT_SHARE:
            findings.append(Finding("after_event", name,
                                    f"possible leak: column '{name}' is later than the event time '{event_time}' in "
                                    f"{share:.0%} of rows, so it was recorded after the event; add it to "
                                    "features.known_after.", share))
    return findings


def shared_entities(overlap: EntityOverlap, *, entity: str, grouped: bool) -> list[Finding]:
    """A finding when validation or test rows belong to entities seen in an earlier split.

    Without ``split.group_by_entity`` those rows stay: the metrics then mix entities the model was
    trained on with new ones, which is right when the task is to follow known entities over time and
    optimistic when it is to score new ones. With it, the finding says how many rows were dropped.
    """
    if not overlap.test_rows and not overlap.valid_rows:
        return []
    pairs = [(overlap.train_test, "train and test"), (overlap.valid_test, "validation and test"),
             (overlap.train_valid, "train and validation")]
    pairs = [(n, where) for n, where in pairs if n]
    more = pairs[0][0] - len(overlap.examples)
    shown = ", ".join(overlap.examples) + (f" and {more:,} more" if more > 0 else "")
    head = f"{pairs[0][0]:,} {entity} values appear in both {pairs[0][1]}"
    if len(pairs) > 1 and pairs[1][1] == "validation and test":
        head += f" and {pairs[1][0]:,} in both {pairs[1][1]}"
    if grouped:
        message = (f"{head} ({shown}); with split.group_by_entity their later rows ({overlap.dropped_rows:,} in "
                   "validation and test) were dropped.")
    else:
        message = (f"{head} ({shown}): {overlap.test_rows:,} of {overlap.test_total:,} test rows "
                   f"({overlap.test_share:.1%}) and {overlap.valid_rows:,} of {overlap.valid_total:,} validation rows "
                   f"({overlap.valid_share:.1%}) belong to {entity} values seen in an earlier split, so the metrics "
                   f"describe known {entity} values over time, not new ones. Set split.group_by_entity: true to drop "
                   "those later rows and judge each entity on its first appearance, or keep them when the model is "
                   f"meant to generalise over time for known {entity} values.")
    return [Finding("shared_entities", entity, message, overlap.test_share)]


def _codes(train: pd.Series, valid: pd.Series, *, numeric: bool) -> tuple[np.ndarray, np.ndarray]:
    if numeric:
        x_train = pd.to_numeric(train, errors="coerce").to_numpy(dtype=float)
        x_valid = pd.to_numeric(valid, errors="coerce").to_numpy(dtype=float)
        finite = x_train[np.isfinite(x_train)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, _BINS + 1)[1:-1])) if len(finite) else np.array([])
        return (np.where(np.isfinite(x_train), np.searchsorted(edges, x_train, side="right"), -1),
                np.where(np.isfinite(x_valid), np.searchsorted(edges, x_valid, side="right"), -1))
    as_text_train = train.astype("string").fillna("\0missing")
    as_text_valid = valid.astype("string").fillna("\0missing")
    categories = pd.Index(as_text_train.value_counts().index[:1000])
    return categories.get_indexer(as_text_train), categories.get_indexer(as_text_valid)
