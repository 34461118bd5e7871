"""Deterministic assignment of randomization units to experiment arms, shared by serving and the simulator.

A unit's bucket is a stable hash of the experiment's salt and the unit id, so the same unit lands in
the same bucket on every call, in every process and on every machine::

    key    = len(salt_utf8).to_bytes(4, "big") + salt_utf8 + unit_id_utf8
    bucket = int.from_bytes(blake2b(key, digest_size=8).digest(), "big") % 10_000

The salt defaults to the experiment's name; each experiment hashes with its own salt, so its buckets
are independent of every other experiment's, and changing one experiment's weights cannot move the
units of another. Arms own consecutive ranges of buckets in the order of the ``arms`` mapping, sized by
weight (to 1/10,000). Raising the weight of the *last* arm at the expense of the one before it (a
ramp from ``{"control": 0.9, "treatment": 0.1}`` to ``{"control": 0.8, "treatment": 0.2}``) only
moves units from that arm into the last one, never back. Re-ordering the arms reshuffles units.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from loopline._errors import ExperimentError

N_BUCKETS = 10_000
"""Buckets per experiment: weights are honoured to 1/10,000."""


def buckets(salt: str, unit_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The bucket (0..9,999) of each unit under ``salt``; see the module docstring for the hash.

    ``unit_ids`` holds strings or integers (integers hash as their decimal text, so ``7`` and ``"7"``
    share a bucket). Repeated ids are hashed once.

    >>> buckets("exp-1", ["u1", "u2", "u1"]).tolist()
    [4299, 2870, 4299]
    """
    if not isinstance(salt, str) or not salt:
        raise ExperimentError(f"salt: expected a non-empty string, got {salt!r}.")
    codes, uniques = pd.factorize(_unit_array(unit_ids), use_na_sentinel=False)
    salt_bytes = salt.encode("utf-8")
    base = hashlib.blake2b(len(salt_bytes).to_bytes(4, "big") + salt_bytes, digest_size=8)
    digests: list[bytes] = []
    append = digests.append
    for unit in uniques.tolist():
        if not isinstance(unit, str):
            if pd.isna(unit):
                raise ExperimentError(
                    "unit_ids: an id is missing (None or NaN); every unit needs an id. Drop or fill the missing "
                    "ones before assigning."
                )
            raise ExperimentError(f"unit_ids: expected strings or integers, got {unit!r} ({type(unit).__name__}).")
        h = base.copy()
        h.update(unit.encode("utf-8"))
        append(h.digest())
    hashes = np.frombuffer(b"".join(digests), dtype=">u8")
    per_unique = (hashes % np.uint64(N_BUCKETS)).astype(np.int64)
    return np.asarray(per_unique[codes], dtype=np.int64)


def assign(experiment: str, unit_ids: npt.ArrayLike, arms: Mapping[str, float], *,
           salt: str | None = None) -> npt.NDArray[np.str_]:
    """The arm of each unit in ``experiment``: the same unit always gets the same arm.

    ``arms`` maps arm names to weights (any non-negative numbers; they are normalised). ``salt``
    replaces the experiment name in the hash, e.g. to re-randomize a rerun of an experiment.

    >>> assign("exp-1", ["u1", "u2", "u3", "u1"], {"control": 0.5, "treatment": 0.5}).tolist()
    ['control', 'control', 'treatment', 'control']
    """
    if not isinstance(experiment, str) or not experiment:
        raise ExperimentError(f"experiment: expected a non-empty name, got {experiment!r}.")
    names, bounds = _bucket_bounds(experiment, arms)
    index = np.searchsorted(bounds, buckets(experiment if salt is None else salt, unit_ids), side="right")
    return np.asarray(names)[index]


def _bucket_bounds(experiment: str, arms: Mapping[str, float]) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Arm names and the exclusive upper bucket of each arm's range."""
    if not isinstance(arms, Mapping) or not arms:
        raise ExperimentError(
            f"{experiment}: arms must be a non-empty mapping of arm name to weight, e.g. "
            f"{{'control': 0.5, 'treatment': 0.5}}; got {arms!r}."
        )
    names = list(arms)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ExperimentError(f"{experiment}: arm names must be non-empty strings, got {name!r}.")
    weights = []
    for name in names:
        weight = arms[name]
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) \
                or weight < 0:
            raise ExperimentError(f"{experiment}: arm {name!r} has weight {weight!r}; expected a number >= 0.")
        weights.append(float(weight))
    total = sum(weights)
    if total <= 0:
        raise ExperimentError(f"{experiment}: every arm has weight 0; give at least one arm a positive weight.")
    bounds = np.round(np.cumsum(weights) / total * N_BUCKETS).astype(np.int64)
    bounds[-1] = N_BUCKETS
    sizes = np.diff(bounds, prepend=0)
    for name, weight, size in zip(names, weights, sizes, strict=True):
        if weight > 0 and size == 0:
            raise ExperimentError(
                f"{experiment}: arm {name!r} has weight {weight / total:.6f} of the traffic, below the resolution "
                f"of 1/{N_BUCKETS}; give it at least {1 / N_BUCKETS} or remove it."
            )
    return names, bounds


def _unit_array(unit_ids: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Unit ids as a 1-d object array of str (integers become their decimal text)."""
    if isinstance(unit_ids, str | bytes):
        raise ExperimentError("unit_ids: expected an array of ids, got a single string; wrap it in a list.")
    values = np.asarray(unit_ids)
    if values.ndim != 1:
        raise ExperimentError(f"unit_ids: expected a 1-d array of ids, got shape {values.shape}.")
    if values.dtype.kind in "iu":
        return np.asarray(values.astype(str), dtype=object)
    if values.dtype.kind == "U":
        return np.asarray(values, dtype=object)
    if values.dtype.kind == "O":
        items = values.tolist()
        if all(isinstance(v, str) for v in items):
            return values
        return np.asarray([_as_text(v) for v in items], dtype=object)
    raise ExperimentError(
        f"unit_ids: expected strings or integers, got an array of {values.dtype}. Convert the ids to strings."
    )


def _as_text(value: object) -> object:
    """Integers become text; anything else is returned for :func:`buckets` to reject by name."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return str(int(value))
    return value
