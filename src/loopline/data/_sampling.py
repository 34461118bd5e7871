"""Sampling: negative downsampling with its calibration correction, and reservoir sampling for streams.

Keeping every positive and each negative with probability ``rate`` multiplies the odds a model
learns by ``1 / rate``. :func:`correct_for_downsampling` undoes exactly that:
``p' = p / (p + (1 - p) / rate)``, i.e. ``odds' = rate * odds``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopline._errors import DataError


def downsample_negatives(frame: pd.DataFrame, label: str, rate: float, *, seed: int) -> pd.DataFrame:
    """All positives of ``frame`` and each negative with probability ``rate`` (deterministic per seed)."""
    if not 0 < rate <= 1:
        raise DataError(f"sampling.negative_rate must be in (0, 1], got {rate}.")
    values = frame[label]
    if not set(pd.unique(values)) <= {0, 1}:
        shown = sorted(map(str, pd.unique(values)))[:5]
        raise DataError(f"negative downsampling needs a 0/1 label; '{label}' holds {shown}.")
    keep = (values.to_numpy() == 1) | (np.random.default_rng(seed).random(len(frame)) < rate)
    kept: pd.DataFrame = frame[keep].reset_index(drop=True)
    return kept


def correct_for_downsampling(p: np.ndarray, rate: float) -> np.ndarray:
    """Probabilities from a model trained on downsampled negatives, mapped back to the true base rate."""
    if not 0 < rate <= 1:
        raise DataError(f"the negative sampling rate must be in (0, 1], got {rate}.")
    p = np.asarray(p, dtype=float)
    corrected: np.ndarray = p / (p + (1.0 - p) / rate)
    return corrected


class ReservoirSampler:
    """A uniform sample of ``k`` rows from a stream of frames (Algorithm R, vectorised per batch).

    >>> sampler = ReservoirSampler(3, seed=0)
    >>> sampler.add(pd.DataFrame({"x": range(10)}))
    >>> len(sampler.sample()), sampler.seen
    (3, 10)
    """

    def __init__(self, k: int, *, seed: int = 0) -> None:
        if k < 1:
            raise DataError(f"a reservoir needs k >= 1 rows, got {k}.")
        self.k = k
        self.seen = 0
        self._rng = np.random.default_rng(seed)
        self._rows: pd.DataFrame | None = None

    def add(self, batch: pd.DataFrame) -> None:
        """Offer every row of ``batch`` to the reservoir."""
        if batch.empty:
            return
        batch = batch.reset_index(drop=True)
        start = 0
        if self._rows is None or len(self._rows) < self.k:
            room = self.k - (0 if self._rows is None else len(self._rows))
            head = batch.iloc[:room]
            self._rows = head.copy() if self._rows is None else pd.concat([self._rows, head], ignore_index=True)
            start = len(head)
            self.seen += len(head)
        if start >= len(batch):
            return
        # Row number t (1-based, t > k) replaces a uniform slot with probability k / t.
        t = self.seen + np.arange(1, len(batch) - start + 1)
        slots = (self._rng.random(len(t)) * t).astype(np.int64)
        chosen = np.flatnonzero(slots < self.k)
        self.seen += len(t)
        if len(chosen) == 0:
            return
        # When a slot is hit more than once in a batch, the later row wins, as in the sequential algorithm.
        last: dict[int, int] = {int(slots[i]): start + int(i) for i in chosen}
        targets = np.fromiter(last.keys(), dtype=np.int64)
        sources = np.fromiter(last.values(), dtype=np.int64)
        assert self._rows is not None
        rows = self._rows
        columns = {}
        for name in rows.columns:
            values = rows[name].to_numpy(copy=True)
            values[targets] = batch[name].to_numpy()[sources]
            columns[name] = values
        self._rows = pd.DataFrame(columns).astype(rows.dtypes.to_dict())

    def sample(self) -> pd.DataFrame:
        """The current sample (fewer than ``k`` rows if the stream was shorter)."""
        return pd.DataFrame() if self._rows is None else self._rows.copy()
