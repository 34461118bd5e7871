"""Sampling: negative downsampling with its calibration correction, and a reservoir for streams.

Keeping every positive and each negative with probability ``rate`` multiplies the odds a model
learns by ``1 / rate``: P(y=1 | x, kept) / P(y=0 | x, kept) = odds(x) / rate. Scores of a model trained
on such data are mapped back with :func:`correct_for_downsampling`,
``p / (p + (1 - p) / rate)``, which is the same as multiplying the odds by ``rate``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from loopline._errors import DataError


def downsample_negatives(frame: pd.DataFrame, label: str, rate: float, *, seed: int) -> pd.DataFrame:
    """Every positive row of ``frame`` and each negative row with probability ``rate``.

    The label must hold 0 and 1 only (booleans count). The same frame and seed always keep the same
    rows; rows keep their order and the index is renumbered from 0.

    >>> frame = pd.DataFrame({"y": [1, 0, 0, 0, 1, 0]})
    >>> downsample_negatives(frame, "y", 0.5, seed=0)["y"].tolist()
    [1, 0, 0, 0, 1]
    """
    _check_rate(rate, "sampling.negative_rate")
    if label not in frame.columns:
        raise DataError(f"negative downsampling: label column '{label}' is not in the frame; its columns are: "
                        f"{', '.join(map(str, frame.columns[:40]))}.")
    values = frame[label]
    seen = pd.unique(values)
    if values.isna().any() or not all(v in (0, 1) for v in seen):
        shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in list(seen)[:5])
        raise DataError(f"negative downsampling needs a 0/1 label, but '{label}' holds {shown}. Drop rows "
                        "without a label and map the classes to 0 and 1 first (or remove sampling.negative_rate).")
    draws = np.random.default_rng(seed).random(len(frame))
    keep = (values.to_numpy() == 1) | (draws < rate)
    kept: pd.DataFrame = frame.loc[keep].reset_index(drop=True)
    return kept


def correct_for_downsampling(p: np.ndarray, rate: float) -> np.ndarray:
    """Probabilities from a model trained on downsampled negatives, put back on the true base rate.

    >>> correct_for_downsampling(np.array([0.0, 0.5, 1.0]), 0.25).tolist()
    [0.0, 0.2, 1.0]
    """
    _check_rate(rate, "the negative sampling rate")
    p = np.asarray(p, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise DataError(f"probabilities must lie in [0, 1]; got values from {np.nanmin(p)} to {np.nanmax(p)}.")
    corrected: np.ndarray = p / (p + (1.0 - p) / rate)
    return corrected


def _check_rate(rate: float, name: str) -> None:
    if not 0 < rate <= 1:
        raise DataError(f"{name} must be in (0, 1] (the share of negatives kept), got {rate}.")


class ReservoirSampler:
    """A uniform sample of ``k`` rows from a stream of frames (Li's Algorithm L).

    Every row offered so far is in the sample with the same probability ``k / seen``. Instead of a
    random number per row, Algorithm L draws how many rows to skip before the next replacement, so
    a batch costs O(replacements) draws and one gather. The random draws do not depend on how the
    stream is cut into batches: the same rows with the same seed give the same sample.

    >>> sampler = ReservoirSampler(3, seed=0)
    >>> for start in range(0, 100, 10):
    ...     sampler.add(pd.DataFrame({"i": range(start, start + 10)}))
    >>> len(sampler.sample()), sampler.seen
    (3, 100)
    """

    def __init__(self, k: int, *, seed: int) -> None:
        if k < 1:
            raise DataError(f"a reservoir needs k >= 1 rows, got {k}.")
        self.k = k
        self._seen = 0
        self._rng = np.random.default_rng(seed)
        self._rows: pd.DataFrame | None = None
        self._w = math.exp(math.log(self._uniform()) / k)
        self._next = k - 1 + self._skip()  # 0-based position in the stream of the next row to enter

    @property
    def seen(self) -> int:
        """How many rows have been offered."""
        return self._seen

    def add(self, batch: pd.DataFrame) -> None:
        """Offer every row of ``batch`` to the reservoir."""
        if self._rows is not None and list(batch.columns) != list(self._rows.columns):
            raise DataError(f"a reservoir batch has columns {list(batch.columns)[:10]}, but the stream started "
                            f"with {list(self._rows.columns)[:10]}; every batch needs the same columns.")
        if batch.empty:  # nothing to offer; the first batch still fixes the columns
            self._rows = batch if self._rows is None else self._rows
            return
        start, end = self._seen, self._seen + len(batch)
        self._seen = end
        held = 0 if self._rows is None else len(self._rows)
        if held < self.k:
            head = batch.iloc[: self.k - held]
            self._rows = head if self._rows is None or held == 0 else pd.concat([self._rows, head], ignore_index=True)
        # Replacements in this batch, in stream order; a slot hit twice keeps the later row.
        slot_to_row: dict[int, int] = {}
        while self._next < end:
            slot_to_row[int(self._rng.integers(self.k))] = self._next - start
            self._w *= math.exp(math.log(self._uniform()) / self.k)
            self._next += self._skip()
        if not slot_to_row or self._rows is None:
            return
        slots = np.fromiter(slot_to_row, dtype=np.int64)
        incoming = batch.iloc[np.fromiter(slot_to_row.values(), dtype=np.int64)]
        order = np.arange(self.k)
        order[slots] = self.k + np.arange(len(slots))
        self._rows = pd.concat([self._rows, incoming], ignore_index=True).iloc[order].reset_index(drop=True)

    def sample(self) -> pd.DataFrame:
        """The sampled rows (all of them while fewer than ``k`` were offered), index renumbered from 0."""
        return pd.DataFrame() if self._rows is None else self._rows.reset_index(drop=True)

    def _uniform(self) -> float:
        return 1.0 - float(self._rng.random())  # in (0, 1], so its logarithm is finite

    def _skip(self) -> int:
        """Rows to advance to the next replacement: floor(log(u) / log(1 - w)) + 1 (at least 1)."""
        gap = math.log(self._uniform()) / math.log1p(-self._w) if self._w < 1.0 else 0.0
        return int(min(gap, 2.0**62)) + 1
