"""The time-based three-way split: train, then validation, then test, never overlapping in time.

Cut points come from ``split.valid_start`` / ``split.test_start`` or from ``split.fractions``
(quantiles of the event time). Rows at the same instant always land in the same split. A ``gap``
drops the rows in ``[cut, cut + gap)`` after each cut, so a label whose window reaches past the cut
(a click within 30 minutes) cannot describe the next split's period.

With an entity column, the overlap of entities between the splits is always measured (before
anything is dropped, see :class:`EntityOverlap`): test metrics over entities the model has seen in
training answer "how well does it follow known entities over time", not "how well does it do on new
ones". With ``split.group_by_entity``, validation rows of entities seen in training and test rows of
entities seen in training or validation are dropped, so each entity is judged only on its first
appearance.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from loopline._errors import DataError
from loopline.data._types import SplitSummary
from loopline.spec import SplitSpec

NAMES = ("train", "valid", "test")


EXAMPLES = 5


@dataclass(frozen=True)
class EntityOverlap:
    """Entities of a later split already present in an earlier one, counted before any row is dropped.

    ``train_test`` (``valid_test``, ``train_valid``) counts distinct entities in both splits;
    ``test_rows`` counts test rows whose entity appears in train or validation (of ``test_total``),
    ``valid_rows`` validation rows whose entity appears in train (of ``valid_total``); ``examples``
    are the first few (as sorted text) entities in both train and test, else in both validation and
    test, else in both train and validation.
    ``dropped_rows`` is what ``split.group_by_entity`` removed (``valid_rows + test_rows``), else 0.
    """

    train_test: int
    valid_test: int
    train_valid: int
    test_rows: int
    test_total: int
    valid_rows: int
    valid_total: int
    examples: tuple[str, ...]
    dropped_rows: int = 0

    @property
    def test_share(self) -> float:
        """Share of test rows whose entity appears in an earlier split."""
        return self.test_rows / self.test_total if self.test_total else 0.0

    @property
    def valid_share(self) -> float:
        """Share of validation rows whose entity appears in train."""
        return self.valid_rows / self.valid_total if self.valid_total else 0.0


@dataclass(frozen=True)
class SplitFrames:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    cuts: tuple[pd.Timestamp, pd.Timestamp]
    overlap: EntityOverlap | None = None


def split_by_time(frame: pd.DataFrame, spec: SplitSpec, *, time: str, entity: str | None = None,
                  timezone: str = "UTC") -> SplitFrames:
    """Split ``frame`` (event time ``time`` as UTC timestamps) into train, validation and test; cut dates without
    an offset are read in ``timezone``."""
    ordered = frame.sort_values(time, kind="stable").reset_index(drop=True)
    times = ordered[time]
    valid_cut, test_cut = _cuts(times, spec, timezone)
    gap = pd.Timedelta(spec.gap)
    train = ordered[times < valid_cut]
    valid = ordered[(times >= valid_cut + gap) & (times < test_cut)]
    test = ordered[times >= test_cut + gap]
    overlap = None
    if entity is not None:
        codes, uniques = pd.factorize(ordered[entity])
        overlap, valid_known, test_known = _overlap(
            codes[train.index.to_numpy()], codes[valid.index.to_numpy()], codes[test.index.to_numpy()],
            np.asarray(uniques, dtype=object))
        if spec.group_by_entity:
            overlap = replace(overlap, dropped_rows=overlap.valid_rows + overlap.test_rows)
            valid, test = valid[~valid_known], test[~test_known]
    span = f"the data spans {times.iloc[0].isoformat()} to {times.iloc[-1].isoformat()}"
    for name, part in zip(NAMES, (train, valid, test), strict=True):
        if part.empty:
            raise DataError(f"the {name} split is empty: {span}, cut at {valid_cut.isoformat()} and "
                            f"{test_cut.isoformat()}. Adjust split.fractions or split.valid_start/test_start"
                            f"{' or split.gap' if gap > pd.Timedelta(0) else ''}"
                            f"{_grouped_note(name, overlap)}.")
    return SplitFrames(train.reset_index(drop=True), valid.reset_index(drop=True), test.reset_index(drop=True),
                       (valid_cut, test_cut), overlap)


def _grouped_note(name: str, overlap: EntityOverlap | None) -> str:
    dropped = 0 if overlap is None or not overlap.dropped_rows else \
        {"valid": overlap.valid_rows, "test": overlap.test_rows}.get(name, 0)
    return f" (split.group_by_entity dropped its {dropped} rows of entities seen in an earlier split)" if dropped \
        else ""


def _overlap(train: np.ndarray, valid: np.ndarray, test: np.ndarray, uniques: np.ndarray
             ) -> tuple[EntityOverlap, np.ndarray, np.ndarray]:
    """The overlap from entity codes (``pd.factorize``; -1 for a missing entity) of each split, and the
    masks of validation rows seen in train and of test rows seen in train or validation."""
    size = len(uniques) + 1  # the last slot stands for code -1 (no entity) and is never marked as seen

    def seen(codes: np.ndarray) -> np.ndarray:
        marks = np.zeros(size, dtype=bool)
        marks[codes[codes >= 0]] = True
        return marks

    in_train, in_valid, in_test = seen(train), seen(valid), seen(test)
    valid_known = in_train[valid]
    test_known = in_train[test] | in_valid[test]
    pairs = (in_train & in_test, in_valid & in_test, in_train & in_valid)
    shown = next((p for p in pairs if p.any()), pairs[0])
    examples = tuple(heapq.nsmallest(EXAMPLES, map(str, uniques[np.flatnonzero(shown[:-1])])))
    found = EntityOverlap(
        train_test=int(pairs[0].sum()), valid_test=int(pairs[1].sum()), train_valid=int(pairs[2].sum()),
        test_rows=int(test_known.sum()), test_total=len(test), valid_rows=int(valid_known.sum()),
        valid_total=len(valid), examples=examples)
    return found, valid_known, test_known


def summarize(name: str, part: pd.DataFrame, *, time: str, label: str, binary: bool,
              entity: str | None, group: str | None = None, timezone: str = "UTC") -> SplitSummary:
    """Size, time range (ISO 8601 in ``timezone``, with its offset) and label rate (or mean) of one split; the number
    of queries when ``group`` is given."""
    values = part[label]
    rate = float(values.mean()) if pd.api.types.is_numeric_dtype(values.dtype) else None
    start, end = (_utc(part[time].min()).tz_convert(timezone), _utc(part[time].max()).tz_convert(timezone))
    return SplitSummary(name=name, rows=len(part), start=start.isoformat(), end=end.isoformat(),
                        label_rate=rate, entities=int(part[entity].nunique()) if entity else None,
                        queries=int(part[group].nunique()) if group else None)


def _cuts(times: pd.Series, spec: SplitSpec, timezone: str = "UTC") -> tuple[pd.Timestamp, pd.Timestamp]:
    if spec.valid_start is not None and spec.test_start is not None:
        return _utc(spec.valid_start, timezone), _utc(spec.test_start, timezone)
    n = len(times)
    rows = [min(int(np.round(f * n)), n - 1) for f in np.cumsum(spec.fractions)[:2]]
    return _utc(times.iloc[rows[0]]), _utc(times.iloc[rows[1]])


def _utc(value: object, timezone: str = "UTC") -> pd.Timestamp:
    """``value`` in UTC; without an offset it is read as a time in ``timezone``."""
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    return stamp.tz_localize(timezone).tz_convert("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
