"""The time-based three-way split: train, then validation, then test, never overlapping in time.

Cut points come from ``split.valid_start`` / ``split.test_start`` or from ``split.fractions``
(quantiles of the event time). Rows at the same instant always land in the same split. A ``gap``
drops the rows in ``[cut, cut + gap)`` after each cut, so a label whose window reaches past the cut
(a click within 30 minutes) cannot describe the next split's period. With
``split.group_by_entity``, validation and test rows of entities already seen in training are
dropped, so each entity is judged only on its first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loopline._errors import DataError
from loopline.data._types import SplitSummary
from loopline.spec import SplitSpec

NAMES = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitFrames:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    cuts: tuple[pd.Timestamp, pd.Timestamp]
    shared_entities: tuple[str, ...] = ()
    dropped_shared_rows: int = 0


def split_by_time(frame: pd.DataFrame, spec: SplitSpec, *, time: str, entity: str | None = None) -> SplitFrames:
    """Split ``frame`` (event time ``time`` as UTC timestamps) into train, validation and test."""
    ordered = frame.sort_values(time, kind="stable").reset_index(drop=True)
    times = ordered[time]
    valid_cut, test_cut = _cuts(times, spec)
    gap = pd.Timedelta(spec.gap)
    train = ordered[times < valid_cut]
    valid = ordered[(times >= valid_cut + gap) & (times < test_cut)]
    test = ordered[times >= test_cut + gap]
    shared: tuple[str, ...] = ()
    dropped = 0
    if spec.group_by_entity and entity is not None:
        seen = set(train[entity].dropna().unique())
        shared = tuple(sorted(str(e) for e in set(test[entity].dropna().unique()) & seen))
        in_valid = valid[entity].isin(seen)
        in_test = test[entity].isin(seen | set(valid[entity].dropna().unique()))
        dropped = int(in_valid.sum() + in_test.sum())
        valid, test = valid[~in_valid], test[~in_test]
    span = f"the data spans {times.iloc[0].isoformat()} to {times.iloc[-1].isoformat()}"
    for name, part in zip(NAMES, (train, valid, test), strict=True):
        if part.empty:
            raise DataError(f"the {name} split is empty: {span}, cut at {valid_cut.isoformat()} and "
                            f"{test_cut.isoformat()}. Adjust split.fractions or split.valid_start/test_start"
                            f"{' or split.gap' if gap > pd.Timedelta(0) else ''}.")
    return SplitFrames(train.reset_index(drop=True), valid.reset_index(drop=True), test.reset_index(drop=True),
                       (valid_cut, test_cut), shared, dropped)


def summarize(name: str, part: pd.DataFrame, *, time: str, label: str, binary: bool,
              entity: str | None) -> SplitSummary:
    """Size, time range and label rate (or mean) of one split."""
    values = part[label]
    rate = float(values.mean()) if pd.api.types.is_numeric_dtype(values.dtype) else None
    return SplitSummary(name=name, rows=len(part), start=part[time].min().isoformat(), end=part[time].max().isoformat(),
                        label_rate=rate, entities=int(part[entity].nunique()) if entity else None)


def _cuts(times: pd.Series, spec: SplitSpec) -> tuple[pd.Timestamp, pd.Timestamp]:
    if spec.valid_start is not None and spec.test_start is not None:
        return _utc(spec.valid_start), _utc(spec.test_start)
    n = len(times)
    rows = [min(int(np.round(f * n)), n - 1) for f in np.cumsum(spec.fractions)[:2]]
    return _utc(times.iloc[rows[0]]), _utc(times.iloc[rows[1]])


def _utc(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
