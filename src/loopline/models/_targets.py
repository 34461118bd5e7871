"""What every model is fitted on: the train and validation frames with their labels, checked once.

Binary labels arrive as 0/1, regression and ranking labels as numbers, multiclass labels as raw
values whose sorted distinct training values are the ``classes`` (labels become class indices).
For ranking, LightGBM needs each query's rows together, so both frames are sorted by the group
column (stable, so rows of one query keep their time order) and carry the query sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopline._errors import ModelError
from loopline.data import Splits
from loopline.spec import ProblemSpec, Task


@dataclass(frozen=True, eq=False)
class Targets:
    task: Task
    train: pd.DataFrame
    valid: pd.DataFrame
    y_train: np.ndarray
    y_valid: np.ndarray
    classes: tuple[Any, ...] | None
    negative_rate: float | None
    group_train: np.ndarray | None = None
    group_valid: np.ndarray | None = None

    @property
    def encoding_labels(self) -> np.ndarray | None:
        """The labels target encoding may use (none for multiclass: it hashes high-cardinality columns)."""
        return None if self.task == "multiclass" else self.y_train


def prepare_targets(splits: Splits, spec: ProblemSpec) -> Targets:
    """The checked training and validation labels of ``splits`` for ``spec.task``."""
    task, label = spec.task, splits.label
    for name, frame in (("train", splits.train), ("valid", splits.valid)):
        if label not in frame.columns:
            raise ModelError(f"the {name} split has no label column '{label}'; its columns are "
                             f"{[str(c) for c in frame.columns][:40]}")
        if len(frame) == 0:
            raise ModelError(f"the {name} split is empty; models need rows in train and in valid (early stopping, "
                             "calibration and the threshold use valid). Check split.fractions or the cut dates.")
        if frame[label].isna().any():
            raise ModelError(f"label '{label}' has {int(frame[label].isna().sum())} missing value(s) in the {name} "
                             "split; drop unlabelled rows before training")
    train, valid = splits.train, splits.valid
    group_train = group_valid = None
    if task == "ranking":
        group = splits.group or spec.group
        if group is None or group not in train.columns or group not in valid.columns:
            raise ModelError(f"task 'ranking' needs the query column (spec 'group', got {group!r}) in the train and "
                             "valid frames")
        train, group_train = _by_group(train, group, "train")
        valid, group_valid = _by_group(valid, group, "valid")
    classes = _classes(task, train[label])
    if task == "multiclass":
        assert classes is not None
        unseen = sorted({str(v) for v in pd.unique(valid[label])} - {str(c) for c in classes})
        if unseen:
            raise ModelError(f"label '{label}' has class(es) {unseen} in the valid split that never occur in train "
                             f"(train classes: {list(classes)}); add training data for them or move the split.")
    y_train, y_valid = _labels(task, train[label], classes), _labels(task, valid[label], classes)
    if task == "binary" and len(np.unique(y_train)) < 2:
        raise ModelError(f"label '{label}' has a single class in the train split ({int(y_train[0])}); a binary "
                         "model needs both 0 and 1. Widen the training period or check the label definition.")
    negative_rate = splits.negative_rate if task == "binary" else None
    return Targets(task, train, valid, y_train, y_valid, classes, negative_rate, group_train, group_valid)


def _classes(task: Task, labels: pd.Series) -> tuple[Any, ...] | None:
    if task == "binary":
        return (0, 1)
    if task != "multiclass":
        return None
    found = tuple(v.item() if isinstance(v, np.generic) else v for v in sorted(pd.unique(labels)))
    if len(found) < 2:
        raise ModelError(f"a multiclass label needs at least two classes in train, found {list(found)}")
    return found


def _labels(task: Task, labels: pd.Series, classes: tuple[Any, ...] | None) -> np.ndarray:
    if task == "multiclass":
        assert classes is not None
        codes: np.ndarray = np.asarray(pd.Index(list(classes)).get_indexer(labels))
        if (codes < 0).any():
            first = labels[codes < 0].iloc[0]
            first = first.item() if isinstance(first, np.generic) else first
            raise ModelError(f"label '{labels.name}' holds values that are not train classes {list(classes)}, such as "
                             f"{first!r}; make the label's type the same in every split")
        return np.asarray(codes, dtype=np.float64)
    try:
        return labels.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"label '{labels.name}' must be numeric for task '{task}', got dtype {labels.dtype}") from exc


def _by_group(frame: pd.DataFrame, group: str, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    if frame[group].isna().any():
        raise ModelError(f"the query column '{group}' has missing values in the {name} split; every ranked row "
                         "needs its query id")
    ordered = frame.sort_values(group, kind="stable").reset_index(drop=True)
    return ordered, group_sizes(ordered[group].to_numpy())


def group_sizes(values: np.ndarray) -> np.ndarray:
    """Sizes of the runs of equal consecutive values (query sizes of rows sorted by query).

    >>> group_sizes(np.array(["a", "a", "b", "c", "c", "c"])).tolist()
    [2, 1, 3]
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(values[1:] != values[:-1]) + 1, len(values)]
    sizes: np.ndarray = np.diff(starts).astype(np.int64)
    return sizes
